package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/inventory"
)

// The admin actions change the redline-config ConfigMap in Redline's
// namespace (docs/config.md): read, edit, validate with the parser the
// live configuration uses, write with the resourceVersion read (retried on
// conflicts). A value the parser would skip is refused (400) and nothing is
// written, so the ConfigMap never holds an entry Redline ignores because of
// the API.

// AliasRequest is the body of POST /api/v1/aliases: it sets (adds or
// replaces) the alias.
type AliasRequest struct {
	Name  string   `json:"name"`
	CIDRs []string `json:"cidrs"`
}

// AllowedRequest is the body of POST /api/v1/allowed: an address, a CIDR
// or the name of an alias to mark allowed.
type AllowedRequest struct {
	Entry string `json:"entry"`
}

// CIDRsRequest is the body of POST /api/v1/cidrs: CIDRs (or addresses) to
// add to clusterCIDRs.
type CIDRsRequest struct {
	CIDRs []string `json:"cidrs"`
}

// SettingsResponse is the ConfigMap key after the change.
type SettingsResponse struct {
	ConfigMap string `json:"configMap"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	// Changed is false when the setting was there already.
	Changed bool `json:"changed"`
	// Warnings are the configuration's remaining reports (entries written
	// by hand that Redline skips), if any.
	Warnings []string `json:"warnings,omitempty"`
}

const maxSettingsBytes = 64 << 10

// errBadSetting marks the caller's mistakes (400).
var errBadSetting = errors.New("invalid setting")

func decodeSetting(body io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(body, maxSettingsBytes+1))
	if err != nil {
		return fmt.Errorf("read the request: %w", err)
	}
	if len(data) > maxSettingsBytes {
		return fmt.Errorf("%w: request larger than %d bytes", errBadSetting, maxSettingsBytes)
	}
	if err := strictJSON(data, v); err != nil {
		return fmt.Errorf("%w: %v", errBadSetting, err)
	}
	return nil
}

func decodeAlias(body io.Reader) (AliasRequest, error) {
	var req AliasRequest
	if err := decodeSetting(body, &req); err != nil {
		return req, err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		return req, fmt.Errorf("%w: name is required", errBadSetting)
	}
	if len(req.CIDRs) == 0 {
		return req, fmt.Errorf("%w: cidrs is required: the addresses and CIDRs the alias names", errBadSetting)
	}
	for _, c := range req.CIDRs {
		if err := singleEntry("cidrs", c); err != nil {
			return req, err
		}
	}
	return req, nil
}

func decodeAllowed(body io.Reader) (AllowedRequest, error) {
	var req AllowedRequest
	if err := decodeSetting(body, &req); err != nil {
		return req, err
	}
	req.Entry = strings.TrimSpace(req.Entry)
	if req.Entry == "" {
		return req, fmt.Errorf("%w: entry is required: an address, a CIDR or an alias name", errBadSetting)
	}
	return req, singleEntry("entry", req.Entry)
}

func decodeCIDRs(body io.Reader) (CIDRsRequest, error) {
	var req CIDRsRequest
	if err := decodeSetting(body, &req); err != nil {
		return req, err
	}
	if len(req.CIDRs) == 0 {
		return req, fmt.Errorf("%w: cidrs is required", errBadSetting)
	}
	for i, c := range req.CIDRs {
		req.CIDRs[i] = strings.TrimSpace(c)
		if err := singleEntry("cidrs", req.CIDRs[i]); err != nil {
			return req, err
		}
	}
	return req, nil
}

// singleEntry refuses text that the list syntax would split or comment
// out: one entry must stay one entry.
func singleEntry(field, s string) error {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, ", \t\r\n#") {
		return fmt.Errorf("%w: %s %q: want one address, CIDR or name, without spaces, commas or #", errBadSetting, field, s)
	}
	return nil
}

func (n *NetworkHandler) postAlias(w http.ResponseWriter, r *http.Request) {
	n.settingsAction(w, r, inventory.ConfigKeyAliases, func(body io.Reader) (func(string) (string, error), error) {
		req, err := decodeAlias(body)
		if err != nil {
			return nil, err
		}
		return func(text string) (string, error) { return setAlias(text, req.Name, req.CIDRs) }, nil
	})
}

func (n *NetworkHandler) postAllowed(w http.ResponseWriter, r *http.Request) {
	n.settingsAction(w, r, inventory.ConfigKeyAllowed, func(body io.Reader) (func(string) (string, error), error) {
		req, err := decodeAllowed(body)
		if err != nil {
			return nil, err
		}
		return func(text string) (string, error) { return appendEntries(text, []string{req.Entry}), nil }, nil
	})
}

func (n *NetworkHandler) postCIDRs(w http.ResponseWriter, r *http.Request) {
	n.settingsAction(w, r, inventory.ConfigKeyClusterCIDRs, func(body io.Reader) (func(string) (string, error), error) {
		req, err := decodeCIDRs(body)
		if err != nil {
			return nil, err
		}
		return func(text string) (string, error) { return appendEntries(text, req.CIDRs), nil }, nil
	})
}

// settingsAction authorises an admin, decodes the body into an edit of
// key, and applies it.
func (n *NetworkHandler) settingsAction(w http.ResponseWriter, r *http.Request, key string, decode func(io.Reader) (func(string) (string, error), error)) {
	if _, err := n.Auth.Check(r, ManageSettings); err != nil {
		writeAuthError(w, err)
		return
	}
	edit, err := decode(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := n.editConfig(r.Context(), key, edit)
	switch {
	case errors.Is(err, errBadSetting):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, resp)
	}
}

// maxConfigAttempts bounds the read-modify-write retries.
const maxConfigAttempts = 8

// editConfig applies edit to key of the redline-config ConfigMap (creating
// it if need be), refusing a result the parser reports a new problem with.
func (n *NetworkHandler) editConfig(ctx context.Context, key string, edit func(string) (string, error)) (SettingsResponse, error) {
	if n.Client == nil || n.ConfigNamespace == "" {
		return SettingsResponse{}, errors.New("settings cannot be changed: no Kubernetes client or namespace configured")
	}
	cms := n.Client.CoreV1().ConfigMaps(n.ConfigNamespace)
	resp := SettingsResponse{ConfigMap: n.ConfigNamespace + "/" + inventory.ConfigMapName, Key: key}
	var lastErr error
	for range maxConfigAttempts {
		cm, err := cms.Get(ctx, inventory.ConfigMapName, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		switch {
		case create:
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: inventory.ConfigMapName, Namespace: n.ConfigNamespace}}
		case err != nil:
			return resp, fmt.Errorf("read ConfigMap %s: %w", resp.ConfigMap, err)
		}
		old := cm.Data
		value, err := edit(old[key])
		if err != nil {
			return resp, err
		}
		data := make(map[string]string, len(old)+1)
		for k, v := range old {
			data[k] = v
		}
		data[key] = value
		_, before := inventory.ParseConfig(old)
		_, after := inventory.ParseConfig(data)
		if added := newWarnings(before, after); len(added) > 0 {
			return resp, fmt.Errorf("%w: %s", errBadSetting, strings.Join(added, "; "))
		}
		resp.Value, resp.Warnings = value, after
		if value == old[key] && !create {
			return resp, nil
		}
		cm = cm.DeepCopy()
		cm.Data = data
		if create {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		} else {
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
			resp.Changed = true
			return resp, nil
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			lastErr = err // someone else wrote first: read again
			continue
		case apierrors.IsInvalid(err) || apierrors.IsRequestEntityTooLargeError(err):
			return resp, fmt.Errorf("%w: the API server refused ConfigMap %s: %v", errBadSetting, resp.ConfigMap, err)
		default:
			return resp, fmt.Errorf("write ConfigMap %s: %w", resp.ConfigMap, err)
		}
	}
	return resp, fmt.Errorf("write ConfigMap %s: still conflicting after %d attempts: %w", resp.ConfigMap, maxConfigAttempts, lastErr)
}

var lineRef = regexp.MustCompile(`line \d+`)

// newWarnings are the reports of after that before does not have, line
// numbers aside (an edit moves lines).
func newWarnings(before, after []string) []string {
	seen := map[string]int{}
	for _, w := range before {
		seen[lineRef.ReplaceAllString(w, "line N")]++
	}
	var out []string
	for _, w := range after {
		k := lineRef.ReplaceAllString(w, "line N")
		if seen[k] > 0 {
			seen[k]--
			continue
		}
		out = append(out, w)
	}
	return out
}

// appendEntries adds the entries a list value lacks, one a line, keeping
// the text (and its comments) as it is.
func appendEntries(text string, entries []string) string {
	have := map[string]bool{}
	for line := range strings.SplitSeq(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			have[f] = true
		}
	}
	out := text
	for _, e := range entries {
		if have[e] {
			continue
		}
		have[e] = true
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += e + "\n"
	}
	return out
}

// setAlias sets alias name to entries in the aliases YAML text, keeping
// the other aliases and comments.
func setAlias(text, name string, entries []string) (string, error) {
	var doc yaml.Node
	if strings.TrimSpace(text) != "" {
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			return "", fmt.Errorf("%w: the aliases setting is not valid YAML; fix ConfigMap redline-config first: %v", errBadSetting, err)
		}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		*m = yaml.Node{Kind: yaml.MappingNode}
	}
	if m.Kind != yaml.MappingNode {
		return "", fmt.Errorf("%w: the aliases setting is not a mapping of names to CIDRs; fix ConfigMap redline-config first", errBadSetting)
	}
	value := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, e := range entries {
		value.Content = append(value.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: e})
	}
	replaced := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			m.Content[i+1] = value
			replaced = true
			break
		}
	}
	if !replaced {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, value)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("%w: write the aliases: %v", errBadSetting, err)
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
