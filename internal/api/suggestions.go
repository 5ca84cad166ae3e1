package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
	"github.com/redline-dev/redline/internal/traffic"
)

// Authorizer checks a request's caller for a permission (kubeauth.Guard).
type Authorizer interface {
	Check(r *http.Request, perm kubeauth.Permission) (user.Info, error)
}

// SuggestionsHandler serves POST /api/v1/suggestions: the suggested
// NetworkPolicy for one workload, given the user's choices. The caller
// needs "get" on traffic.redline.io in the workload's namespace: a
// suggestion reveals that namespace's observed traffic.
type SuggestionsHandler struct {
	Auth      Authorizer
	Inventory func() *inventory.Inventory
	Edges     suggest.EdgeReader
	Aliases   func() map[string][]netip.Prefix
	Now       func() time.Time
	// NamespaceLabelKey is the key namespaces are selected by when a
	// request names none: the server's --namespace-label-key (empty:
	// kubernetes.io/metadata.name).
	NamespaceLabelKey string
}

// SuggestionRequest is the JSON body of POST /api/v1/suggestions.
type SuggestionRequest struct {
	// Workload is namespace/Kind/name.
	Workload string `json:"workload"`
	// Since is the window, e.g. "12h" or "7d" (default 12h).
	Since             string       `json:"since,omitempty"`
	Ingress           suggest.Rule `json:"ingress,omitempty"`
	Egress            suggest.Rule `json:"egress,omitempty"`
	Exclude           []RowChoice  `json:"exclude,omitempty"`
	IncludeAddresses  []netip.Addr `json:"includeAddresses,omitempty"`
	AllowEgressCIDRs  []CIDRChoice `json:"allowEgressCIDRs,omitempty"`
	AllowIngressCIDRs []CIDRChoice `json:"allowIngressCIDRs,omitempty"`
	NamespaceLabelKey string       `json:"namespaceLabelKey,omitempty"`
	NamedPorts        bool         `json:"namedPorts,omitempty"`
}

// RowChoice names a table row: direction (Ingress or Egress), peer
// (namespace/Kind/name or an address), protocol and port.
type RowChoice struct {
	Direction netpol.Direction `json:"direction"`
	Peer      string           `json:"peer"`
	Protocol  string           `json:"protocol"`
	Port      uint16           `json:"port"`
}

// CIDRChoice is a manual rule; port 0 means every port of the protocol,
// no protocol every protocol.
type CIDRChoice struct {
	CIDR     netip.Prefix `json:"cidr"`
	Protocol string       `json:"protocol,omitempty"`
	Port     uint16       `json:"port,omitempty"`
}

