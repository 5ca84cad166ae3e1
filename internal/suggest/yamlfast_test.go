package suggest

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"
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

// orderKeys are map keys whose order yaml.v2 and byte order disagree on,
// or that yaml.v2's comparison treats in a way of its own: runs of digits
// (compared by value, with its rule for zeros, in an int64 that wraps),
// versions, mixed case, punctuation against letters and digits, digits
// beyond ASCII, and the label keys of real clusters.
var orderKeys = []string{
	"a", "a0", "a00", "a01", "a010", "a09", "a1", "a1b", "a9", "a10", "a19", "a100", "a1.2", "a1-2", "a1/2", "a12",
	"app", "app1", "app2", "app10", "app-1", "app.1", "app01", "App2", "APP10", "app2b", "app10a",
	"v1", "v1.2", "v1.10", "v1.9", "v10", "v2", "v1beta1", "v1alpha2", "v2beta1", "v1.2.3", "v1.10.0",
	"1.10", "1.9", "1.2.3", "10", "9", "09", "0", "00", "1a", "1g", "9z", "10x", "2x", "1.10.0", "1.9.0",
	"k8s-app", "k8s.io/x", "k10s", "k9s", "A", "B", "Z", "b", "z", "aA", "Aa", "a-b", "a.b", "a/b", "a-1", "a.1", "a/1",
	"x-1", "x-01", "x-10", "x.2", "x/2", "node-1", "node-2", "node-10", "node-01", "node-001",
	"a9223372036854775807", "a9223372036854775808", "a18446744073709551616", "a99999999999999999999",
	"redline.io/window", "redline.io/source", "kubernetes.io/metadata.name", "app.kubernetes.io/name",
	"app.kubernetes.io/version", "pod-template-hash", "controller-revision-hash", "apps.kubernetes.io/pod-index",
	"statefulset.kubernetes.io/pod-name", "a b", "a b1", "a b10", "2026-11-26T07:00:00Z", "2026-11-26T10:00:00Z",
	"", "yes", "8080", "443", "_a", "a_b", "~a", "a:b", "a:1", "a@1", "ü1", "a٣", "a١٠", "a１", "a€", "a²",
}

// fastYAML writes what sigs.k8s.io/yaml writes, byte for byte, whenever it
// does not hand over to it: for every pair of strings as a label, and for
// labels, annotations and selectors of several keys, whose order yaml.v2
// gives (not byte order).
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

	// Every two keys of orderKeys, with a third, in each map.
	fast, n := 0, 0
	for i, k1 := range orderKeys {
		for _, k2 := range orderKeys[i+1:] {
			n++
			if check(t, policyWithLabels([]string{k1, k2, "app"})) {
				fast++
			}
		}
	}
	t.Logf("%d of %d maps of two orderKeys and app rendered by the fast path", fast, n)
	if fast < n/2 {
		t.Errorf("only %d of %d maps of two orderKeys took the fast path", fast, n)
	}

	// Maps of 3 to 10 keys, mostly orderKeys.
	r := rand.New(rand.NewPCG(3, 5))
	fast, n = 0, 5000
	ambiguous := 0
	for range n {
		keys := multiKeys(r.IntN, 3+r.IntN(8))
		if !sortKeys(slices.Clone(keys)) {
			ambiguous++
		}
		if check(t, policyWithLabels(keys)) {
			fast++
		}
	}
	t.Logf("%d of %d maps of 3 to 10 keys rendered by the fast path (%d have no one order in yaml.v2)", fast, n, ambiguous)
	if fast < n/4 {
		t.Errorf("only %d of %d maps of several keys took the fast path", fast, n)
	}

	// The review's case: yaml.v2 writes a9 before a10.
	out, ok := fastYAML(policyWithLabels([]string{"a10", "a9"}))
	if !ok || !strings.Contains(string(out), "    a9: v1\n    a10: v0\n") {
		t.Errorf("labels a9, a10 written as:\n%s", out)
	}
}

// multiKeys draws n keys (some may repeat), mostly from orderKeys, now and
// then from the other corpora.
func multiKeys(intn func(int) int, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		corpus := orderKeys
		switch intn(16) {
		case 0:
			corpus = trickyStrings
		case 1, 2:
			corpus = commonStrings
		}
		keys[i] = corpus[intn(len(corpus))]
	}
	return keys
}

