// Package audit is the audit loop of `redline serve`: for every workload it
// keeps a ConfigMap redline-suggested-<kind>-<name> with the suggested policy
// and a report of the workload's traffic and live red connections, and it
// reports the namespaces that lack the namespace label key.
//
// Pass computes what the ConfigMaps should hold from plain values (the
// inventory, the edges, the time); Apply makes the cluster match. The loop
// around them (leader election, interval, debounced triggers, Events,
// metrics) is not here yet.
package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
)

const (
	// NamePrefix starts the name of every suggestion ConfigMap.
	NamePrefix = "redline-suggested-"
	// ManagedByValue is the value of suggest.LabelManagedBy on what the
	// audit loop writes.
	ManagedByValue = "redline"
	// DefaultOptOutLabel is the namespace label that turns the audit off
	// for a namespace.
	DefaultOptOutLabel = "redline.io/audit=disabled"
	// KeyPolicy and KeyReport are the ConfigMap data keys.
	KeyPolicy = "policy.yaml"
	KeyReport = "report.json"
	// AnnotationGeneratedAt on the ConfigMap says when the pass ran. It is
	// not part of the data, so a pass that finds nothing new writes nothing.
	AnnotationGeneratedAt = suggest.AnnotationGeneratedAt
)

// PassInput is what one audit pass works from.
type PassInput struct {
	Inventory *inventory.Inventory
	// Edges reads the observed edges (store.Store does).
	Edges suggest.EdgeReader
	// Window is how far back the pass looks from Now.
	Window time.Duration
	Now    time.Time
	// NamespaceLabelKey is the key policies select namespaces by; empty
	// means kubernetes.io/metadata.name.
	NamespaceLabelKey string
	// OptOutLabel is "key=value" on a namespace that opts out; empty means
	// DefaultOptOutLabel.
	OptOutLabel string
	// Source goes to the policy's redline.io/source annotation.
	Source string
	// Memo, if set, carries workloads' ConfigMaps over from the last pass
	// when nothing they depend on changed.
	Memo *Memo
}

// RedConnection is an observed connection the current policies deny, or
// one the CNI reported dropped.
type RedConnection struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
	// DeniedByPolicies: the current policy set denies it.
	DeniedByPolicies bool `json:"deniedByPolicies"`
	// Dropped: the CNI reported DROPPED verdicts for it in the window.
	Dropped bool `json:"dropped"`
}

// TrafficRow is one row of the workload's traffic table and what the
// suggestion did with it.
type TrafficRow struct {
	Direction string `json:"direction"`
	Peer      string `json:"peer"`
	Protocol  string `json:"protocol"`
	Port      uint16 `json:"port"`
	// Status is included, excluded or unselectable.
	Status string `json:"status"`
}

// Report is report.json. Counts and timestamps are left out on purpose: they
// change with every connection, and the ConfigMap is rewritten only when
// the content changes.
type Report struct {
	Workload     string          `json:"workload"`
	Window       string          `json:"window"`
	Traffic      []TrafficRow    `json:"traffic"`
	Red          []RedConnection `json:"red"`
	StillAllowed []string        `json:"stillAllowed,omitempty"`
	NeedsLabel   []string        `json:"needsLabel,omitempty"`
	Warnings     []string        `json:"warnings,omitempty"`
	// Truncated: the tables did not fit in the ConfigMap beside the policy;
	// TrafficTotal and RedTotal count their rows.
	Truncated    bool `json:"truncated,omitempty"`
	TrafficTotal int  `json:"trafficTotal,omitempty"`
	RedTotal     int  `json:"redTotal,omitempty"`
}

// maxConfigMapData keeps a suggestion ConfigMap below the API server's
// 1 MiB object limit, with room for the metadata.
const maxConfigMapData = 900 << 10

// UnlabeledNamespace is a namespace in cross-namespace traffic that lacks
// the namespace label key.
type UnlabeledNamespace struct {
	Namespace string
	Key       string
	// Workloads are the workloads whose cross-namespace traffic involves
	// it, sorted.
	Workloads []string
}

