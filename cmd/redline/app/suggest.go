package app

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/suggest"
	"github.com/redline-dev/redline/internal/traffic"
)

// SuggestOptions are the flags of `redline suggest`.
type SuggestOptions struct {
	DataDir          string
	Cluster          ClusterSource
	Workload         string
	All              bool
	Since            string
	Ingress, Egress  string
	Exclude          []string
	IncludeIPs       []string
	AllowEgressCIDR  []string
	AllowIngressCIDR []string
	NamespaceLabel   string
	NamedPorts       bool
	Output           string
	Remote           RemoteOptions

	since   time.Duration
	choices suggest.Choices
	streams IO
}

// NewSuggestCommand builds `redline suggest`.
func NewSuggestCommand(streams IO) *cobra.Command {
	o := &SuggestOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "suggest (--data-dir DIR -f MANIFESTS | --server URL) (--workload ns/Kind/name | --all)",
		Short: "Suggest a least-privilege NetworkPolicy from observed traffic",
		Long: `Writes, for a workload (or every workload with --all), one NetworkPolicy with
Ingress and Egress that allows the traffic observed in the window, shaped by
your choices: exclude rows, a global rule per direction (observed, block-all,
allow-namespace, allow-all), unresolved addresses to include, and manual CIDR
rules. Egress to the cluster DNS is always kept when egress is restricted.

A peer in a namespace that lacks the namespace label (--namespace-label) cannot
be selected: it is left out and reported ("namespace X needs label K").

Offline it reads a data directory and manifests; with --server it asks a
running redline serve (POST /api/v1/suggestions) with a Kubernetes token
that may "get" "traffic" in the redline.io group in the workload's namespace.`,
		Example: `  redline suggest --data-dir ./redline-data -f cluster/ --workload shop/Deployment/frontend
  redline suggest --data-dir ./redline-data -f cluster/ --workload shop/Deployment/frontend \
      --exclude shop/Deployment/legacy:8080/TCP --allow-egress-cidr 198.51.100.7/32:3128/TCP
  redline suggest --data-dir ./redline-data -f cluster/ --all --ingress allow-namespace --egress allow-namespace
  redline suggest --server https://127.0.0.1:8443 --certificate-authority ca.crt \
      --token "$(kubectl create token redline-dev -n redline)" --workload shop/Deployment/cart`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags registers the flags.
func (o *SuggestOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", "", "Redline data directory with the observed traffic")
	o.Cluster.AddFlags(fs)
	fs.StringVar(&o.Workload, "workload", "", "the workload: namespace/Kind/name (Kind may be Service for a Service view)")
	fs.BoolVar(&o.All, "all", false, "suggest for every workload in the manifests")
	fs.StringVar(&o.Since, "since", "12h", "window of observed traffic (e.g. 12h, 7d)")
	fs.StringVar(&o.Ingress, "ingress", string(suggest.RuleObserved), "global ingress rule: observed, block-all, allow-namespace or allow-all")
	fs.StringVar(&o.Egress, "egress", string(suggest.RuleObserved), "global egress rule: observed, block-all, allow-namespace or allow-all")
	fs.StringArrayVar(&o.Exclude, "exclude", nil, "leave out a row, both directions: PEER:PORT/PROTO, PEER a workload ns/Kind/name or an address (repeatable)")
	fs.StringArrayVar(&o.IncludeIPs, "include-ip", nil, "allow an unresolved address as an ipBlock (/32, or its alias's CIDRs) (repeatable)")
	fs.StringArrayVar(&o.AllowEgressCIDR, "allow-egress-cidr", nil, "manual rule: allow egress to CIDR[:PORT/PROTO] (repeatable)")
	fs.StringArrayVar(&o.AllowIngressCIDR, "allow-ingress-cidr", nil, "manual rule: allow ingress from CIDR[:PORT/PROTO] (repeatable)")
	fs.StringVar(&o.NamespaceLabel, "namespace-label", netpol.NamespaceNameLabel, "namespace label key that selects peer namespaces")
	fs.BoolVar(&o.NamedPorts, "named-ports", false, "use container port names where the destination declares them")
	fs.StringVarP(&o.Output, "output", "o", "yaml", "output format: yaml or json")
	fs.StringVar(&o.Remote.Server, "server", "", "ask a running redline serve at this https URL instead of reading --data-dir")
	fs.StringVar(&o.Remote.Token, "token", "", "bearer token for --server (e.g. from kubectl create token)")
	fs.StringVar(&o.Remote.TokenFile, "token-file", "", "file holding the bearer token for --server")
	fs.StringVar(&o.Remote.CertificateAuthority, "certificate-authority", "", "CA file (PEM) that signed the server's certificate")
	fs.BoolVar(&o.Remote.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "do not check the server's certificate (testing only)")
}

// Validate checks the flags and parses the choices.
func (o *SuggestOptions) Validate() error {
	remote := o.Remote.Server != ""
	switch {
	case remote && (o.DataDir != "" || len(o.Cluster.Manifests) > 0):
		return usageErrorf("--server asks a running server: leave out --data-dir and -f")
	case remote && o.All:
		return usageErrorf("--all works offline only; a running server keeps every workload's suggestion in its redline-suggested-* ConfigMaps (kubectl get cm -A -l app.kubernetes.io/managed-by=redline)")
	case remote && o.Workload == "":
		return usageErrorf("give --workload ns/Kind/name")
	case remote:
		if err := o.Remote.validate(); err != nil {
			return err
		}
	case o.DataDir == "":
		return usageErrorf("--data-dir is required: the observed traffic to suggest from (or --server to ask a running server)")
	case len(o.Cluster.Manifests) == 0:
		return usageErrorf("-f is required: the cluster's manifests (workloads, Services, namespaces)")
	case (o.Workload == "") == !o.All:
		return usageErrorf("give either --workload ns/Kind/name or --all")
	}
	if o.Output != "yaml" && o.Output != "json" {
		return usageErrorf("unknown output format %q: use yaml or json", o.Output)
	}
	var err error
	if o.since, err = traffic.ParseWindow(o.Since); err != nil {
		return usageError{fmt.Errorf("invalid --since: %w", err)}
	}
	c := suggest.Choices{NamespaceLabelKey: o.NamespaceLabel, NamedPorts: o.NamedPorts}
	for flag, dst := range map[string]*suggest.Rule{o.Ingress: &c.Ingress, o.Egress: &c.Egress} {
		switch r := suggest.Rule(flag); r {
		case suggest.RuleObserved, suggest.RuleBlockAll, suggest.RuleAllowNamespace, suggest.RuleAllowAll:
			*dst = r
		default:
			return usageErrorf("unknown global rule %q: use observed, block-all, allow-namespace or allow-all", flag)
		}
	}
	for _, e := range o.Exclude {
		peer, proto, port, err := parsePeerPort(e)
		if err != nil {
			return usageError{fmt.Errorf("invalid --exclude %q: %w", e, err)}
		}
		for _, dir := range []netpol.Direction{netpol.Ingress, netpol.Egress} {
			c.Exclude = append(c.Exclude, suggest.Row{Direction: dir, Peer: peer, Protocol: proto, Port: port})
		}
	}
	for _, s := range o.IncludeIPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErrorf("invalid --include-ip %q: want an address like 203.0.113.9", s)
		}
		c.IncludeAddresses = append(c.IncludeAddresses, a)
	}
	for flag, list := range map[string][]string{"--allow-egress-cidr": o.AllowEgressCIDR, "--allow-ingress-cidr": o.AllowIngressCIDR} {
		for _, s := range list {
			r, err := parseCIDRRule(s)
			if err != nil {
				return usageError{fmt.Errorf("invalid %s %q: %w", flag, s, err)}
			}
			if flag == "--allow-egress-cidr" {
				c.AllowEgressCIDRs = append(c.AllowEgressCIDRs, r)
			} else {
				c.AllowIngressCIDRs = append(c.AllowIngressCIDRs, r)
			}
		}
	}
	o.choices = c
	return nil
}

