package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

func TestWorkloadTables(t *testing.T) {
	frontend := flow.WorkloadEndpoint("shop", "Deployment", "frontend")
	cart := flow.WorkloadEndpoint("shop", "Deployment", "cart")
	ext := flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.9"), Class: flow.ClassAliased, Alias: "psp"}
	node := flow.Endpoint{Kind: flow.EndpointNode, Name: "node-1"}
	edge := func(src, dst flow.Endpoint, port uint16, count uint64, dropped uint64) flow.Edge {
		e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}}
		e.Count = count
		e.Verdicts[flow.VerdictForwarded] = count - dropped
		e.Verdicts[flow.VerdictDropped] = dropped
		return e
	}
	tables := WorkloadTables(frontend,
		[]flow.Edge{edge(node, frontend, 8080, 2, 0)},
		[]flow.Edge{edge(frontend, ext, 443, 5, 0), edge(frontend, cart, 8080, 10, 3)})
	if tables.Workload != "shop/frontend[Deployment]" || len(tables.Ingress) != 1 || len(tables.Egress) != 2 {
		t.Fatalf("tables = %+v", tables)
	}
	// Workloads sort before addresses; a dropped connection makes the row red.
	if r := tables.Egress[0]; r.Peer != "cart" || r.Kind != "Deployment" || r.Namespace != "shop" || r.Verdict != "DROPPED" || r.Dropped != 3 {
		t.Errorf("first egress row = %+v, want cart, DROPPED", r)
	}
	if r := tables.Egress[1]; r.Peer != "203.0.113.9" || r.Kind != "Address" || r.Class != "aliased" || r.Alias != "psp" || r.Verdict != "FORWARDED" {
		t.Errorf("second egress row = %+v, want the aliased address", r)
	}
	if r := tables.Ingress[0]; r.Peer != "node-1" || r.Kind != "Node" {
		t.Errorf("ingress row = %+v, want the node", r)
	}
}

func TestAgoAndCount(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(time.Minute), "just now"},
		{now.Add(-45 * time.Second), "45s ago"},
		{now.Add(-12 * time.Minute), "12m ago"},
		{now.Add(-3 * time.Hour), "3h ago"},
		{now.Add(-5 * 24 * time.Hour), "5d ago"},
	} {
		if got := Ago(tc.t, now); got != tc.want {
			t.Errorf("Ago(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	for n, want := range map[uint64]string{0: "0", 950: "950", 1000: "1k", 1234: "1.2k", 3_400_000: "3.4M"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}
