package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/store"
)

var (
	frontendEP = flow.WorkloadEndpoint("shop", "Deployment", "frontend")
	cartEP     = flow.WorkloadEndpoint("shop", "Deployment", "cart")
	paymentEP  = flow.WorkloadEndpoint("payments", "Deployment", "payment")

	frontendPod = &hubblePeer{IP: "10.244.1.23", ID: 1734, Identity: 31245, Namespace: "shop",
		Pod: "frontend-7d9c8b6f5-x2kqp", Kind: "Deployment", Name: "frontend", Labels: []string{"app=frontend", "tier=web"}}
	cartPod = &hubblePeer{IP: "10.244.2.41", ID: 2291, Identity: 18211, Namespace: "shop",
		Pod: "cart-5b7f9d8c6-9hzlw", Kind: "Deployment", Name: "cart", Labels: []string{"app=cart", "tier=backend"}}
	paymentPod = &hubblePeer{IP: "10.244.3.7", ID: 977, Identity: 44107, Namespace: "payments",
		Pod: "payment-6c8d9f7b4-q7m2x", Kind: "Deployment", Name: "payment", Labels: []string{"app=payment"}}
	world = &hubblePeer{IP: "203.0.113.9", Identity: 2, Labels: []string{"reserved:world"}}
)

// harness is a pipeline over the shop cluster and a real store.
type harness struct {
	pipe  *ingest.Pipeline
	store *store.Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	inv := inventorytest.LoadShop(t)
	for _, w := range inv.Warnings {
		t.Logf("manifest warning: %s", w)
	}
	st := openStore(t)
	return &harness{
		pipe:  ingest.New(ingest.Options{Resolver: inventory.FromInventory(inv, inventory.Options{}), Recorder: st}),
		store: st,
	}
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

func (h *harness) ingest(t *testing.T, lines []string, opts ingest.StreamOptions) ingest.Result {
	t.Helper()
	res, err := h.pipe.Ingest(context.Background(), strings.NewReader(strings.Join(lines, "\n")+"\n"), opts)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res
}

// edges flushes the store and returns ep's edges over the last two hours.
func (h *harness) edges(t *testing.T, ep flow.Endpoint) (ingress, egress []flow.Edge) {
	t.Helper()
	ctx := context.Background()
	if err := h.store.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	now := time.Now()
	in, out, err := h.store.WorkloadEdges(ctx, ep, now.Add(-2*time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("WorkloadEdges(%s): %v", ep, err)
	}
	return in, out
}

// onlyEdge returns the one edge of edges, failing when there are others.
func onlyEdge(t *testing.T, what string, edges []flow.Edge) flow.Edge {
	t.Helper()
	if len(edges) != 1 {
		t.Fatalf("%s: want 1 edge, got %d: %s", what, len(edges), describe(edges))
	}
	return edges[0]
}

func describe(edges []flow.Edge) string {
	var b strings.Builder
	for _, e := range edges {
		fmt.Fprintf(&b, "\n  %s → %s %s/%d count=%d verdicts=%v svc=%v", e.Src, e.Dst, e.Protocol, e.Port, e.Count, e.Verdicts, e.Service)
	}
	return b.String()
}

func checkEdge(t *testing.T, e flow.Edge, want flow.EdgeKey, count uint64, svc string) {
	t.Helper()
	if e.EdgeKey != want {
		t.Errorf("edge = %s → %s %s/%d, want %s → %s %s/%d", e.Src, e.Dst, e.Protocol, e.Port, want.Src, want.Dst, want.Protocol, want.Port)
	}
	if e.Count != count {
		t.Errorf("edge %s → %s: count %d, want %d", e.Src, e.Dst, e.Count, count)
	}
	got := ""
	if e.Service != nil {
		got = e.Service.Namespace + "/" + e.Service.Name
	}
	if got != svc {
		t.Errorf("edge %s → %s: service %q, want %q", e.Src, e.Dst, got, svc)
	}
}

// tcpConnection is one TCP connection as Hubble reports it with a node at
// each end: every packet seen at the source node (EGRESS) and at the
// destination node (INGRESS): SYN, SYN-ACK (reply), ACK, FIN each way.
func tcpConnection(src, dst *hubblePeer, sport, dport uint16, at time.Time, svc string) []hubbleRecord {
	step := func(i int) time.Time { return at.Add(time.Duration(i) * 150 * time.Microsecond) }
	fwd := func(i int, flags string, dir, node string) hubbleRecord {
		return hubbleRecord{Time: step(i), Verdict: "FORWARDED", Src: src, Dst: dst, Proto: "TCP", SPort: sport, DPort: dport,
			Flags: flags, Node: node, Direction: dir, Reply: "false", Service: svc}
	}
	rev := func(i int, flags string, dir, node string) hubbleRecord {
		return hubbleRecord{Time: step(i), Verdict: "FORWARDED", Src: dst, Dst: src, Proto: "TCP", SPort: dport, DPort: sport,
			Flags: flags, Node: node, Direction: dir, Reply: "true"}
	}
	return []hubbleRecord{
		fwd(0, "SYN", "EGRESS", "kind-worker"),
		fwd(1, "SYN", "INGRESS", "kind-worker2"),
		rev(2, "SYN,ACK", "INGRESS", "kind-worker2"),
		rev(3, "SYN,ACK", "EGRESS", "kind-worker"),
		fwd(4, "ACK", "EGRESS", "kind-worker"),
		fwd(5, "ACK", "INGRESS", "kind-worker2"),
		fwd(6, "ACK,FIN", "EGRESS", "kind-worker"),
		fwd(7, "ACK,FIN", "INGRESS", "kind-worker2"),
		rev(8, "ACK,FIN", "INGRESS", "kind-worker2"),
		rev(9, "ACK,FIN", "EGRESS", "kind-worker"),
	}
}

func hubbleLines(recs []hubbleRecord) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = string(appendHubble(nil, &recs[i]))
	}
	return out
}

