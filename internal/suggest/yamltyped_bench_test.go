package suggest

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// typicalPolicy is the suggestion the audit writes for a workload of the
// generated cluster (netpoltest.GenerateCluster): 80 rules of one peer
// each, a pod selector of app, tier and (mostly) version, most with a
// namespace selector of one label, and one or two ports.
func typicalPolicy() *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	p := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name: "redline-deployment-api-17", Namespace: "payments-prod-3",
			Labels:      map[string]string{LabelManagedBy: "redline"},
			Annotations: map[string]string{AnnotationWindow: "168h0m0s", AnnotationSource: "redline audit"},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api", "tier": "backend", "version": "v2"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	tiers := []string{"frontend", "backend", "data", "infra"}
	teams := []string{"payments", "search", "identity", "platform", "data", "frontend", "ml", "ops"}
	envs := []string{"prod", "staging", "dev"}
	ports := []int32{80, 443, 5432, 6379, 8080, 9090}
	peer := func(i int) []networkingv1.NetworkPolicyPeer {
		tier := tiers[i%len(tiers)]
		lbls := map[string]string{"app": fmt.Sprintf("%s-svc-%d", tier, i), "tier": tier}
		if i%5 != 0 {
			lbls["version"] = fmt.Sprintf("v%d", 1+i%3)
		}
		pr := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: lbls}}
		if i%6 != 0 {
			ns := fmt.Sprintf("%s-%s-%d", teams[i%len(teams)], envs[i%len(envs)], i%50)
			pr.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
		}
		return []networkingv1.NetworkPolicyPeer{pr}
	}
	portsOf := func(i int) []networkingv1.NetworkPolicyPort {
		l := []networkingv1.NetworkPolicyPort{{Port: new(intstr.FromInt32(ports[i%len(ports)])), Protocol: &tcp}}
		if i%3 == 0 {
			l = append(l, networkingv1.NetworkPolicyPort{Port: new(intstr.FromInt32(ports[(i+1)%len(ports)])), Protocol: &tcp})
		}
		return l
	}
	for i := range 40 {
		p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peer(i), Ports: portsOf(i)})
		p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peer(40 + i), Ports: portsOf(i)})
	}
	return p
}

// BenchmarkYAMLTypical is what the audit does for each workload:
// YAMLString of a typical suggestion.
func BenchmarkYAMLTypical(b *testing.B) {
	p := typicalPolicy()
	out, err := YAMLString(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := YAMLString(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTypicalPolicyTyped(t *testing.T) {
	if !checkTyped(t, typicalPolicy()) {
		t.Error("typical policy took the slow path")
	}
}
