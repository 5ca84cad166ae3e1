package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
)

// WhatIfRequest is the JSON body of POST /api/v1/whatif. A body that is
// a NetworkPolicy itself (YAML or JSON, with kind) is accepted too, with
// ?delete= and ?since= in the query.
type WhatIfRequest struct {
	// Policy is the NetworkPolicy: an object, or a string of YAML or JSON.
	Policy json.RawMessage `json:"policy"`
	// Delete judges deleting the policy instead of applying it.
	Delete bool `json:"delete,omitempty"`
	// Since is the window of observed traffic (default 7d, at most 30d).
	Since string `json:"since,omitempty"`
}

// WhatIfResponse is the impact of the change.
type WhatIfResponse struct {
	// Policy is namespace/name; Operation CREATE, UPDATE or DELETE (UPDATE
	// when the cluster has a policy of that name).
	Policy    string        `json:"policy"`
	Operation string        `json:"operation"`
	Since     string        `json:"since"`
	Impact    impact.Impact `json:"impact"`
}

const maxWhatIfBytes = 1 << 20

// whatIfInput is a decoded what-if request.
type whatIfInput struct {
	policy *networkingv1.NetworkPolicy
	delete bool
	since  string
}

// decodeWhatIf reads a what-if body (envelope or bare policy). Errors are
// the caller's (400).
func decodeWhatIf(ctx context.Context, body io.Reader, query map[string][]string) (whatIfInput, error) {
	var in whatIfInput
	data, err := io.ReadAll(io.LimitReader(body, maxWhatIfBytes+1))
	if err != nil {
		return in, fmt.Errorf("read the request: %w", err)
	}
	if len(data) > maxWhatIfBytes {
		return in, fmt.Errorf("request larger than %d bytes", maxWhatIfBytes)
	}
	asJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		return in, fmt.Errorf("not JSON or YAML: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(asJSON, &probe); err != nil {
		return in, errors.New("the body must be a what-if request {\"policy\": ...} or a NetworkPolicy")
	}
	policyText := data
	if _, bare := probe["kind"]; bare {
		in.since = first(query["since"])
		if d := first(query["delete"]); d != "" {
			if in.delete, err = strconv.ParseBool(d); err != nil {
				return in, fmt.Errorf("delete=%q: use true or false", d)
			}
		}
	} else {
		var req WhatIfRequest
		if err := strictJSON(asJSON, &req); err != nil {
			return in, fmt.Errorf("invalid what-if request: %w", err)
		}
		if len(req.Policy) == 0 || string(req.Policy) == "null" {
			return in, errors.New("policy is required: the NetworkPolicy to judge")
		}
		policyText = req.Policy
		var s string
		if json.Unmarshal(req.Policy, &s) == nil {
			policyText = []byte(s)
		}
		in.delete, in.since = req.Delete, req.Since
	}
	inv, err := inventory.LoadFiles(ctx, []string{"-"}, inventory.LoadOptions{Stdin: bytes.NewReader(policyText)})
	if err != nil {
		return in, fmt.Errorf("policy: %w", err)
	}
	if len(inv.Policies) != 1 {
		return in, fmt.Errorf("policy: want exactly one NetworkPolicy, found %d", len(inv.Policies))
	}
	var meta struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(policyText, &meta); err != nil || meta.Metadata.Namespace == "" {
		return in, errors.New("policy: metadata.namespace is required: the namespace decides who may ask and which traffic is judged")
	}
	in.policy = inv.Policies[0]
	if in.since == "" {
		in.since = "7d"
	}
	if _, err := parseWindow(in.since); err != nil {
		return in, err
	}
	return in, nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// whatIf serves POST /api/v1/whatif: get traffic.redline.io in the
// policy's namespace.
func (n *NetworkHandler) whatIf(w http.ResponseWriter, r *http.Request) {
	// Authenticate before reading a body that may be large.
	scope, err := n.readScope(r, nil)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	in, err := decodeWhatIf(r.Context(), r.Body, r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := in.policy
	if err := n.require(r, scope, kubeauth.ReadTraffic(p.Namespace)); err != nil {
		writeAuthError(w, err)
		return
	}
	inv, _, analyzer, err := n.engines()
	window, _ := parseWindow(in.since)
	if err == nil && window != impact.DefaultWindow {
		// The cached analyzer words its results for the default window.
		analyzer, err = n.analyzerFor(inv, window)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	change := impact.ChangeFor(inv.Policies, p, in.delete)
	now := n.now()
	edges, err := n.Store.NamespaceEdges(r.Context(), p.Namespace, now.Add(-window), now.Add(time.Hour))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "read observed traffic: "+err.Error())
		return
	}
	imp, err := analyzer.PolicyChange(r.Context(), change, edges)
	var invalid *netpol.InvalidPolicyError
	switch {
	case errors.As(err, &invalid) || errors.Is(err, impact.ErrInvalidChange):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, WhatIfResponse{Policy: p.Namespace + "/" + p.Name, Operation: string(change.Operation), Since: in.since, Impact: imp})
}