// NamespaceSummary is one namespace's line in the audit report.
type NamespaceSummary struct {
	Namespace string `json:"namespace"`
	// Workloads counts the workloads that are not on the host network.
	Workloads int `json:"workloads"`
	// UnprotectedIngress and UnprotectedEgress count the workloads no
	// policy isolates in that direction: everything may reach them (or
	// they may reach everything).
	UnprotectedIngress int `json:"unprotectedIngress"`
	UnprotectedEgress  int `json:"unprotectedEgress"`
	SuggestedPolicies  int `json:"suggestedPolicies"`
	// RedConnections counts the red connections with an end in the
	// namespace.
	RedConnections int  `json:"redConnections"`
	OptedOut       bool `json:"optedOut,omitempty"`
	// MissingLabel is the namespace label key the namespace lacks while
	// its workloads talk across namespaces.
	MissingLabel string `json:"missingLabel,omitempty"`
}

// WorkloadRed is the number of red connections of one workload.
type WorkloadRed struct {
	Namespace, Kind, Name string
	Red                   int
}

// Skipped is a workload the pass wrote nothing for, and why.
type Skipped struct {
	Workload string
	Reason   string
}

// PassResult is what a pass wants the cluster to hold.
type PassResult struct {
	// ConfigMaps are the desired suggestion ConfigMaps, sorted by
	// namespace and name.
	ConfigMaps []corev1.ConfigMap
	// Red are all red connections, deduplicated and sorted.
	Red       []RedConnection
	Unlabeled []UnlabeledNamespace
	OptedOut  []string
	Skipped   []Skipped
	// Namespaces are all namespaces of the inventory: the ones Apply must
	// look at for stale ConfigMaps.
	Namespaces []string
	// Summaries has one entry per namespace, sorted.
	Summaries []NamespaceSummary
	// WorkloadRed lists the audited workloads with their red connection
	// count (zero included), sorted.
	WorkloadRed []WorkloadRed
	// Disagreements counts, per edge, the flows in the window on which the
	// CNI's verdict and the engine's differ: forwarded although the
	// current policies deny, or dropped although they allow.
	Disagreements map[flow.EdgeKey]uint64
}

// ConfigMapName is the name of a workload's suggestion ConfigMap.
func ConfigMapName(kind, name string) string {
	n := NamePrefix + strings.ToLower(kind) + "-" + name
	if len(n) > 253 {
		n = n[:253]
	}
	return strings.TrimRight(n, "-.")
}

