package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/suggest"
)

// Choices are a draft: what a person picked in the tables of one workload
// (SuggestionRequest without the workload).
type Choices struct {
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

func (c Choices) request(workload string) SuggestionRequest {
	return SuggestionRequest{
		Workload: workload, Since: c.Since, Ingress: c.Ingress, Egress: c.Egress, Exclude: c.Exclude,
		IncludeAddresses: c.IncludeAddresses, AllowEgressCIDRs: c.AllowEgressCIDRs, AllowIngressCIDRs: c.AllowIngressCIDRs,
		NamespaceLabelKey: c.NamespaceLabelKey, NamedPorts: c.NamedPorts,
	}
}

// ChoicesResponse is a workload's stored draft.
type ChoicesResponse struct {
	Workload string `json:"workload"`
	// Saved is false when no draft was saved: Choices are then the
	// defaults (observed rows, addresses left out).
	Saved   bool       `json:"saved"`
	SavedAt *time.Time `json:"savedAt,omitempty"`
	SavedBy string     `json:"savedBy,omitempty"`
	Choices Choices    `json:"choices"`
}

const maxChoicesRequestBytes = 1 << 20

// decodeChoices reads and validates a Choices body: unknown fields, bad
// rules, rows, CIDRs or windows are errors (400).
func decodeChoices(body io.Reader) (Choices, error) {
	var c Choices
	data, err := io.ReadAll(io.LimitReader(body, maxChoicesRequestBytes+1))
	if err != nil {
		return c, fmt.Errorf("read the choices: %w", err)
	}
	if len(data) > maxChoicesRequestBytes {
		return c, fmt.Errorf("choices larger than %d bytes", maxChoicesRequestBytes)
	}
	if err := strictJSON(data, &c); err != nil {
		return c, fmt.Errorf("invalid choices: %w", err)
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	return c, nil
}

func (c Choices) validate() error {
	req := c.request("")
	if _, _, err := req.choices(); err != nil {
		return err
	}
	if c.Since != "" {
		if _, err := parseWindow(c.Since); err != nil {
			return err
		}
	}
	return nil
}

// strictJSON decodes exactly one JSON value with no unknown fields.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// getChoices serves GET .../choices: the saved draft (get traffic in the
// namespace: a draft names the namespace's traffic rows).
func (n *NetworkHandler) getChoices(w http.ResponseWriter, r *http.Request) {
	subject, ok := n.readableSubject(w, r)
	if !ok {
		return
	}
	resp, err := n.loadChoices(r, subject)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (n *NetworkHandler) loadChoices(r *http.Request, subject flow.Endpoint) (ChoicesResponse, error) {
	resp := ChoicesResponse{Workload: refString(subject)}
	d, found, err := n.Store.Choices(r.Context(), subject)
	if err != nil || !found {
		return resp, err
	}
	if err := json.Unmarshal(d.Choices, &resp.Choices); err != nil {
		return resp, fmt.Errorf("stored draft of %s is unreadable: %w (save it again)", resp.Workload, err)
	}
	at := d.SavedAt.UTC()
	resp.Saved, resp.SavedAt, resp.SavedBy = true, &at, d.SavedBy
	return resp, nil
}

// putChoices serves PUT .../choices: saves the draft for everyone (update
// drafts.redline.io in the namespace).
func (n *NetworkHandler) putChoices(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectRef(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u, err := n.Auth.Check(r, UpdateDrafts(subject.Namespace))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	c, err := decodeChoices(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	data, err := json.Marshal(c)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	d := store.DraftChoices{Endpoint: subject, Choices: data, SavedAt: n.now(), SavedBy: u.GetName()}
	if err := n.Store.PutChoices(r.Context(), d); err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, store.ErrChoicesTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, err.Error())
		return
	}
	at := d.SavedAt.UTC()
	writeJSON(w, http.StatusOK, ChoicesResponse{Workload: refString(subject), Saved: true, SavedAt: &at, SavedBy: d.SavedBy, Choices: c})
}
