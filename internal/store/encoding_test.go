package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

var testEndpoints = []flow.Endpoint{
	flow.WorkloadEndpoint("shop", "Deployment", "frontend"),
	flow.WorkloadEndpoint("shop", "Deployment", "front"),
	flow.WorkloadEndpoint("shopping", "Deployment", "frontend"),
	flow.WorkloadEndpoint("", "", ""),
	flow.WorkloadEndpoint("a", "b", "c\x00d"),
	{Kind: flow.EndpointNode, Name: "node-1"},
	{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("10.1.2.3"), Class: flow.ClassInternal},
	{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("::ffff:10.1.2.3"), Class: flow.ClassInternal},
	{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("2001:db8::1"), Class: flow.ClassAliased, Alias: "partner"},
	{Kind: flow.EndpointAddress, Class: flow.ClassUnknown},
	{Kind: 0, Name: "kind zero"},
	{Kind: 200, Namespace: "future kind"},
}

func TestEndpointEncodingRoundTripAndPrefixFree(t *testing.T) {
	encs := make([][]byte, len(testEndpoints))
	for i, e := range testEndpoints {
		enc := appendEndpoint(nil, e)
		got, n, err := decodeEndpoint(append(slices.Clip(enc), 0xAB, 0xCD))
		if err != nil || n != len(enc) || got != e {
			t.Errorf("%v: decode = %+v, %d, %v; want itself, %d", e, got, n, err, len(enc))
		}
		if l, err := endpointLen(enc); err != nil || l != len(enc) {
			t.Errorf("%v: endpointLen = %d, %v", e, l, err)
		}
		encs[i] = enc
	}
	for i := range encs {
		for j := range encs {
			if i != j && bytes.HasPrefix(encs[j], encs[i]) {
				t.Errorf("encoding of %v is a prefix of that of %v", testEndpoints[i], testEndpoints[j])
			}
		}
	}
}

func TestCanonicalEndpoint(t *testing.T) {
	a := flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("fe80::1%eth0"), Namespace: "ignored", Name: "ignored"}
	if got := canonicalEndpoint(a); got.Namespace != "" || got.Name != "" || got.Addr.Zone() != "" {
		t.Errorf("canonical address = %+v", got)
	}
	w := flow.Endpoint{Kind: flow.EndpointWorkload, Namespace: "n", Name: "x", Addr: netip.MustParseAddr("1.2.3.4"), Alias: "y"}
	if got := canonicalEndpoint(w); got.Addr.IsValid() || got.Alias != "" {
		t.Errorf("canonical workload = %+v", got)
	}
	long := strings.Repeat("x", 5000)
	if got := canonicalEndpoint(flow.WorkloadEndpoint(long, "k", long)); len(got.Namespace) != maxKeyString || len(got.Name) != maxKeyString {
		t.Errorf("long names not clipped")
	}
}

func TestEdgeKeyLayout(t *testing.T) {
	src, dst := makeRef(firstNamespaceGroup, 7), makeRef(groupAddresses, 1<<31)
	body := makeEdgeBody(src, 123456, dst, flow.ProtocolUDP, 53)
	p, err := parseEdgeKey(body[:])
	if err != nil {
		t.Fatal(err)
	}
	if p.self != src || p.hour != 123456 || p.peer != dst || p.proto != flow.ProtocolUDP || p.port != 53 ||
		refAt(p.rest[:]) != dst {
		t.Errorf("egress key parts = %+v", p)
	}
	in := body.swapped()
	q, err := parseEdgeKey(in[:])
	if err != nil {
		t.Fatal(err)
	}
	if q.self != p.peer || q.peer != p.self || q.hour != p.hour || q.port != 53 || in.swapped() != body {
		t.Errorf("ingress key parts = %+v", q)
	}
	if b := bodyWithBucket(q.self, 123456, &q.rest); b != in {
		t.Errorf("bodyWithBucket = %x, want %x", b, in)
	}
	// Hours sort within an endpoint, every key of the endpoint sorts
	// before afterEndpoint, and a group prefix holds its endpoints.
	prefix := refKeyPrefix(famEgress, src)
	k1b, k2b := makeEdgeBody(src, 7, dst, flow.ProtocolUDP, 53), makeEdgeBody(src, maxHour, dst, flow.ProtocolUDP, 53)
	k1, k2 := k1b.appendKey(nil, famEgress), k2b.appendKey(nil, famEgress)
	if bytes.Compare(k1, k2) >= 0 || bytes.Compare(k2, afterEndpoint(prefix)) >= 0 || bytes.Compare(withHour(prefix, 7), k1) > 0 {
		t.Error("keys do not sort by hour within an endpoint")
	}
	if !bytes.HasPrefix(k1, groupKeyPrefix(famEgress, firstNamespaceGroup)) || !bytes.HasPrefix(k1, prefix) || len(k1) != edgeKeyLen {
		t.Errorf("key %x lacks its group or endpoint prefix", k1)
	}
	if _, err := parseEdgeKey(k1); err == nil {
		t.Error("a key with its family byte parsed as a body")
	}
}

