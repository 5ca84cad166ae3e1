package audit

import (
	"context"
	"fmt"
	"math/rand/v2"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
)

// A pass with a memo gives what a pass without one gives, rendering again
// exactly the workloads whose inputs changed.
func TestPassMemo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(t, now, 300, 12_000)
	in := PassInput{Inventory: inv, Edges: st, Window: 7 * 24 * time.Hour, Now: now, NamespaceLabelKey: "team"}
	memo := &Memo{}
	// pass runs with the memo and checks the result against a pass
	// without one.
	pass := func(step string, wantMisses int) PassResult {
		t.Helper()
		got, want := passWithAndWithout(t, in, memo)
		if len(got.ConfigMaps) != len(want.ConfigMaps) || len(got.ConfigMaps) < 250 {
			t.Fatalf("%s: %d ConfigMaps with the memo, %d without", step, len(got.ConfigMaps), len(want.ConfigMaps))
		}
		for i := range got.ConfigMaps {
			g, w := got.ConfigMaps[i], want.ConfigMaps[i]
			if g.Namespace != w.Namespace || g.Name != w.Name || !maps.Equal(g.Data, w.Data) || !maps.Equal(g.Annotations, w.Annotations) {
				t.Fatalf("%s: %s/%s differs with the memo", step, g.Namespace, g.Name)
			}
		}
		if !slices.Equal(got.WorkloadRed, want.WorkloadRed) || !slices.Equal(got.Summaries, want.Summaries) || !slices.Equal(got.Red, want.Red) {
			t.Fatalf("%s: red counts or summaries differ with the memo", step)
		}
		switch wantMisses {
		case all:
			wantMisses = len(got.ConfigMaps)
		case some:
			if memo.Misses == 0 || memo.Misses >= len(got.ConfigMaps)/2 {
				t.Fatalf("%s: %d of %d rendered again; want some, not most", step, memo.Misses, len(got.ConfigMaps))
			}
			wantMisses = memo.Misses
		}
		if memo.Misses != wantMisses || memo.Hits != len(got.ConfigMaps)-wantMisses {
			t.Fatalf("%s: %d rendered, %d reused; want %d rendered", step, memo.Misses, memo.Hits, wantMisses)
		}
		return got
	}
	pass("first pass", all)
	pass("nothing changed", 0)

	// Another pass time over the same hours of traffic (the window is
	// whole hours: [11:00 a week ago, 12:00) either way).
	in.Now = now.Add(-10 * time.Minute)
	pass("another pass time", 0)

	// More connections on a known edge: counts are not in the ConfigMaps.
	var src, dst *netpol.Workload
	for _, w := range inv.Workloads {
		switch {
		case w.HostNetwork || len(stableOf(w)) == 0:
		case src == nil:
			src = w
		case w.Namespace != src.Namespace:
			dst = w
		}
		if dst != nil {
			break
		}
	}
	key := flow.EdgeKey{Src: flow.WorkloadEndpoint(src.Namespace, src.Kind, src.Name), Dst: flow.WorkloadEndpoint(dst.Namespace, dst.Kind, dst.Name),
		Protocol: flow.ProtocolTCP, Port: 4242}
	record := func(verdict flow.Verdict) {
		st.Record(key, now.Add(-time.Hour), verdict, nil, nil)
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	record(flow.VerdictForwarded)
	pass("a new edge", 2) // its source's egress, its destination's ingress
	record(flow.VerdictForwarded)
	pass("the same edge again", 0)
	record(flow.VerdictDropped)
	pass("the edge dropped", 2) // now red for both

	// Policies change what is red, not the suggestions: with the
	// policies of one namespace deleted, only the workloads with edges
	// they denied are rendered again.
	var kept []*networkingv1.NetworkPolicy
	for _, p := range inv.Policies {
		if p.Namespace != dst.Namespace {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(inv.Policies) {
		t.Fatalf("namespace %s has no policy to delete", dst.Namespace)
	}
	inv.Policies = kept
	pass("policies deleted", some)

	// A namespace reaches the workloads whose traffic touches it: an
	// island of three workloads talking among themselves, added, then
	// relabelled, renders those three (the generated world's traffic
	// touches every other namespace from everywhere).
	inv.Namespaces = append(slices.Clone(inv.Namespaces), netpol.Namespace{Name: "island", Labels: map[string]string{"team": "island"}})
	var island []flow.Endpoint
	for i := range 3 {
		w := &netpol.Workload{Namespace: "island", Kind: "Deployment", Name: fmt.Sprint("i", i), Labels: map[string]string{"app": fmt.Sprint("i", i)}}
		inv.Workloads = append(slices.Clone(inv.Workloads), w)
		island = append(island, flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
	}
	for i := range island {
		st.Record(flow.EdgeKey{Src: island[i], Dst: island[(i+1)%3], Protocol: flow.ProtocolTCP, Port: 8080}, now.Add(-time.Hour), flow.VerdictForwarded, nil, nil)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	pass("an island added", 3)
	pass("nothing changed", 0)
	last := &inv.Namespaces[len(inv.Namespaces)-1]
	last.Labels = map[string]string{"team": "atoll"}
	pass("the island relabelled", 3)
	if inv.Namespaces[0].Name != "kube-system" {
		t.Fatalf("namespace 0 is %s, want kube-system", inv.Namespaces[0].Name)
	}
	ks := &inv.Namespaces[0]
	ks.Labels = maps.Clone(ks.Labels)
	ks.Labels["team"] = "renamed"
	pass("a relabelled kube-system", all)

	in.Window = 24 * time.Hour
	pass("another window", all)
}

// Expected misses in TestPassMemo besides exact counts.
const (
	all  = -1
	some = -2
)

func stableOf(w *netpol.Workload) map[string]string { return suggest.StableLabels(w.Kind, w.Labels) }

// Random changes to the inventory and the traffic, pass after pass: with
// the memo the pass is exactly the pass without it. (What the memo
// misses, this finds.)
func TestPassMemoRandomChanges(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(t, now, 200, 6_000)
	in := PassInput{Inventory: inv, Edges: st, Window: 7 * 24 * time.Hour, Now: now, NamespaceLabelKey: "team"}
	memo := &Memo{}
	r := rand.New(rand.NewPCG(8, 8))
	pick := func() *netpol.Workload { return inv.Workloads[r.IntN(len(inv.Workloads))] }
	rendered := 0
	for round := range 40 {
		// One change a round, of a kind chosen at random; a copy of what
		// changes (the inventory is shared with the last pass's memo as
		// any snapshot would be).
		var what string
		switch k := r.IntN(8); k {
		case 0:
			w := pick()
			c := *w
			c.Labels = maps.Clone(w.Labels)
			c.Labels["app"] = fmt.Sprint("relabelled-", round)
			inv.Workloads = slices.Clone(inv.Workloads)
			inv.Workloads[slices.Index(inv.Workloads, w)] = &c
			what = "workload relabelled " + w.Key()
		case 1:
			i := 1 + r.IntN(len(inv.Namespaces)-1)
			inv.Namespaces = slices.Clone(inv.Namespaces)
			inv.Namespaces[i].Labels = maps.Clone(inv.Namespaces[i].Labels)
			if r.IntN(2) == 0 {
				delete(inv.Namespaces[i].Labels, "team")
			} else {
				inv.Namespaces[i].Labels["team"] = fmt.Sprint("t", round)
			}
			what = "namespace relabelled " + inv.Namespaces[i].Name
		case 2:
			if len(inv.Services) == 0 {
				continue
			}
			i := r.IntN(len(inv.Services))
			inv.Services = slices.Clone(inv.Services)
			s := &inv.Services[i]
			s.Ports = slices.Clone(s.Ports)
			s.Ports[0].TargetPort = intstr.FromInt32(int32(1000 + round))
			what = "Service target port " + s.Name
		case 3:
			w := pick()
			inv.Workloads = slices.DeleteFunc(slices.Clone(inv.Workloads), func(x *netpol.Workload) bool { return x == w })
			what = "workload deleted " + w.Key()
		case 4:
			w := pick()
			c := *w
			c.Name += fmt.Sprint("-twin", round)
			inv.Workloads = append(slices.Clone(inv.Workloads), &c)
			what = "workload added " + c.Key()
		case 5:
			a, b := pick(), pick()
			st.Record(flow.EdgeKey{Src: flow.WorkloadEndpoint(a.Namespace, a.Kind, a.Name), Dst: flow.WorkloadEndpoint(b.Namespace, b.Kind, b.Name),
				Protocol: flow.ProtocolTCP, Port: uint16(2000 + round)}, now.Add(-time.Hour), flow.VerdictForwarded, nil, nil)
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			what = "new edge"
		case 6:
			if len(inv.Policies) == 0 {
				continue
			}
			inv.Policies = slices.Clone(inv.Policies[1:])
			what = "policy deleted"
		case 7:
			w := pick()
			c := *w
			c.HostNetwork = !c.HostNetwork
			inv.Workloads = slices.Clone(inv.Workloads)
			inv.Workloads[slices.Index(inv.Workloads, w)] = &c
			what = "host network flipped " + w.Key()
		}
		got, want := passWithAndWithout(t, in, memo)
		if len(got.ConfigMaps) != len(want.ConfigMaps) {
			t.Fatalf("round %d (%s): %d ConfigMaps with the memo, %d without", round, what, len(got.ConfigMaps), len(want.ConfigMaps))
		}
		for i := range got.ConfigMaps {
			g, w := got.ConfigMaps[i], want.ConfigMaps[i]
			if g.Namespace != w.Namespace || g.Name != w.Name || !maps.Equal(g.Data, w.Data) {
				t.Fatalf("round %d (%s): %s/%s differs with the memo:\n%s\nwant\n%s", round, what, g.Namespace, g.Name, g.Data[KeyPolicy], w.Data[KeyPolicy])
			}
		}
		if !slices.Equal(got.WorkloadRed, want.WorkloadRed) || !slices.Equal(got.Summaries, want.Summaries) {
			t.Fatalf("round %d (%s): red counts or summaries differ with the memo", round, what)
		}
		rendered += memo.Misses
	}
	t.Logf("%d workload renderings over 40 passes of about %d workloads", rendered, len(inv.Workloads))
}

// passWithAndWithout runs a pass with the memo and one without.
func passWithAndWithout(t *testing.T, in PassInput, memo *Memo) (got, want PassResult) {
	t.Helper()
	in.Memo = nil
	want, err := Pass(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	in.Memo = memo
	if got, err = Pass(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return got, want
}