// Pass runs one audit pass. A workload whose suggestion fails is skipped
// (PassResult.Skipped); reading edges failing fails the pass.
func Pass(ctx context.Context, in PassInput) (PassResult, error) {
	var res PassResult
	if in.Inventory == nil || in.Edges == nil {
		return res, errors.New("audit pass: inventory and edge reader are required")
	}
	inv := in.Inventory
	key := cmp.Or(in.NamespaceLabelKey, netpol.NamespaceNameLabel)
	optKey, optVal, ok := strings.Cut(cmp.Or(in.OptOutLabel, DefaultOptOutLabel), "=")
	if !ok || optKey == "" {
		return res, fmt.Errorf("audit pass: opt-out label %q: use key=value", in.OptOutLabel)
	}
	ix, err := netpol.NewIndex(inv.Namespaces, inv.Workloads, inv.Policies, netpol.DefaultOptions())
	if err != nil {
		return res, fmt.Errorf("audit pass: index current policies: %w", err)
	}
	nsLabels := make(map[string]map[string]string, len(inv.Namespaces))
	optedOut := map[string]bool{}
	for _, ns := range inv.Namespaces {
		nsLabels[ns.Name] = ns.Labels
		res.Namespaces = append(res.Namespaces, ns.Name)
		if v, has := ns.Labels[optKey]; has && v == optVal {
			optedOut[ns.Name] = true
			res.OptedOut = append(res.OptedOut, ns.Name)
		}
	}
	lookup := suggest.NewLookup(inv)
	p := newPasser(inv, ix)
	summaries := protection(inv, optedOut)
	// The edges the CNI and the engine disagree on, made a map once their
	// number is known: growing a map of large keys edge by edge cost more.
	type disagreement struct {
		e     *flow.Edge
		flows uint64
	}
	var disagreements []disagreement
	var memoNext map[string]memoEntry
	var marks *namespaceMarks // the namespaces a workload depends on
	if in.Memo != nil {
		memoNext = in.Memo.begin(memoContext{window: in.Window, source: cmp.Or(in.Source, "redline audit"),
			labelKey: in.NamespaceLabelKey, nodeLocalDNS: lookup.NodeLocalDNS()})
		marks = newNamespaceMarks(inv.NamespaceFingerprints())
	}
	// redAll has every red edge; two can read the same (an address seen
	// with two classes): sorted and compacted at the end.
	var redAll []redEdge
	redByNS := map[string]int{}
	unlabeled := map[string]map[string]bool{}
	noteUnlabeled := func(ns, workload string) {
		if unlabeled[ns] == nil {
			unlabeled[ns] = map[string]bool{}
		}
		unlabeled[ns][workload] = true
	}
	from := in.Now.Add(-in.Window)
	edges, err := bulkEdges(ctx, in.Edges, inv, res.Namespaces, from, in.Now)
	if err != nil {
		return res, fmt.Errorf("audit pass: read edges: %w", err)
	}
	// Every edge is some workload's egress and another's ingress: judged
	// once, when first met, and kept by its position.
	judgements := make([]judgement, edges.total)
	var hashes [][2]uint64 // the memo's: each edge key's, by position
	if in.Memo != nil {
		hashes = make([][2]uint64, edges.total)
	}
	ends := newEndIndex(edges, p, lookup, nsLabels, key, marks)
	var redEdges []redEdge
	var redBuf []RedConnection            // reused from workload to workload
	var inRefs, outRefs []edgeRef         // likewise
	var inPtr, outPtr []*flow.Edge        // likewise
	var inPeers, outPeers []*suggest.Peer // likewise
	var scratch []byte                    // configMap's, likewise
	for _, w := range inv.Workloads {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		subject := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
		if w.HostNetwork || optedOut[w.Namespace] {
			continue
		}
		wkey := w.Key()
		// Pointers, not copies: a workload the memo answers for needs
		// its edges looked at, not handed to Suggest.
		inRefs, outRefs = edges.edgesOf(lookup, subject, inRefs[:0], outRefs[:0])
		inPtr, outPtr, inPeers, outPeers = inPtr[:0], outPtr[:0], inPeers[:0], outPeers[:0]
		red := redEdges[:0]
		var dig digester
		if in.Memo != nil {
			dig.seeds = &in.Memo.seeds
			marks.next()
			marks.add(&dig, w.Namespace)
			marks.add(&dig, suggest.DNSNamespace)
		}
		for li, list := range [2][]edgeRef{inRefs, outRefs} {
			for _, ref := range list {
				e, pos, ids := edges.edge(ref)
				src, dst := ends.get(ids[0]), ends.get(ids[1])
				if li == 0 {
					inPtr, inPeers = append(inPtr, e), append(inPeers, src.peer)
				} else {
					outPtr, outPeers = append(outPtr, e), append(outPeers, dst.peer)
				}
				j := &judgements[pos]
				if !j.done {
					*j = p.judge(e, &ends.ends[ids[0]], &ends.ends[ids[1]])
					if hashes != nil {
						hashes[pos] = [2]uint64{maphash.Comparable(in.Memo.seeds[0], e.EdgeKey), maphash.Comparable(in.Memo.seeds[1], e.EdgeKey)}
					}
					if j.judged {
						if n := disagreeing(e, j.denied); n > 0 {
							disagreements = append(disagreements, disagreement{e, n})
						}
					}
					if j.red {
						redAll = append(redAll, ends.redEdge(e, ids, j))
					}
				}
				if j.red {
					red = append(red, ends.redEdge(e, ids, j))
				}
				if dig.seeds != nil {
					dig.add(memoEdge{key: hashes[pos], egress: li == 1, denied: j.denied, drops: j.dropped})
					marks.addAt(&dig, src.mark)
					marks.addAt(&dig, dst.mark)
				}
				if e.Src.Kind != flow.EndpointWorkload || e.Dst.Kind != flow.EndpointWorkload || e.Src.Namespace == e.Dst.Namespace {
					continue
				}
				if src.lacksKey {
					noteUnlabeled(e.Src.Namespace, wkey)
				}
				if dst.lacksKey {
					noteUnlabeled(e.Dst.Namespace, wkey)
				}
			}
		}
		if dig.seeds != nil {
			if m, ok := in.Memo.entries[wkey]; ok && m.digest == dig.sum {
				in.Memo.Hits++
				memoNext[wkey] = m
				// The caller may change what it gets; the memo keeps its own.
				cm := m.cm.DeepCopy()
				cm.Annotations[AnnotationGeneratedAt] = in.Now.UTC().Format(time.RFC3339)
				res.ConfigMaps = append(res.ConfigMaps, *cm)
				res.WorkloadRed = append(res.WorkloadRed, WorkloadRed{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Red: m.red})
				if s := summaries[w.Namespace]; s != nil {
					s.SuggestedPolicies++
				}
				continue
			}
			in.Memo.Misses++
		}
		slices.SortFunc(red, redEdgeCmp)
		red = slices.CompactFunc(red, func(a, b redEdge) bool { return redEdgeCmp(a, b) == 0 })
		redEdges = red
		redBuf = redBuf[:0] // configMap writes it out and keeps nothing
		for _, r := range red {
			redBuf = append(redBuf, ends.connection(r))
		}
		sug, err := suggest.Suggest(suggest.Input{
			Subject: subject, Inventory: inv, IngressRefs: inPtr, EgressRefs: outPtr, IngressPeers: inPeers, EgressPeers: outPeers,
			Window: in.Window, Now: in.Now, Source: cmp.Or(in.Source, "redline audit"),
			SkipSelfCheck: true, Lookup: lookup,
		}, suggest.Choices{NamespaceLabelKey: in.NamespaceLabelKey})
		if err != nil {
			res.Skipped = append(res.Skipped, Skipped{Workload: w.Key(), Reason: err.Error()})
			continue
		}
		cm, err := configMap(w, sug, redBuf, in, lookup, &scratch)
		if err != nil {
			res.Skipped = append(res.Skipped, Skipped{Workload: w.Key(), Reason: err.Error()})
			continue
		}
		res.ConfigMaps = append(res.ConfigMaps, cm)
		res.WorkloadRed = append(res.WorkloadRed, WorkloadRed{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Red: len(red)})
		if memoNext != nil {
			// The memo keeps its own copy: the caller may change what it gets.
			memoNext[wkey] = memoEntry{digest: dig.sum, cm: *cm.DeepCopy(), red: len(red)}
		}
		if s := summaries[w.Namespace]; s != nil {
			s.SuggestedPolicies++
		}
	}
	res.Disagreements = make(map[flow.EdgeKey]uint64, len(disagreements))
	for _, d := range disagreements {
		res.Disagreements[d.e.EdgeKey] = d.flows
	}
	slices.SortFunc(redAll, redEdgeCmp)
	redAll = slices.CompactFunc(redAll, func(a, b redEdge) bool { return redEdgeCmp(a, b) == 0 })
	res.Red = make([]RedConnection, 0, len(redAll))
	for _, r := range redAll {
		res.Red = append(res.Red, ends.connection(r))
		srcNS, dstNS := edges.eps[r.src].Namespace, edges.eps[r.dst].Namespace
		if srcNS != "" {
			redByNS[srcNS]++
		}
		if dstNS != "" && dstNS != srcNS {
			redByNS[dstNS]++
		}
	}
	for ns, ws := range unlabeled {
		u := UnlabeledNamespace{Namespace: ns, Key: key}
		for w := range ws {
			u.Workloads = append(u.Workloads, w)
		}
		slices.Sort(u.Workloads)
		res.Unlabeled = append(res.Unlabeled, u)
	}
	slices.SortFunc(res.Unlabeled, func(a, b UnlabeledNamespace) int { return cmp.Compare(a.Namespace, b.Namespace) })
	for _, u := range res.Unlabeled {
		if s := summaries[u.Namespace]; s != nil {
			s.MissingLabel = u.Key
		}
	}
	for _, ns := range res.Namespaces {
		s := summaries[ns]
		s.RedConnections = redByNS[ns]
		res.Summaries = append(res.Summaries, *s)
	}
	slices.SortFunc(res.WorkloadRed, func(a, b WorkloadRed) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(res.ConfigMaps, func(a, b corev1.ConfigMap) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	if in.Memo != nil {
		in.Memo.end(memoNext)
	}
	return res, nil
}

// passer judges edges against the current policies.
type passer struct {
	ix *netpol.Index
	// backends map a Service endpoint to the workloads it selects, host
	// network included (suggest.Lookup's leave those out), built once per
	// pass: looking them up per edge would cost a scan of every workload.
	backends map[flow.Endpoint][]*netpol.Workload
}

func newPasser(inv *inventory.Inventory, ix *netpol.Index) *passer {
	p := &passer{ix: ix, backends: map[flow.Endpoint][]*netpol.Workload{}}
	byNS := map[string][]*inventory.Service{}
	for i := range inv.Services {
		if s := &inv.Services[i]; len(s.Selector) > 0 {
			byNS[s.Namespace] = append(byNS[s.Namespace], s)
		}
	}
	for _, w := range inv.Workloads {
		for _, s := range byNS[w.Namespace] {
			if s.Selects(w.Labels) {
				ep := inventory.ServiceEndpoint(s.Namespace, s.Name)
				p.backends[ep] = append(p.backends[ep], w)
			}
		}
	}
	return p
}

// disagreeing is how many of an edge's flows the CNI judged otherwise than
// the engine: the forwarded ones when the policies deny, the dropped ones
// when they allow. (A drop for another reason than policy counts too: the
// store keeps verdicts, not drop reasons.)
func disagreeing(e *flow.Edge, denied bool) uint64 {
	if denied {
		return e.Verdicts[flow.VerdictForwarded]
	}
	return e.Verdicts[flow.VerdictDropped]
}

// boolCmp orders false before true, for two different bools.
func boolCmp(a bool) int {
	if a {
		return 1
	}
	return -1
}

// redEdge is a red connection without its strings: its ends by id and by
// rank (endIndex), in a value without pointers — 100,000s of them, which
// the collector need not scan. Ordered by redEdgeCmp, red edges are in
// the order of their connections — source, destination, protocol, port,
// then the verdicts — without comparing strings.
type redEdge struct {
	src, dst         int32 // ids
	srcRank, dstRank int32
	proto            flow.Protocol
	port             uint16
	denied, dropped  bool
}

// redEdge is the red edge of e, whose ends are ids.
func (x *endIndex) redEdge(e *flow.Edge, ids [2]int32, j *judgement) redEdge {
	return redEdge{src: ids[0], dst: ids[1], srcRank: x.ranks[ids[0]], dstRank: x.ranks[ids[1]],
		proto: e.Protocol, port: e.Port, denied: j.denied, dropped: j.dropped}
}

// connection is r with its strings.
func (x *endIndex) connection(r redEdge) RedConnection {
	return RedConnection{Src: x.strs[r.src], Dst: x.strs[r.dst], Protocol: r.proto.String(), Port: r.port, DeniedByPolicies: r.denied, Dropped: r.dropped}
}

// redEdgeCmp orders red edges; 0 when their connections are equal.
func redEdgeCmp(a, b redEdge) int {
	if a.srcRank != b.srcRank {
		return cmp.Compare(a.srcRank, b.srcRank)
	}
	if a.dstRank != b.dstRank {
		return cmp.Compare(a.dstRank, b.dstRank)
	}
	if a.proto != b.proto {
		if c := strings.Compare(a.proto.String(), b.proto.String()); c != 0 {
			return c
		}
	}
	if a.port != b.port {
		return cmp.Compare(a.port, b.port)
	}
	if a.denied != b.denied {
		return boolCmp(a.denied)
	}
	if a.dropped != b.dropped {
		return boolCmp(a.dropped)
	}
	return 0
}

// judgement is what the pass found about an edge; no pointers (see
// redEdge).
type judgement struct {
	// done: the edge was judged (in this pass).
	done bool
	// judged: the engine could decide (a known protocol, a destination
	// it knows).
	judged bool
	// red: dropped by the CNI, or denied by the current policies for some
	// destination pod it reached.
	red bool
	// denied: the current policies deny it; dropped: the CNI reported
	// DROPPED verdicts for it in the window.
	denied, dropped bool
}

// endHot is what the pass reads of an edge's endpoint every time it meets
// the edge: kept apart from the rest (end), in a small dense array that
// stays in the CPU's cache.
type endHot struct {
	peer     *suggest.Peer // the Lookup's entry, or nil
	mark     int32         // its namespace's in the memo's marks, or -1
	lacksKey bool          // its namespace lacks the namespace label key
	ready    bool
}

// end is what the pass needs of an edge's endpoint when it judges an edge,
// worked out once per endpoint.
type end struct {
	// eng is the engine's endpoint: a known workload, an address, or (a
	// node, an unknown workload) one no policy selects and no ipBlock
	// matches.
	eng netpol.Endpoint
	// service: the endpoint is a Service; svc is the Service (nil when
	// unknown), backends the workloads it selects.
	service  bool
	svc      *inventory.Service
	backends []*netpol.Workload
}

// endIndex has the ends of a pass's edges, by id.
type endIndex struct {
	edges    *passEdges
	p        *passer
	lookup   *suggest.Lookup
	nsLabels map[string]map[string]string
	key      string
	marks    *namespaceMarks
	hot      []endHot
	ends     []end
	strs     []string // the ends as written, by id
	ranks    []int32  // their places among them (equal strings, equal ranks), by id
}

func newEndIndex(edges *passEdges, p *passer, lookup *suggest.Lookup, nsLabels map[string]map[string]string, key string, marks *namespaceMarks) *endIndex {
	x := &endIndex{edges: edges, p: p, lookup: lookup, nsLabels: nsLabels, key: key, marks: marks, ends: make([]end, len(edges.eps)), hot: make([]endHot, len(edges.eps)),
		strs: make([]string, len(edges.eps)), ranks: make([]int32, len(edges.eps))}
	order := make([]int32, len(edges.eps))
	for i, e := range edges.eps {
		x.strs[i], order[i] = e.String(), int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(x.strs[a], x.strs[b]) })
	for i, id := range order {
		x.ranks[id] = 1
		if i > 0 {
			prev := order[i-1]
			x.ranks[id] = x.ranks[prev]
			if x.strs[id] != x.strs[prev] {
				x.ranks[id]++
			}
		}
	}
	return x
}

// get is the hot part of id's end, both parts worked out on first use
// (ends[id] is the other).
func (x *endIndex) get(id int32) *endHot {
	h := &x.hot[id]
	if h.ready {
		return h
	}
	e := x.edges.eps[id]
	peer := x.lookup.Peer(e)
	n := &x.ends[id]
	*n = end{eng: engineEndpoint(e, x.lookup)}
	if e.Kind == flow.EndpointWorkload && e.WorkloadKind == inventory.ServiceEndpointKind {
		n.service, n.svc, n.backends = true, peer.Service(), x.p.backends[e]
	}
	_, has := x.nsLabels[e.Namespace][x.key]
	*h = endHot{ready: true, peer: peer, lacksKey: !has, mark: -1}
	if x.marks != nil {
		h.mark = x.marks.indexOf(e.Namespace)
	}
	return h
}

// judge judges an edge between two ends against the current policies.
func (p *passer) judge(e *flow.Edge, src, dst *end) judgement {
	j := judgement{done: true}
	dropped := e.Verdicts[flow.VerdictDropped] > 0
	denied := false
	if proto, known := e.Protocol.Kubernetes(); known {
		// The pods the connection reached: the backends of a Service (on
		// the resolved target port), else the destination itself.
		verdict := func(d netpol.Endpoint, port int32) {
			j.judged = true
			denied = denied || !p.ix.Verdict(src.eng, d, proto, port)
		}
		if !dst.service {
			verdict(dst.eng, int32(e.Port))
		} else if dst.svc != nil {
			for _, w := range dst.backends {
				for _, sp := range dst.svc.Ports {
					if sp.Port != int32(e.Port) {
						continue
					}
					if sp.TargetPort.IntValue() > 0 {
						verdict(netpol.WorkloadEndpoint(w), int32(sp.TargetPort.IntValue()))
						continue
					}
					for _, cp := range w.Ports {
						if cp.Name == sp.TargetPort.StrVal && cmp.Or(cp.Protocol, corev1.ProtocolTCP) == sp.Protocol {
							verdict(netpol.WorkloadEndpoint(w), cp.Port)
						}
					}
				}
			}
		}
	}
	j.denied, j.dropped, j.red = denied, dropped, dropped || denied
	return j
}

// engineEndpoint maps a flow endpoint to the engine's: a workload the
// Lookup knows, an address, or (a node, an unknown workload) an endpoint no
// policy selects and no ipBlock matches.
func engineEndpoint(e flow.Endpoint, l *suggest.Lookup) netpol.Endpoint {
	switch e.Kind {
	case flow.EndpointWorkload:
		if w := l.Peer(flow.WorkloadEndpoint(e.Namespace, e.WorkloadKind, e.Name)).Workload(); w != nil {
			return netpol.WorkloadEndpoint(w)
		}
	case flow.EndpointAddress:
		return netpol.AddrEndpoint(e.Addr)
	}
	return netpol.Endpoint{}
}

func appendRows(out []TrafficRow, status string, rows []suggest.Row) []TrafficRow {
	for _, r := range rows {
		out = append(out, TrafficRow{Direction: string(r.Direction), Peer: r.Peer.String(), Protocol: r.Protocol.String(), Port: r.Port, Status: status})
	}
	return out
}

// configMap builds a workload's ConfigMap from a suggestion made with
// lookup; scratch is a buffer it may reuse.
func configMap(w *netpol.Workload, sug suggest.Suggestion, red []RedConnection, in PassInput, lookup *suggest.Lookup, scratch *[]byte) (corev1.ConfigMap, error) {
	// A shallow copy with its own annotations: nothing else is changed.
	pol := *sug.Policy
	pol.Annotations = maps.Clone(pol.Annotations)
	// The generation time changes every pass; it goes on the ConfigMap,
	// not into the data compared for updates.
	delete(pol.Annotations, suggest.AnnotationGeneratedAt)
	policyYAML, err := lookup.YAMLString(&pol)
	if err != nil {
		return corev1.ConfigMap{}, err
	}
	rep := Report{
		Workload: w.Key(),
		Window:   in.Window.String(),
		// nil without rows ("traffic": null), as the report has always had.
		Traffic:  slices.Grow([]TrafficRow(nil), len(sug.Included)+len(sug.Excluded)+len(sug.Unselectable)),
		Red:      red,
		Warnings: sug.Warnings,
	}
	rep.Traffic = appendRows(rep.Traffic, "included", sug.Included)
	rep.Traffic = appendRows(rep.Traffic, "excluded", sug.Excluded)
	rep.Traffic = appendRows(rep.Traffic, "unselectable", sug.Unselectable)
	slices.SortFunc(rep.Traffic, func(a, b TrafficRow) int {
		if c := strings.Compare(a.Direction, b.Direction); c != 0 {
			return c
		}
		if c := strings.Compare(a.Peer, b.Peer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	if rep.Red == nil {
		rep.Red = []RedConnection{}
	}
	for _, r := range sug.StillAllowed {
		rep.StillAllowed = append(rep.StillAllowed, r.String())
	}
	for _, n := range sug.NeedsLabel {
		rep.NeedsLabel = append(rep.NeedsLabel, n.Message())
	}
	if len(policyYAML) > maxConfigMapData {
		return corev1.ConfigMap{}, fmt.Errorf("the suggested policy is %d bytes, more than a ConfigMap holds (%d): the workload talks with too many peers to list them one by one; consider a global rule (allow-namespace) for it", len(policyYAML), maxConfigMapData)
	}
	// appendReportJSON writes what json.MarshalIndent(rep, "", "  ")
	// would, several times faster.
	reportJSON := append(appendReportJSON((*scratch)[:0], &rep), '\n')
	*scratch = reportJSON
	if len(policyYAML)+len(reportJSON) > maxConfigMapData {
		// The report's tables are what grows: keep the summary.
		rep.TrafficTotal, rep.RedTotal = len(rep.Traffic), len(rep.Red)
		rep.Traffic, rep.Red, rep.Truncated = nil, []RedConnection{}, true
		reportJSON = append(appendReportJSON(reportJSON[:0], &rep), '\n')
	}
	return corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        ConfigMapName(w.Kind, w.Name),
			Namespace:   w.Namespace,
			Labels:      map[string]string{suggest.LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{AnnotationGeneratedAt: in.Now.UTC().Format(time.RFC3339)},
		},
		Data: map[string]string{KeyPolicy: policyYAML, KeyReport: string(reportJSON)},
	}, nil
}