// parsePeerPort parses "ns/Kind/name:8080/TCP" or "203.0.113.9:443/TCP"
// (the protocol defaults to TCP).
func parsePeerPort(s string) (flow.Endpoint, flow.Protocol, uint16, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return flow.Endpoint{}, 0, 0, fmt.Errorf("want PEER:PORT/PROTO, e.g. shop/Deployment/cart:8080/TCP")
	}
	proto, port, err := parsePortProto(s[i+1:])
	if err != nil {
		return flow.Endpoint{}, 0, 0, err
	}
	peerText := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
	if a, err := netip.ParseAddr(peerText); err == nil {
		return flow.Endpoint{Kind: flow.EndpointAddress, Addr: a}, proto, port, nil
	}
	peer, err := flow.ParseWorkloadRef(peerText)
	return peer, proto, port, err
}

func parsePortProto(s string) (flow.Protocol, uint16, error) {
	portText, protoText, _ := strings.Cut(s, "/")
	proto := flow.ProtocolTCP
	if protoText != "" {
		if proto = flow.ParseProtocol(protoText); proto == flow.ProtocolUnknown {
			return 0, 0, fmt.Errorf("protocol %q: use TCP, UDP or SCTP", protoText)
		}
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return 0, 0, fmt.Errorf("port %q: want 1-65535", portText)
	}
	return proto, uint16(port), nil
}