// recent is a time inside the store's retention and the query window.
func recent() time.Time { return time.Now().Add(-5 * time.Minute).UTC() }

func TestIngestBothEndsCountOnce(t *testing.T) {
	h := newHarness(t)
	recs := tcpConnection(frontendPod, cartPod, 43512, 8080, recent(), "shop/cart")
	res := h.ingest(t, hubbleLines(recs), ingest.StreamOptions{Format: flow.FormatHubble})

	want := ingest.Result{Lines: 10, Recorded: 1, Duplicates: 5, Replies: 4}
	if !equalResult(res, want) {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	_, out := h.edges(t, frontendEP)
	e := onlyEdge(t, "frontend egress", out)
	checkEdge(t, e, flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 8080}, 1, "shop/cart")
	if e.Verdicts[flow.VerdictForwarded] != 1 || e.Verdicts[flow.VerdictDropped] != 0 {
		t.Errorf("verdicts = %v, want one FORWARDED", e.Verdicts)
	}
	in, _ := h.edges(t, cartEP)
	if got := onlyEdge(t, "cart ingress", in); got.EdgeKey != e.EdgeKey || got.Count != 1 {
		t.Errorf("cart ingress = %s", describe(in))
	}
	// The replies made no edge from cart back to frontend.
	if _, out := h.edges(t, cartEP); len(out) != 0 {
		t.Errorf("cart egress (replies counted as connections?): %s", describe(out))
	}

	// The same records again, in another request: the other end's
	// report of a connection already counted.
	res = h.ingest(t, hubbleLines(recs), ingest.StreamOptions{})
	if res.Recorded != 0 || res.Duplicates != 6 || res.Replies != 4 {
		t.Errorf("second stream: %+v, want nothing recorded", res)
	}
	_, out = h.edges(t, frontendEP)
	if e := onlyEdge(t, "frontend egress", out); e.Count != 1 {
		t.Errorf("after a second stream, count = %d, want 1", e.Count)
	}
}