// yaml.v2's order is not transitive: for a9, a10 and a1b it has no one
// order, and sigs.k8s.io/yaml writes them in an order that depends on map
// iteration. fastYAML and the typed path hand such maps over.
func TestAmbiguousKeyOrder(t *testing.T) {
	cycle := []string{"a9", "a10", "a1b"}
	for i := range cycle {
		if a, b := cycle[i], cycle[(i+1)%len(cycle)]; yamlKeyCompare(a, b) >= 0 {
			t.Errorf("yamlKeyCompare(%q, %q) = %d, want -1", a, b, yamlKeyCompare(a, b))
		}
	}
	if sortKeys(slices.Clone(cycle)) {
		t.Errorf("sortKeys(%q) reports one order", cycle)
	}
	obj := policyWithLabels(cycle)
	if _, ok := fastYAML(obj); ok {
		t.Errorf("fastYAML wrote keys %q", cycle)
	}
	labels := map[string]string{"a9": "x", "a10": "y", "a1b": "z"}
	p := typedPolicyWithLabels(labels, labels)
	if _, ok := typedPolicyYAML(p); ok {
		t.Errorf("typedPolicyYAML wrote keys %q", cycle)
	}
	seen := map[string]bool{}
	for range 1000 {
		out, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(out)] = true; len(seen) > 1 {
			break
		}
	}
	if len(seen) < 2 {
		t.Errorf("sigs.k8s.io/yaml wrote keys %q in one order in 1000 runs: are they ambiguous?", cycle)
	}
	// YAML writes them in byte order, the same every time: the audit
	// compares renderings to decide whether to update a ConfigMap.
	first, err := YAML(p)
	if err != nil {
		t.Fatal(err)
	}
	if i, j, k := strings.Index(string(first), "a10:"), strings.Index(string(first), "a1b:"), strings.Index(string(first), "a9:"); i < 0 || !(i < j && j < k) {
		t.Errorf("YAML wrote the ambiguous keys out of byte order:\n%s", first)
	}
	for range 200 {
		if again, _ := YAML(p); string(again) != string(first) {
			t.Fatalf("YAML of ambiguous keys changed between runs:\n%s\n---\n%s", first, again)
		}
	}
	// Any two of them, or with a key of letters, have one order.
	for _, keys := range [][]string{{"a9", "a10"}, {"a10", "a1b"}, {"a9", "a1b"}, {"a9", "a10", "app"}, {"a9", "a10", "b1", "b2"}} {
		if !check(t, policyWithLabels(keys)) {
			t.Errorf("keys %q took the slow path", keys)
		}
	}
}

