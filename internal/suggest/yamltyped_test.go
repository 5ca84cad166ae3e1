package suggest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestTypedYAMLMatchesTree: YAML, which writes most policies straight from
// their fields, gives the bytes of the JSON tree path for generated
// policies of every shape, with the label pairs of TestFastYAMLMatchesSigsYAML.
func TestTypedYAMLMatchesTree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	const n = 10000
	typed := 0
	for range n {
		g := policyGen{strs: commonStrings, rare: trickyStrings, intn: r.IntN, int32: func() int32 { return int32(r.Uint32()) }}
		if checkTyped(t, g.policy()) {
			typed++
		}
	}
	t.Logf("%d of %d generated policies written from their fields", typed, n)
	if typed < n/10 {
		t.Errorf("only %d of %d generated policies took the typed path", typed, n)
	}
	// Suggestions of ordinary shape take the typed path.
	for name, p := range map[string]*networkingv1.NetworkPolicy{"bench": benchPolicy(), "empty": {}} {
		if !checkTyped(t, p) {
			t.Errorf("%s policy took the slow path", name)
		}
	}
}

// Every policy the golden tests render takes the typed path.
func TestTypedYAMLGolden(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	s, err := Suggest(input(inv, web,
		edge(addrEP("203.0.113.7", 0, ""), web, 0, 8080, nil),
		edge(web, svcEP("kube-system", "kube-dns"), 0, 53, nil)), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	if !checkTyped(t, s.Policy) {
		t.Errorf("suggested policy took the slow path")
	}
}

// TestTypedYAMLLabelPairs: the label pairs of TestFastYAMLMatchesSigsYAML
// in every place a policy holds strings.
func TestTypedYAMLLabelPairs(t *testing.T) {
	typed := 0
	for _, k := range trickyStrings {
		for _, v := range trickyStrings {
			if checkTyped(t, typedPolicyWithLabel(k, v)) {
				typed++
			}
		}
	}
	t.Logf("%d of %d label pairs written from the policy's fields", typed, len(trickyStrings)*len(trickyStrings))

	// Labels, annotations and selectors of several keys, whose order is
	// yaml.v2's (not byte order): every two keys of orderKeys with a third,
	// then maps of 3 to 10 keys, mostly orderKeys.
	typed, n := 0, 0
	for i, k1 := range orderKeys {
		for j, k2 := range orderKeys[i+1:] {
			n++
			labels := map[string]string{k1: "a", k2: "b", "app": "web"}
			match := map[string]string{k1: orderKeys[j], k2: k1}
			if checkTyped(t, typedPolicyWithLabels(labels, match)) {
				typed++
			}
		}
	}
	t.Logf("%d of %d maps of two orderKeys and app written from the policy's fields", typed, n)
	if typed < n/2 {
		t.Errorf("only %d of %d maps of two orderKeys took the typed path", typed, n)
	}
	r := rand.New(rand.NewPCG(5, 3))
	typed, n = 0, 5000
	for range n {
		labels, match := map[string]string{}, map[string]string{}
		for _, k := range multiKeys(r.IntN, 3+r.IntN(8)) {
			labels[k] = commonStrings[r.IntN(len(commonStrings))]
		}
		for _, k := range multiKeys(r.IntN, 2+r.IntN(4)) {
			match[k] = commonStrings[r.IntN(len(commonStrings))]
		}
		if checkTyped(t, typedPolicyWithLabels(labels, match)) {
			typed++
		}
	}
	t.Logf("%d of %d policies with maps of 3 to 10 keys written from the policy's fields", typed, n)
	if typed < n/20 {
		t.Errorf("only %d of %d policies with maps of several keys took the typed path", typed, n)
	}
}

// typedPolicyWithLabels is a policy whose labels and annotations hold
// labels, and whose selectors hold match.
func typedPolicyWithLabels(labels, match map[string]string) *networkingv1.NetworkPolicy {
	annotations := map[string]string{AnnotationWindow: "24h0m0s"}
	for k, v := range labels {
		annotations[k] = v
	}
	sel := &metav1.LabelSelector{MatchLabels: match}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Labels: labels, Annotations: annotations},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: labels},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel, PodSelector: sel}}}},
		},
	}
}

