package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
)

// TestNamespaceEdgesMatchesReference checks NamespaceEdges, which
// aggregates one endpoint at a time, against the namespace-wide
// aggregation it replaced (namespaceEdgesByScanPlan) and against the
// union of WorkloadEdges of the namespace's endpoints, on random traffic:
// services, more names than MaxNames, verdict-only buckets, rolled-up and
// partial days, old and future hours, ranked and unranked endpoints.
func TestNamespaceEdgesMatchesReference(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	now := day.Add(5*24*time.Hour + 13*time.Hour + 20*time.Minute)
	s, err := Open(ctx, Options{Dir: t.TempDir(), FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler),
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(3, 5))
	namespaces := []string{"shop", "pay", "shopping", "ops"}
	var inNS [][]flow.Endpoint // by namespace
	var all []flow.Endpoint
	for _, ns := range namespaces {
		var eps []flow.Endpoint
		for i := range 6 {
			eps = append(eps, flow.WorkloadEndpoint(ns, "Deployment", fmt.Sprint("w", i)))
		}
		eps = append(eps, flow.WorkloadEndpoint(ns, "Service", "api"), flow.WorkloadEndpoint(ns, "StatefulSet", "db"))
		inNS = append(inNS, eps)
		all = append(all, eps...)
	}
	all = append(all, flow.Endpoint{Kind: flow.EndpointNode, Name: "node-1"},
		flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.7"), Class: flow.ClassExternal},
		flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("2001:db8::1"), Class: flow.ClassAliased, Alias: "partner"})
	svcs := []flow.ServiceRef{{Namespace: "shop", Name: "api"}, {Namespace: "pay", Name: "api"}, {Namespace: "shop", Name: "web"}}
	var names []string
	for i := range 24 {
		names = append(names, fmt.Sprintf("n%02d.example", i))
	}
	type edge struct {
		key   flow.EdgeKey
		every int // hours between records
	}
	var edges []edge
	for range 300 {
		edges = append(edges, edge{
			key: flow.EdgeKey{Src: all[r.IntN(len(all))], Dst: all[r.IntN(len(all))], Protocol: flow.Protocol(1 + r.IntN(2)),
				Port: []uint16{53, 80, 443, 8080}[r.IntN(4)]},
			every: []int{1, 3, 17, 40, 200}[r.IntN(5)],
		})
	}
	record := func(from, to time.Time) {
		for h := from; h.Before(to); h = h.Add(time.Hour) {
			for i, e := range edges {
				if (int(h.Sub(day)/time.Hour)+i)%e.every != 0 {
					continue
				}
				at := h.Add(time.Duration(r.IntN(3600)) * time.Second)
				v := flow.Verdict(r.IntN(flow.NumVerdicts))
				if r.IntN(5) == 0 {
					s.RecordVerdict(e.key, at, v)
					continue
				}
				var svc *flow.ServiceRef
				if r.IntN(3) == 0 {
					svc = &svcs[r.IntN(len(svcs))]
				}
				var ns []string
				if r.IntN(2) == 0 {
					n := r.IntN(len(names))
					ns = names[n : n+1]
				}
				s.Record(e.key, at, v, svc, ns)
			}
		}
	}
	record(day, now)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	windows := [][2]time.Time{
		{},
		{day, now},
		{day.Add(13 * time.Hour), now.Add(-time.Hour)},
		{day.Add(24*time.Hour + 30*time.Minute), day.Add(4*24*time.Hour + 5*time.Hour)},
		{day.Add(2 * 24 * time.Hour), day.Add(4 * 24 * time.Hour)},
		{day.Add(4*24*time.Hour + 3*time.Hour), time.Time{}},
		{time.Time{}, day.Add(50 * time.Hour)},
	}
	check := func(stage string) {
		t.Helper()
		for _, w := range windows {
			for i, ns := range append(namespaces, "none") {
				got, err := s.NamespaceEdges(ctx, ns, w[0], w[1])
				if err != nil {
					t.Fatal(err)
				}
				want, err := namespaceEdgesByScanPlan(s, ns, w[0], w[1])
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: NamespaceEdges(%s, %v) differs from the reference:\ngot  %v\nwant %v", stage, ns, w, got, want)
				}
				// Except some source namespaces: the same edges but those
				// into ns from workloads there.
				sources := []string{"pay", "ops", "unknown-ns", ns}
				except, err := s.NamespaceEdgesExcept(ctx, ns, sources, w[0], w[1])
				if err != nil {
					t.Fatal(err)
				}
				wantExcept := slices.DeleteFunc(slices.Clone(got), func(e flow.Edge) bool {
					return e.Src.Kind == flow.EndpointWorkload && e.Src.Namespace != ns && slices.Contains(sources, e.Src.Namespace)
				})
				if len(wantExcept) == 0 {
					wantExcept = nil
				}
				if !reflect.DeepEqual(except, wantExcept) {
					t.Errorf("%s: NamespaceEdgesExcept(%s, %v, %v):\ngot  %v\nwant %v", stage, ns, sources, w, except, wantExcept)
				}
				if i < len(inNS) {
					if union := workloadEdgesUnion(t, s, inNS[i], w[0], w[1]); !reflect.DeepEqual(got, union) {
						t.Errorf("%s: NamespaceEdges(%s, %v) differs from its workloads' edges:\ngot  %v\nwant %v", stage, ns, w, got, union)
					}
				}
			}
		}
	}
	check("hours")
	if _, err := s.RollUp(ctx, now); err != nil {
		t.Fatal(err)
	}
	if len(s.rollups.list()) == 0 {
		t.Fatal("no day rolled up")
	}
	check("rolled up")
	// A new endpoint, not ranked yet, and late flows in a rolled-up day.
	late := flow.WorkloadEndpoint("shop", "Deployment", "late")
	inNS[0] = append(inNS[0], late)
	edges = append(edges, edge{key: flow.EdgeKey{Src: late, Dst: all[0], Protocol: flow.ProtocolTCP, Port: 80}, every: 1},
		edge{key: flow.EdgeKey{Src: all[len(all)-1], Dst: late, Protocol: flow.ProtocolTCP, Port: 443}, every: 2})
	record(day.Add(2*24*time.Hour), day.Add(2*24*time.Hour+3*time.Hour))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.dict.mu.RLock()
	unranked := s.dict.unranked
	s.dict.mu.RUnlock()
	if unranked == 0 {
		t.Fatal("every endpoint is ranked: the order without ranks is not tested")
	}
	check("unranked")
	// Every other endpoint unranked.
	s.dict.mu.Lock()
	for g := range s.dict.groups {
		for m := range s.dict.groups[g].ranks {
			if m%2 == 0 {
				s.dict.groups[g].ranks[m] = 0
			}
		}
	}
	s.dict.mu.Unlock()
	check("half unranked")
}

