package impact_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
)

func denyAllOf(ns, name string) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	return p
}

// TestCachedEdgesFollowTraffic: an Analyzer caches each namespace's
// edges, resolved and judged under the current set, from the first
// what-if; later what-ifs over other edges (new traffic, edges gone, in
// another order) answer exactly as a fresh Analyzer does.
func TestCachedEdgesFollowTraffic(t *testing.T) {
	for seed := range uint64(30) {
		w := generateWorld(seed, 2+int(seed%4), 40+int(seed%4)*20, 10+int(seed%3)*15, 600)
		r := rand.New(rand.NewPCG(seed, 17))
		opts := impact.Options{MaxExplained: 3, MaxConnections: 20 + r.IntN(40)}
		warm, err := impact.NewAnalyzer(w.cluster, opts)
		if err != nil {
			t.Fatal(err)
		}
		// The traffic the cache is built from: most of the edges, one
		// in six left out (new traffic, later), in order.
		var earlier []flow.Edge
		for _, e := range w.edges {
			if r.IntN(6) != 0 {
				earlier = append(earlier, e)
			}
		}
		// Later: all of them; or some gone and some new; or shuffled.
		later := [][]flow.Edge{w.edges, nil, slices.Clone(w.edges)}
		for _, e := range w.edges {
			if r.IntN(4) != 0 {
				later[1] = append(later[1], e)
			}
		}
		r.Shuffle(len(later[2]), func(i, j int) { later[2][i], later[2][j] = later[2][j], later[2][i] })

		for round := range 6 {
			ns := w.cluster.Namespaces[r.IntN(min(3, len(w.cluster.Namespaces)))].Name
			var ch impact.Change
			switch pols := w.cluster.Policies; round % 3 {
			case 0:
				ch = impact.Change{Operation: impact.Create, New: denyAllOf(ns, "deny-all")}
			case 1:
				existing := pols[r.IntN(len(pols))]
				candidate := w.candidates[r.IntN(len(w.candidates))].DeepCopy()
				candidate.ObjectMeta = *existing.ObjectMeta.DeepCopy()
				ch = impact.Change{Operation: impact.Update, Old: existing, New: candidate}
			default:
				ch = impact.Change{Operation: impact.Delete, Old: pols[r.IntN(len(pols))]}
			}
			relabel := impact.NamespaceRelabel{Name: ns, NewLabels: map[string]string{"team": fmt.Sprint("team-", r.IntN(3))}}
			if _, err := warm.PolicyChange(context.Background(), ch, earlier); err != nil {
				t.Fatal(err)
			}
			for i, edges := range later {
				fresh, err := impact.NewAnalyzer(w.cluster, opts)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("seed %d round %d traffic %d: %s", seed, round, i, ch.Operation)
				got, err := warm.PolicyChange(context.Background(), ch, edges)
				if err != nil {
					t.Fatal(err)
				}
				want, err := fresh.PolicyChange(context.Background(), ch, edges)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: the Analyzer that cached other traffic answers\n%+v\nwant\n%+v", what, got, want)
				}
				got, err = warm.NamespaceRelabel(context.Background(), relabel, edges)
				if err != nil {
					t.Fatal(err)
				}
				want, err = fresh.NamespaceRelabel(context.Background(), relabel, edges)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s relabel: the Analyzer that cached other traffic answers\n%+v\nwant\n%+v", what, got, want)
				}
			}
		}
	}
}

// TestCachedEdgesNewConnection: a connection first observed after the
// namespace's edges were cached is judged by the next what-if.
func TestCachedEdgesNewConnection(t *testing.T) {
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deny := impact.Change{Operation: impact.Create, New: denyAllOf("shop", "deny-all")}
	edges := shopEdges()
	newEdge := flow.Edge{EdgeKey: flow.EdgeKey{
		Src: flow.WorkloadEndpoint("shop", "Deployment", "web"), Dst: flow.WorkloadEndpoint("shop", "Deployment", "idle"),
		Protocol: flow.ProtocolTCP, Port: 4242}}
	newEdge.Count = 7
	name := "shop/web[Deployment] -> shop/idle[Deployment] TCP/4242"
	first, err := a.PolicyChange(context.Background(), deny, edges)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sortedNames(first.TurnsRed), name) {
		t.Fatalf("%s turns red before it was observed", name)
	}
	// Observed since, in the middle of the traffic as a store returns it.
	later := slices.Insert(slices.Clone(edges), len(edges)/2, newEdge)
	second, err := a.PolicyChange(context.Background(), deny, later)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sortedNames(second.TurnsRed), name) {
		t.Errorf("%s observed after the first what-if does not turn red: %q", name, sortedNames(second.TurnsRed))
	}
	if second.Totals.TurnsRed.Connections != first.Totals.TurnsRed.Connections+1 {
		t.Errorf("turns red: %d connections after, %d before: want one more", second.Totals.TurnsRed.Connections, first.Totals.TurnsRed.Connections)
	}
	// And when it is gone from the window again, it is gone from the
	// answer.
	third, err := a.PolicyChange(context.Background(), deny, edges)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(third, first) {
		t.Errorf("without the new edge again: %+v, want %+v", third, first)
	}
}