// A flow to a Service's ClusterIP (seen before DNAT) is recorded on the
// port the backend listens on, with the Service; a named target port is
// looked up on the backend's container ports.
func TestIngestClusterIPTargetPort(t *testing.T) {
	at := recent()
	native := func(sport int, dst string, port int, proto string) string {
		flags := ""
		if proto == "TCP" {
			flags = `,"tcp_flags":["SYN"]`
		}
		return fmt.Sprintf(`{"time":%q,"src":"10.244.1.23","src_port":%d,"dst":%q,"port":%d,"protocol":%q,"verdict":"forwarded","direction":"egress"%s}`,
			at.Format(time.RFC3339Nano), sport, dst, port, proto, flags)
	}
	for _, tc := range []struct {
		name string
		line string
		want flow.EdgeKey
		svc  string
	}{
		{"named target port", native(40001, "10.96.0.10", 80, "TCP"), flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 8080}, "shop/cart"},
		{"numeric target port", native(40002, "10.96.0.10", 9090, "TCP"), flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 9091}, "shop/cart"},
		{"other namespace", native(40003, "10.96.0.20", 443, "TCP"), flow.EdgeKey{Src: frontendEP, Dst: paymentEP, Protocol: flow.ProtocolTCP, Port: 8443}, "payments/payment"},
		// No such Service port: the port stays as it was.
		{"unknown service port", native(40004, "10.96.0.10", 81, "TCP"), flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 81}, "shop/cart"},
		// The Service port is TCP: a UDP flow to it is not translated.
		{"protocol mismatch", native(40005, "10.96.0.10", 80, "UDP"), flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolUDP, Port: 80}, "shop/cart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.ingest(t, []string{tc.line}, ingest.StreamOptions{Format: flow.FormatNative})
			if res.Recorded != 1 || res.Errors != 0 {
				t.Fatalf("result = %+v", res)
			}
			_, out := h.edges(t, frontendEP)
			checkEdge(t, onlyEdge(t, "frontend egress", out), tc.want, 1, tc.svc)
		})
	}
}

func TestIngestDroppedKeepsVerdict(t *testing.T) {
	at := recent()
	drop := func(i int, dir, node string) hubbleRecord {
		return hubbleRecord{Time: at.Add(time.Duration(i) * time.Second), Verdict: "DROPPED", DropReason: "POLICY_DENIED",
			Src: frontendPod, Dst: paymentPod, Proto: "TCP", SPort: 51000, DPort: 8443, Flags: "SYN", Node: node, Direction: dir}
	}
	forwarded := func(i int, sport uint16) hubbleRecord {
		return hubbleRecord{Time: at.Add(time.Duration(i) * time.Millisecond), Verdict: "FORWARDED", Src: frontendPod, Dst: paymentPod,
			Proto: "TCP", SPort: sport, DPort: 8443, Flags: "SYN", Node: "kind-worker", Direction: "EGRESS", Reply: "false"}
	}

	t.Run("dropped at the source, retransmitted", func(t *testing.T) {
		h := newHarness(t)
		res := h.ingest(t, hubbleLines([]hubbleRecord{drop(0, "EGRESS", "kind-worker"), drop(1, "EGRESS", "kind-worker"), drop(3, "EGRESS", "kind-worker")}), ingest.StreamOptions{})
		if res.Recorded != 1 || res.Duplicates != 2 {
			t.Errorf("result = %+v, want 1 recorded and 2 duplicates (retransmits)", res)
		}
		_, out := h.edges(t, frontendEP)
		e := onlyEdge(t, "frontend egress", out)
		checkEdge(t, e, flow.EdgeKey{Src: frontendEP, Dst: paymentEP, Protocol: flow.ProtocolTCP, Port: 8443}, 1, "")
		if e.Verdicts[flow.VerdictDropped] != 1 || e.Verdicts[flow.VerdictForwarded] != 0 {
			t.Errorf("verdicts = %v, want one DROPPED", e.Verdicts)
		}
	})

	// Forwarded at the source node, dropped by ingress policy at the
	// destination node: one connection, and the drop is known.
	t.Run("forwarded at the source, dropped at the destination", func(t *testing.T) {
		h := newHarness(t)
		fwd := forwarded(0, 51000)
		dropped := drop(0, "INGRESS", "kind-worker3")
		dropped.Time = fwd.Time.Add(time.Millisecond)
		other := forwarded(5, 51001) // another connection, delivered
		res := h.ingest(t, hubbleLines([]hubbleRecord{fwd, dropped, other}), ingest.StreamOptions{})
		if res.Recorded != 2 || res.Duplicates != 1 || res.Errors != 0 {
			t.Errorf("result = %+v, want 2 connections recorded and the drop report a duplicate", res)
		}
		_, out := h.edges(t, frontendEP)
		e := onlyEdge(t, "frontend egress", out)
		if e.Count != 2 {
			t.Errorf("count = %d, want 2 connections", e.Count)
		}
		if _, ok := any(h.store).(ingest.VerdictRecorder); !ok {
			t.Skip("the store has no RecordVerdict yet: the escalation cannot be kept")
		}
		if e.Verdicts[flow.VerdictDropped] != 1 || e.Verdicts[flow.VerdictForwarded] != 2 {
			t.Errorf("verdicts = %v, want 2 FORWARDED and the DROPPED escalation kept", e.Verdicts)
		}
	})
}

