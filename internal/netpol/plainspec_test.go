package netpol_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// TestPlainSpecIsValid: plainSpec, which lets Validate skip the full spec
// check, never passes a spec the full check faults — over the validation
// table, generated clusters' policies, and those mutated with bad labels,
// ports and protocols — and does pass most generated ones.
func TestPlainSpecIsValid(t *testing.T) {
	var specs []*networkingv1.NetworkPolicySpec
	_, _, pols := netpoltest.GenerateCluster(3, 8, 200, 300)
	plainGenerated := 0
	for _, p := range pols {
		if netpol.PlainSpec(&p.Spec) {
			plainGenerated++
		}
		specs = append(specs, &p.Spec)
	}
	if plainGenerated < len(pols)/4 {
		t.Errorf("only %d of %d generated policies take the fast path", plainGenerated, len(pols))
	}
	r := rand.New(rand.NewPCG(5, 5))
	badKeys := []string{"", "-a", "a b", strings.Repeat("x", 64), "a/b/c", "UPPER.io/x", "ok"}
	badValues := []string{"-", "a b", strings.Repeat("v", 64), "", "fine"}
	protos := []corev1.Protocol{"", "ICMP", "tcp", corev1.ProtocolUDP, corev1.ProtocolSCTP}
	for _, p := range pols {
		for range 5 {
			s := p.Spec.DeepCopy()
			mutate := func(sel *metav1.LabelSelector) {
				if sel != nil && r.IntN(2) == 0 {
					if sel.MatchLabels == nil {
						sel.MatchLabels = map[string]string{}
					}
					sel.MatchLabels[badKeys[r.IntN(len(badKeys))]] = badValues[r.IntN(len(badValues))]
				}
			}
			mutate(&s.PodSelector)
			for _, rules := range [][]networkingv1.NetworkPolicyIngressRule{s.Ingress} {
				for i := range rules {
					for j := range rules[i].From {
						mutate(rules[i].From[j].PodSelector)
						mutate(rules[i].From[j].NamespaceSelector)
					}
					for j := range rules[i].Ports {
						if r.IntN(3) == 0 {
							proto := protos[r.IntN(len(protos))]
							rules[i].Ports[j].Protocol = &proto
						}
						if r.IntN(3) == 0 {
							port := intstr.FromInt32(int32(r.IntN(3) * 65535))
							rules[i].Ports[j].Port = &port
						}
					}
				}
			}
			for i := range s.Egress {
				for j := range s.Egress[i].To {
					mutate(s.Egress[i].To[j].PodSelector)
				}
			}
			specs = append(specs, s)
		}
	}
	faulted := 0
	for _, s := range specs {
		errs := netpol.SpecErrors(s)
		if len(errs) > 0 {
			faulted++
		}
		if netpol.PlainSpec(s) && len(errs) > 0 {
			t.Fatalf("plainSpec passes a spec the full check faults (%v): %+v", errs.ToAggregate(), s)
		}
	}
	if faulted < 100 {
		t.Errorf("only %d of %d specs faulted: the mutations do not bite", faulted, len(specs))
	}
}