// typedPolicyWithLabel is policyWithLabel's policy, and more: the strings
// are also a named port, a protocol, CIDRs, and a selector's expression.
func typedPolicyWithLabel(k, v string) *networkingv1.NetworkPolicy {
	udp, proto := corev1.ProtocolUDP, corev1.Protocol(v)
	port, named := intstr.FromInt32(53), intstr.FromString(v)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{k: v, "app": "web"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{v, k}}}}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Labels: map[string]string{k: v},
			Annotations: map[string]string{AnnotationWindow: v, k: "x"}},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyType(v)},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}, {
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: sel}, {IPBlock: &networkingv1.IPBlock{CIDR: v, Except: []string{k}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port, Protocol: &udp, EndPort: new(int32(1024))}, {}},
			}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel, PodSelector: &metav1.LabelSelector{}}, {}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &named, Protocol: &proto}},
			}},
		},
	}
}

func FuzzPolicyYAML(f *testing.F) {
	f.Add([]byte{}, "app", "web", "10.0.0.0/8", "tier", "Z")
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, "a b", "yes", "2026-11-26T07:00:00Z", "_a", "A")
	f.Add(bytes.Repeat([]byte{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}, 8), "8080", "", "redline audit", "node-1", "node-01")
	f.Add(bytes.Repeat([]byte{255, 0, 128, 7}, 40), "0x1f", "ünïcode", "line\nbreak", "a9", "a10")
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 20), "a9", "a10", "a010", "app2", "app10")
	f.Add(bytes.Repeat([]byte{13, 2, 11, 4, 9, 6, 7, 8, 5, 10, 3, 12, 1}, 20), "v1.2", "v1.10", "1.10", "1.9", "a1b")
	f.Fuzz(func(t *testing.T, data []byte, a, b, c, d, e string) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			x := data[0]
			data = data[1:]
			return x
		}
		g := policyGen{
			strs: []string{a, b, c, d, e}, rare: commonStrings,
			intn: func(n int) int { return int(next()) % n },
			int32: func() int32 {
				return int32(binary.LittleEndian.Uint32([]byte{next(), next(), next(), next()}))
			},
		}
		checkTyped(t, g.policy())
	})
}

// checkTyped compares what the typed path writes with treeYAML, and with
// sigs.k8s.io/yaml itself, and reports whether the typed path wrote the
// policy. When it does not, YAML is treeYAML and there is nothing to
// compare. (Comparing two runs of the slow path would fail now and then:
// yaml.v2's order of keys is not transitive, and for keys such as a9, a10
// and a1b sigs.k8s.io/yaml writes them in map iteration order. The typed
// path does not write such maps, so what it writes has one right answer.)
func checkTyped(t *testing.T, p *networkingv1.NetworkPolicy) (typed bool) {
	t.Helper()
	got, typed := typedPolicyYAML(p)
	if !typed {
		return false
	}
	want, wantErr := treeYAML(p)
	if wantErr != nil {
		t.Fatalf("typed path wrote a policy the JSON tree path fails on (%v):\n%s", wantErr, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("typed path differs from the JSON tree path for %#v:\n--- typed\n%s\n--- tree\n%s", p, got, want)
	}
	if want := sigsPolicyYAML(t, p); !bytes.Equal(got, want) {
		t.Fatalf("typed path differs from sigs.k8s.io/yaml for %#v:\n--- typed\n%s\n--- sigs.k8s.io/yaml\n%s", p, got, want)
	}
	return true
}

// sigsPolicyYAML is what sigs.k8s.io/yaml writes for the JSON tree
// treeYAML builds, without fastYAML.
func sigsPolicyYAML(t *testing.T, p *networkingv1.NetworkPolicy) []byte {
	t.Helper()
	cp := *p
	cp.APIVersion, cp.Kind = "networking.k8s.io/v1", "NetworkPolicy"
	raw, err := json.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatalf("sigs.k8s.io/yaml: %v", err)
	}
	return out
}

// commonStrings are what policies are made of, the fast path's strings
// (keys with digits among them, to pin the order of keys).
var commonStrings = []string{
	"app", "tier", "web", "db", "backend", "kubernetes.io/metadata.name", "app.kubernetes.io/managed-by", "redline",
	"k8s-app", "kube-dns", "team", "shop", "payments", "a9", "a10", "a1b", "A", "Z", "a.b", "a-b", "a/b",
	"10.0.0.0/8", "192.168.0.0/16", "203.0.113.7/32", "24h0m0s", "redline audit", "2026-11-26T07:00:00Z",
	"", "yes", "No", "null", "8080", "007", "1g", "9z", "1.2.3", "TCP", "UDP", "SCTP", "Ingress", "Egress",
	"a010", "app2", "app10", "v1.2", "v1.10", "1.10", "node-1", "node-01", "_a", "a_b",
}

