package store

import (
	"bytes"
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
	src, dst := testEndpoints[0], testEndpoints[8]
	k := flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolUDP, Port: 53}
	body, srcLen := appendEdgeKey(nil, &k, 123456)
	p, err := parseEdgeKey(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.self, appendEndpoint(nil, src)) || p.hour != 123456 || !bytes.Equal(p.peer, appendEndpoint(nil, dst)) ||
		p.proto != flow.ProtocolUDP || p.port != 53 {
		t.Errorf("egress key parts = %+v", p)
	}
	in, err := swapToIngress(nil, body, srcLen)
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseEdgeKey(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.self, p.peer) || !bytes.Equal(q.peer, p.self) || q.hour != p.hour || q.port != 53 {
		t.Errorf("ingress key parts = %+v", q)
	}
	// Hours sort within an endpoint, and every key of the endpoint sorts
	// before afterEndpoint.
	prefix := endpointKeyPrefix(famEgress, src)
	k2, _ := appendEdgeKey([]byte{famEgress}, &k, maxHour)
	k1, _ := appendEdgeKey([]byte{famEgress}, &k, 7)
	if bytes.Compare(k1, k2) >= 0 || bytes.Compare(k2, afterEndpoint(prefix)) >= 0 || bytes.Compare(withHour(prefix, 7), k1) > 0 {
		t.Error("keys do not sort by hour within an endpoint")
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
	k := flow.EdgeKey{Src: testEndpoints[0], Dst: testEndpoints[8], Protocol: flow.ProtocolTCP, Port: 443}
	body, _ := appendEdgeKey(nil, &k, 99)
	f.Add(body)
	f.Add([]byte{3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseEdgeKey(b)
		if err != nil {
			return
		}
		if _, _, err := decodeEndpoint(p.self); err != nil {
			t.Errorf("parsed key %x has an undecodable self: %v", b, err)
		}
		if _, err := decodeFullEdge(append(slices.Clone(p.self), p.rest...)); err != nil {
			t.Errorf("parsed key %x: %v", b, err)
		}
		if _, err := swapToIngress(nil, b, len(p.self)); err != nil {
			t.Errorf("swap %x: %v", b, err)
		}
		_, _ = workloadNamespace(p.self)
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
