package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
)

// PoliciesResponse lists the applied NetworkPolicies of a workload, or of
// one of its connections.
type PoliciesResponse struct {
	Workload string `json:"workload"`
	// Policies select the workload (any direction), or, for a connection,
	// isolate one of its ends: with their YAML.
	Policies []AppliedPolicy `json:"policies"`
	// Connections explain the connection (one per direction asked and
	// pair of pods), when ?peer= is given.
	Connections []netpol.Explanation `json:"connections,omitempty"`
}

// AppliedPolicy is a NetworkPolicy in the cluster.
type AppliedPolicy struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// PolicyTypes are the directions it isolates (defaulted as the API
	// server does).
	PolicyTypes []string `json:"policyTypes"`
	// Selects names the workloads of the connection it selects (for a
	// connection), or the subject's workloads it selects.
	Selects []string `json:"selects"`
	// AllowedBy are its rules that allow the connection (for a connection).
	AllowedBy []string `json:"allowedBy,omitempty"`
	YAML      string   `json:"yaml"`
}

// policies serves GET .../policies[?peer=&port=&protocol=&direction=].
func (n *NetworkHandler) policies(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectRef(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	scope, err := n.readScope(r, []string{subject.Namespace})
	if err == nil {
		err = n.require(r, scope, kubeauth.ReadTraffic(subject.Namespace))
	}
	if err != nil {
		writeAuthError(w, err)
		return
	}
	conn, err := parseConnectionQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inv, ix, _, err := n.engines()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	ws, ok := subjectWorkloads(inv, subject)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s is not in the cluster inventory", refString(subject)))
		return
	}
	resp := PoliciesResponse{Workload: refString(subject), Policies: []AppliedPolicy{}}
	if conn == nil {
		for _, p := range inv.Policies {
			if ap, ok := appliedTo(p, ws); ok {
				resp.Policies = append(resp.Policies, ap)
			}
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}

	peers, err := connectionPeers(inv, conn.peer)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	// Which namespaces' policies may be shown: the peer's only when the
	// caller may read it.
	if conn.peer.Kind == flow.EndpointWorkload && !scope.may(conn.peer.Namespace) {
		ok, err := n.Auth.Allowed(r.Context(), scope.user, kubeauth.ReadTraffic(conn.peer.Namespace))
		if err != nil {
			writeAuthError(w, err)
			return
		}
		scope.ns[conn.peer.Namespace] = ok
	}
	relevant := map[string]*AppliedPolicy{}
	byName := map[string]*networkingv1.NetworkPolicy{}
	for _, p := range inv.Policies {
		byName[p.Namespace+"/"+p.Name] = p
	}
	note := func(side netpol.Side, selects string) {
		for _, name := range side.IsolatedBy {
			p := byName[name]
			if p == nil {
				continue
			}
			ap := relevant[name]
			if ap == nil {
				a := policyOf(p)
				ap = &a
				relevant[name] = ap
			}
			if !slices.Contains(ap.Selects, selects) {
				ap.Selects = append(ap.Selects, selects)
			}
			for _, rule := range side.Rules {
				if rule.Policy == name && rule.Allows && !slices.Contains(ap.AllowedBy, rule.Rule) {
					ap.AllowedBy = append(ap.AllowedBy, rule.Rule)
				}
			}
		}
	}
	for _, dir := range conn.directions {
		for _, sw := range ws {
			for _, pe := range peers {
				src, dst := netpol.WorkloadEndpoint(sw), pe
				if dir == netpol.Ingress {
					src, dst = pe, netpol.WorkloadEndpoint(sw)
				}
				var ex netpol.Explanation
				if conn.port == 0 {
					ex = ix.ExplainPair(src, dst)
				} else {
					ex = ix.Explain(src, dst, conn.protocol, int32(conn.port))
				}
				for _, side := range []*netpol.Side{&ex.Egress, &ex.Ingress} {
					ns := endpointNamespace(src)
					if side.Direction == netpol.Ingress {
						ns = endpointNamespace(dst)
					}
					if ns != "" && !scope.may(ns) {
						*side = netpol.Side{Direction: side.Direction, Endpoint: side.Endpoint, Subject: side.Subject, Allowed: side.Allowed,
							Reason: "details hidden: you may not read namespace " + ns}
						continue
					}
					note(*side, side.Endpoint)
				}
				resp.Connections = append(resp.Connections, ex)
			}
		}
	}
	for _, name := range sortedKeys(relevant) {
		resp.Policies = append(resp.Policies, *relevant[name])
	}
	writeJSON(w, http.StatusOK, resp)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func endpointNamespace(e netpol.Endpoint) string {
	if e.Workload != nil {
		return e.Workload.Namespace
	}
	return ""
}

// connectionQuery is ?peer=&port=&protocol=&direction=.
type connectionQuery struct {
	peer       flow.Endpoint
	port       uint16
	protocol   corev1.Protocol
	directions []netpol.Direction
}

func parseConnectionQuery(r *http.Request) (*connectionQuery, error) {
	q := r.URL.Query()
	peer := q.Get("peer")
	if peer == "" {
		for _, k := range []string{"port", "protocol", "direction"} {
			if q.Get(k) != "" {
				return nil, fmt.Errorf("%s needs peer: the other end of the connection (namespace/Kind/name or an address)", k)
			}
		}
		return nil, nil
	}
	c := &connectionQuery{protocol: corev1.ProtocolTCP, directions: []netpol.Direction{netpol.Egress, netpol.Ingress}}
	var err error
	if c.peer, err = parseConnectionPeer(peer); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if p := q.Get("port"); p != "" {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("port %q: want 1-65535", p)
		}
		c.port = uint16(v)
	}
	if p := q.Get("protocol"); p != "" {
		proto := flow.ParseProtocol(p)
		if proto == flow.ProtocolUnknown {
			return nil, fmt.Errorf("protocol %q: use TCP, UDP or SCTP", p)
		}
		c.protocol = corev1.Protocol(proto.String())
	}
	switch d := q.Get("direction"); {
	case d == "":
	case strings.EqualFold(d, "ingress"):
		c.directions = []netpol.Direction{netpol.Ingress}
	case strings.EqualFold(d, "egress"):
		c.directions = []netpol.Direction{netpol.Egress}
	default:
		return nil, fmt.Errorf("direction %q: use Ingress (from the peer) or Egress (to the peer)", d)
	}
	return c, nil
}

// parseConnectionPeer reads namespace/Kind/name (Kind may be Service) or
// an address.
func parseConnectionPeer(s string) (flow.Endpoint, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return flow.Endpoint{Kind: flow.EndpointAddress, Addr: a.Unmap()}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return flow.Endpoint{}, fmt.Errorf("invalid peer %q: want namespace/Kind/name or an IP address", s)
	}
	return parseSubject(parts[0], parts[1], parts[2])
}