// policyGen builds policies from a source of choices: math/rand for the
// equivalence test, the fuzzer's bytes for FuzzPolicyYAML. One string in
// 256 is a rare one.
type policyGen struct {
	strs, rare []string
	intn       func(n int) int
	int32      func() int32
}

func (g policyGen) str() string {
	if g.intn(256) == 0 {
		return g.rare[g.intn(len(g.rare))]
	}
	return g.strs[g.intn(len(g.strs))]
}

// strings is nil, an empty non-nil slice, or up to maxLen strings.
func (g policyGen) strings(maxLen int) []string {
	switch g.intn(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, 1+g.intn(maxLen))
	for i := range l {
		l[i] = g.str()
	}
	return l
}

func (g policyGen) labels() map[string]string {
	switch g.intn(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range 1 + g.intn(6) {
		m[g.str()] = g.str()
	}
	return m
}

func (g policyGen) selector() *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: g.labels()}
	if g.intn(3) == 0 {
		ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn,
			metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist, "", metav1.LabelSelectorOperator(g.str())}
		s.MatchExpressions = []metav1.LabelSelectorRequirement{}
		for range g.intn(3) {
			s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: g.str(), Operator: ops[g.intn(len(ops))], Values: g.strings(3)})
		}
	}
	return s
}

func (g policyGen) optSelector() *metav1.LabelSelector {
	switch g.intn(3) {
	case 0:
		return nil
	case 1:
		return &metav1.LabelSelector{}
	}
	return g.selector()
}

func (g policyGen) peers() []networkingv1.NetworkPolicyPeer {
	if g.intn(4) == 0 {
		return nil
	}
	var l []networkingv1.NetworkPolicyPeer
	for range g.intn(4) {
		var p networkingv1.NetworkPolicyPeer
		switch g.intn(5) {
		case 0: // empty
		case 1:
			p.PodSelector = g.optSelector()
		case 2:
			p.NamespaceSelector = g.optSelector()
		case 3:
			p.PodSelector, p.NamespaceSelector = g.optSelector(), g.optSelector()
		case 4:
			cidrs := []string{"10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "", g.str()}
			p.IPBlock = &networkingv1.IPBlock{CIDR: cidrs[g.intn(len(cidrs))], Except: g.strings(3)}
		}
		l = append(l, p)
	}
	return l
}

func (g policyGen) ports() []networkingv1.NetworkPolicyPort {
	if g.intn(4) == 0 {
		return nil
	}
	protocols := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP, "", corev1.Protocol(g.str())}
	var l []networkingv1.NetworkPolicyPort
	for range g.intn(4) {
		var p networkingv1.NetworkPolicyPort
		if g.intn(3) > 0 {
			p.Protocol = &protocols[g.intn(len(protocols))]
		}
		switch g.intn(6) {
		case 0: // no port
		case 1:
			p.Port = new(intstr.FromInt32([]int32{53, 80, 443, 8080, 0, -1, 65535}[g.intn(7)]))
		case 2:
			p.Port = new(intstr.FromInt32(g.int32()))
		case 3:
			p.Port = new(intstr.FromString([]string{"http", "dns-tcp", "metrics", ""}[g.intn(4)]))
		case 4:
			p.Port = new(intstr.FromString(g.str()))
		case 5:
			p.Port = new(intstr.FromInt32(8443))
			if g.intn(16) == 0 {
				p.Port = &intstr.IntOrString{Type: intstr.Type(2 + g.intn(3)), IntVal: 1, StrVal: "x"} // json.Marshal fails
			}
		}
		if g.intn(4) == 0 {
			p.EndPort = new([]int32{1024, 0, 65535, g.int32()}[g.intn(4)])
		}
		l = append(l, p)
	}
	return l
}

