package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
)

// RemoteOptions say how to reach a running `redline serve`.
type RemoteOptions struct {
	Server                string
	Token                 string
	TokenFile             string
	CertificateAuthority  string
	InsecureSkipTLSVerify bool
}

// validate checks the remote flags when --server is given.
func (r *RemoteOptions) validate() error {
	u, err := url.Parse(r.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return usageErrorf("invalid --server %q: want the API's https URL, e.g. https://redline.redline.svc:8443", r.Server)
	}
	if r.Token != "" && r.TokenFile != "" {
		return usageErrorf("--token and --token-file go one at a time")
	}
	if r.CertificateAuthority != "" && r.InsecureSkipTLSVerify {
		return usageErrorf("--certificate-authority and --insecure-skip-tls-verify go one at a time")
	}
	return nil
}

func (r *RemoteOptions) client() (*http.Client, string, error) {
	token := r.Token
	if r.TokenFile != "" {
		data, err := os.ReadFile(r.TokenFile)
		if err != nil {
			return nil, "", fmt.Errorf("read --token-file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.InsecureSkipTLSVerify}
	if r.CertificateAuthority != "" {
		pem, err := os.ReadFile(r.CertificateAuthority)
		if err != nil {
			return nil, "", fmt.Errorf("read --certificate-authority: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--certificate-authority %s: no PEM certificate in it", r.CertificateAuthority)
		}
		tlsConf.RootCAs = pool
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}, token, nil
}

// request is the API request the flags describe.
func (o *SuggestOptions) request() (api.SuggestionRequest, error) {
	c := o.choices
	req := api.SuggestionRequest{
		Workload: o.Workload, Since: o.Since, Ingress: c.Ingress, Egress: c.Egress,
		IncludeAddresses: c.IncludeAddresses, NamespaceLabelKey: c.NamespaceLabelKey, NamedPorts: c.NamedPorts,
	}
	for _, e := range o.Exclude {
		i := strings.LastIndexByte(e, ':')
		proto, port, err := parsePortProto(e[i+1:])
		if err != nil {
			return req, err
		}
		peer := strings.TrimSuffix(strings.TrimPrefix(e[:i], "["), "]")
		for _, dir := range []netpol.Direction{netpol.Ingress, netpol.Egress} {
			req.Exclude = append(req.Exclude, api.RowChoice{Direction: dir, Peer: peer, Protocol: proto.String(), Port: port})
		}
	}
	for _, r := range c.AllowEgressCIDRs {
		req.AllowEgressCIDRs = append(req.AllowEgressCIDRs, api.CIDRChoice{CIDR: r.CIDR, Protocol: protoText(r), Port: r.Port})
	}
	for _, r := range c.AllowIngressCIDRs {
		req.AllowIngressCIDRs = append(req.AllowIngressCIDRs, api.CIDRChoice{CIDR: r.CIDR, Protocol: protoText(r), Port: r.Port})
	}
	return req, nil
}

// runRemote asks a running server (POST /api/v1/suggestions) and prints
// its answer as the offline command would.
func (o *SuggestOptions) runRemote(ctx context.Context) error {
	httpc, token, err := o.Remote.client()
	if err != nil {
		return err
	}
	req, err := o.request()
	if err != nil {
		return usageError{err}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	endpoint := strings.TrimSuffix(o.Remote.Server, "/") + "/api/v1/suggestions"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpc.Do(hreq)
	if err != nil {
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return fmt.Errorf("%s: %w (pass the API's CA with --certificate-authority)", endpoint, err)
		}
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		var problem struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &problem) == nil && problem.Error != "" {
			msg = problem.Error
		}
		if resp.StatusCode == http.StatusUnauthorized && token == "" {
			msg += " (pass a token: --token \"$(kubectl create token SERVICEACCOUNT)\")"
		}
		return fmt.Errorf("%s: %s: %s", endpoint, resp.Status, msg)
	}
	// The fields printed; -o json passes the whole answer on.
	var got struct {
		YAML       string   `json:"yaml"`
		NeedsLabel []string `json:"needsLabel"`
		Warnings   []string `json:"warnings"`
	}
	if err := json.Unmarshal(data, &got); err != nil || got.YAML == "" {
		return fmt.Errorf("%s: the answer is not a suggestion (%v): %.200s", endpoint, err, data)
	}
	for _, n := range got.NeedsLabel {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s: %s\n", o.Workload, n)
	}
	for _, w := range got.Warnings {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s: %s\n", o.Workload, w)
	}
	if o.Output == "json" {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, data, "", "  "); err != nil {
			return err
		}
		pretty.WriteByte('\n')
		_, err = o.streams.Out.Write(pretty.Bytes())
		return err
	}
	_, err = io.WriteString(o.streams.Out, got.YAML)
	return err
}

// protoText is a manual rule's protocol for the API: empty for every
// protocol.
func protoText(r suggest.CIDRRule) string {
	if r.Protocol == flow.ProtocolUnknown {
		return ""
	}
	return r.Protocol.String()
}