// workloadEdgesUnion is the union of the ingress and egress edges of eps
// (a namespace's endpoints), in the order NamespaceEdges documents.
func workloadEdgesUnion(t *testing.T, s *Store, eps []flow.Endpoint, from, to time.Time) []flow.Edge {
	t.Helper()
	var union []flow.Edge
	seen := map[flow.EdgeKey]flow.Edge{}
	for _, ep := range eps {
		in, out, err := s.WorkloadEdges(context.Background(), ep, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range slices.Concat(in, out) {
			if prev, ok := seen[e.EdgeKey]; ok {
				if !reflect.DeepEqual(prev, e) {
					t.Errorf("%v: ingress and egress sides differ: %v, %v", e.EdgeKey, prev, e)
				}
				continue
			}
			seen[e.EdgeKey] = e
			union = append(union, e)
		}
	}
	slices.SortFunc(union, func(a, b flow.Edge) int {
		return cmp.Or(bytes.Compare(appendEndpoint(nil, a.Src), appendEndpoint(nil, b.Src)),
			bytes.Compare(appendEndpoint(nil, a.Dst), appendEndpoint(nil, b.Dst)),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	return union
}

// namespaceEdgesByScanPlan is NamespaceEdges as it was before it
// aggregated one endpoint at a time: every bucket of the namespace into
// one index, the hour buckets of all endpoints before their day buckets.
func namespaceEdgesByScanPlan(s *Store, ns string, from, to time.Time) ([]flow.Edge, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	pl := planWindow(w, s.rollups.list())
	aggs := newEdgeAggregates[nsEdgeID]()
	err := s.view(func(txn *badger.Txn) error {
		g, known := s.dict.namespaceGroup(ns)
		if !known {
			return nil
		}
		prefix := binary.BigEndian.AppendUint32(nil, g)
		var id nsEdgeID
		err := scanPlan(txn, famEgress, famEgressDay, prefix, pl, func(p *parsedKey, v []byte) error {
			binary.BigEndian.PutUint64(id[:], uint64(p.self))
			copy(id[refLen:], p.rest[:])
			return aggs.add(id, v)
		})
		if err != nil {
			return err
		}
		return scanPlan(txn, famIngress, famIngressDay, prefix, pl, func(p *parsedKey, v []byte) error {
			if p.peer.group() == g {
				return nil
			}
			binary.BigEndian.PutUint64(id[:], uint64(p.peer))
			binary.BigEndian.PutUint64(id[refLen:], uint64(p.self))
			copy(id[2*refLen:], p.rest[refLen:])
			return aggs.add(id, v)
		})
	})
	if err != nil || len(aggs.ids) == 0 {
		return nil, err
	}
	d := s.dict
	n := len(aggs.ids)
	rows := make([]sortRow, n)
	eps := make([][2]*dictEntry, n)
	ranked := true
	d.mu.RLock()
	for i, id := range aggs.ids {
		src, dst := refAt(id[:]), refAt(id[refLen:])
		srcRank, ok1 := d.rankLocked(src)
		dstRank, ok2 := d.rankLocked(dst)
		if !ok1 || !ok2 {
			d.mu.RUnlock()
			return nil, unknownRef(src ^ dst)
		}
		eps[i] = [2]*dictEntry{d.entryLocked(src), d.entryLocked(dst)}
		ranked = ranked && srcRank != 0 && dstRank != 0
		rows[i] = sortRow{uint64(srcRank)<<32 | uint64(dstRank), protoPort(id[2*refLen], binary.BigEndian.Uint16(id[2*refLen+1:])), int32(i)}
	}
	d.mu.RUnlock()
	if ranked {
		slices.SortFunc(rows, compareRows)
	} else {
		sortByEncoding(rows, func(i int32) (string, string) { return eps[i][0].enc, eps[i][1].enc })
	}
	edges := make([]flow.Edge, n)
	for k, r := range rows {
		a := aggs.at(r.i)
		e := &edges[k]
		e.Count, e.Verdicts = a.count, a.verdicts
		e.FirstSeen, e.LastSeen = fromNanos(a.first), fromNanos(a.last)
		if a.hasSvc {
			svc := a.svc
			e.Service = &svc
		}
		if len(a.names) > 0 {
			e.Names = slices.Sorted(slices.Values(a.names))
		}
		e.Src, e.Dst = eps[r.i][0].ep, eps[r.i][1].ep
		e.Protocol, e.Port = flow.Protocol(r.lo>>16), uint16(r.lo)
	}
	return edges, nil
}

// TestAggregatesChunks checks the chunked storage: every index its own
// aggregate, chunks sized as documented, reset zeroing what was used.
func TestAggregatesChunks(t *testing.T) {
	var a aggregates
	const n = grownLen + 3*maxChunk + 5
	seen := map[*aggregate]int32{}
	for i := range int32(n) {
		if got := a.push(); got != i {
			t.Fatalf("push = %d, want %d", got, i)
		}
		p := a.at(i)
		if j, dup := seen[p]; dup {
			t.Fatalf("aggregates %d and %d share memory", i, j)
		}
		seen[p] = i
		p.count = uint64(i) + 1
	}
	var sizes []int
	for _, c := range a.chunks {
		sizes = append(sizes, len(c))
	}
	want := []int{16, 32, 64, 128, 256, 512, 1024, 1024, 1024, 1024, 1024}
	if !slices.Equal(sizes, want) {
		t.Errorf("chunk sizes %v, want %v", sizes, want)
	}
	for i := range int32(n) {
		if got := a.at(i).count; got != uint64(i)+1 {
			t.Fatalf("aggregate %d holds %d", i, got)
		}
	}
	a.reset()
	if a.n != 0 || len(a.chunks) != len(want) {
		t.Fatalf("after reset: n %d, %d chunks", a.n, len(a.chunks))
	}
	for _, c := range a.chunks {
		for i := range c {
			if c[i].count != 0 {
				t.Fatal("reset left an aggregate set")
			}
		}
	}
}