func TestDictAllocatesByNamespaceAndKind(t *testing.T) {
	d := newDict()
	enc := func(e flow.Endpoint) []byte { return appendEndpoint(nil, e) }
	a, b, c := flow.WorkloadEndpoint("shop", "Deployment", "a"), flow.WorkloadEndpoint("shop", "Deployment", "b"), flow.WorkloadEndpoint("pay", "Deployment", "c")
	ext := testEndpoints[6]
	ra, rb, err := d.resolve2(enc(a), enc(b))
	if err != nil {
		t.Fatal(err)
	}
	rc, rx, err := d.resolve2(enc(c), enc(ext))
	if err != nil {
		t.Fatal(err)
	}
	ra2, rc2, err := d.resolve2(enc(a), enc(c))
	if err != nil || ra2 != ra || rc2 != rc {
		t.Errorf("resolving again = %x, %x, %v; want %x, %x", ra2, rc2, err, ra, rc)
	}
	if ra.group() != rb.group() || ra.group() < firstNamespaceGroup || rc.group() == ra.group() || ra == rb ||
		rx.group() != groupAddresses || ra.member() == 0 || rx.member() == 0 {
		t.Errorf("refs a %x b %x c %x ext %x", ra, rb, rc, rx)
	}
	if g, ok := d.namespaceGroup("shop"); !ok || g != ra.group() {
		t.Errorf("namespaceGroup(shop) = %d, %v", g, ok)
	}
	if e := d.entry(rx); e == nil || e.ep != ext {
		t.Errorf("entry of ext = %+v", e)
	}
	refs, encs := d.takeUnsaved()
	if len(refs) != 4 || len(encs) != 4 || encs[3] != string(enc(ext)) {
		t.Errorf("unsaved = %x, %q", refs, encs)
	}
	if refs, _ := d.takeUnsaved(); len(refs) != 0 {
		t.Errorf("unsaved again = %x", refs)
	}
	d.rerank(true)
	sorted := []flow.Endpoint{a, b, c, ext}
	slices.SortFunc(sorted, func(x, y flow.Endpoint) int { return bytes.Compare(enc(x), enc(y)) })
	for i := 1; i < len(sorted); i++ {
		rx, _ := d.lookup(enc(sorted[i-1]))
		ry, _ := d.lookup(enc(sorted[i]))
		kx, _ := d.rankLocked(rx)
		ky, _ := d.rankLocked(ry)
		if kx == 0 || kx >= ky {
			t.Errorf("rank of %v not below that of %v", sorted[i-1], sorted[i])
		}
	}
	if _, _, err := d.resolve2([]byte{1, 200}, enc(a)); err == nil {
		t.Error("a corrupt encoding was given a ref")
	}
}

