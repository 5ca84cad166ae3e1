package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
)

// TopologyResponse is the graph of a workload and its peers under a draft:
// the Network view's topology.
type TopologyResponse struct {
	Workload string         `json:"workload"`
	Since    string         `json:"since"`
	Nodes    []TopologyNode `json:"nodes"`
	Edges    []TopologyEdge `json:"edges"`
	// NeedsLabel are the banners: namespaces whose rows cannot be allowed
	// until they carry the namespace label key.
	NeedsLabel []LabelBanner `json:"needsLabel"`
	Warnings   []string      `json:"warnings,omitempty"`
	// Choices are the draft the graph was judged under; YAML its policy.
	Choices Choices `json:"choices"`
	YAML    string  `json:"yaml"`
}

// TopologyNode is the subject (role "subject", blue) or a peer (role
// "peer", black).
type TopologyNode struct {
	ID        string            `json:"id"`
	Role      string            `json:"role"`
	Color     string            `json:"color"`
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	Class     string            `json:"class,omitempty"`
	Alias     string            `json:"alias,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Ports are the ports the node was reached on ("TCP/8080").
	Ports []string `json:"ports,omitempty"`
}

// TopologyEdge is an observed connection (a table row): black when the
// draft policy allows it, red when it would block it.
type TopologyEdge struct {
	ID        string            `json:"id"`
	Source    string            `json:"source"`
	Target    string            `json:"target"`
	Direction netpol.Direction  `json:"direction"`
	Protocol  string            `json:"protocol"`
	Port      uint16            `json:"port"`
	Service   string            `json:"service,omitempty"`
	Count     uint64            `json:"connections"`
	LastSeen  time.Time         `json:"lastSeen"`
	Verdicts  map[string]uint64 `json:"verdicts"`
	Allowed   bool              `json:"allowed"`
	Color     string            `json:"color"`
	// Reason says why a red edge is blocked.
	Reason string `json:"reason,omitempty"`
	// NeedsLabel names the namespace that must be labelled first.
	NeedsLabel string `json:"needsLabel,omitempty"`
	// Row is the choice that excludes (or, removed, includes) the edge.
	Row RowChoice `json:"row"`
}

// LabelBanner is one "assign label K to namespace X" banner.
type LabelBanner struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Message   string `json:"message"`
}

// topology serves GET (the saved draft, or the defaults) and POST (the
// body's choices) .../topology.
func (n *NetworkHandler) topology(w http.ResponseWriter, r *http.Request) {
	subject, ok := n.readableSubject(w, r)
	if !ok {
		return
	}
	var c Choices
	if r.Method == http.MethodPost {
		var err error
		if c, err = decodeChoices(r.Body); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		saved, err := n.loadChoices(r, subject)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		c = saved.Choices
	}
	if s := r.URL.Query().Get("since"); s != "" {
		c.Since = s
	}
	c.Since = cmp.Or(c.Since, defaultSince)
	req := c.request(refString(subject))
	choices, window, err := req.choices()
	choices.NamespaceLabelKey = cmp.Or(choices.NamespaceLabelKey, n.NamespaceLabelKey)
	if err == nil && window > MaxWindow {
		err = fmt.Errorf("since: %q is longer than 30d, the longest window kept", c.Since)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, status, err := n.buildTopology(r, subject, c, choices, window)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (n *NetworkHandler) buildTopology(r *http.Request, subject flow.Endpoint, c Choices, choices suggest.Choices, window time.Duration) (TopologyResponse, int, error) {
	ctx := r.Context()
	inv := n.Inventory()
	now := n.now()
	lookup := suggest.NewLookup(inv)
	in, out, err := n.gather(ctx, inv, lookup, subject, now.Add(-window), now.Add(time.Hour))
	if err != nil {
		return TopologyResponse{}, http.StatusServiceUnavailable, fmt.Errorf("read observed traffic: %w", err)
	}
	input := suggest.Input{Subject: subject, Inventory: inv, Ingress: in, Egress: out, Window: window, Now: now, Source: "redline serve", Lookup: lookup}
	if n.Classifier != nil {
		if cl := n.Classifier(); cl != nil {
			input.Aliases = cl.Aliases()
		}
	}
	s, err := suggest.Suggest(input, choices)
	switch {
	case errors.Is(err, suggest.ErrUnknownSubject):
		return TopologyResponse{}, http.StatusNotFound, err
	case err != nil:
		return TopologyResponse{}, http.StatusUnprocessableEntity, err
	}
	y, err := suggest.YAML(s.Policy)
	if err != nil {
		return TopologyResponse{}, http.StatusInternalServerError, err
	}
	resp := TopologyResponse{Workload: refString(subject), Since: c.Since, Choices: c, YAML: string(y), Warnings: s.Warnings,
		Nodes: []TopologyNode{}, Edges: []TopologyEdge{}, NeedsLabel: []LabelBanner{}}

	allowed := map[suggest.Row]bool{}
	for _, rs := range [][]suggest.Row{s.Included, s.StillAllowed} {
		for _, row := range rs {
			allowed[normalRow(row)] = true
		}
	}
	excluded := map[suggest.Row]bool{}
	for _, row := range s.Excluded {
		excluded[normalRow(row)] = true
	}
	chosen := map[suggest.Row]bool{}
	for _, row := range choices.Exclude {
		chosen[normalRow(row)] = true
	}
	needs := map[suggest.Row]suggest.NamespaceLabelNeed{}
	for _, need := range s.NeedsLabel {
		resp.NeedsLabel = append(resp.NeedsLabel, LabelBanner{Namespace: need.Namespace, Key: need.Key, Message: need.Message()})
		for _, row := range need.Rows {
			needs[normalRow(row)] = need
		}
	}

	subjectID := refString(subject)
	nodes := map[string]*TopologyNode{}
	addNode := func(e flow.Endpoint, role string) *TopologyNode {
		id := refString(e)
		if nd := nodes[id]; nd != nil {
			return nd
		}
		nd := &TopologyNode{ID: id, Role: role, Color: "black"}
		if role == "subject" {
			nd.Color = "blue"
		}
		switch e.Kind {
		case flow.EndpointWorkload:
			nd.Kind, nd.Namespace, nd.Name = e.WorkloadKind, e.Namespace, e.Name
			if w := findWorkload(inv, e); w != nil {
				nd.Labels = w.Labels
			} else if svc := findService(inv, e); svc != nil && e.WorkloadKind == inventory.ServiceEndpointKind {
				nd.Labels = svc.Selector
			}
		case flow.EndpointNode:
			nd.Kind, nd.Name = "Node", e.Name
		default:
			nd.Kind, nd.Name, nd.Class, nd.Alias = "Address", e.Addr.String(), e.Class.String(), e.Alias
		}
		nodes[id] = nd
		return nd
	}
	addNode(subject, "subject")
	self := selfEndpoints(inv, subject)
	for _, dir := range []netpol.Direction{netpol.Ingress, netpol.Egress} {
		edges := mergeEdges(in, srcOf, subject, true, self)
		if dir == netpol.Egress {
			edges = mergeEdges(out, dstOf, subject, false, self)
		}
		for _, e := range edges {
			peer := e.Dst
			if dir == netpol.Ingress {
				peer = e.Src
			}
			pn := addNode(peer, "peer")
			row := normalRow(suggest.Row{Direction: dir, Peer: peer, Protocol: e.Protocol, Port: e.Port})
			te := TopologyEdge{
				Direction: dir, Protocol: e.Protocol.String(), Port: e.Port, Count: e.Count, LastSeen: e.LastSeen,
				Verdicts: verdictCounts(e.Verdicts), Allowed: allowed[row],
				Row: RowChoice{Direction: dir, Peer: refString(peer), Protocol: e.Protocol.String(), Port: e.Port},
			}
			if e.Service != nil {
				te.Service = e.Service.Namespace + "/" + e.Service.Name
			}
			port := fmt.Sprintf("%s/%d", e.Protocol, e.Port)
			if dir == netpol.Ingress {
				te.Source, te.Target = pn.ID, subjectID
				addPort(nodes[subjectID], port)
			} else {
				te.Source, te.Target = subjectID, pn.ID
				addPort(pn, port)
			}
			te.ID = strings.Join([]string{string(dir), pn.ID, te.Protocol, fmt.Sprint(te.Port), te.Service}, "|")
			te.Color = "black"
			if !te.Allowed {
				te.Color = "red"
				rule := choices.Ingress
				if dir == netpol.Egress {
					rule = choices.Egress
				}
				need, needsLabel := needs[row]
				switch {
				case needsLabel:
					te.NeedsLabel, te.Reason = need.Namespace, need.Message()
				case chosen[row]:
					te.Reason = "excluded by the draft's choices"
				case rule != "" && rule != suggest.RuleObserved:
					te.Reason = fmt.Sprintf("the global %s rule %s does not allow it", strings.ToLower(string(dir)), rule)
				case peer.Kind == flow.EndpointAddress && excluded[row]:
					te.Reason = "an unresolved address: not allowed unless included (includeAddresses or a CIDR rule)"
				case excluded[row]:
					te.Reason = "not included in the draft policy"
				default:
					te.Reason = "the draft policy cannot express it (see warnings)"
				}
			}
			resp.Edges = append(resp.Edges, te)
		}
	}
	for _, nd := range nodes {
		slices.Sort(nd.Ports)
		resp.Nodes = append(resp.Nodes, *nd)
	}
	slices.SortFunc(resp.Nodes, func(a, b TopologyNode) int {
		return cmp.Or(cmp.Compare(b.Role, a.Role), cmp.Compare(a.ID, b.ID))
	})
	return resp, http.StatusOK, nil
}

func addPort(nd *TopologyNode, port string) {
	if !slices.Contains(nd.Ports, port) {
		nd.Ports = append(nd.Ports, port)
	}
}

// normalRow makes rows comparable as suggest compares them: an address
// peer by its unmapped address, class and alias.
func normalRow(r suggest.Row) suggest.Row {
	if r.Peer.Kind == flow.EndpointAddress {
		r.Peer = flow.Endpoint{Kind: flow.EndpointAddress, Addr: r.Peer.Addr.Unmap(), Class: r.Peer.Class, Alias: r.Peer.Alias}
	}
	return r
}
