package api

import (
	"cmp"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/suggest"
	"github.com/redline-dev/redline/internal/traffic"
)

// TrafficResponse is a workload's (or Service's) ingress and egress tables
// over a window.
type TrafficResponse struct {
	// Workload is namespace/Kind/name.
	Workload string       `json:"workload"`
	Since    string       `json:"since"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Ingress  []TrafficRow `json:"ingress"`
	Egress   []TrafficRow `json:"egress"`
}

// TrafficRow is a table row (traffic.Row) with its verdict counts.
type TrafficRow struct {
	traffic.Row
	// PeerRef names the peer as requests do: namespace/Kind/name, node/name
	// or the address (the peer of a RowChoice).
	PeerRef string `json:"peerRef"`
	// Verdicts counts the connections per verdict (FORWARDED, DROPPED ...).
	Verdicts map[string]uint64 `json:"verdicts"`
}

// traffic serves GET .../workloads/{kind}/{name}/traffic?since=.
func (n *NetworkHandler) traffic(w http.ResponseWriter, r *http.Request) {
	subject, ok := n.readableSubject(w, r)
	if !ok {
		return
	}
	since, from, to, err := n.window(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inv := n.Inventory()
	in, out, err := n.gather(r.Context(), inv, suggest.NewLookup(inv), subject, from, to)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "read observed traffic: "+err.Error())
		return
	}
	resp := TrafficResponse{Workload: refString(subject), Since: since, From: from, To: to}
	self := selfEndpoints(n.Inventory(), subject)
	resp.Ingress = trafficRows(subject, mergeEdges(in, srcOf, subject, true, self))
	resp.Egress = trafficRows(subject, mergeEdges(out, dstOf, subject, false, self))
	writeJSON(w, http.StatusOK, resp)
}

// mergeEdges folds edges into one per (peer, protocol, port, Service),
// with the subject as the other side: a Service view sums its backends'
// rows. Edges between two of the subject's own endpoints are dropped
// (traffic to itself is always allowed).
func mergeEdges(edges []flow.Edge, peerOf func(flow.Edge) flow.Endpoint, subject flow.Endpoint, ingress bool, self map[flow.Endpoint]bool) []flow.Edge {
	type key struct {
		peer    flow.Endpoint
		proto   flow.Protocol
		port    uint16
		service flow.ServiceRef
	}
	idx := map[key]int{}
	var out []flow.Edge
	for _, e := range edges {
		peer := peerOf(e)
		if peer == subject || self[peer] {
			continue
		}
		svc := e.Service
		if svc == nil && ingress && e.Dst.WorkloadKind == "Service" && e.Dst != subject {
			svc = &flow.ServiceRef{Namespace: e.Dst.Namespace, Name: e.Dst.Name}
		}
		k := key{peer: peer, proto: e.Protocol, port: e.Port}
		if svc != nil {
			k.service = *svc
		}
		i, ok := idx[k]
		if !ok {
			m := e
			m.Service = svc
			m.Names = slices.Clone(e.Names)
			if ingress {
				m.Src, m.Dst = peer, subject
			} else {
				m.Src, m.Dst = subject, peer
			}
			idx[k] = len(out)
			out = append(out, m)
			continue
		}
		m := &out[i]
		m.Count += e.Count
		for v := range m.Verdicts {
			m.Verdicts[v] += e.Verdicts[v]
		}
		if m.FirstSeen.IsZero() || (!e.FirstSeen.IsZero() && e.FirstSeen.Before(m.FirstSeen)) {
			m.FirstSeen = e.FirstSeen
		}
		if e.LastSeen.After(m.LastSeen) {
			m.LastSeen = e.LastSeen
		}
		for _, name := range e.Names {
			if !slices.Contains(m.Names, name) {
				m.Names = append(m.Names, name)
			}
		}
	}
	return out
}

func srcOf(e flow.Edge) flow.Endpoint { return e.Src }
func dstOf(e flow.Edge) flow.Endpoint { return e.Dst }

// selfEndpoints are the endpoints that are the subject: a Service's
// backing workloads (their traffic with one another is the Service's
// with itself).
func selfEndpoints(inv *inventory.Inventory, subject flow.Endpoint) map[flow.Endpoint]bool {
	self := map[flow.Endpoint]bool{subject: true}
	if ws, ok := subjectWorkloads(inv, subject); ok {
		for _, w := range ws {
			self[flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)] = true
		}
	}
	return self
}

// trafficRows builds the table rows, sorted as traffic.WorkloadTables
// sorts them.
func trafficRows(subject flow.Endpoint, edges []flow.Edge) []TrafficRow {
	out := make([]TrafficRow, 0, len(edges))
	for _, e := range edges {
		peer := e.Dst
		tables := traffic.WorkloadTables(subject, nil, []flow.Edge{e})
		if e.Dst == subject {
			peer = e.Src
			tables = traffic.WorkloadTables(subject, []flow.Edge{e}, nil)
		}
		rows := append(tables.Ingress, tables.Egress...)
		out = append(out, TrafficRow{Row: rows[0], PeerRef: refString(peer), Verdicts: verdictCounts(e.Verdicts)})
	}
	slices.SortFunc(out, func(a, b TrafficRow) int {
		return cmp.Or(traffic.CompareRows(a.Row, b.Row), cmp.Compare(a.Service, b.Service))
	})
	return out
}

func verdictCounts(v [flow.NumVerdicts]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for i, c := range v {
		if c > 0 {
			out[flow.Verdict(i).String()] = c
		}
	}
	return out
}

// UnresolvedResponse lists unresolved addresses.
type UnresolvedResponse struct {
	Since string `json:"since"`
	// Addresses are the matching addresses, most connections first.
	Addresses []store.AddressSummary `json:"addresses"`
	// Total is how many addresses the caller may see before q and class.
	Total int `json:"total"`
}

// unresolved serves GET /api/v1/unresolved?since=&q=&class=: the
// addresses seen talking with workloads of the namespaces the caller may
// read. A caller bound cluster-wide gets the store's summary; a caller
// bound to some namespaces gets summaries computed from those namespaces'
// edges only, so counts, peers and ports never include traffic of other
// namespaces.
func (n *NetworkHandler) unresolved(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, from, to, err := n.window(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var class flow.AddrClass
	classSet := q.Get("class") != ""
	if classSet {
		var ok bool
		if class, ok = flow.ParseAddrClass(q.Get("class")); !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("class %q: use internal, external, aliased or unknown", q.Get("class")))
			return
		}
	}
	text := strings.ToLower(strings.TrimSpace(q.Get("q")))
	inv := n.Inventory()
	scope, err := n.readScope(r, namespaceNames(inv))
	if err == nil {
		err = scope.some()
	}
	if err != nil {
		writeAuthError(w, err)
		return
	}
	var sums []store.AddressSummary
	if scope.all {
		sums, err = n.Store.UnresolvedAddresses(r.Context(), from, to)
	} else {
		var edges []flow.Edge
		for _, ns := range sortedSet(scope.ns) {
			es, err := n.Store.NamespaceEdges(r.Context(), ns, from, to)
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, "read observed traffic: "+err.Error())
				return
			}
			edges = append(edges, es...)
		}
		sums = summarizeAddresses(edges)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "read observed traffic: "+err.Error())
		return
	}
	var live *inventory.Classifier
	if n.Classifier != nil {
		live = n.Classifier()
	}
	resp := UnresolvedResponse{Since: since, Addresses: []store.AddressSummary{}, Total: len(sums)}
	for _, s := range sums {
		reclassify(live, &s)
		if classSet && s.Class != class {
			continue
		}
		if text != "" && !addressMatches(s, text) {
			continue
		}
		resp.Addresses = append(resp.Addresses, s)
	}
	writeJSON(w, http.StatusOK, resp)
}

// reclassify applies the configuration in force to an address summarised
// from traffic recorded earlier: an alias added since (the admin action
// "alias this address") shows at once, and cluster CIDRs configured since
// place an address that was unknown. What ingest learnt that the
// configuration cannot know (a Hubble identity, a node address) is kept:
// a class is never lowered back to unknown.
func reclassify(c *inventory.Classifier, s *store.AddressSummary) {
	if c == nil {
		return
	}
	class, alias := c.Classify(s.Addr, inventory.AddrFacts{})
	switch {
	case class == flow.ClassAliased:
		s.Class, s.Alias = class, alias
	case s.Class == flow.ClassUnknown && class != flow.ClassUnknown:
		s.Class = class
	}
}

// addressMatches reports whether any text of the row holds text (lower
// case): the address, its class and alias, a peer, a port or a name.
func addressMatches(s store.AddressSummary, text string) bool {
	fields := []string{s.Addr.String(), s.Class.String(), s.Alias}
	for _, p := range s.Peers {
		fields = append(fields, refString(p), p.String())
	}
	for _, p := range s.Ports {
		fields = append(fields, fmt.Sprintf("%s/%d", p.Protocol, p.Port))
	}
	fields = append(fields, s.Names...)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// summarizeAddresses builds the store's address summaries from edges (a
// namespace's): the same fields, from these edges only.
func summarizeAddresses(edges []flow.Edge) []store.AddressSummary {
	type acc struct {
		sum    store.AddressSummary
		latest time.Time
		peers  map[flow.Endpoint]bool
		ports  map[store.ProtoPort]bool
	}
	accs := map[netip.Addr]*acc{}
	seen := map[flow.EdgeKey]bool{}
	add := func(addr, peer flow.Endpoint, e flow.Edge, inbound bool) {
		a := accs[addr.Addr.Unmap()]
		if a == nil {
			a = &acc{sum: store.AddressSummary{Addr: addr.Addr.Unmap()}, peers: map[flow.Endpoint]bool{}, ports: map[store.ProtoPort]bool{}}
			accs[addr.Addr.Unmap()] = a
		}
		s := &a.sum
		if !e.LastSeen.Before(a.latest) {
			a.latest, s.Class, s.Alias = e.LastSeen, addr.Class, addr.Alias
		}
		s.Count += e.Count
		if inbound {
			s.Inbound += e.Count
		} else {
			s.Outbound += e.Count
			a.ports[store.ProtoPort{Protocol: e.Protocol, Port: e.Port}] = true
			for _, name := range e.Names {
				if !slices.Contains(s.Names, name) {
					s.Names = append(s.Names, name)
				}
			}
		}
		s.Dropped += e.Verdicts[flow.VerdictDropped]
		if s.FirstSeen.IsZero() || (!e.FirstSeen.IsZero() && e.FirstSeen.Before(s.FirstSeen)) {
			s.FirstSeen = e.FirstSeen
		}
		if e.LastSeen.After(s.LastSeen) {
			s.LastSeen = e.LastSeen
		}
		a.peers[peer] = true
	}
	for _, e := range edges {
		if seen[e.EdgeKey] {
			continue
		}
		seen[e.EdgeKey] = true
		if e.Dst.Kind == flow.EndpointAddress {
			add(e.Dst, e.Src, e, false)
		}
		if e.Src.Kind == flow.EndpointAddress {
			add(e.Src, e.Dst, e, true)
		}
	}
	out := make([]store.AddressSummary, 0, len(accs))
	for _, a := range accs {
		s := a.sum
		for p := range a.peers {
			s.Peers = append(s.Peers, p)
		}
		slices.SortFunc(s.Peers, func(x, y flow.Endpoint) int { return cmp.Compare(x.String(), y.String()) })
		s.PeerCount = len(s.Peers)
		if len(s.Peers) > store.MaxPeers {
			s.Peers = s.Peers[:store.MaxPeers]
		}
		for p := range a.ports {
			s.Ports = append(s.Ports, p)
		}
		slices.SortFunc(s.Ports, func(x, y store.ProtoPort) int {
			return cmp.Or(cmp.Compare(x.Protocol, y.Protocol), cmp.Compare(x.Port, y.Port))
		})
		if len(s.Ports) > store.MaxPeers {
			s.Ports = s.Ports[:store.MaxPeers]
		}
		slices.Sort(s.Names)
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y store.AddressSummary) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), x.Addr.Compare(y.Addr))
	})
	return out
}