// connectionPeers are the engine's endpoints for a peer: a workload, a
// Service's backends, or an address.
func connectionPeers(inv *inventory.Inventory, peer flow.Endpoint) ([]netpol.Endpoint, error) {
	if peer.Kind == flow.EndpointAddress {
		return []netpol.Endpoint{netpol.AddrEndpoint(peer.Addr)}, nil
	}
	ws, ok := subjectWorkloads(inv, peer)
	if !ok {
		return nil, fmt.Errorf("peer %s is not in the cluster inventory", refString(peer))
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("peer %s selects no workload", refString(peer))
	}
	out := make([]netpol.Endpoint, 0, len(ws))
	for _, w := range ws {
		out = append(out, netpol.WorkloadEndpoint(w))
	}
	return out, nil
}

// appliedTo reports whether p selects one of ws (its namespace, its pod
// selector; host-network pods are never selected).
func appliedTo(p *networkingv1.NetworkPolicy, ws []*netpol.Workload) (AppliedPolicy, bool) {
	sel, err := netpol.SelectorOf(&p.Spec.PodSelector)
	if err != nil {
		return AppliedPolicy{}, false
	}
	var selects []string
	for _, w := range ws {
		if w.Namespace == p.Namespace && !w.HostNetwork && sel.Matches(labels.Set(w.Labels)) {
			selects = append(selects, w.Key())
		}
	}
	if len(selects) == 0 {
		return AppliedPolicy{}, false
	}
	ap := policyOf(p)
	ap.Selects = selects
	return ap, true
}

// policyOf describes p with its YAML (without managedFields).
func policyOf(p *networkingv1.NetworkPolicy) AppliedPolicy {
	ap := AppliedPolicy{Namespace: p.Namespace, Name: p.Name, PolicyTypes: policyTypes(p), Selects: []string{}}
	c := p.DeepCopy()
	c.APIVersion, c.Kind = "networking.k8s.io/v1", "NetworkPolicy"
	c.ManagedFields = nil
	if y, err := yaml.Marshal(c); err == nil {
		ap.YAML = string(y)
	}
	return ap
}

// policyTypes defaults spec.policyTypes as the API server does.
func policyTypes(p *networkingv1.NetworkPolicy) []string {
	var out []string
	if len(p.Spec.PolicyTypes) > 0 {
		for _, t := range p.Spec.PolicyTypes {
			out = append(out, string(t))
		}
		return out
	}
	out = append(out, string(networkingv1.PolicyTypeIngress))
	if len(p.Spec.Egress) > 0 {
		out = append(out, string(networkingv1.PolicyTypeEgress))
	}
	return out
}