func TestIngestExternalAddress(t *testing.T) {
	h := newHarness(t)
	at := recent()
	rec := hubbleRecord{Time: at, Verdict: "FORWARDED", Src: frontendPod, Dst: world, Proto: "TCP", SPort: 38000, DPort: 443,
		Flags: "SYN", Node: "kind-worker", Direction: "EGRESS", Reply: "false", DstNames: []string{"api.stripe.com"}}
	res := h.ingest(t, hubbleLines([]hubbleRecord{rec}), ingest.StreamOptions{})
	if res.Recorded != 1 {
		t.Fatalf("result = %+v", res)
	}
	_, out := h.edges(t, frontendEP)
	e := onlyEdge(t, "frontend egress", out)
	want := flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.9"), Class: flow.ClassExternal}
	if e.Dst != want || e.Port != 443 || e.Protocol != flow.ProtocolTCP {
		t.Errorf("edge = %s → %+v %s/%d, want the external address %+v on TCP/443", e.Src, e.Dst, e.Protocol, e.Port, want)
	}
	if !slices.Equal(e.Names, []string{"api.stripe.com"}) {
		t.Errorf("names = %q, want the destination name", e.Names)
	}

	now := time.Now()
	addrs, err := h.store.UnresolvedAddresses(context.Background(), now.Add(-2*time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].Addr != want.Addr || addrs[0].Class != flow.ClassExternal || addrs[0].Outbound != 1 ||
		!slices.Equal(addrs[0].Peers, []flow.Endpoint{frontendEP}) {
		t.Errorf("unresolved addresses = %+v, want 203.0.113.9 (external) reached once from frontend", addrs)
	}
}

func TestIngestBadLinesKeepGoodOnes(t *testing.T) {
	h := newHarness(t)
	at := recent()
	conn1 := hubbleLines(tcpConnection(frontendPod, cartPod, 43000, 8080, at, "shop/cart"))
	conn2 := hubbleLines(tcpConnection(frontendPod, cartPod, 43001, 8080, at.Add(time.Second), "shop/cart"))
	lines := []string{
		conn1[0],   // 1
		`{"flow":`, // 2: not JSON
		conn1[1],   // 3
		"",         // 4: blank, still numbered
		`{"flow":{"time":"` + at.Format(time.RFC3339Nano) + `","l4":{"TCP":{"destination_port":80}}}}`, // 5: no IP
		`[1,2,3]`, // 6: not an object
		conn2[0],  // 7
		`{"time":"` + at.Format(time.RFC3339Nano) + `","src":"10.244.1.23","dst":"10.244.2.41","port":70000,"protocol":"TCP"}`, // 8: port out of range
		`{"src":"10.244.1.23","dst":"10.244.2.41","port":80,"protocol":"TCP"}`,                                                 // 9: no time
		conn2[2], // 10: a reply
		`{"flow":{"time":"` + at.Format(time.RFC3339Nano) + `","IP":{"source":"10.244.1.23","destination":"10.244.2.41"},"l4":{"ICMPv4":{"type":8}}}}`, // 11: ignored
	}
	res := h.ingest(t, lines, ingest.StreamOptions{})
	if res.Lines != 10 || res.Recorded != 2 || res.Duplicates != 1 || res.Replies != 1 || res.Errors != 5 || res.Ignored["icmp"] != 1 {
		t.Errorf("result = %+v", res)
	}
	var gotLines []int
	for _, le := range res.FirstErrors {
		gotLines = append(gotLines, le.Line)
		if le.Error == "" {
			t.Errorf("line %d: empty error", le.Line)
		}
	}
	if want := []int{2, 5, 6, 8, 9}; !slices.Equal(gotLines, want) {
		t.Errorf("bad lines = %v, want %v (%+v)", gotLines, want, res.FirstErrors)
	}
	if le := res.FirstErrors[3]; !strings.Contains(le.Error, "70000") {
		t.Errorf("line 8 error %q does not name the bad port", le.Error)
	}
	_, out := h.edges(t, frontendEP)
	checkEdge(t, onlyEdge(t, "frontend egress", out), flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 8080}, 2, "shop/cart")

	// KeepErrors bounds the list, not the count.
	res = h.ingest(t, lines, ingest.StreamOptions{KeepErrors: 2})
	if res.Errors != 5 || len(res.FirstErrors) != 2 {
		t.Errorf("KeepErrors 2: %d errors, %d listed", res.Errors, len(res.FirstErrors))
	}
}

