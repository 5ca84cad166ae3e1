package suggest

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// ruleKeyString is the order rules are written in, spelled out.
func ruleKeyString(k ruleKey) string {
	switch k.kind {
	case 'p':
		return "0pod:" + k.a
	case 'n':
		return "1ns:" + k.a + "=" + k.b + "|" + k.c
	case 'c':
		return "2cidr:" + k.a
	}
	return ""
}

func sign(c int) int { return min(max(c, -1), 1) }

// compareRuleKeys orders keys as their strings would, without building
// them: over random keys made of prefixes of each other, separators and
// characters around them ('-' < '/' < '=' < 'z' < '|').
func TestCompareRuleKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	part := func() string {
		const chars = "a-=|z.9"
		var b strings.Builder
		for range r.IntN(4) {
			b.WriteByte(chars[r.IntN(len(chars))])
		}
		return b.String()
	}
	// Label strings come from a pool, ranked as a Lookup ranks them; a
	// key has the rank or not (a selector not from the Lookup).
	pool := make([]string, 40)
	for i := range pool {
		pool[i] = part()
	}
	slices.Sort(pool)
	pool = slices.Compact(pool)
	label := func() (string, int32) {
		i := r.IntN(len(pool))
		if r.IntN(4) == 0 {
			return pool[i], 0
		}
		return pool[i], int32(i + 1)
	}
	key := func() ruleKey {
		k := ruleKey{kind: "\x00pnc"[r.IntN(4)], a: part(), b: part(), c: part()}
		switch k.kind {
		case 'p':
			k.a, k.lbl = label()
		case 'n':
			k.c, k.lbl = label()
		}
		return k
	}
	for range 200_000 {
		x, y := key(), key()
		if r.IntN(3) == 0 {
			y = x
			if y.kind == 'n' {
				y.c, y.lbl = label()
			}
		}
		for _, k := range []*ruleKey{&x, &y} {
			switch k.kind {
			case 0:
				*k = ruleKey{}
			case 'p':
				k.b, k.c = "", ""
			case 'c':
				k.b, k.c, k.lbl = "", "", 0
			}
		}
		want := sign(strings.Compare(ruleKeyString(x), ruleKeyString(y)))
		if got := sign(compareRuleKeys(x, y)); got != want {
			t.Fatalf("compareRuleKeys(%q, %q) = %d, the strings compare %d", ruleKeyString(x), ruleKeyString(y), got, want)
		}
	}
}

func FuzzCompareJoined(f *testing.F) {
	f.Add("a", "b", "ab", "")
	f.Add("t1", "|x", "t1x", "|")
	f.Fuzz(func(t *testing.T, a1, a2, b1, b2 string) {
		want := sign(strings.Compare(a1+a2, b1+b2))
		if got := sign(compareJoined([]string{a1, a2}, []string{b1, b2})); got != want {
			t.Fatalf("compareJoined(%q+%q, %q+%q) = %d, want %d", a1, a2, b1, b2, got, want)
		}
	})
}

// A Lookup's shared peers stay right when suggestions select namespaces by
// different keys: the peer built for one key is rebuilt for the other, and
// the policies made before still write what they hold.
func TestLookupPeersAcrossKeys(t *testing.T) {
	inv := fixture()
	l := NewLookup(inv)
	var policies []*networkingv1.NetworkPolicy
	for _, key := range []string{"", "team", "", "team"} {
		for _, w := range inv.Workloads {
			if w.HostNetwork {
				continue
			}
			var edges []flow.Edge
			for _, o := range inv.Workloads {
				if o != w && o.Namespace != w.Namespace {
					edges = append(edges, edge(we(o.Namespace, o.Kind, o.Name), we(w.Namespace, w.Kind, w.Name), tcp, 8080, nil))
				}
			}
			in := input(inv, we(w.Namespace, w.Kind, w.Name), edges...)
			in.Lookup = l
			s, err := Suggest(in, Choices{NamespaceLabelKey: key})
			if err != nil {
				t.Fatalf("%s: %v", w.Key(), err)
			}
			policies = append(policies, s.Policy)
		}
	}
	crossRules := 0
	for _, p := range policies {
		want, err := YAMLString(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := l.YAMLString(p); err != nil || got != want {
			t.Fatalf("%s: the Lookup writes (%v)\n%s\nwant\n%s", p.Name, err, got, want)
		}
		for _, r := range p.Spec.Ingress {
			if len(r.From) == 1 && r.From[0].NamespaceSelector != nil {
				crossRules++
			}
		}
	}
	if crossRules < 8 {
		t.Fatalf("only %d rules select another namespace", crossRules)
	}
}

// A Lookup ranks its entries' strings as they compare: equal strings, equal
// ranks.
func TestLookupRanks(t *testing.T) {
	nss, wls, _ := netpoltest.GenerateCluster(5, 8, 300, 0)
	inv := &inventory.Inventory{Namespaces: nss, Workloads: wls}
	for _, w := range wls[:100] {
		inv.Services = append(inv.Services, inventory.Service{Namespace: w.Namespace, Name: "s-" + w.Name, Selector: map[string]string{"app": w.Labels["app"]}})
	}
	l := NewLookup(inv)
	var es []*peerEntry
	for _, e := range l.peers {
		es = append(es, e)
	}
	sameLabels := 0
	for _, x := range es {
		for _, y := range es[:50] {
			if sign(strings.Compare(x.str, y.str)) != sign(int(x.rank)-int(y.rank)) ||
				sign(strings.Compare(x.lblStr, y.lblStr)) != sign(int(x.lblRank)-int(y.lblRank)) {
				t.Fatalf("%s (%d, %q %d) and %s (%d, %q %d) ranked against their strings", x.str, x.rank, x.lblStr, x.lblRank, y.str, y.rank, y.lblStr, y.lblRank)
			}
			if x != y && x.lblStr == y.lblStr {
				sameLabels++
			}
		}
	}
	if len(es) != 400 || sameLabels == 0 {
		t.Fatalf("%d entries, %d pairs with the same labels", len(es), sameLabels)
	}
}

// The DNS rule and a row's rule to the same pods are one rule, also when
// the DNS rule's selector is the default one (no kube-dns Service): then
// only the row's key has a rank. (Review finding: they were two.)
func TestDNSRuleMergesWithRow(t *testing.T) {
	inv := fixture()
	inv.Services = slices.DeleteFunc(inv.Services, func(s inventory.Service) bool { return s.Name == "kube-dns" })
	web := we("shop", "Deployment", "web")
	s, err := Suggest(input(inv, web, edge(web, we("kube-system", "Deployment", "coredns"), tcp, 9153, nil)), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	var toDNS []networkingv1.NetworkPolicyEgressRule
	for _, r := range s.Policy.Spec.Egress {
		if len(r.To) == 1 && r.To[0].PodSelector != nil && r.To[0].PodSelector.MatchLabels["k8s-app"] == "kube-dns" {
			toDNS = append(toDNS, r)
		}
	}
	if len(toDNS) != 1 || len(toDNS[0].Ports) != 3 {
		t.Fatalf("rules to the DNS pods: %+v, want one with 53/TCP, 53/UDP and 9153/TCP", toDNS)
	}
}
