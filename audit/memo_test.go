package audit

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
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
		in.Memo = nil
		want, err := Pass(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		in.Memo = memo
		got, err := Pass(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
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

	// A relabelled namespace can change any suggestion: all again.
	ns := &inv.Namespaces[0]
	ns.Labels = maps.Clone(ns.Labels)
	ns.Labels["team"] = "renamed"
	pass("a relabelled namespace", all)

	in.Window = 24 * time.Hour
	pass("another window", all)
}

// Expected misses in TestPassMemo besides exact counts.
const (
	all  = -1
	some = -2
)

func stableOf(w *netpol.Workload) map[string]string { return suggest.StableLabels(w.Kind, w.Labels) }