// A read error stops the stream; what came before it is kept.
func TestIngestReadError(t *testing.T) {
	h := newHarness(t)
	lines := hubbleLines(tcpConnection(frontendPod, cartPod, 43000, 8080, recent(), "shop/cart"))
	body := strings.Join(lines[:2], "\n") + "\n" + lines[2][:100]
	boom := fmt.Errorf("connection reset")
	res, err := h.pipe.Ingest(context.Background(), io.MultiReader(strings.NewReader(body), errReader{boom}), ingest.StreamOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v, want the read error", err)
	}
	if res.Lines != 2 || res.Recorded != 1 {
		t.Errorf("result = %+v, want the 2 whole lines read and 1 connection", res)
	}
	_, out := h.edges(t, frontendEP)
	onlyEdge(t, "frontend egress", out)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestIngestCancelled(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var body bytes.Buffer
	line := hubbleLines(tcpConnection(frontendPod, cartPod, 43000, 8080, recent(), "shop/cart"))[0]
	for range 3000 {
		body.WriteString(line + "\n")
	}
	_, err := h.pipe.Ingest(ctx, &body, ingest.StreamOptions{})
	if err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// Streams ingested at once share the dedupe memory: a connection whose
// two ends' reports come in two concurrent streams counts once. Run with
// -race.
func TestIngestConcurrentStreams(t *testing.T) {
	const (
		streams = 8
		conns   = 400 // per destination
	)
	h := newHarness(t)
	at := recent()
	// Connection i from frontend to cart (and to payment): its EGRESS
	// reports go to stream i%streams, its INGRESS reports to the next one.
	bodies := make([][]string, streams)
	for i := range conns {
		for _, dst := range []*hubblePeer{cartPod, paymentPod} {
			port := uint16(8080)
			if dst == paymentPod {
				port = 8443
			}
			for _, r := range tcpConnection(frontendPod, dst, uint16(20000+i), port, at.Add(time.Duration(i)*time.Millisecond), "") {
				s := i % streams
				if r.Direction == "INGRESS" {
					s = (i + 1) % streams
				}
				bodies[s] = append(bodies[s], string(appendHubble(nil, &r)))
			}
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		total   ingest.Result
		success = true
	)
	for _, b := range bodies {
		wg.Go(func() {
			// Small reads, so that the streams interleave.
			r := &chunkReader{data: []byte(strings.Join(b, "\n")), n: 700}
			res, err := h.pipe.Ingest(context.Background(), r, ingest.StreamOptions{Format: flow.FormatAuto})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("Ingest: %v", err)
				success = false
			}
			total.Lines += res.Lines
			total.Recorded += res.Recorded
			total.Duplicates += res.Duplicates
			total.Replies += res.Replies
			total.Errors += res.Errors
		})
	}
	wg.Wait()
	if !success {
		return
	}
	if want := (ingest.Result{Lines: 2 * conns * 10, Recorded: 2 * conns, Duplicates: 2 * conns * 5, Replies: 2 * conns * 4}); !equalResult(total, want) {
		t.Errorf("total = %+v, want %+v", total, want)
	}
	_, out := h.edges(t, frontendEP)
	if len(out) != 2 {
		t.Fatalf("frontend egress: %s", describe(out))
	}
	for _, e := range out {
		if e.Count != conns || e.Verdicts[flow.VerdictForwarded] != conns {
			t.Errorf("edge %s → %s: count %d, verdicts %v, want %d each", e.Src, e.Dst, e.Count, e.Verdicts, conns)
		}
	}
}

// chunkReader returns at most n bytes a Read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[k:]
	return k, nil
}

func equalResult(a, b ingest.Result) bool {
	return a.Lines == b.Lines && a.Recorded == b.Recorded && a.Duplicates == b.Duplicates && a.Replies == b.Replies &&
		a.Errors == b.Errors && len(a.Ignored) == len(b.Ignored)
}

// hubblePeer is one side of a Hubble flow record.
type hubblePeer struct {
	IP           string
	ID, Identity int
	Namespace    string
	Pod          string
	Kind, Name   string // the workload
	// Labels are "key=value" (written with the k8s: source) or
	// "reserved:..." as they are.
	Labels []string
}

// hubbleRecord is one Hubble flow record, as `hubble observe -o json`
// prints it.
type hubbleRecord struct {
	Time         time.Time
	Verdict      string
	DropReason   string
	Src, Dst     *hubblePeer
	Proto        string // TCP, UDP
	SPort, DPort uint16
	Flags        string // "SYN,ACK"
	Node         string
	Direction    string // INGRESS, EGRESS
	Reply        string // "true", "false", "" (absent)
	Service      string // namespace/name
	DstNames     []string
}

// appendHubble writes r as one line of `hubble observe -o json`, with the
// members Hubble writes beside those Redline reads (uuid, ethernet,
// event_type, trace point, Summary), about 1.2 KB as real records are.
// Strings are ASCII without quotes or backslashes: strconv quoting is JSON
// quoting for them.
func appendHubble(b []byte, r *hubbleRecord) []byte {
	ts := r.Time.UTC().AppendFormat(nil, time.RFC3339Nano)
	b = append(b, `{"flow":{"time":"`...)
	b = append(b, ts...)
	b = append(b, `","uuid":"`...)
	b = fmt.Appendf(b, "%08x-4c1e-4f0a-9b7d-%012x", uint32(r.Time.UnixNano()), uint64(r.SPort)<<16|uint64(r.DPort))
	b = append(b, `","verdict":"`...)
	b = append(b, r.Verdict...)
	b = append(b, '"')
	if r.DropReason != "" {
		b = append(b, `,"drop_reason":133`...)
	}
	b = append(b, `,"ethernet":{"source":"aa:0e:3f:21:7c:01","destination":"f2:3b:9c:44:0d:a7"},"IP":{"source":"`...)
	b = append(b, r.Src.IP...)
	b = append(b, `","destination":"`...)
	b = append(b, r.Dst.IP...)
	b = append(b, `","ipVersion":"IPv4"},"l4":{"`...)
	b = append(b, r.Proto...)
	b = append(b, `":{"source_port":`...)
	b = strconv.AppendUint(b, uint64(r.SPort), 10)
	b = append(b, `,"destination_port":`...)
	b = strconv.AppendUint(b, uint64(r.DPort), 10)
	if r.Proto == "TCP" && r.Flags != "" {
		b = append(b, `,"flags":{`...)
		for i, f := range strings.Split(r.Flags, ",") {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, f...)
			b = append(b, `":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, `}},"source":`...)
	b = appendPeer(b, r.Src)
	b = append(b, `,"destination":`...)
	b = appendPeer(b, r.Dst)
	b = append(b, `,"Type":"L3_L4","node_name":"kind-kind/`...)
	b = append(b, r.Node...)
	if r.DropReason != "" {
		b = append(b, `","event_type":{"type":1,"sub_type":133}`...)
	} else {
		b = append(b, `","event_type":{"type":4,"sub_type":0}`...)
	}
	if len(r.DstNames) > 0 {
		b = append(b, `,"destination_names":[`...)
		for i, n := range r.DstNames {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, n)
		}
		b = append(b, ']')
	}
	if ns, name, ok := strings.Cut(r.Service, "/"); ok {
		b = append(b, `,"destination_service":{"name":`...)
		b = strconv.AppendQuote(b, name)
		b = append(b, `,"namespace":`...)
		b = strconv.AppendQuote(b, ns)
		b = append(b, '}')
	}
	b = append(b, `,"traffic_direction":"`...)
	b = append(b, r.Direction...)
	if r.Direction == "EGRESS" {
		b = append(b, `","trace_observation_point":"TO_OVERLAY"`...)
	} else {
		b = append(b, `","trace_observation_point":"TO_ENDPOINT"`...)
	}
	if r.Reply != "" {
		b = append(b, `,"is_reply":`...)
		b = append(b, r.Reply...)
	}
	if r.DropReason != "" {
		b = append(b, `,"drop_reason_desc":`...)
		b = strconv.AppendQuote(b, r.DropReason)
	}
	if r.Proto == "TCP" {
		b = append(b, `,"Summary":"TCP Flags: `...)
		b = append(b, strings.ReplaceAll(r.Flags, ",", ", ")...)
		b = append(b, `"},"node_name":"kind-kind/`...)
	} else {
		b = append(b, `,"Summary":"`...)
		b = append(b, r.Proto...)
		b = append(b, `"},"node_name":"kind-kind/`...)
	}
	b = append(b, r.Node...)
	b = append(b, `","time":"`...)
	b = append(b, ts...)
	return append(b, `"}`...)
}

