package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
)

// Queries read flushed data only (at most FlushInterval behind Record;
// call Flush first to read your own Records). Their time range [from, to)
// is half-open and widened to whole hour buckets: a bucket is included
// when any part of its hour lies in the range, and its whole counts are.
// A zero from means since the beginning, a zero to means until now and
// beyond.
//
// Edges are aggregated across the buckets of the range: Count and
// Verdicts summed, FirstSeen the earliest, LastSeen the latest, Service the
// one of the latest bucket that has one, Names the union (at most
// MaxNames).

// aggregate accumulates buckets of one edge.
type aggregate struct {
	bucketStats
	svcLast int64 // LastSeen of the bucket that set svc
}

// add merges a bucket; strings are copied only when they are new.
func (a *aggregate) add(v *valueView) {
	if v.count == 0 {
		return
	}
	if a.count == 0 {
		a.first, a.last = v.first, v.last
	} else {
		a.first = min(a.first, v.first)
		a.last = max(a.last, v.last)
	}
	a.count = satAdd(a.count, v.count)
	for i, c := range v.verdicts {
		a.verdicts[i] = satAdd(a.verdicts[i], c)
	}
	if v.hasSvc && (!a.hasSvc || v.last >= a.svcLast) {
		if !a.hasSvc || a.svc.Namespace != string(v.svcNS) || a.svc.Name != string(v.svcName) {
			a.svc = flow.ServiceRef{Namespace: string(v.svcNS), Name: string(v.svcName)}
		}
		a.hasSvc, a.svcLast = true, v.last
	}
	for _, n := range v.names {
		if len(a.names) < MaxNames && !slices.ContainsFunc(a.names, func(s string) bool { return s == string(n) }) {
			a.names = append(a.names, string(n))
		}
	}
}

func (a *aggregate) stats() flow.EdgeStats {
	st := flow.EdgeStats{
		Count:     a.count,
		FirstSeen: fromNanos(a.first),
		LastSeen:  fromNanos(a.last),
		Verdicts:  a.verdicts,
	}
	if a.hasSvc {
		svc := a.svc
		st.Service = &svc
	}
	if len(a.names) > 0 {
		st.Names = a.names
		slices.Sort(st.Names)
	}
	return st
}

// edgeAggregates groups bucket values by edge identity (bytes).
type edgeAggregates struct {
	index map[string]int32
	ids   []string
	aggs  []*aggregate
	slab  []aggregate
	view  valueView
}

func newEdgeAggregates() *edgeAggregates {
	return &edgeAggregates{index: make(map[string]int32)}
}

// add decodes v into the aggregate of id (id is copied on first sight).
func (e *edgeAggregates) add(id []byte, v []byte) error {
	if err := parseValue(v, &e.view); err != nil {
		return err
	}
	i, ok := e.index[string(id)]
	if !ok {
		k := string(id)
		i = int32(len(e.aggs))
		e.index[k] = i
		e.ids = append(e.ids, k)
		if len(e.slab) == 0 {
			e.slab = make([]aggregate, min(1024, 16+len(e.aggs)))
		}
		e.aggs = append(e.aggs, &e.slab[0])
		e.slab = e.slab[1:]
	}
	e.aggs[i].add(&e.view)
	return nil
}

// sorted returns the aggregates' indexes in identity byte order.
func (e *edgeAggregates) sorted() []int32 {
	order := make([]int32, len(e.ids))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(e.ids[a], e.ids[b]) })
	return order
}

// interner shares the strings that repeat across a result (namespaces,
// workload kinds).
type interner map[string]string

