package demo

import (
	"net/netip"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/redline-dev/redline/internal/devcluster"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
)

func objects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, ns, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	return nil
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// TestWorkloadsMatchManifests checks the Go description of the demo
// against its YAML: each workload exists with its kind, its selector picks
// its pod template, its Service selects the same pods.
func TestWorkloadsMatchManifests(t *testing.T) {
	objs := objects(t)
	for _, w := range Workloads() {
		o := find(objs, w.Kind, w.Namespace, w.Name)
		if o == nil {
			t.Errorf("%s not in the manifests", w.Ref())
			continue
		}
		var tmpl map[string]string
		switch w.Kind {
		case "Deployment":
			tmpl = convert[appsv1.Deployment](t, o).Spec.Template.Labels
		case "StatefulSet":
			tmpl = convert[appsv1.StatefulSet](t, o).Spec.Template.Labels
		case "DaemonSet":
			tmpl = convert[appsv1.DaemonSet](t, o).Spec.Template.Labels
		case "CronJob":
			tmpl = convert[batchv1.CronJob](t, o).Spec.JobTemplate.Spec.Template.Labels
		}
		if !w.selects(tmpl) {
			t.Errorf("%s: selector %v does not pick its pod template %v", w.Ref(), w.Selector, tmpl)
		}
		if w.Service == "" {
			continue
		}
		so := find(objs, "Service", w.Namespace, w.Service)
		if so == nil {
			t.Errorf("%s: Service %s not in the manifests", w.Ref(), w.Service)
			continue
		}
		svc := convert[corev1.Service](t, so)
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl)) {
			t.Errorf("Service %s/%s does not select %s", w.Namespace, w.Service, w.Ref())
		}
	}
	if n := len(Workloads()); n < 10 {
		t.Errorf("%d workloads, want about ten", n)
	}
}

// TestNamespaceLabels checks seed use case 5's setting: every demo
// namespace carries the team label except the one traffic crosses into.
func TestNamespaceLabels(t *testing.T) {
	objs := objects(t)
	for _, ns := range append(slices.Clone(Namespaces), NamespaceRedline) {
		o := find(objs, "Namespace", "", ns)
		if o == nil {
			t.Errorf("namespace %s not in the manifests", ns)
			continue
		}
		_, labelled := o.GetLabels()[NamespaceLabel]
		if labelled == (ns == NamespaceUnlabeled) {
			t.Errorf("namespace %s: has label %s = %v", ns, NamespaceLabel, labelled)
		}
	}
}

// TestConfigMap checks the redline-config ConfigMap the way Redline reads
// it: no warnings, the cluster CIDRs of the dev cluster, the aliases.
func TestConfigMap(t *testing.T) {
	o := find(objects(t), "ConfigMap", NamespaceRedline, inventory.ConfigMapName)
	if o == nil {
		t.Fatal("no redline-config ConfigMap in the manifests")
	}
	cm := convert[corev1.ConfigMap](t, o)
	cl, warnings := inventory.ParseConfig(cm.Data)
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if got := cl.ClusterCIDRs(); !slices.Equal(got, ClusterCIDRs) {
		t.Errorf("cluster CIDRs %v, want %v", got, ClusterCIDRs)
	}
	want := []netip.Prefix{netip.MustParsePrefix(devcluster.PodCIDR), netip.MustParsePrefix(devcluster.ServiceCIDR)}
	if !slices.Equal(ClusterCIDRs, want) {
		t.Errorf("ClusterCIDRs %v are not the dev cluster's %v", ClusterCIDRs, want)
	}
	for _, n := range devcluster.DefaultNodes() {
		if !ClusterCIDRs[0].Contains(n.PodCIDR.Addr()) {
			t.Errorf("node %s's pod CIDR %s is outside %s", n.Name, n.PodCIDR, ClusterCIDRs[0])
		}
	}
	if DNSServiceIP.String() != devcluster.DNSServiceIP || !ClusterCIDRs[1].Contains(DNSServiceIP) {
		t.Errorf("DNS service IP %s: dev cluster's is %s, service CIDR %s", DNSServiceIP, devcluster.DNSServiceIP, ClusterCIDRs[1])
	}
	for _, tc := range []struct {
		addr  netip.Addr
		class flow.AddrClass
		alias string
	}{
		{PaymentProviderAddr, flow.ClassAliased, AliasPaymentProvider},
		{ProxyAddr, flow.ClassAliased, AliasProxy},
		{UnknownAddress, flow.ClassExternal, ""},
	} {
		class, alias := cl.Classify(tc.addr, inventory.AddrFacts{})
		if class != tc.class || alias != tc.alias {
			t.Errorf("%s classifies as %s %q, want %s %q", tc.addr, class, alias, tc.class, tc.alias)
		}
	}
	if !PaymentProviderCIDR.Contains(PaymentProviderAddr) {
		t.Errorf("%s is outside %s", PaymentProviderAddr, PaymentProviderCIDR)
	}
	if got := cl.Aliases()[AliasPaymentProvider]; !slices.Equal(got, []netip.Prefix{PaymentProviderCIDR}) {
		t.Errorf("alias %s = %v, want %s", AliasPaymentProvider, got, PaymentProviderCIDR)
	}
}

func TestManifestsParse(t *testing.T) {
	objs := objects(t)
	if objs[0].GetKind() != "Namespace" {
		t.Errorf("first object is a %s: namespaces must come first", objs[0].GetKind())
	}
	if _, err := parseObjects([]byte("kind: ConfigMap\nmetadata: {}\n")); err == nil {
		t.Error("an object without a name parsed")
	}
	if _, err := parseObjects([]byte("kind: [\n")); err == nil {
		t.Error("broken YAML parsed")
	}
}