func appendPeer(b []byte, p *hubblePeer) []byte {
	b = append(b, '{')
	if p.ID != 0 {
		b = append(b, `"ID":`...)
		b = strconv.AppendInt(b, int64(p.ID), 10)
		b = append(b, ',')
	}
	b = append(b, `"identity":`...)
	b = strconv.AppendInt(b, int64(p.Identity), 10)
	if p.Namespace != "" {
		b = append(b, `,"namespace":`...)
		b = strconv.AppendQuote(b, p.Namespace)
	}
	b = append(b, `,"labels":[`...)
	for i, l := range p.Labels {
		if i > 0 {
			b = append(b, ',')
		}
		if strings.HasPrefix(l, "reserved:") {
			b = strconv.AppendQuote(b, l)
		} else {
			b = strconv.AppendQuote(b, "k8s:"+l)
		}
	}
	if p.Namespace != "" {
		b = append(b, `,"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=`...)
		b = append(b, p.Namespace...)
		b = append(b, `","k8s:io.cilium.k8s.policy.cluster=kind-kind","k8s:io.cilium.k8s.policy.serviceaccount=`...)
		b = append(b, p.Name...)
		b = append(b, `","k8s:io.kubernetes.pod.namespace=`...)
		b = append(b, p.Namespace...)
		b = append(b, '"')
	}
	b = append(b, ']')
	if p.Pod != "" {
		b = append(b, `,"pod_name":`...)
		b = strconv.AppendQuote(b, p.Pod)
	}
	if p.Name != "" {
		b = append(b, `,"workloads":[{"name":`...)
		b = strconv.AppendQuote(b, p.Name)
		b = append(b, `,"kind":`...)
		b = strconv.AppendQuote(b, p.Kind)
		b = append(b, `}]`...)
	}
	return append(b, '}')
}

