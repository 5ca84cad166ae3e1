package suggest

import (
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"
)

// trickyStrings are strings yaml.v2 writes in every style: plain, quoted
// because they read as something else, and escaped.
var trickyStrings = []string{
	"", "app", "redline-deployment-cart", "kubernetes.io/metadata.name", "app.kubernetes.io/managed-by",
	"y", "Y", "yes", "NO", "on", "Off", "true", "False", "null", "~", "-", "a-", "-a", ".a", "a.", "_a",
	"0", "1", "-1", "+1", "007", "0x1f", "0o17", "0b101", "1_000", "1e3", "1E3", "1.5", ".5", "5.", ".inf", ".NaN",
	"24h0m0s", "168h0m0s", "10m", "1h30m", "10.0.0.1", "10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "::1",
	"2026-11-26", "2026-11-26T07:00:00Z", "2026-11-26 07:00:00", "1:20", "190:20:30.15", "12:30:45",
	"a b", "a: b", "a #b", "#a", "a,b", "[a]", "{a}", "*a", "&a", "!a", "|", ">", "'a'", "\"a\"", "%a", "@a", "`a",
	"line\nbreak", "tab\there", "ünïcode", "\x00", "very-long-" + string(make([]byte, 0)) + "name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-past-eighty-columns",
	"redline audit", "redline store", "a b c", "yes no", "a  b", " a", "a ", "a 1", "1 a", "a #b", "a: b", "true false",
	"words that go on and on and on and on and on and on and on and past the eightieth column",
	"8080", "443", "TCP", "UDP", "SCTP", "Ingress", "Egress", "1a", "1g", "9z", "0t1", "0x", "1e", "12ab", "1.2.3", "1/2",
}

// fastYAML writes what sigs.k8s.io/yaml writes, byte for byte, whenever it
// does not hand over to it.
func TestFastYAMLMatchesSigsYAML(t *testing.T) {
	fast := 0
	for _, k := range trickyStrings {
		for _, v := range trickyStrings {
			if check(t, policyWithLabel(k, v)) {
				fast++
			}
		}
	}
	// Most strings of real policies take the fast path.
	for _, s := range []string{"app", "24h0m0s", "10.0.0.0/8", "2026-11-26T07:00:00Z", "", "yes", "8080", "redline audit"} {
		if !check(t, policyWithLabel("app", s)) {
			t.Errorf("%q took the slow path", s)
		}
	}
	t.Logf("%d of %d label pairs rendered by the fast path", fast, len(trickyStrings)*len(trickyStrings))
}

func FuzzFastYAML(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, key, value string, port int64) {
		obj := policyWithLabel(key, value)
		obj["spec"].(map[string]any)["ingress"] = []any{map[string]any{"ports": []any{map[string]any{"port": float64(port)}}}}
		check(t, obj)
	})
}

// policyWithLabel is the JSON tree of a policy whose labels, selector and
// annotations hold the strings.
func policyWithLabel(k, v string) map[string]any {
	raw := map[string]any{
		"apiVersion": "networking.k8s.io/v1",
		"kind":       "NetworkPolicy",
		"metadata": map[string]any{
			"name": "p", "namespace": "shop",
			"labels":      map[string]any{k: v},
			"annotations": map[string]any{"redline.io/window": v},
		},
		"spec": map[string]any{
			"podSelector": map[string]any{},
			"policyTypes": []any{"Ingress", v},
			"egress": []any{
				map[string]any{},
				map[string]any{"to": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{k: v}}}},
					"ports": []any{map[string]any{"port": 53.0, "protocol": "UDP", "endPort": 1024.0}, map[string]any{}}},
			},
			"ingress": []any{},
		},
	}
	// Through JSON, as YAML gets it.
	data, _ := json.Marshal(raw)
	var obj map[string]any
	_ = json.Unmarshal(data, &obj)
	return obj
}

func check(t *testing.T, obj map[string]any) (tookFastPath bool) {
	t.Helper()
	got, ok := fastYAML(obj)
	if !ok {
		return false
	}
	want, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatalf("sigs.k8s.io/yaml: %v", err)
	}
	if string(got) != string(want) {
		t.Fatalf("fast YAML differs:\n--- fast\n%s\n--- sigs.k8s.io/yaml\n%s", got, want)
	}
	return true
}
