package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
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
	if v.empty() {
		return
	}
	if a.empty() {
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

// fill sets st (zero) from a. A Service is appended to svcs, which the
// caller sizes for all its aggregates that have one (one allocation, not
// one per edge), and st points to it.
func (a *aggregate) fill(st *flow.EdgeStats, svcs []flow.ServiceRef) []flow.ServiceRef {
	st.Count = a.count
	st.FirstSeen, st.LastSeen = fromNanos(a.first), fromNanos(a.last)
	st.Verdicts = a.verdicts
	if a.hasSvc {
		svcs = append(svcs, a.svc)
		st.Service = &svcs[len(svcs)-1]
	}
	if len(a.names) > 0 {
		st.Names = a.names
		slices.Sort(st.Names)
	}
	return svcs
}

// edgeAggregates groups bucket values by edge identity K.
type edgeAggregates[K comparable] struct {
	index map[K]int32
	ids   []K
	aggregates
	view valueView
}

func newEdgeAggregates[K comparable]() *edgeAggregates[K] {
	return &edgeAggregates[K]{index: make(map[K]int32)}
}

// add decodes v into the aggregate of id.
func (e *edgeAggregates[K]) add(id K, v []byte) error {
	if err := parseValue(v, &e.view); err != nil {
		return err
	}
	i, ok := e.index[id]
	if !ok {
		i = e.push()
		e.index[id] = i
		e.ids = append(e.ids, id)
	}
	e.addTo(i, &e.view)
	return nil
}

// aggregates holds aggregates in chunks: appending never copies them.
// The chunks double from firstChunk to maxChunk aggregates, so that most
// results (small) take one small chunk and a large one leaves at most a
// chunk unused.
type aggregates struct {
	chunks [][]aggregate
	n      int32
	svcs   int // aggregates with a Service
}

const (
	firstChunk = 16
	maxChunk   = 1024
	growChunks = 7                                // firstChunk<<k for k < growChunks, then maxChunk
	grownLen   = firstChunk * (1<<growChunks - 1) // aggregates in the growing chunks
)

// chunkOf is the chunk holding aggregate i and i's index in it.
func chunkOf(i int32) (k, j int) {
	if i < grownLen {
		k = bits.Len32(uint32(i)/firstChunk+1) - 1
		return k, int(i) - firstChunk*(1<<k-1)
	}
	i -= grownLen
	return growChunks + int(i)/maxChunk, int(i) % maxChunk
}

// at returns aggregate i.
func (a *aggregates) at(i int32) *aggregate {
	k, j := chunkOf(i)
	return &a.chunks[k][j]
}

// push appends an empty aggregate and returns its index.
func (a *aggregates) push() int32 {
	i := a.n
	if k, j := chunkOf(i); j == 0 && k == len(a.chunks) {
		size := maxChunk
		if k < growChunks {
			size = firstChunk << k
		}
		a.chunks = append(a.chunks, make([]aggregate, size))
	}
	a.n++
	return i
}

// addTo merges a bucket into aggregate i.
func (a *aggregates) addTo(i int32, v *valueView) {
	g := a.at(i)
	had := g.hasSvc
	g.add(v)
	if g.hasSvc && !had {
		a.svcs++
	}
}

// reset zeroes the aggregates and empties a, keeping its chunks.
func (a *aggregates) reset() {
	for i := int32(0); i < a.n; {
		k, j := chunkOf(i)
		c := a.chunks[k][j:]
		c = c[:min(len(c), int(a.n-i))]
		clear(c)
		i += int32(len(c))
	}
	a.n, a.svcs = 0, 0
}

// interner shares the strings that repeat (namespaces, workload kinds).
type interner map[string]string

func (in interner) str(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// sortEP is an endpoint of a result with what sorts it: results list
// endpoints in encoding order (the order of the previous schema's keys),
// compared by rank when both have one.
type sortEP struct {
	rank uint32 // copied under the dictionary's lock
	enc  string
	ep   *flow.Endpoint
}

func (a *sortEP) compare(b *sortEP) int {
	if a.rank != 0 && b.rank != 0 {
		return cmp.Compare(a.rank, b.rank)
	}
	return strings.Compare(a.enc, b.enc)
}

// protoPort packs a protocol and a port.
func protoPort(proto byte, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

func unknownRef(r ref) error {
	return fmt.Errorf("%w: unknown endpoint ref %016x", errCorruptKey, uint64(r))
}

// sortEPLocked returns the sortEP of r; the caller holds d.mu (read).
func (d *dict) sortEPLocked(r ref) (sortEP, error) {
	rank, ok := d.rankLocked(r)
	if !ok {
		return sortEP{}, unknownRef(r)
	}
	e := d.entryLocked(r)
	return sortEP{rank: rank, enc: e.enc, ep: &e.ep}, nil
}

// sortRow is a result row to sort: by the ranks of its endpoints (hi),
// then by protocol and port (lo); i is its aggregate. Pointer-free, so
// that sorting moves no pointers.
type sortRow struct {
	hi uint64
	lo uint32
	i  int32
}

func compareRows(a, b sortRow) int {
	if a.hi != b.hi {
		return cmp.Compare(a.hi, b.hi)
	}
	return cmp.Compare(a.lo, b.lo)
}

// sortByEncoding sorts rows by the encodings of their endpoints (from
// encs(i), first then second), then lo: the order the ranks give, for
// when an endpoint is not ranked yet.
func sortByEncoding(rows []sortRow, encs func(i int32) (string, string)) {
	slices.SortFunc(rows, func(a, b sortRow) int {
		a1, a2 := encs(a.i)
		b1, b2 := encs(b.i)
		return cmp.Or(strings.Compare(a1, b1), strings.Compare(a2, b2), cmp.Compare(a.lo, b.lo))
	})
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
	enc := appendEndpoint(nil, ep)
	pl := planWindow(w, s.rollups.list())
	err = s.view(func(txn *badger.Txn) error {
		self, known := s.dict.lookup(enc)
		if !known {
			return nil // never seen
		}
		prefix := appendRef(nil, self)
		for _, fam := range []byte{famIngress, famEgress} {
			if err := ctx.Err(); err != nil {
				return err
			}
			aggs := newEdgeAggregates[restKey]()
			dayFam := famEgressDay
			if fam == famIngress {
				dayFam = famIngressDay
			}
			err := scanPlan(txn, fam, dayFam, prefix, pl, func(p *parsedKey, v []byte) error {
				return aggs.add(p.rest, v)
			})
			if err != nil {
				return err
			}
			edges, err := s.restEdges(aggs, ep, fam)
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
// self (the src for egress, the dst for ingress), sorted.
func (s *Store) restEdges(aggs *edgeAggregates[restKey], self flow.Endpoint, fam byte) ([]flow.Edge, error) {
	n := len(aggs.ids)
	if n == 0 {
		return nil, nil
	}
	// Entries are immutable and never removed: pointers taken under the
	// lock stay valid after it, and Records of new endpoints do not wait
	// for the sort.
	d := s.dict
	rows := make([]sortRow, n)
	peers := make([]*dictEntry, n)
	ranked := true
	d.mu.RLock()
	for i, id := range aggs.ids {
		r := refAt(id[:])
		rank, ok := d.rankLocked(r)
		if !ok {
			d.mu.RUnlock()
			return nil, unknownRef(r)
		}
		peers[i] = d.entryLocked(r)
		ranked = ranked && rank != 0
		rows[i] = sortRow{uint64(rank), protoPort(id[refLen], binary.BigEndian.Uint16(id[refLen+1:])), int32(i)}
	}
	d.mu.RUnlock()
	if ranked {
		slices.SortFunc(rows, compareRows)
	} else {
		sortByEncoding(rows, func(i int32) (string, string) { return peers[i].enc, "" })
	}
	edges := make([]flow.Edge, n)
	svcs := make([]flow.ServiceRef, 0, aggs.svcs)
	for k := range rows {
		r := &rows[k]
		e := &edges[k]
		peer := &peers[r.i].ep
		svcs = aggs.at(r.i).fill(&e.EdgeStats, svcs)
		e.Protocol, e.Port = flow.Protocol(r.lo>>16), uint16(r.lo)
		if fam == famEgress {
			e.Src, e.Dst = self, *peer
		} else {
			e.Src, e.Dst = *peer, self
		}
	}
	return edges, nil
}

// nsEdgeID is src | dst | proto | port.
type nsEdgeID [2*refLen + 3]byte

// nsScan aggregates the buckets of a namespace's edges one endpoint of
// the namespace at a time: every bucket of an edge is under the same
// endpoint, so the index from peer | proto | port to aggregate spans one
// endpoint's edges (small, cleared and reused) rather than the
// namespace's.
type nsScan struct {
	group  uint32
	skip   map[uint32]bool // groups whose workloads' edges into the namespace are left out
	egress bool            // scanning egress keys, else ingress ones
	self   ref             // the endpoint scanned
	rest   restKey         // peer | proto | port of the current key
	local  map[restKey]int32
	ids    []nsEdgeID
	aggregates
	view  valueView
	value func(v []byte) error // add, made once
	// Scratch of the result's assembly.
	rows []sortRow
	eps  [][2]*dictEntry // src, dst
}

// nsScan returns a scan, reused from an earlier query when there is one:
// the audit reads every namespace in a row, and the scratch of one query
// is as large as its result.
func (s *Store) nsScan() *nsScan {
	q, _ := s.nsScans.Get().(*nsScan)
	if q == nil {
		q = &nsScan{local: make(map[restKey]int32)}
		q.value = q.add
	}
	return q
}

// maxPooledEdges bounds the scratch kept for later queries (about 13 MB
// at most with its aggregates); a larger one is left to the collector.
const maxPooledEdges = 1 << 16

// putNSScan resets q and keeps it for a later query. The aggregates are
// zeroed: results share their Names.
func (s *Store) putNSScan(q *nsScan) {
	if len(q.ids) > maxPooledEdges {
		return
	}
	clear(q.local)
	q.skip = nil
	q.ids = q.ids[:0]
	q.aggregates.reset()
	clear(q.eps)
	q.rows, q.eps = q.rows[:0], q.eps[:0]
	s.nsScans.Put(q)
}

// scan aggregates the keys of hourFam (for p.hours) and dayFam (for
// p.days) under the namespace: per endpoint, its hour buckets then its day
// buckets, each in key order, so an edge's buckets are added in the order
// scanPlan gives them.
func (q *nsScan) scan(txn *badger.Txn, hourFam, dayFam byte, p plan, egress bool) error {
	q.egress = egress
	hours := newRangeIter(txn, groupKeyPrefix(hourFam, q.group), p.hours)
	defer hours.close()
	days := newRangeIter(txn, groupKeyPrefix(dayFam, q.group), p.days)
	defer days.close()
	its := [2]*rangeIter{hours, days}
	for {
		if err := cmp.Or(hours.err, days.err); err != nil {
			return err
		}
		found := false
		for _, r := range its {
			if r.valid() && (!found || r.ref() < q.self) {
				q.self, found = r.ref(), true
			}
		}
		if !found {
			break
		}
		clear(q.local)
		for _, r := range its {
			for ; r.valid() && r.ref() == q.self; r.next() {
				item := r.it.Item()
				q.rest = restKey(item.Key()[1+refLen+4:])
				if g := refAt(q.rest[:]).group(); !egress && (g == q.group || q.skip[g]) {
					continue // seen from the egress side, or left to the source's query
				}
				if err := item.Value(q.value); err != nil {
					return err
				}
			}
		}
	}
	return cmp.Or(hours.err, days.err)
}

// add decodes v into the aggregate of the current key's edge.
func (q *nsScan) add(v []byte) error {
	if err := parseValue(v, &q.view); err != nil {
		return err
	}
	i, ok := q.local[q.rest]
	if !ok {
		i = q.push()
		q.local[q.rest] = i
		var id nsEdgeID
		if q.egress {
			binary.BigEndian.PutUint64(id[:], uint64(q.self))
			copy(id[refLen:], q.rest[:])
		} else {
			copy(id[:], q.rest[:refLen])
			binary.BigEndian.PutUint64(id[refLen:], uint64(q.self))
			copy(id[2*refLen:], q.rest[refLen:])
		}
		q.ids = append(q.ids, id)
	}
	q.addTo(i, &q.view)
	return nil
}

// NamespaceEdges returns the edges with their source or their destination
// in namespace ns over [from, to), aggregated across hour buckets, sorted
// by source, destination, protocol and port.
func (s *Store) NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error) {
	return s.namespaceEdges(ctx, ns, nil, from, to)
}

// NamespaceEdgesExcept is NamespaceEdges without the edges into ns whose
// source is a workload of one of the namespaces sources: a caller that
// reads all of them (the audit) gets those from the source's query, so
// every edge once — and the store reads each edge between two namespaces
// once instead of twice.
func (s *Store) NamespaceEdgesExcept(ctx context.Context, ns string, sources []string, from, to time.Time) ([]flow.Edge, error) {
	return s.namespaceEdges(ctx, ns, sources, from, to)
}

func (s *Store) namespaceEdges(ctx context.Context, ns string, sources []string, from, to time.Time) ([]flow.Edge, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	pl := planWindow(w, s.rollups.list())
	q := s.nsScan()
	defer s.putNSScan(q)
	err := s.view(func(txn *badger.Txn) error {
		g, known := s.dict.namespaceGroup(ns)
		if !known {
			return nil
		}
		q.group = g
		if len(sources) > 0 {
			q.skip = make(map[uint32]bool, len(sources))
			for _, src := range sources {
				if sg, ok := s.dict.namespaceGroup(src); ok {
					q.skip[sg] = true
				}
			}
		}
		// Out of the namespace (and inside it).
		if err := q.scan(txn, famEgress, famEgressDay, pl, true); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Into the namespace from outside it.
		return q.scan(txn, famIngress, famIngressDay, pl, false)
	})
	if err != nil {
		return nil, fmt.Errorf("query edges of namespace %s: %w", ns, err)
	}
	if len(q.ids) == 0 {
		return nil, nil
	}
	d := s.dict
	n := len(q.ids)
	q.rows, q.eps = slices.Grow(q.rows, n)[:n], slices.Grow(q.eps, n)[:n]
	rows, eps := q.rows, q.eps
	ranked := true
	d.mu.RLock()
	for i, id := range q.ids {
		src, dst := refAt(id[:]), refAt(id[refLen:])
		srcEntry, srcRank := d.rankedEntryLocked(src)
		dstEntry, dstRank := d.rankedEntryLocked(dst)
		if srcEntry == nil || dstEntry == nil {
			d.mu.RUnlock()
			return nil, fmt.Errorf("query edges of namespace %s: %w", ns, unknownRef(src^dst))
		}
		eps[i] = [2]*dictEntry{srcEntry, dstEntry}
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
	svcs := make([]flow.ServiceRef, 0, q.svcs)
	for k := range rows {
		r := &rows[k]
		e := &edges[k]
		svcs = q.at(r.i).fill(&e.EdgeStats, svcs)
		e.Src, e.Dst = eps[r.i][0].ep, eps[r.i][1].ep
		e.Protocol, e.Port = flow.Protocol(r.lo>>16), uint16(r.lo)
	}
	return edges, nil
}

// MaxPeers bounds the peers listed per unresolved address.
const MaxPeers = 64

// ProtoPort is a destination protocol and port.
type ProtoPort struct {
	Protocol flow.Protocol `json:"protocol"`
	Port     uint16
}

// AddressSummary is what was seen of one unresolved address.
type AddressSummary struct {
	Addr netip.Addr `json:"addr"`
	// Class and Alias are those of the latest bucket.
	Class flow.AddrClass `json:"class"`
	Alias string         `json:"alias,omitempty"`
	// Count is Inbound + Outbound: connections from the address into the
	// cluster and from the cluster to it (an address-to-address edge counts
	// for both addresses).
	Count    uint64 `json:"count"`
	Inbound  uint64 `json:"inbound"`
	Outbound uint64 `json:"outbound"`
	Dropped  uint64 `json:"dropped"`
	// FirstSeen and LastSeen bound the connections, either direction.
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// Peers are the endpoints that talked with the address, sorted; at
	// most MaxPeers of PeerCount.
	Peers     []flow.Endpoint `json:"peers"`
	PeerCount int             `json:"peerCount"`
	// Ports are the destination ports used to reach the address (at most
	// MaxPeers), sorted.
	Ports []ProtoPort `json:"ports"`
	// Names are the FQDNs seen for the address as a destination.
	Names []string `json:"names,omitempty"`
}

type addrAcc struct {
	sum       AddressSummary
	seen      bool
	latest    int64
	latestRef ref // the endpoint (address, class, alias) of the latest bucket
	peers     map[ref]struct{}
	ports     map[ProtoPort]struct{}
	names     []string
}

// addrIdentity is what identifies an address whatever its class and
// alias: the first 18 bytes (kind, family, address) of its encoding.
type addrIdentity [18]byte

func (d *dict) addrIdentity(r ref) (addrIdentity, error) {
	e := d.entry(r)
	if e == nil || len(e.enc) < 20 || flow.EndpointKind(e.enc[0]) != flow.EndpointAddress {
		return addrIdentity{}, fmt.Errorf("%w: unknown address ref %016x", errCorruptKey, uint64(r))
	}
	var id addrIdentity
	copy(id[:], e.enc[:18])
	return id, nil
}

// UnresolvedAddresses summarizes every unresolved address seen over
// [from, to), most connections first (then by address).
func (s *Store) UnresolvedAddresses(ctx context.Context, from, to time.Time) ([]AddressSummary, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	accs := make(map[addrIdentity]*addrAcc)
	byRef := make(map[ref]*addrAcc)
	var st valueView
	add := func(p *parsedKey, v []byte, inbound bool) error {
		if err := parseValue(v, &st); err != nil {
			return err
		}
		if st.empty() {
			return nil
		}
		a := byRef[p.self]
		if a == nil {
			id, err := s.dict.addrIdentity(p.self)
			if err != nil {
				return err
			}
			if a = accs[id]; a == nil {
				a = &addrAcc{peers: make(map[ref]struct{}), ports: make(map[ProtoPort]struct{})}
				accs[id] = a
			}
			byRef[p.self] = a
		}
		if !a.seen {
			a.sum.FirstSeen, a.sum.LastSeen = fromNanos(st.first), fromNanos(st.last)
		} else {
			a.sum.FirstSeen = minTimeOf(a.sum.FirstSeen, fromNanos(st.first))
			a.sum.LastSeen = maxTimeOf(a.sum.LastSeen, fromNanos(st.last))
		}
		if !a.seen || st.last >= a.latest {
			a.latestRef, a.latest = p.self, st.last
		}
		a.seen = true
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
		a.peers[p.peer] = struct{}{}
		return nil
	}
	prefix := binary.BigEndian.AppendUint32(nil, groupAddresses)
	pl := planWindow(w, s.rollups.list())
	err := s.view(func(txn *badger.Txn) error {
		err := scanPlan(txn, famEgress, famEgressDay, prefix, pl, func(p *parsedKey, v []byte) error { return add(p, v, true) })
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return scanPlan(txn, famIngress, famIngressDay, prefix, pl, func(p *parsedKey, v []byte) error { return add(p, v, false) })
	})
	if err != nil {
		return nil, fmt.Errorf("query unresolved addresses: %w", err)
	}
	out := make([]AddressSummary, 0, len(accs))
	var peers []sortEP
	for _, a := range accs {
		self := s.dict.entry(a.latestRef)
		if self == nil {
			return nil, fmt.Errorf("query unresolved addresses: %w", unknownRef(a.latestRef))
		}
		a.sum.Addr, a.sum.Class, a.sum.Alias = self.ep.Addr, self.ep.Class, self.ep.Alias
		a.sum.PeerCount = len(a.peers)
		peers = peers[:0]
		s.dict.mu.RLock() // per address: Records of new endpoints wait a little at a time
		for r := range a.peers {
			peer, err := s.dict.sortEPLocked(r)
			if err != nil {
				s.dict.mu.RUnlock()
				return nil, fmt.Errorf("query unresolved addresses: %w", err)
			}
			peers = append(peers, peer)
		}
		s.dict.mu.RUnlock()
		slices.SortFunc(peers, func(x, y sortEP) int { return x.compare(&y) })
		for _, p := range peers[:min(len(peers), MaxPeers)] {
			a.sum.Peers = append(a.sum.Peers, *p.ep)
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
	Namespace string `json:"namespace"`
	// Workloads counts the namespace's workloads seen in an edge.
	Workloads int `json:"workloads"`
	// EdgesOut and EdgesIn count distinct edges (aggregated across hours)
	// from and to the namespace's workloads; an edge inside the namespace
	// counts in both.
	EdgesOut int `json:"edgesOut"`
	EdgesIn  int `json:"edgesIn"`
	// Connections and Dropped sum the edges touching the namespace (an
	// edge inside it counted once).
	Connections uint64 `json:"connections"`
	Dropped     uint64 `json:"dropped"`
	// UnresolvedPeers counts distinct unresolved addresses that talked
	// with the namespace's workloads.
	UnresolvedPeers int
}

type nsAcc struct {
	sum        NamespaceSummary
	unresolved map[ref]struct{}
}

// NamespaceSummaries summarizes every namespace with a workload seen in
// an edge over [from, to), sorted by namespace. It reads every edge
// bucket of the range once.
func (s *Store) NamespaceSummaries(ctx context.Context, from, to time.Time) ([]NamespaceSummary, error) {
	w, ok := windowOf(from, to)
	if !ok {
		return nil, nil
	}
	accs := make(map[uint32]*nsAcc) // by namespace group
	workloads := make(map[ref]struct{})
	acc := func(g uint32) (*nsAcc, error) {
		a := accs[g]
		if a == nil {
			ns, ok := s.dict.groupNamespace(g)
			if !ok {
				return nil, fmt.Errorf("%w: unknown namespace group %d", errCorruptKey, g)
			}
			a = &nsAcc{sum: NamespaceSummary{Namespace: ns}, unresolved: make(map[ref]struct{})}
			accs[g] = a
		}
		return a, nil
	}
	seenWorkload := func(r ref, a *nsAcc) {
		if _, ok := workloads[r]; !ok {
			workloads[r] = struct{}{}
			a.sum.Workloads++
		}
	}
	// Keys of one source are contiguous in each family, and the hour and
	// day families list sources in the same order: walking both side by
	// side, source by source, distinct edges are counted with a set of
	// the current source's peers.
	srcEdges := make(map[restKey]struct{})
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
		srcG, dstG := p.self.group(), p.peer.group()
		_, seen := srcEdges[p.rest]
		if !seen {
			srcEdges[p.rest] = struct{}{}
		}
		var sa, da *nsAcc
		if srcG >= firstNamespaceGroup {
			if sa, err = acc(srcG); err != nil {
				return err
			}
			sa.sum.Connections = satAdd(sa.sum.Connections, count)
			sa.sum.Dropped = satAdd(sa.sum.Dropped, dropped)
		}
		if dstG >= firstNamespaceGroup {
			if da, err = acc(dstG); err != nil {
				return err
			}
			if srcG != dstG {
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
			if dstG == groupAddresses {
				sa.unresolved[p.peer] = struct{}{}
			}
		}
		if da != nil {
			da.sum.EdgesIn++
			seenWorkload(p.peer, da)
			if srcG == groupAddresses {
				da.unresolved[p.self] = struct{}{}
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
	ids := make(map[addrIdentity]struct{})
	for _, a := range accs {
		// Distinct addresses, whatever their class and alias.
		clear(ids)
		for r := range a.unresolved {
			id, err := s.dict.addrIdentity(r)
			if err != nil {
				return nil, fmt.Errorf("query namespace summaries: %w", err)
			}
			ids[id] = struct{}{}
		}
		a.sum.UnresolvedPeers = len(ids)
		out = append(out, a.sum)
	}
	slices.SortFunc(out, func(x, y NamespaceSummary) int { return cmp.Compare(x.Namespace, y.Namespace) })
	return out, nil
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