// fakeRecorder records the calls a Pipeline makes.
type fakeRecorder struct {
	mu       sync.Mutex
	records  []flow.EdgeKey
	verdicts []flow.Verdict // of RecordVerdict
}

func (r *fakeRecorder) Record(key flow.EdgeKey, _ time.Time, _ flow.Verdict, _ *flow.ServiceRef, _ []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, key)
}

// verdictRecorder is a fakeRecorder that also takes verdict escalations.
type verdictRecorder struct{ fakeRecorder }

func (r *verdictRecorder) RecordVerdict(key flow.EdgeKey, _ time.Time, v flow.Verdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, key)
	r.verdicts = append(r.verdicts, v)
}

// A connection to a ClusterIP forwarded at the source and dropped at the
// destination: the escalation goes to RecordVerdict under the same
// (translated) edge key when the recorder has it, and is only counted as
// a duplicate report when it has not.
func TestHandleVerdictEscalation(t *testing.T) {
	inv := inventorytest.LoadShop(t)
	cluster := inventory.FromInventory(inv, inventory.Options{})
	at := recent().Format(time.RFC3339Nano)
	lines := []string{
		`{"time":"` + at + `","src":"10.244.1.23","src_port":41000,"dst":"10.96.0.10","port":80,"protocol":"TCP","verdict":"forwarded","tcp_flags":["SYN"]}`,
		`{"time":"` + at + `","src":"10.244.1.23","src_port":41000,"dst":"10.96.0.10","port":80,"protocol":"TCP","verdict":"dropped","tcp_flags":["SYN"]}`,
		`{"time":"` + at + `","src":"10.244.1.23","src_port":41000,"dst":"10.96.0.10","port":80,"protocol":"TCP","verdict":"dropped","tcp_flags":["SYN"]}`,
	}
	want := flow.EdgeKey{Src: frontendEP, Dst: cartEP, Protocol: flow.ProtocolTCP, Port: 8080}

	t.Run("with RecordVerdict", func(t *testing.T) {
		rec := &verdictRecorder{}
		pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: rec})
		res, err := pipe.Ingest(context.Background(), strings.NewReader(strings.Join(lines, "\n")), ingest.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Recorded != 1 || res.Duplicates != 2 {
			t.Errorf("result = %+v, want 1 recorded, 2 duplicates", res)
		}
		if !slices.Equal(rec.records, []flow.EdgeKey{want, want}) || !slices.Equal(rec.verdicts, []flow.Verdict{flow.VerdictDropped}) {
			t.Errorf("calls = %+v, verdicts %v; want Record and one RecordVerdict(DROPPED) of %+v", rec.records, rec.verdicts, want)
		}
	})
	t.Run("without RecordVerdict", func(t *testing.T) {
		rec := &fakeRecorder{}
		pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: rec})
		res, err := pipe.Ingest(context.Background(), strings.NewReader(strings.Join(lines, "\n")), ingest.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Recorded != 1 || res.Duplicates != 2 {
			t.Errorf("result = %+v, want 1 recorded, 2 duplicates", res)
		}
		if !slices.Equal(rec.records, []flow.EdgeKey{want}) {
			t.Errorf("records = %+v, want one of %+v", rec.records, want)
		}
	})
}

func TestIngestMetrics(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewPedanticRegistry()
	inv := inventorytest.LoadShop(t)
	cluster := inventory.FromInventory(inv, inventory.Options{})
	lines := hubbleLines(tcpConnection(frontendPod, cartPod, 43000, 8080, recent(), "shop/cart"))
	lines = append(lines, "not json")
	// A second pipeline on the same registry shares the counters.
	for range 2 {
		pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: h.store, Registerer: reg})
		if _, err := pipe.Ingest(context.Background(), strings.NewReader(strings.Join(lines, "\n")), ingest.StreamOptions{Format: flow.FormatHubble}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "redline_flows_ingested_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var source, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "source":
					source = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			got[source+"/"+result] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"hubble/recorded": 2, "hubble/duplicate": 10, "hubble/reply": 8, "hubble/verdict": 0,
		"hubble/ignored": 0, "hubble/error": 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("redline_flows_ingested_total = %v, want %v", got, want)
	}
}