func (in interner) str(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// WorkloadEdges returns the edges into ep (ingress) and out of it (egress)
// over [from, to), aggregated across hour buckets and sorted by peer,
// protocol and port. ep may be any endpoint: a workload, a node or an
// address. An edge from ep to itself is in both lists.
func (s *Store) WorkloadEdges(ctx context.Context, ep flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil, nil
	}
	ep = canonicalEndpoint(ep)
	pl := planWindow(w, s.rollups.list())
	self := appendEndpoint(nil, ep)
	err = s.view(func(txn *badger.Txn) error {
		for _, fam := range []byte{famIngress, famEgress} {
			if err := ctx.Err(); err != nil {
				return err
			}
			aggs := newEdgeAggregates()
			dayFam := famEgressDay
			if fam == famIngress {
				dayFam = famIngressDay
			}
			err := scanPlan(txn, fam, dayFam, self, pl, func(p *parsedKey, v []byte) error {
				return aggs.add(p.rest, v)
			})
			if err != nil {
				return err
			}
			edges, err := restEdges(aggs, ep, fam)
			if err != nil {
				return err
			}
			if fam == famIngress {
				ingress = edges
			} else {
				egress = edges
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("query edges of %s: %w", ep, err)
	}
	return ingress, egress, nil
}

// restEdges turns aggregates keyed by peer | proto | port into edges of
// self (the src for egress, the dst for ingress).
func restEdges(aggs *edgeAggregates, self flow.Endpoint, fam byte) ([]flow.Edge, error) {
	in := interner{}
	edges := make([]flow.Edge, 0, len(aggs.ids))
	for _, i := range aggs.sorted() {
		id := aggs.ids[i]
		peer, n, err := decodeEndpointInterned([]byte(id), in)
		if err != nil || len(id) != n+3 {
			return nil, fmt.Errorf("%w: edge %x", errCorruptKey, id)
		}
		e := flow.Edge{EdgeStats: aggs.aggs[i].stats()}
		e.Protocol = flow.Protocol(id[n])
		e.Port = uint16(id[n+1])<<8 | uint16(id[n+2])
		if fam == famEgress {
			e.Src, e.Dst = self, peer
		} else {
			e.Src, e.Dst = peer, self
		}
		edges = append(edges, e)
	}
	return edges, nil
}

// NamespaceEdges returns the edges with their source or their destination
// in namespace ns over [from, to), aggregated across hour buckets, sorted
// by source, destination, protocol and port.
func (s *Store) NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	nsPrefix := appendNamespacePrefix(nil, ns)
	pl := planWindow(w, s.rollups.list())
	aggs := newEdgeAggregates()
	var id []byte
	err := s.view(func(txn *badger.Txn) error {
		// Out of the namespace (and inside it): id = src | dst | proto | port.
		err := scanPlan(txn, famEgress, famEgressDay, nsPrefix, pl, func(p *parsedKey, v []byte) error {
			id = append(append(id[:0], p.self...), p.rest...)
			return aggs.add(id, v)
		})
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Into the namespace from outside it.
		return scanPlan(txn, famIngress, famIngressDay, nsPrefix, pl, func(p *parsedKey, v []byte) error {
			if bytes.HasPrefix(p.peer, nsPrefix) {
				return nil // seen from the egress side
			}
			id = append(append(append(id[:0], p.peer...), p.self...), p.rest[len(p.peer):]...)
			return aggs.add(id, v)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("query edges of namespace %s: %w", ns, err)
	}
	in := interner{}
	edges := make([]flow.Edge, 0, len(aggs.ids))
	for _, i := range aggs.sorted() {
		e, err := decodeFullEdgeInterned([]byte(aggs.ids[i]), in)
		if err != nil {
			return nil, fmt.Errorf("query edges of namespace %s: %w", ns, err)
		}
		e.EdgeStats = aggs.aggs[i].stats()
		edges = append(edges, e)
	}
	return edges, nil
}

// decodeFullEdge decodes src | dst | proto | port.
func decodeFullEdge(id []byte) (flow.Edge, error) { return decodeFullEdgeInterned(id, nil) }

func decodeFullEdgeInterned(id []byte, in interner) (flow.Edge, error) {
	var e flow.Edge
	src, n, err := decodeEndpointInterned(id, in)
	if err != nil {
		return e, err
	}
	dst, m, err := decodeEndpointInterned(id[n:], in)
	if err != nil || len(id) != n+m+3 {
		return e, fmt.Errorf("%w: edge %x", errCorruptKey, id)
	}
	e.Src, e.Dst = src, dst
	e.Protocol = flow.Protocol(id[n+m])
	e.Port = uint16(id[n+m+1])<<8 | uint16(id[n+m+2])
	return e, nil
}

// MaxPeers bounds the peers listed per unresolved address.
const MaxPeers = 64

// ProtoPort is a destination protocol and port.
type ProtoPort struct {
	Protocol flow.Protocol
	Port     uint16
}

// AddressSummary is what was seen of one unresolved address.
type AddressSummary struct {
	Addr netip.Addr
	// Class and Alias are those of the latest bucket.
	Class flow.AddrClass
	Alias string
	// Count is Inbound + Outbound: connections from the address into the
	// cluster and from the cluster to it (an address-to-address edge counts
	// for both addresses).
	Count    uint64
	Inbound  uint64
	Outbound uint64
	Dropped  uint64
	// FirstSeen and LastSeen bound the connections, either direction.
	FirstSeen, LastSeen time.Time
	// Peers are the endpoints that talked with the address, sorted; at
	// most MaxPeers of PeerCount.
	Peers     []flow.Endpoint
	PeerCount int
	// Ports are the destination ports used to reach the address (at most
	// MaxPeers), sorted.
	Ports []ProtoPort
	// Names are the FQDNs seen for the address as a destination.
	Names []string
}

type addrAcc struct {
	sum       AddressSummary
	latest    int64
	classSelf []byte
	peers     map[string]struct{}
	ports     map[ProtoPort]struct{}
	names     []string
}

// UnresolvedAddresses summarizes every unresolved address seen over
// [from, to), most connections first (then by address).
func (s *Store) UnresolvedAddresses(ctx context.Context, from, to time.Time) ([]AddressSummary, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	accs := make(map[[18]byte]*addrAcc)
	var st valueView
	add := func(p *parsedKey, v []byte, inbound bool) error {
		if err := parseValue(v, &st); err != nil {
			return err
		}
		id := [18]byte(p.self[:18])
		a := accs[id]
		if a == nil {
			a = &addrAcc{peers: make(map[string]struct{}), ports: make(map[ProtoPort]struct{})}
			accs[id] = a
		}
		if a.sum.Count == 0 {
			a.sum.FirstSeen, a.sum.LastSeen = fromNanos(st.first), fromNanos(st.last)
		} else {
			a.sum.FirstSeen = minTimeOf(a.sum.FirstSeen, fromNanos(st.first))
			a.sum.LastSeen = maxTimeOf(a.sum.LastSeen, fromNanos(st.last))
		}
		if a.classSelf == nil || st.last >= a.latest {
			a.classSelf, a.latest = append(a.classSelf[:0], p.self...), st.last
		}
		a.sum.Count = satAdd(a.sum.Count, st.count)
		a.sum.Dropped = satAdd(a.sum.Dropped, st.verdicts[flow.VerdictDropped])
		if inbound {
			a.sum.Inbound = satAdd(a.sum.Inbound, st.count)
		} else {
			a.sum.Outbound = satAdd(a.sum.Outbound, st.count)
			if len(a.ports) < MaxPeers {
				a.ports[ProtoPort{p.proto, p.port}] = struct{}{}
			}
			for _, n := range st.names {
				if len(a.names) < MaxNames && !slices.ContainsFunc(a.names, func(s string) bool { return s == string(n) }) {
					a.names = append(a.names, string(n))
				}
			}
		}
		a.peers[string(p.peer)] = struct{}{}
		return nil
	}
	addrPrefix := []byte{byte(flow.EndpointAddress)}
	pl := planWindow(w, s.rollups.list())
	err := s.view(func(txn *badger.Txn) error {
		err := scanPlan(txn, famEgress, famEgressDay, addrPrefix, pl, func(p *parsedKey, v []byte) error { return add(p, v, true) })
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return scanPlan(txn, famIngress, famIngressDay, addrPrefix, pl, func(p *parsedKey, v []byte) error { return add(p, v, false) })
	})
	if err != nil {
		return nil, fmt.Errorf("query unresolved addresses: %w", err)
	}
	out := make([]AddressSummary, 0, len(accs))
	for _, a := range accs {
		self, _, err := decodeEndpoint(a.classSelf)
		if err != nil {
			return nil, fmt.Errorf("query unresolved addresses: %w", err)
		}
		a.sum.Addr, a.sum.Class, a.sum.Alias = self.Addr, self.Class, self.Alias
		a.sum.PeerCount = len(a.peers)
		peerKeys := make([]string, 0, len(a.peers))
		for k := range a.peers {
			peerKeys = append(peerKeys, k)
		}
		slices.Sort(peerKeys)
		for _, k := range peerKeys[:min(len(peerKeys), MaxPeers)] {
			peer, _, err := decodeEndpoint([]byte(k))
			if err != nil {
				return nil, fmt.Errorf("query unresolved addresses: %w", err)
			}
			a.sum.Peers = append(a.sum.Peers, peer)
		}
		for pp := range a.ports {
			a.sum.Ports = append(a.sum.Ports, pp)
		}
		slices.SortFunc(a.sum.Ports, func(x, y ProtoPort) int {
			return cmp.Or(cmp.Compare(x.Protocol, y.Protocol), cmp.Compare(x.Port, y.Port))
		})
		if len(a.names) > 0 {
			a.sum.Names = a.names
			slices.Sort(a.sum.Names)
		}
		out = append(out, a.sum)
	}
	slices.SortFunc(out, func(x, y AddressSummary) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), x.Addr.Compare(y.Addr), cmp.Compare(x.Alias, y.Alias))
	})
	return out, nil
}

func minTimeOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTimeOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// NamespaceSummary is what was seen of one namespace's workloads.
type NamespaceSummary struct {
	Namespace string
	// Workloads counts the namespace's workloads seen in an edge.
	Workloads int
	// EdgesOut and EdgesIn count distinct edges (aggregated across hours)
	// from and to the namespace's workloads; an edge inside the namespace
	// counts in both.
	EdgesOut int
	EdgesIn  int
	// Connections and Dropped sum the edges touching the namespace (an
	// edge inside it counted once).
	Connections uint64
	Dropped     uint64
	// UnresolvedPeers counts distinct unresolved addresses that talked
	// with the namespace's workloads.
	UnresolvedPeers int
}

type nsAcc struct {
	sum        NamespaceSummary
	unresolved map[[18]byte]struct{}
}

// NamespaceSummaries summarizes every namespace with a workload seen in
// an edge over [from, to), sorted by namespace. It reads every edge
// bucket of the range once.
func (s *Store) NamespaceSummaries(ctx context.Context, from, to time.Time) ([]NamespaceSummary, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	accs := make(map[string]*nsAcc)
	workloads := make(map[string]struct{})
	acc := func(ns []byte) *nsAcc {
		a := accs[string(ns)]
		if a == nil {
			a = &nsAcc{sum: NamespaceSummary{Namespace: string(ns)}, unresolved: make(map[[18]byte]struct{})}
			accs[string(ns)] = a
		}
		return a
	}
	seenWorkload := func(ep []byte, a *nsAcc) {
		if _, ok := workloads[string(ep)]; !ok {
			workloads[string(ep)] = struct{}{}
			a.sum.Workloads++
		}
	}
	// Keys of one source are contiguous in each family, and the hour and
	// day families list sources in the same order: walking both side by
	// side, source by source, distinct edges are counted with a set of
	// the current source's peers.
	srcEdges := make(map[string]struct{})
	pl := planWindow(w, s.rollups.list())
	n := 0
	row := func(p *parsedKey, v []byte) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		count, dropped, err := decodeCounts(v)
		if err != nil {
			return err
		}
		srcNS, srcOK := workloadNamespace(p.self)
		dstNS, dstOK := workloadNamespace(p.peer)
		_, seen := srcEdges[string(p.rest)]
		if !seen {
			srcEdges[string(p.rest)] = struct{}{}
		}
		var sa, da *nsAcc
		if srcOK {
			sa = acc(srcNS)
			sa.sum.Connections = satAdd(sa.sum.Connections, count)
			sa.sum.Dropped = satAdd(sa.sum.Dropped, dropped)
		}
		if dstOK {
			da = acc(dstNS)
			if !srcOK || !bytes.Equal(srcNS, dstNS) {
				da.sum.Connections = satAdd(da.sum.Connections, count)
				da.sum.Dropped = satAdd(da.sum.Dropped, dropped)
			}
		}
		if seen {
			return nil
		}
		if sa != nil {
			sa.sum.EdgesOut++
			seenWorkload(p.self, sa)
			if isAddress(p.peer) {
				sa.unresolved[[18]byte(p.peer[:18])] = struct{}{}
			}
		}
		if da != nil {
			da.sum.EdgesIn++
			seenWorkload(p.peer, da)
			if isAddress(p.self) {
				da.unresolved[[18]byte(p.self[:18])] = struct{}{}
			}
		}
		return nil
	}
	err := s.view(func(txn *badger.Txn) error {
		hours := newRangeIter(txn, []byte{famEgress}, pl.hours)
		defer hours.close()
		days := newRangeIter(txn, []byte{famEgressDay}, pl.days)
		defer days.close()
		its := [2]*rangeIter{hours, days}
		var v visitor
		v.fn = row
		var src []byte
		for {
			// The next source: the smaller of the two iterators' current ones.
			src = src[:0]
			for _, r := range its {
				if r.valid() && (len(src) == 0 || bytes.Compare(r.self[1:], src) < 0) {
					src = append(src[:0], r.self[1:]...)
				}
			}
			if len(src) == 0 {
				break
			}
			clear(srcEdges)
			for _, r := range its {
				for r.valid() && bytes.Equal(r.self[1:], src) {
					if err := v.visit(r.it.Item(), r.it.Item().Key()); err != nil {
						return err
					}
					r.next()
				}
			}
		}
		return cmp.Or(hours.err, days.err)
	})
	if err != nil {
		return nil, fmt.Errorf("query namespace summaries: %w", err)
	}
	out := make([]NamespaceSummary, 0, len(accs))
	for _, a := range accs {
		a.sum.UnresolvedPeers = len(a.unresolved)
		out = append(out, a.sum)
	}
	slices.SortFunc(out, func(x, y NamespaceSummary) int { return cmp.Compare(x.Namespace, y.Namespace) })
	return out, nil
}

// workloadNamespace returns the namespace bytes of an encoded workload
// endpoint.
func workloadNamespace(ep []byte) ([]byte, bool) {
	if len(ep) < 2 || flow.EndpointKind(ep[0]) != flow.EndpointWorkload {
		return nil, false
	}
	l, n := binary.Uvarint(ep[1:])
	if n <= 0 || l > uint64(len(ep)-1-n) {
		return nil, false
	}
	return ep[1+n : 1+n+int(l)], true
}

func isAddress(ep []byte) bool {
	return len(ep) >= 18 && flow.EndpointKind(ep[0]) == flow.EndpointAddress
}

// decodeCounts reads only the count and the dropped count of a value.
func decodeCounts(v []byte) (count, dropped uint64, err error) {
	if len(v) < 1 || v[0] != valueVersion {
		return 0, 0, errCorruptValue
	}
	r := reader{b: v[1:]}
	count = r.uvarint()
	r.varint()
	r.uvarint()
	mask := r.uvarint()
	for i := range flow.NumVerdicts {
		if mask&(1<<i) != 0 {
			c := r.uvarint()
			if flow.Verdict(i) == flow.VerdictDropped {
				dropped = c
			}
		}
	}
	return count, dropped, r.err
}