func TestHourOf(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want uint32
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(-5, 0), 0},
		{time.Unix(3599, 999), 0},
		{time.Unix(3600, 0), 1},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), uint32(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 3600)},
		{time.Unix(1<<50, 0), maxHour},
	} {
		if got := hourOf(tt.t); got != tt.want {
			t.Errorf("hourOf(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestWindowOf(t *testing.T) {
	h := func(n int64) time.Time { return time.Unix(n*3600, 0) }
	for _, tt := range []struct {
		name     string
		from, to time.Time
		want     window
		ok       bool
	}{
		{"whole hours", h(10), h(12), window{10, 11}, true},
		{"open ends", time.Time{}, time.Time{}, window{0, maxHour}, true},
		{"from only", h(10), time.Time{}, window{10, maxHour}, true},
		{"to only", time.Time{}, h(5), window{0, 4}, true},
		{"inside one hour", h(10).Add(time.Minute), h(10).Add(2 * time.Minute), window{10, 10}, true},
		{"one ns past an hour", h(10), h(11).Add(1), window{10, 11}, true},
		{"empty", h(10), h(10), window{}, false},
		{"reversed", h(11), h(10), window{}, false},
		{"to at the epoch", time.Time{}, time.Unix(0, 0), window{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := windowOf(tt.from, tt.to)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("windowOf = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, st := range []bucketStats{
		{count: 1, first: 5, last: 5, verdicts: [flow.NumVerdicts]uint64{1: 1}},
		{count: 1 << 40, first: -3, last: 1 << 62, verdicts: [flow.NumVerdicts]uint64{0: 1, 2: 1 << 39, 7: 3},
			svc: flow.ServiceRef{Namespace: "shop", Name: "checkout"}, hasSvc: true, names: []string{"a.example", "b.example"}},
		{count: 2, first: time.Now().UnixNano(), last: time.Now().UnixNano() + 1e9, svc: flow.ServiceRef{}, hasSvc: true},
	} {
		v := appendValue(nil, &st)
		var got bucketStats
		if err := decodeValue(v, &got); err != nil {
			t.Fatalf("%+v: %v", st, err)
		}
		if got.count != st.count || got.first != st.first || got.last != st.last || got.verdicts != st.verdicts ||
			got.svc != st.svc || got.hasSvc != st.hasSvc || !slices.Equal(got.names, st.names) {
			t.Errorf("round trip of %+v = %+v", st, got)
		}
		for n := range len(v) {
			if err := decodeValue(v[:n], &got); err == nil {
				t.Errorf("truncated value %x decoded", v[:n])
			}
		}
	}
}

func TestBucketNamesBounded(t *testing.T) {
	var b bucketStats
	for i := range 3 * MaxNames {
		b.addName(strings.Repeat("x", i+1))
	}
	b.addName(strings.Repeat("y", 300))
	if len(b.names) != MaxNames {
		t.Errorf("%d names kept, want %d", len(b.names), MaxNames)
	}
}

func FuzzDecodeValue(f *testing.F) {
	st := bucketStats{count: 3, first: 1, last: 9, verdicts: [flow.NumVerdicts]uint64{1: 2, 2: 1},
		svc: flow.ServiceRef{Namespace: "n", Name: "s"}, hasSvc: true, names: []string{"x.example"}}
	f.Add(appendValue(nil, &st))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		var got bucketStats
		if err := decodeValue(v, &got); err != nil {
			return
		}
		again := appendValue(nil, &got)
		var back bucketStats
		if err := decodeValue(again, &back); err != nil || back.count != got.count || !slices.Equal(back.names, got.names) {
			t.Errorf("re-encoding %x: %v", v, err)
		}
		_, _, _ = decodeCounts(v)
	})
}

func FuzzParseEdgeKey(f *testing.F) {
	body := makeEdgeBody(makeRef(firstNamespaceGroup, 1), 99, makeRef(groupAddresses, 2), flow.ProtocolTCP, 443)
	f.Add(body[:])
	f.Add([]byte{3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseEdgeKey(b)
		if err != nil {
			return
		}
		again := makeEdgeBody(p.self, p.hour, p.peer, p.proto, p.port)
		if !bytes.Equal(again[:], b) || bodyWithBucket(p.self, p.hour, &p.rest) != again {
			t.Errorf("parsed key %x re-encodes as %x", b, again)
		}
	})
}

func TestPlanWindow(t *testing.T) {
	d := func(n uint32) uint32 { return n }
	for _, tt := range []struct {
		name   string
		w      window
		rolled []uint32
		want   plan
	}{
		{"no rollups", window{10, 200}, nil, plan{hours: []span{{10, 200}}}},
		{"whole days inside", window{10, 200}, []uint32{0, 1, 2, 3, 8, 9}, plan{hours: []span{{10, 23}, {96, 200}}, days: []span{{1, 3}}}},
		{"a gap in the rollups", window{24, 119}, []uint32{d(1), d(3), d(4)}, plan{hours: []span{{48, 71}}, days: []span{{1, 1}, {3, 4}}}},
		{"window is one day", window{48, 71}, []uint32{2}, plan{days: []span{{2, 2}}}},
		{"window inside a day", window{50, 60}, []uint32{2}, plan{hours: []span{{50, 60}}}},
		{"open end", window{0, maxHour}, []uint32{5}, plan{hours: []span{{0, 119}, {144, maxHour}}, days: []span{{5, 5}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := planWindow(tt.w, tt.rolled); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("planWindow = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestResultOrderWithoutRanks checks that queries sort endpoints by
// encoding whether the dictionary is ranked, partly ranked or not at all.
func TestResultOrderWithoutRanks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, Options{Dir: t.TempDir(), FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler),
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hub := flow.WorkloadEndpoint("shop", "Deployment", "hub")
	var peers []flow.Endpoint
	for i := range 40 {
		peers = append(peers, flow.WorkloadEndpoint(fmt.Sprint("ns", i%7), "Deployment", fmt.Sprint("w", (i*13)%40)))
	}
	peers = append(peers, testEndpoints[5:10]...)
	for i, p := range peers {
		s.Record(flow.EdgeKey{Src: p, Dst: hub, Protocol: flow.ProtocolTCP, Port: uint16(80 + i%3)}, now, flow.VerdictForwarded, nil, nil)
		s.Record(flow.EdgeKey{Src: hub, Dst: p, Protocol: flow.ProtocolUDP, Port: 53}, now, flow.VerdictForwarded, nil, nil)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	query := func() []flow.Edge {
		in, out, err := s.WorkloadEdges(ctx, hub, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := s.NamespaceEdges(ctx, "shop", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Concat(in, out, ns)
	}
	ranked := query()
	for _, edges := range [][]flow.Edge{ranked[:45], ranked[45:90]} {
		if !slices.IsSortedFunc(edges, func(a, b flow.Edge) int {
			return cmp.Or(bytes.Compare(appendEndpoint(nil, a.Src), appendEndpoint(nil, b.Src)),
				bytes.Compare(appendEndpoint(nil, a.Dst), appendEndpoint(nil, b.Dst)), cmp.Compare(a.Port, b.Port))
		}) {
			t.Errorf("edges not in encoding order: %v", edges)
		}
	}
	// Unrank every other entry, then all of them.
	for _, every := range []int{2, 1} {
		s.dict.mu.Lock()
		n := 0
		for g := range s.dict.groups {
			for m := range s.dict.groups[g].ranks {
				if n++; n%every == 0 {
					s.dict.groups[g].ranks[m] = 0
				}
			}
		}
		s.dict.mu.Unlock()
		if got := query(); !reflect.DeepEqual(got, ranked) {
			t.Errorf("unranked 1/%d: results differ:\ngot  %v\nwant %v", every, got, ranked)
		}
	}
}

// TestDictSurvivesReopen checks that the dictionary is reloaded and that
// endpoints met after a reopen get new refs.
func TestDictSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	opts := Options{Dir: dir, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler), Clock: func() time.Time { return now }}
	a, b := flow.WorkloadEndpoint("shop", "Deployment", "a"), testEndpoints[8]
	c, d := flow.WorkloadEndpoint("shop", "Deployment", "c"), flow.WorkloadEndpoint("pay", "Deployment", "d")
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Record(flow.EdgeKey{Src: a, Dst: b, Protocol: flow.ProtocolTCP, Port: 443}, now, flow.VerdictForwarded, nil, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Record(flow.EdgeKey{Src: c, Dst: d, Protocol: flow.ProtocolTCP, Port: 80}, now, flow.VerdictForwarded, nil, nil)
	s.Record(flow.EdgeKey{Src: c, Dst: a, Protocol: flow.ProtocolTCP, Port: 80}, now, flow.VerdictForwarded, nil, nil)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	refs := map[ref]flow.Endpoint{}
	for _, ep := range []flow.Endpoint{a, b, c, d} {
		r, ok := s.dict.lookup(appendEndpoint(nil, ep))
		if !ok {
			t.Fatalf("%s not in the dictionary", ep)
		}
		if other, dup := refs[r]; dup {
			t.Errorf("%s and %s share ref %x", ep, other, r)
		}
		refs[r] = ep
	}
	in, out, err := s.WorkloadEdges(ctx, a, time.Time{}, time.Time{})
	if err != nil || len(in) != 1 || in[0].Src != c || len(out) != 1 || out[0].Dst != b {
		t.Errorf("edges of a after reopen: %v, %v, %v", in, out, err)
	}
	if got, err := s.NamespaceEdges(ctx, "shop", time.Time{}, time.Time{}); err != nil || len(got) != 3 {
		t.Errorf("NamespaceEdges(shop) = %v, %v; want 3 edges", got, err)
	}
}