// parseCIDRRule parses "CIDR" or "CIDR:PORT/PROTO".
func parseCIDRRule(s string) (suggest.CIDRRule, error) {
	cidrText, portText, hasPort := strings.Cut(s, ":")
	if strings.Count(s, ":") > 1 { // IPv6: the port follows the last "]:" only
		cidrText, portText, hasPort = s, "", false
		if i := strings.LastIndex(s, "]:"); i > 0 {
			cidrText, portText, hasPort = strings.TrimPrefix(s[:i], "["), s[i+2:], true
		}
	}
	p, err := netip.ParsePrefix(cidrText)
	if err != nil {
		return suggest.CIDRRule{}, fmt.Errorf("want CIDR[:PORT/PROTO], e.g. 198.51.100.0/24:443/TCP")
	}
	r := suggest.CIDRRule{CIDR: p.Masked()}
	if hasPort {
		if r.Protocol, r.Port, err = parsePortProto(portText); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Run suggests and prints.
func (o *SuggestOptions) Run(ctx context.Context) error {
	if o.Remote.Server != "" {
		return o.runRemote(ctx)
	}
	inv, cluster, err := o.Cluster.Load(ctx, o.streams)
	if err != nil {
		return err
	}
	var subjects []flow.Endpoint
	if o.All {
		for _, w := range inv.Workloads {
			if !w.HostNetwork {
				subjects = append(subjects, flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
			}
		}
	} else {
		ep, err := flow.ParseWorkloadRef(o.Workload)
		if err != nil {
			if ns, name, ok := serviceRef(o.Workload); ok {
				ep = inventory.ServiceEndpoint(ns, name)
			} else {
				return usageError{err}
			}
		}
		subjects = append(subjects, ep)
	}
	st, err := store.Open(ctx, store.Options{Dir: o.DataDir, Logger: cliLogger(o.streams)})
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	from, to := now.Add(-o.since), now.Add(time.Hour)

	var out []suggest.Suggestion
	lookup := suggest.NewLookup(inv) // one for every subject (--all)
	for _, subject := range subjects {
		in := suggest.Input{Subject: subject, Inventory: inv, Aliases: cluster.Classifier().Aliases(), Window: o.since, Now: now, Source: "redline suggest " + o.DataDir, Lookup: lookup}
		if in.Ingress, in.Egress, err = lookup.Gather(ctx, st, subject, from, to); err != nil {
			return err
		}
		s, err := suggest.Suggest(in, o.choices)
		if err != nil {
			if o.All {
				fmt.Fprintf(o.streams.ErrOut, "warning: %s: %v\n", subject, err)
				continue
			}
			return fmt.Errorf("%s: %w", subject, err)
		}
		for _, need := range s.NeedsLabel {
			fmt.Fprintf(o.streams.ErrOut, "warning: %s: %s\n", subject, need.Message())
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(o.streams.ErrOut, "warning: %s: %s\n", subject, w)
		}
		out = append(out, s)
	}
	if o.Output == "json" {
		return writeJSON(o.streams.Out, out)
	}
	for i, s := range out {
		y, err := suggest.YAML(s.Policy)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.streams.Out, "---")
		}
		if _, err := o.streams.Out.Write(y); err != nil {
			return err
		}
	}
	return nil
}

// serviceRef accepts "ns/Service/name" spelled with svc or service.
func serviceRef(s string) (string, string, bool) {
	parts := strings.Split(s, "/")
	if len(parts) == 3 && parts[0] != "" && parts[2] != "" && (strings.EqualFold(parts[1], "service") || strings.EqualFold(parts[1], "svc")) {
		return parts[0], parts[2], true
	}
	return "", "", false
}