// SuggestionResponse is the answer.
type SuggestionResponse struct {
	YAML       string        `json:"yaml"`
	Included   []suggest.Row `json:"included"`
	Excluded   []suggest.Row `json:"excluded"`
	NeedsLabel []string      `json:"needsLabel,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
}

const maxSuggestionRequestBytes = 1 << 20

func (h *SuggestionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST with a JSON suggestion request (docs/api.md)")
		return
	}
	var req SuggestionRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSuggestionRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid suggestion request: "+err.Error())
		return
	}
	subject, err := flow.ParseWorkloadRef(req.Workload)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := h.Auth.Check(r, kubeauth.ReadTraffic(subject.Namespace)); err != nil {
		writeAuthError(w, err)
		return
	}
	choices, window, err := req.choices()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	choices.NamespaceLabelKey = cmp.Or(choices.NamespaceLabelKey, h.NamespaceLabelKey)
	resp, status, err := h.suggest(r.Context(), subject, window, choices)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *SuggestionsHandler) suggest(ctx context.Context, subject flow.Endpoint, window time.Duration, choices suggest.Choices) (SuggestionResponse, int, error) {
	inv := h.Inventory()
	now := h.Now()
	lookup := suggest.NewLookup(inv)
	in := suggest.Input{Subject: subject, Inventory: inv, Aliases: h.Aliases(), Window: window, Now: now, Source: "redline serve", Lookup: lookup}
	var err error
	if in.Ingress, in.Egress, err = lookup.Gather(ctx, h.Edges, subject, now.Add(-window), now.Add(time.Hour)); err != nil {
		return SuggestionResponse{}, http.StatusServiceUnavailable, fmt.Errorf("read observed traffic: %w", err)
	}
	s, err := suggest.Suggest(in, choices)
	switch {
	case errors.Is(err, suggest.ErrUnknownSubject):
		return SuggestionResponse{}, http.StatusNotFound, err
	case err != nil:
		return SuggestionResponse{}, http.StatusUnprocessableEntity, err
	}
	y, err := suggest.YAML(s.Policy)
	if err != nil {
		return SuggestionResponse{}, http.StatusInternalServerError, err
	}
	resp := SuggestionResponse{YAML: string(y), Included: s.Included, Excluded: s.Excluded, Warnings: s.Warnings}
	for _, n := range s.NeedsLabel {
		resp.NeedsLabel = append(resp.NeedsLabel, n.Message())
	}
	return resp, http.StatusOK, nil
}

func (req *SuggestionRequest) choices() (suggest.Choices, time.Duration, error) {
	since := req.Since
	if since == "" {
		since = "12h"
	}
	window, err := traffic.ParseWindow(since)
	if err != nil {
		return suggest.Choices{}, 0, fmt.Errorf("since: %w", err)
	}
	c := suggest.Choices{
		Ingress: req.Ingress, Egress: req.Egress,
		IncludeAddresses: req.IncludeAddresses, NamespaceLabelKey: req.NamespaceLabelKey, NamedPorts: req.NamedPorts,
	}
	for _, rule := range []suggest.Rule{c.Ingress, c.Egress} {
		switch rule {
		case "", suggest.RuleObserved, suggest.RuleBlockAll, suggest.RuleAllowNamespace, suggest.RuleAllowAll:
		default:
			return c, 0, fmt.Errorf("unknown global rule %q: use observed, block-all, allow-namespace or allow-all", rule)
		}
	}
	for _, row := range req.Exclude {
		if row.Direction != netpol.Ingress && row.Direction != netpol.Egress {
			return c, 0, fmt.Errorf("exclude: direction %q: use Ingress or Egress", row.Direction)
		}
		peer, err := parsePeer(row.Peer)
		if err != nil {
			return c, 0, fmt.Errorf("exclude: %w", err)
		}
		proto := flow.ParseProtocol(row.Protocol)
		if proto == flow.ProtocolUnknown {
			return c, 0, fmt.Errorf("exclude: protocol %q: use TCP, UDP or SCTP", row.Protocol)
		}
		c.Exclude = append(c.Exclude, suggest.Row{Direction: row.Direction, Peer: peer, Protocol: proto, Port: row.Port})
	}
	for _, list := range []struct {
		in  []CIDRChoice
		out *[]suggest.CIDRRule
	}{{req.AllowEgressCIDRs, &c.AllowEgressCIDRs}, {req.AllowIngressCIDRs, &c.AllowIngressCIDRs}} {
		for _, rule := range list.in {
			if !rule.CIDR.IsValid() {
				return c, 0, errors.New("a CIDR rule needs a cidr")
			}
			cr := suggest.CIDRRule{CIDR: rule.CIDR.Masked(), Port: rule.Port}
			if rule.Protocol != "" {
				if cr.Protocol = flow.ParseProtocol(rule.Protocol); cr.Protocol == flow.ProtocolUnknown {
					return c, 0, fmt.Errorf("CIDR rule: protocol %q: use TCP, UDP or SCTP", rule.Protocol)
				}
			}
			*list.out = append(*list.out, cr)
		}
	}
	return c, window, nil
}

// parsePeer reads a workload namespace/Kind/name or an address.
func parsePeer(s string) (flow.Endpoint, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return flow.Endpoint{Kind: flow.EndpointAddress, Addr: a}, nil
	}
	return flow.ParseWorkloadRef(s)
}

func writeAuthError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, kubeauth.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="redline"`)
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, kubeauth.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, "cannot check access with the Kubernetes API: "+err.Error())
	}
}