// yamlKeyCompare orders two keys as yaml.v2's keyList.Less does, quirks
// included.
func TestYAMLKeyCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"a9", "a10", -1}, {"a10", "a1b", -1}, {"a1b", "a9", -1}, // a cycle
		// the 1 put in front of a run after a nonzero digit
		{"a19", "a100", -1},
		// shorter run first
		{"a1", "a01", -1}, {"a01", "a2", -1}, {"a05", "a005", -1}, {"a0", "a00", -1},
		{"v1.9", "v1.10", -1}, {"1.9", "1.10", -1}, {"app2", "app10", -1},
		{"Z", "a", -1}, {"A", "a", -1}, // letters by code point
		{"_a", "A", -1}, {"~", "A", -1}, {"9", "A", -1}, {"€", "a", -1}, // non-letters before letters
		{":", "0", -1}, {"@", "1", -1}, {"a.", "a0", -1}, {"-", ".", -1}, // non-digits before digits
		// the run read from the first rune that differs, in an int64 that wraps
		{"a9223372036854775808", "a1", -1}, {"a9223372036854775807", "a1", 1}, {"a9223372036854775808", "a9223372036854775807", 1},
		{"a١", "a9", 1}, {"a٣", "a١٠", -1}, // other digits, worth their code point minus '0'
		{"a", "ab", -1}, {"ab", "ab", 0}, {"", "a", -1}, {"a\xff", "a\xfe", 0}, // invalid bytes are U+FFFD
	} {
		if got := yamlKeyCompare(c.a, c.b); got != c.want {
			t.Errorf("yamlKeyCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := yamlKeyCompare(c.b, c.a); got != -c.want {
			t.Errorf("yamlKeyCompare(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

// yamlKeyCompare agrees with yaml.v2 itself on every two keys of the
// corpora.
func TestYAMLKeyCompareMatchesYAMLv2(t *testing.T) {
	keys := slices.Concat(orderKeys, trickyStrings, commonStrings)
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if a != b {
				checkKeyOrder(t, a, b)
			}
		}
	}
}

// FuzzSortKeys: sortKeys orders three keys as yaml.v2 does, or reports
// that yaml.v2 has no one order for them.
func FuzzSortKeys(f *testing.F) {
	f.Add("a9", "a10", "a1b")
	f.Add("a9", "a10", "app")
	f.Add("v1.9", "v1.10", "v1.2.3")
	f.Add("a٣", "a10", "a١٠")
	f.Add("a9223372036854775808", "a9223372036854775807", "a1")
	for i := 0; i+2 < len(orderKeys); i += 3 {
		f.Add(orderKeys[i], orderKeys[i+1], orderKeys[i+2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if a == b || b == c || a == c {
			return
		}
		keys := []string{a, b, c}
		if sortKeys(keys) {
			if got := yamlV2Order(t, keys); !slices.Equal(got, keys) {
				t.Fatalf("sortKeys: %q, yaml.v2: %q", keys, got)
			}
			return
		}
		// No one order: a tie, or a cycle.
		ab, bc, ca := checkKeyOrder(t, a, b), checkKeyOrder(t, b, c), checkKeyOrder(t, c, a)
		if ab*bc*ca == 0 || ab == bc && bc == ca {
			return
		}
		t.Fatalf("sortKeys refused %q, which yaml.v2 orders", keys)
	})
}

// checkKeyOrder checks yamlKeyCompare(a, b) against the order yaml.v2
// writes a and b in, and returns it.
func checkKeyOrder(t *testing.T, a, b string) int {
	t.Helper()
	c := yamlKeyCompare(a, b)
	if c == 0 {
		return 0 // a tie: yaml.v2 keeps the order of map iteration
	}
	want := 1
	if got := yamlV2Order(t, []string{a, b}); got[0] == a {
		want = -1
	}
	if c != want {
		t.Fatalf("yamlKeyCompare(%q, %q) = %d, yaml.v2 says %d", a, b, c, want)
	}
	return c
}

// yamlV2Order is the order yaml.v2 writes the keys of a map in.
func yamlV2Order(t *testing.T, keys []string) []string {
	t.Helper()
	m := map[string]int{}
	for i, k := range keys {
		m[k] = i
	}
	out, err := yamlv2.Marshal(m)
	if err != nil {
		t.Fatalf("yaml.v2: %v", err)
	}
	var items yamlv2.MapSlice
	if err := yamlv2.Unmarshal(out, &items); err != nil || len(items) != len(keys) {
		t.Fatalf("yaml.v2 reads back %q as %v (%v)", out, items, err)
	}
	var order []string
	for _, it := range items {
		i, ok := it.Value.(int)
		if !ok || i < 0 || i >= len(keys) {
			t.Fatalf("yaml.v2 reads back %q as %v", out, items)
		}
		order = append(order, keys[i])
	}
	return order
}

func FuzzFastYAML(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s, int64(len(s)), "", "", "")
	}
	for i := 0; i+3 < len(orderKeys); i += 4 {
		f.Add(orderKeys[i], "v", int64(i), orderKeys[i+1], orderKeys[i+2], orderKeys[i+3])
	}
	f.Add("a9", "v", int64(1), "a10", "a010", "app")
	f.Add("app2", "v", int64(2), "app10", "v1.2", "1.10")
	f.Fuzz(func(t *testing.T, key, value string, port int64, key2, key3, key4 string) {
		obj := policyWithLabel(key, value)
		md := obj["metadata"].(map[string]any)
		labels, annotations := md["labels"].(map[string]any), md["annotations"].(map[string]any)
		egress := obj["spec"].(map[string]any)["egress"].([]any)[1].(map[string]any)
		matchLabels := egress["to"].([]any)[0].(map[string]any)["podSelector"].(map[string]any)["matchLabels"].(map[string]any)
		for i, k := range []string{key2, key3, key4} {
			labels[k] = key
			annotations[k] = value
			matchLabels[k] = []string{"x", value, key2}[i]
		}
		obj["spec"].(map[string]any)["ingress"] = []any{map[string]any{"ports": []any{map[string]any{"port": float64(port)}}}}
		check(t, obj)
	})
}

// policyWithLabel is the JSON tree of a policy whose labels, selector and
// annotations hold the strings.
func policyWithLabel(k, v string) map[string]any {
	return policyTree(map[string]any{k: v}, map[string]any{AnnotationWindow: v}, map[string]any{k: v}, v)
}

// policyWithLabels is the JSON tree of a policy whose labels, annotations
// and selector hold the keys (and the window annotation).
func policyWithLabels(keys []string) map[string]any {
	labels, annotations, matchLabels := map[string]any{}, map[string]any{AnnotationWindow: "24h0m0s"}, map[string]any{}
	for i, k := range keys {
		v := "v" + string(rune('0'+i%10))
		labels[k], annotations[k], matchLabels[k] = v, "x", v
	}
	return policyTree(labels, annotations, matchLabels, "Egress")
}

func policyTree(labels, annotations, matchLabels map[string]any, v string) map[string]any {
	raw := map[string]any{
		"apiVersion": "networking.k8s.io/v1",
		"kind":       "NetworkPolicy",
		"metadata": map[string]any{
			"name": "p", "namespace": "shop",
			"labels":      labels,
			"annotations": annotations,
		},
		"spec": map[string]any{
			"podSelector": map[string]any{},
			"policyTypes": []any{"Ingress", v},
			"egress": []any{
				map[string]any{},
				map[string]any{"to": []any{map[string]any{"podSelector": map[string]any{"matchLabels": matchLabels}}},
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