func (g policyGen) policy() *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{}
	if g.intn(8) == 0 {
		p.TypeMeta = metav1.TypeMeta{APIVersion: g.str(), Kind: g.str()}
	}
	m := &p.ObjectMeta
	if g.intn(6) > 0 {
		m.Name = g.str()
	}
	if g.intn(6) > 0 {
		m.Namespace = g.str()
	}
	m.Labels, m.Annotations = g.labels(), g.labels()
	if g.intn(4) == 0 {
		m.Annotations = map[string]string{AnnotationWindow: "24h0m0s", AnnotationSource: "redline audit",
			AnnotationGeneratedAt: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC).Format(time.RFC3339)}
	}
	if g.intn(4) == 0 {
		m.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	}
	if g.intn(6) == 0 {
		m.GenerateName, m.ResourceVersion, m.UID = g.str(), g.str(), types.UID(g.str())
		m.Generation = []int64{0, 1, -3, 1 << 53, 1<<53 + 1, -(1<<53 + 1), 1 << 62, int64(g.int32())}[g.intn(8)]
	}
	switch g.intn(64) {
	case 0:
		m.Finalizers = []string{g.str()}
	case 1:
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: g.str(), UID: "u"}}
	case 2:
		m.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	case 3:
		m.DeletionGracePeriodSeconds = new(int64(30))
	case 4:
		m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "redline", Operation: metav1.ManagedFieldsOperationApply}}
	case 5:
		//lint:ignore SA1019 a caller may still set it
		m.SelfLink = g.str()
	}
	if g.intn(5) > 0 {
		p.Spec.PodSelector = *g.selector()
	}
	if g.intn(4) > 0 {
		for range g.intn(5) {
			p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: g.ports(), From: g.peers()})
		}
	}
	if g.intn(4) > 0 {
		for range g.intn(5) {
			p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{Ports: g.ports(), To: g.peers()})
		}
	}
	kinds := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress, networkingv1.PolicyType(g.str())}
	switch g.intn(4) {
	case 1:
		p.Spec.PolicyTypes = []networkingv1.PolicyType{}
	case 2, 3:
		for range 1 + g.intn(3) {
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, kinds[g.intn(len(kinds))])
		}
	}
	return p
}

// benchPolicy is a suggestion for a busy workload: 20 ingress and 20 egress
// rules, each with pod and namespace selectors and a couple of ports.
func benchPolicy() *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	p := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name: "redline-deployment-checkout", Namespace: "shop",
			Labels: map[string]string{LabelManagedBy: "redline"},
			Annotations: map[string]string{
				AnnotationWindow: "24h0m0s", AnnotationSource: "redline audit",
			},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout", "tier": "backend"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	peer := func(i int) []networkingv1.NetworkPolicyPeer {
		return []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": fmt.Sprintf("team-%d", i%7)}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("service-%d", i), "tier": "backend"}},
		}}
	}
	ports := func(i int) []networkingv1.NetworkPolicyPort {
		a, b := intstr.FromInt32(int32(8000+i)), intstr.FromInt32(9090)
		return []networkingv1.NetworkPolicyPort{{Port: &a, Protocol: &tcp}, {Port: &b, Protocol: &udp}}
	}
	for i := range 20 {
		p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peer(i), Ports: ports(i)})
		p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peer(100 + i), Ports: ports(i)})
	}
	return p
}

func BenchmarkYAML(b *testing.B) {
	p := benchPolicy()
	out, err := YAML(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := YAML(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeYAML is the path YAML took before it wrote policies from
// their fields (and still takes for unusual ones), for comparison.
func BenchmarkTreeYAML(b *testing.B) {
	p := benchPolicy()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := treeYAML(p); err != nil {
			b.Fatal(err)
		}
	}
}

// YAMLString is string(YAML(p)), both ways a policy can go. (But for the
// rare policy sigs.k8s.io/yaml writes differently from run to run: keys
// with no one yaml.v2 order beside a string our writers are unsure of.)
func TestYAMLString(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 13))
	unstable := 0
	for range 2000 {
		g := policyGen{strs: commonStrings, rare: trickyStrings, intn: r.IntN, int32: func() int32 { return int32(r.Uint32()) }}
		p := g.policy()
		if _, typed := typedPolicyYAML(p); !typed {
			obj, err := jsonTreeOf(p)
			if err != nil {
				if _, serr := YAMLString(p); serr == nil {
					t.Fatalf("YAMLString of a policy JSON cannot write (%v): no error", err)
				}
				continue
			}
			if _, ok := stableYAML(obj); !ok {
				unstable++ // sigs.k8s.io/yaml's, maybe not the same twice
				continue
			}
		}
		want, werr := YAML(p)
		got, gerr := YAMLString(p)
		if (werr == nil) != (gerr == nil) || got != string(want) {
			t.Fatalf("YAMLString = %q, %v; YAML = %q, %v", got, gerr, want, werr)
		}
	}
	if unstable > 1500 {
		t.Errorf("%d of 2000 generated policies go to sigs.k8s.io/yaml: too few compared", unstable)
	}
	if _, err := YAMLString(nil); err == nil {
		t.Error("YAMLString(nil): no error")
	}
}