// TestCachedEdgesPerAnalyzer: the cache is the Analyzer's: an Analyzer of
// a new cluster version judges the same edges under its own policies,
// while the old one keeps answering for its version.
func TestCachedEdgesPerAnalyzer(t *testing.T) {
	c := shopCluster()
	oldA, err := impact.NewAnalyzer(c, impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	edges := shopEdges()
	deny := impact.Change{Operation: impact.Create, New: denyAllOf("shop", "deny-all")}
	before, err := oldA.PolicyChange(context.Background(), deny, edges)
	if err != nil {
		t.Fatal(err)
	}
	if before.Totals.TurnsRed.Connections == 0 {
		t.Fatal("a deny-all turns nothing red in the shop: the test needs allowed traffic")
	}
	// The cluster now has a default deny of its own: the same deny-all
	// turns nothing red, what it denies is red already.
	c.Policies = append(slices.Clone(c.Policies), denyAllOf("shop", "default-deny"))
	newA, err := impact.NewAnalyzer(c, impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := newA.PolicyChange(context.Background(), deny, edges)
	if err != nil {
		t.Fatal(err)
	}
	if after.Totals.TurnsRed.Connections != 0 {
		t.Errorf("the new cluster's Analyzer turns %d connections red: it judged under the old policies", after.Totals.TurnsRed.Connections)
	}
	if got := after.Totals.StaysRed.Connections; got != before.Totals.TurnsRed.Connections+before.Totals.StaysRed.Connections {
		t.Errorf("stays red under the new cluster: %d, want %d", got, before.Totals.TurnsRed.Connections+before.Totals.StaysRed.Connections)
	}
	again, err := oldA.PolicyChange(context.Background(), deny, edges)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, before) {
		t.Errorf("the old Analyzer's answer changed: %+v, want %+v", again, before)
	}
}

// TestCachedEdgesDuplicatePolicyNames: with two policies of one name (a
// cluster snapshot caught mid-change), the proposed sides are judged by
// the proposed index, not adjusted from the tallies.
func TestCachedEdgesDuplicatePolicyNames(t *testing.T) {
	c := shopCluster()
	dup := denyAllOf("shop", "twice")
	c.Policies = append(slices.Clone(c.Policies), dup, dup.DeepCopy())
	a, err := impact.NewAnalyzer(c, impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := a.PolicyChange(context.Background(), impact.Change{Operation: impact.Delete, Old: dup}, shopEdges())
	if err != nil {
		t.Fatal(err)
	}
	// Deleting "twice" removes both: what they alone denied (egress from
	// the shop) turns green.
	if imp.Totals.TurnsGreen.Connections == 0 {
		t.Errorf("deleting both default denies turns nothing green: %+v", imp.Totals)
	}
}

// A what-if over a new slice holding the same edges in the same order (the
// webhook's edge cache after a refresh that found nothing new) adopts it:
// the next one over it takes edges by position. Answers are the same
// throughout, and a slice with other edges is not adopted.
func TestCachedEdgesAdoptSameEdges(t *testing.T) {
	w := generateWorld(3, 3, 60, 20, 600)
	a, err := impact.NewAnalyzer(w.cluster, impact.Options{MaxExplained: 3, MaxConnections: 40})
	if err != nil {
		t.Fatal(err)
	}
	ns := w.cluster.Namespaces[0].Name
	var mine []flow.Edge
	for _, e := range w.edges {
		if e.Src.Namespace == ns || e.Dst.Namespace == ns {
			mine = append(mine, e)
		}
	}
	if len(mine) < 20 {
		t.Fatalf("only %d edges in %s", len(mine), ns)
	}
	ch := impact.Change{Operation: impact.Create, New: denyAllOf(ns, "deny-all")}
	first, err := a.PolicyChange(context.Background(), ch, mine)
	if err != nil {
		t.Fatal(err)
	}
	if !a.CacheTakesByPosition(ns, mine) {
		t.Fatal("the slice the cache was built from is not taken by position")
	}
	again := slices.Clone(mine)
	if a.CacheTakesByPosition(ns, again) {
		t.Fatal("a copy is taken by position before a what-if checked it")
	}
	for round := range 2 {
		got, err := a.PolicyChange(context.Background(), ch, again)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("round %d: the copy answers\n%+v\nwant\n%+v", round, got, first)
		}
		if !a.CacheTakesByPosition(ns, again) {
			t.Fatalf("round %d: the copy, checked edge by edge, is not adopted", round)
		}
	}
	other := slices.Clone(mine[1:])
	if _, err := a.PolicyChange(context.Background(), ch, other); err != nil {
		t.Fatal(err)
	}
	if a.CacheTakesByPosition(ns, other) {
		t.Error("a slice with other edges was adopted")
	}
}
