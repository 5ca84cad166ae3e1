package demo

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/store"
)

// dayEnd is a fixed end, for days that need not resolve against a live
// inventory's clock.
var dayEnd = time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)

func trafficInputs(t *testing.T) TrafficOptions {
	t.Helper()
	needDemo(t)
	opts, err := TrafficInputs(t.Context(), env.client)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func TestTrafficIsReproducible(t *testing.T) {
	opts := trafficInputs(t)
	opts.End, opts.Seed = dayEnd, 7
	a, err := Traffic(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Traffic(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Flows, b.Flows) {
		t.Error("the same inputs and seed gave different days")
	}
	opts.Seed = 8
	c, err := Traffic(opts)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Flows, c.Flows) {
		t.Error("another seed gave the same day")
	}
	if !a.From.Equal(dayEnd.Add(-24*time.Hour)) || !a.To.Equal(dayEnd) {
		t.Errorf("day spans [%s, %s), want the 24 h before %s", a.From, a.To, dayEnd)
	}
	if n := bytes.Count(a.Flows, []byte("\n")); n != a.Lines {
		t.Errorf("%d lines, Day.Lines says %d", n, a.Lines)
	}
}

func TestTrafficNeedsPods(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TrafficOptions
		want string
	}{
		{"no end", TrafficOptions{}, "no end time"},
		{"no pods", TrafficOptions{End: dayEnd}, "no running pod with an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Traffic(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	// Without the catalog's pods, the error names the catalog.
	opts := trafficInputs(t)
	opts.End = dayEnd
	kept := opts.Pods[:0:0]
	for _, p := range opts.Pods {
		if p.Labels["app"] != Catalog.Name {
			kept = append(kept, p)
		}
	}
	opts.Pods = kept
	_, err := Traffic(opts)
	if !errors.Is(err, errNoPods) || !strings.Contains(err.Error(), Catalog.Ref()) {
		t.Errorf("error %v, want one naming %s", err, Catalog.Ref())
	}
}

// TestTrafficIngest feeds a day through Redline's ingest path, resolving
// against a live inventory of the dev cluster and storing into a real
// Badger store, and checks the edges the demo promises.
func TestTrafficIngest(t *testing.T) {
	opts := trafficInputs(t)
	opts.End, opts.Seed = time.Now().UTC().Truncate(time.Minute), 1
	begin := time.Now()
	day, err := Traffic(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a day: %d lines (%d KiB), %d connections, %d dropped, generated in %s",
		day.Lines, len(day.Flows)>>10, day.Connections, day.Dropped, time.Since(begin).Round(time.Millisecond))

	ctx := t.Context()
	cluster, err := inventory.Watch(ctx, env.kube, inventory.WatchOptions{
		Options:         inventory.Options{Logger: slog.New(slog.DiscardHandler)},
		ConfigNamespace: NamespaceRedline,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	// What backs the Services is computed a moment after the sync.
	waitBacked(t, cluster, opts, Catalog, Payment, LogStore, CoreDNS)

	begin = time.Now()
	res, err := ingest.New(ingest.Options{Resolver: cluster, Recorder: st}).Ingest(ctx, bytes.NewReader(day.Flows), ingest.StreamOptions{Format: flow.FormatHubble})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ingested in %s: %+v", time.Since(begin).Round(time.Millisecond), res)
	if res.Errors != 0 || res.IgnoredTotal() != 0 {
		t.Fatalf("%d bad lines, %d ignored: %v", res.Errors, res.IgnoredTotal(), res.FirstErrors)
	}
	if res.Lines != day.Lines || res.Recorded != day.Connections {
		t.Errorf("ingest read %d lines and recorded %d connections; the day has %d lines and %d connections", res.Lines, res.Recorded, day.Lines, day.Connections)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	w := func(x Workload) flow.Endpoint { return flow.WorkloadEndpoint(x.Namespace, x.Kind, x.Name) }
	svc := func(x Workload) *flow.ServiceRef { return &flow.ServiceRef{Namespace: x.Namespace, Name: x.Service} }
	aliased := func(addr netip.Addr, alias string) flow.Endpoint {
		return flow.Endpoint{Kind: flow.EndpointAddress, Addr: addr, Class: flow.ClassAliased, Alias: alias}
	}
	type want struct {
		src, dst flow.Endpoint
		proto    flow.Protocol
		port     uint16
		service  *flow.ServiceRef
		count    uint64 // 0: any
		dropped  uint64
	}
	wants := []want{
		{src: w(Gateway), dst: w(Frontend), proto: flow.ProtocolTCP, port: 8080, service: svc(Frontend)},
		// Through the ClusterIP on port 80: recorded on the target port.
		{src: w(Frontend), dst: w(Catalog), proto: flow.ProtocolTCP, port: 9090, service: svc(Catalog)},
		{src: w(Frontend), dst: w(Cart), proto: flow.ProtocolTCP, port: 8080, service: svc(Cart)},
		{src: w(Frontend), dst: w(Checkout), proto: flow.ProtocolTCP, port: 8080, service: svc(Checkout)},
		{src: w(Checkout), dst: w(Payment), proto: flow.ProtocolTCP, port: 8443, service: svc(Payment)},
		{src: w(Cart), dst: w(Redis), proto: flow.ProtocolTCP, port: 6379, service: svc(Redis)},
		{src: w(Catalog), dst: w(Postgres), proto: flow.ProtocolTCP, port: 5432, service: svc(Postgres)},
		{src: w(Checkout), dst: w(Postgres), proto: flow.ProtocolTCP, port: 5432},
		{src: w(Payment), dst: aliased(PaymentProviderAddr, AliasPaymentProvider), proto: flow.ProtocolTCP, port: 443},
		{src: w(NightlyReport), dst: w(Postgres), proto: flow.ProtocolTCP, port: 5432, count: reportDatabaseBurst},
		{src: w(NightlyReport), dst: aliased(ProxyAddr, AliasProxy), proto: flow.ProtocolTCP, port: ProxyPort, count: reportUploads},
		{src: w(NightlyReport), dst: w(CoreDNS), proto: flow.ProtocolUDP, port: 53, count: reportLookups},
		// Into ops, the namespace without the team label.
		{src: w(Gateway), dst: w(LogStore), proto: flow.ProtocolTCP, port: 3100, service: svc(LogStore)},
		{src: w(Payment), dst: w(LogStore), proto: flow.ProtocolTCP, port: 3100},
		{src: w(LogShipper), dst: w(LogStore), proto: flow.ProtocolTCP, port: 3100},
		// Already red.
		{src: w(Frontend), dst: w(Redis), proto: flow.ProtocolTCP, port: 6379, count: droppedAtSource, dropped: droppedAtSource},
		{src: w(Gateway), dst: w(Payment), proto: flow.ProtocolTCP, port: 8443, count: droppedAtDestination, dropped: droppedAtDestination},
		{src: w(Catalog), dst: flow.Endpoint{Kind: flow.EndpointAddress, Addr: UnknownAddress, Class: flow.ClassExternal}, proto: flow.ProtocolTCP, port: 443, count: 1},
	}
	for _, x := range Workloads() {
		if x.Ref() != CoreDNS.Ref() {
			wants = append(wants, want{src: w(x), dst: w(CoreDNS), proto: flow.ProtocolUDP, port: 53, service: svc(CoreDNS)})
		}
	}
	var edges, dropped uint64
	for _, x := range wants {
		_, egress, err := st.WorkloadEdges(ctx, x.src, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		e := findEdge(egress, x.dst, x.proto, x.port)
		name := fmt.Sprintf("%s → %s %s/%d", x.src, x.dst, x.proto, x.port)
		if e == nil {
			t.Errorf("no edge %s; egress of %s: %s", name, x.src, edgeList(egress))
			continue
		}
		edges++
		if x.count != 0 && e.Count != x.count {
			t.Errorf("%s: %d connections, want %d", name, e.Count, x.count)
		}
		if got := e.Verdicts[flow.VerdictDropped]; got != x.dropped {
			t.Errorf("%s: %d dropped, want %d", name, got, x.dropped)
		}
		dropped += e.Verdicts[flow.VerdictDropped]
		if x.service != nil && (e.Service == nil || *e.Service != *x.service) {
			t.Errorf("%s: through Service %v, want %v", name, e.Service, *x.service)
		}
	}
	if dropped != uint64(day.Dropped) {
		t.Errorf("%d dropped connections stored, the day has %d", dropped, day.Dropped)
	}

	// The requests entering through the nodes come from the nodes.
	ingress, _, err := st.WorkloadEdges(ctx, w(Gateway), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	fromNodes := 0
	for _, e := range ingress {
		if e.Src.Kind == flow.EndpointNode && e.Port == 8080 {
			fromNodes++
		}
	}
	if fromNodes != 2 {
		t.Errorf("gateway ingress from %d nodes, want 2: %s", fromNodes, edgeList(ingress))
	}

	// The only unresolved addresses are the three external peers.
	addrs, err := st.UnresolvedAddresses(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, fmt.Sprintf("%s %s %q ×%d", a.Addr, a.Class, a.Alias, a.Count))
	}
	if len(addrs) != 3 {
		t.Errorf("%d unresolved addresses, want 3 (provider, proxy, unknown): %v", len(addrs), got)
	}
	t.Logf("%d expected edges found, %d dropped connections; unresolved addresses: %v", edges, dropped, got)
}

func findEdge(edges []flow.Edge, dst flow.Endpoint, proto flow.Protocol, port uint16) *flow.Edge {
	for i := range edges {
		if e := &edges[i]; e.Dst == dst && e.Protocol == proto && e.Port == port {
			return e
		}
	}
	return nil
}

func edgeList(edges []flow.Edge) string {
	var b strings.Builder
	for _, e := range edges {
		fmt.Fprintf(&b, "\n  %s → %s %s/%d ×%d", e.Src, e.Dst, e.Protocol, e.Port, e.Count)
	}
	return b.String()
}

// waitBacked waits until the inventory resolves the ClusterIPs of the
// workloads' Services to the workloads.
func waitBacked(t *testing.T, cluster *inventory.Cluster, opts TrafficOptions, ws ...Workload) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		var ip netip.Addr
		for _, s := range opts.Services {
			if s.Namespace == w.Namespace && s.Name == w.Service {
				ip, _ = netip.ParseAddr(s.Spec.ClusterIP)
			}
		}
		want := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
		for {
			got, _ := cluster.Resolve(flow.Peer{IP: ip}, time.Time{})
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the inventory resolves %s (Service %s/%s) to %s, want %s", ip, w.Namespace, w.Service, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
