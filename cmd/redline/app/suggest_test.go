package app

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	networkingv1 "k8s.io/api/networking/v1"
)

// Seed use case 1: untick one peer; the suggestion has no entry for it and
// no raw IP rule, keeps the other observed peer and the cluster DNS.
func TestSuggestExcludesAPeer(t *testing.T) {
	dataDir := observedShopTraffic(t)
	out, errOut, code := run(t, "", "suggest", "--data-dir", dataDir, "-f", "../../../examples/",
		"--workload", "shop/Deployment/frontend", "--exclude", "shop/Deployment/cart:8080/TCP", "--since", "1h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p networkingv1.NetworkPolicy
	if err := yaml.UnmarshalStrict([]byte(out), &p); err != nil {
		t.Fatalf("output is not a NetworkPolicy: %v\n%s", err, out)
	}
	if p.Name != "redline-deployment-frontend" || p.Namespace != "shop" {
		t.Errorf("policy %s/%s, want shop/redline-deployment-frontend", p.Namespace, p.Name)
	}
	if strings.Contains(out, "app: cart") || strings.Contains(out, "ipBlock") {
		t.Errorf("excluded peer or raw IP rule in the suggestion:\n%s", out)
	}
	if len(p.Spec.Ingress) != 1 || p.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app"] != "gateway" {
		t.Errorf("ingress = %+v, want the observed gateway only", p.Spec.Ingress)
	}
	if !strings.Contains(out, "k8s-app: kube-dns") {
		t.Errorf("egress to the cluster DNS missing:\n%s", out)
	}

	// --all, as JSON: one suggestion per workload of the manifests.
	out, errOut, code = run(t, "", "suggest", "--data-dir", dataDir, "-f", "../../../examples/", "--all", "-o", "json")
	if code != 0 {
		t.Fatalf("--all: exit %d: %s", code, errOut)
	}
	var all []struct{ Policy networkingv1.NetworkPolicy }
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) < 8 {
		t.Fatalf("--all -o json: %v, %d suggestions", err, len(all))
	}

	for _, bad := range [][]string{
		{"--workload", "shop/Deployment/frontend", "--all"},
		{"--workload", "shop/Deployment/frontend", "--ingress", "open"},
		{"--workload", "shop/Deployment/frontend", "--exclude", "cart"},
		{"--workload", "shop/Deployment/frontend", "--allow-egress-cidr", "10.0.0.0/33"},
	} {
		args := append([]string{"suggest", "--data-dir", dataDir, "-f", "../../../examples/"}, bad...)
		if _, errOut, code := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", bad, code, errOut)
		}
	}
}

// --server flags that cannot work are usage errors.
func TestSuggestServerFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--server", "https://x:8443", "--data-dir", "d", "--workload", "a/Deployment/b"}, "leave out --data-dir and -f"},
		{[]string{"--server", "https://x:8443", "--all"}, "--all works offline only"},
		{[]string{"--server", "http://x:8443", "--workload", "a/Deployment/b"}, "invalid --server"},
		{[]string{"--server", "https://x:8443"}, "give --workload"},
		{[]string{"--server", "https://x:8443", "--workload", "a/Deployment/b", "--token", "t", "--token-file", "f"}, "one at a time"},
		{[]string{"--server", "https://x:8443", "--workload", "a/Deployment/b", "-o", "xml"}, "unknown output format"},
	}
	for _, tt := range tests {
		_, errOut, code := run(t, "", append([]string{"suggest"}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
