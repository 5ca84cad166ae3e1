package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/internal/analyze"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
)

// AnalyzeOptions are the flags of `redline analyze`.
type AnalyzeOptions struct {
	Files          []string
	Output         string
	Focus          string
	Explain        bool
	ClusterCIDRs   []string
	IPBlockMatches bool

	streams IO
}

// NewAnalyzeCommand builds `redline analyze`.
func NewAnalyzeCommand(streams IO) *cobra.Command {
	o := &AnalyzeOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "analyze -f PATH [-f PATH ...]",
		Short: "Print the connectivity that NetworkPolicies in manifest files allow",
		Long: `Reads Kubernetes manifests (files, folders recursively, or - for stdin; YAML
with several documents, JSON, List kinds) and prints, for every ordered pair of
workloads and between workloads and addresses outside the cluster, the
connections the NetworkPolicies allow:

  SRC => DST : CONNS

Workloads are written namespace/name[Kind] and analysed through their pod
template; addresses outside the cluster are written as ranges cut at every
ipBlock boundary the policies mention. Pairs with no allowed connection are
not printed unless --explain is given.`,
		Example: `  # Everything in a folder
  redline analyze -f examples/

  # One workload, with the reasons for every pair
  redline analyze -f examples/ --focus-workload shop/frontend --explain

  # From stdin, as JSON
  kubectl get deploy,netpol,ns -A -o yaml | redline analyze -f - -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags registers the flags.
func (o *AnalyzeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file, folder (read recursively) or - for stdin; repeatable")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fs.StringVar(&o.Focus, "focus-workload", "", "only pairs involving this workload: namespace/name, namespace/Kind/name or namespace/name[Kind]")
	fs.BoolVar(&o.Explain, "explain", false, "explain every pair: isolating policies and the rule that allowed each connection, or why none did")
	fs.StringSliceVar(&o.ClusterCIDRs, "cluster-cidr", nil, "pod and service CIDRs; addresses inside them are not shown as external")
	fs.BoolVar(&o.IPBlockMatches, "ipblock-matches-pods", true, "whether ipBlock peers match pod addresses (they do in the upstream conformance tests)")
}

// Validate checks the flags.
func (o *AnalyzeOptions) Validate() error {
	if len(o.Files) == 0 {
		return usageErrorf("no input: give at least one -f PATH (a file, a folder or - for stdin)")
	}
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("unknown output format %q: use text or json", o.Output)
	}
	for _, c := range o.ClusterCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			return usageErrorf("invalid --cluster-cidr %q: want a CIDR like 10.244.0.0/16", c)
		}
	}
	return nil
}

// Run loads the manifests and prints the report. Nothing is printed to
// stdout unless the whole input loaded and analysed.
func (o *AnalyzeOptions) Run(cmd *cobra.Command) error {
	inv, err := inventory.LoadFiles(cmd.Context(), o.Files, inventory.LoadOptions{Stdin: o.streams.In})
	if err != nil {
		return err
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s\n", w)
	}
	opts := netpol.Options{IPBlockMatchesPods: o.IPBlockMatches}
	for _, c := range o.ClusterCIDRs {
		opts.ClusterCIDRs = append(opts.ClusterCIDRs, netip.MustParsePrefix(c))
	}
	conns, err := analyze.Run(analyze.Input{
		Namespaces: inv.Namespaces,
		Workloads:  inv.Workloads,
		Policies:   inv.Policies,
		Options:    opts,
	}, analyze.Options{Focus: o.Focus, Explain: o.Explain})
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return writeJSON(o.streams.Out, conns)
	}
	return writeConnections(o.streams.Out, conns)
}

func writeConnections(w io.Writer, conns []analyze.Connection) error {
	var b strings.Builder
	for _, c := range conns {
		if c.Explanation != nil {
			b.WriteString(c.Explanation.Text())
			continue
		}
		fmt.Fprintf(&b, "%s => %s : %s\n", c.Src, c.Dst, c.Conn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