// TestTypedYAMLKnownKeys: policies of many selectors whose keys come from
// a few sets, as a policy's do, so that the writer finds the keys it
// remembers (knownEntries) and, now and then, a map that holds all but one
// of them, or more: the known keys of a size are right only when each is in
// the map. Some keys are quoted, some hold spaces, some digits.
func TestTypedYAMLKnownKeys(t *testing.T) {
	sets := [][]string{
		{"kubernetes.io/metadata.name"}, {"team"}, {"8080"}, {"a b"}, {"yes"},
		{"app", "tier"}, {"app", "tier", "version"}, {"tier", "app", "version", "canary"},
		{"app", "tier", "a9"}, {"app", "tier", "a10"}, {"a9", "a10", "app"}, {"node-1", "node-01", "node-2"},
		{"a b", "redline audit", "x"}, {"", "app"}, {"8080", "443", "app", "yes"}, {"a-b", "a.b", "A", "Z"},
	}
	values := []string{"web", "db", "v1", "backend", "a b", "yes", "8080", ""}
	r := rand.New(rand.NewPCG(17, 19))
	typed := 0
	const n = 2000
	for range n {
		sel := func() *metav1.LabelSelector {
			set := sets[r.IntN(len(sets))]
			m := map[string]string{}
			for _, k := range set {
				if r.IntN(8) > 0 {
					m[k] = values[r.IntN(len(values))]
				}
			}
			if r.IntN(64) == 0 {
				m[orderKeys[r.IntN(len(orderKeys))]] = "x"
			}
			return &metav1.LabelSelector{MatchLabels: m}
		}
		p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Labels: sel().MatchLabels}}
		p.Spec.PodSelector = *sel()
		for range 1 + r.IntN(12) {
			p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel(), PodSelector: sel()}}})
		}
		if checkTyped(t, p) {
			typed++
		}
	}
	t.Logf("%d of %d policies of shared keys written from their fields", typed, n)
	if typed < n/2 {
		t.Errorf("only %d of %d policies of shared keys took the typed path", typed, n)
	}
}

func TestAppendInt32(t *testing.T) {
	check := func(v int32) {
		if got, want := string(appendInt32([]byte("x"), v)), "x"+strconv.Itoa(int(v)); got != want {
			t.Fatalf("appendInt32(%d) = %q, want %q", v, got, want)
		}
	}
	for v := int32(-1100); v <= 101000; v++ {
		check(v)
	}
	for _, v := range []int32{math.MinInt32, math.MinInt32 + 1, -99999, -100000, 999999, 1000000, math.MaxInt32} {
		check(v)
	}
}

// FuzzStringShortcuts holds the writer's shortcuts to what they stand in
// for: plainWord to plainString, sortSimplePairs to sortKeys.
func FuzzStringShortcuts(f *testing.F) {
	f.Add("app", "tier", "version")
	f.Add("kubernetes.io/metadata.name", "app.kubernetes.io/name", "a_b")
	f.Add("yes", "Off", "null")
	f.Add("a-b", "a.b", "a/b")
	f.Add("A", "Z", "_a")
	f.Add("a~", "a", "a b")
	f.Add("a9", "ü", "a10")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, s := range []string{a, b, c} {
			want := plainString(s) == plain
			for i := 0; i < len(s) && want; i++ {
				// plainWord takes a part of plainString's plain strings.
				want = wordByte[s[i]] != 0 && (i > 0 || wordByte[s[i]] == wordLetter)
			}
			if got := plainWord(s); got != want {
				t.Errorf("plainWord(%q) = %v, plainString says %v", s, got, want)
			}
			if plainWord(s) && stringStyle(s, nil) != plain {
				t.Errorf("plainWord(%q), but stringStyle is %v", s, stringStyle(s, nil))
			}
		}
		if a == b || b == c || a == c || !simpleKey(a) || !simpleKey(b) || !simpleKey(c) {
			return
		}
		pairs := []labelPair{{a, "1"}, {b, "2"}, {c, "3"}}
		sortSimplePairs(pairs)
		keys := []string{a, b, c}
		if !sortKeys(keys) {
			t.Fatalf("sortKeys refused simple keys %q", keys)
		}
		for i, p := range pairs {
			if p.k != keys[i] {
				t.Fatalf("sortSimplePairs: %v, sortKeys: %q", pairs, keys)
			}
		}
	})
}
