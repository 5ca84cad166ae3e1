package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/traffic"
)

// WhatIfOptions are the flags of `redline whatif`.
type WhatIfOptions struct {
	DataDir    string
	Manifests  []string
	PolicyFile string
	Delete     bool
	Since      string
	Output     string

	since   time.Duration
	streams IO
}

// ErrTurnsRed is returned (exit status 3) when the change would cut
// observed connections.
var ErrTurnsRed = errors.New("the change would block observed connections")

// NewWhatIfCommand builds `redline whatif`.
func NewWhatIfCommand(streams IO) *cobra.Command {
	o := &WhatIfOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "whatif --data-dir DIR -f CLUSTER_MANIFESTS --policy FILE [--delete]",
		Short: "Show which observed connections a NetworkPolicy change would block (for GitOps checks)",
		Long: `Judges every connection observed in the window that the change could affect
under the current policies (from -f) and under the proposed ones (the policy in
--policy created or updated, or deleted with --delete), and lists the
connections that turn red (allowed now, blocked after), turn green, and stay
red, with the reason.

Exit status: 0 when nothing would turn red, 3 when something would, 1 on bad
input. When no traffic was observed for the pods the policy selects, the
impact is unknown: that is said, and the exit status is 0.`,
		Example: `  # In CI, before merging a policy change:
  redline whatif --data-dir ./redline-data -f cluster/ --policy cluster/shop/netpol.yaml --since 7d`,
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
func (o *WhatIfOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", "", "Redline data directory with the observed traffic")
	fs.StringArrayVarP(&o.Manifests, "filename", "f", nil, "current cluster manifests (namespaces, workloads, pods, Services, NetworkPolicies); repeatable")
	fs.StringVar(&o.PolicyFile, "policy", "", "file with the proposed NetworkPolicy (one)")
	fs.BoolVar(&o.Delete, "delete", false, "judge deleting the policy instead of applying it")
	fs.StringVar(&o.Since, "since", "7d", "window of observed traffic (e.g. 12h, 7d)")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
}

// Validate checks the flags.
func (o *WhatIfOptions) Validate() error {
	switch {
	case o.DataDir == "":
		return usageErrorf("--data-dir is required: the traffic to judge the change against")
	case len(o.Manifests) == 0:
		return usageErrorf("-f is required: the current cluster's manifests")
	case o.PolicyFile == "":
		return usageErrorf("--policy is required: the NetworkPolicy to create, update or delete")
	case o.Output != "text" && o.Output != "json":
		return usageErrorf("unknown output format %q: use text or json", o.Output)
	}
	d, err := traffic.ParseWindow(o.Since)
	if err != nil {
		return usageError{fmt.Errorf("invalid --since: %w", err)}
	}
	o.since = d
	return nil
}

// WhatIfReport is the JSON output.
type WhatIfReport struct {
	Policy    string `json:"policy"`
	Operation string `json:"operation"`
	impact.Impact
}

// Run computes the impact.
func (o *WhatIfOptions) Run(ctx context.Context) error {
	inv, err := inventory.LoadFiles(ctx, o.Manifests, inventory.LoadOptions{Stdin: o.streams.In})
	if err != nil {
		return err
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s\n", w)
	}
	proposed, err := inventory.LoadFiles(ctx, []string{o.PolicyFile}, inventory.LoadOptions{Stdin: o.streams.In})
	if err != nil {
		return err
	}
	if len(proposed.Policies) != 1 {
		return fmt.Errorf("%s: want exactly one NetworkPolicy, found %d", o.PolicyFile, len(proposed.Policies))
	}
	policy := proposed.Policies[0]
	change := impact.ChangeFor(inv.Policies, policy, o.Delete)

	cluster := impact.Cluster{Namespaces: inv.Namespaces, Workloads: inv.Workloads, Policies: inv.Policies, Options: netpol.DefaultOptions()}
	for _, s := range inv.Services {
		cluster.Services = append(cluster.Services, impact.Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Selector})
	}
	analyzer, err := impact.NewAnalyzer(cluster, impact.Options{Window: o.since})
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Dir: o.DataDir, Logger: cliLogger(o.streams)})
	if err != nil {
		return err
	}
	now := time.Now()
	edges, err := st.NamespaceEdges(ctx, policy.Namespace, now.Add(-o.since), now.Add(time.Hour))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	imp, err := analyzer.PolicyChange(ctx, change, edges)
	if err != nil {
		return err
	}
	rep := WhatIfReport{Policy: policy.Namespace + "/" + policy.Name, Operation: string(change.Operation), Impact: imp}
	if o.Output == "json" {
		err = writeJSON(o.streams.Out, rep)
	} else {
		err = writeWhatIfText(o.streams.Out, rep, now)
	}
	if err != nil {
		return err
	}
	if imp.Totals.TurnsRed.Connections > 0 {
		return fmt.Errorf("%w: %d (see above)", ErrTurnsRed, imp.Totals.TurnsRed.Connections)
	}
	return nil
}

func writeWhatIfText(w io.Writer, rep WhatIfReport, now time.Time) error {
	t := rep.Totals
	fmt.Fprintf(w, "NetworkPolicy %s (%s), traffic of the last %s: %d connections turn red, %d turn green, %d stay red (%d judged)\n",
		rep.Policy, rep.Operation, formatWindow(rep.Window), t.TurnsRed.Connections, t.TurnsGreen.Connections, t.StaysRed.Connections, rep.Evaluated)
	if rep.Unknown {
		fmt.Fprintf(w, "impact unknown: %s\n", rep.Reason)
	} else if rep.Reason != "" {
		fmt.Fprintln(w, rep.Reason)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, class := range []struct {
		title string
		conns []impact.Connection
	}{{"TURNS RED", rep.TurnsRed}, {"TURNS GREEN", rep.TurnsGreen}, {"STAYS RED", rep.StaysRed}} {
		if len(class.conns) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\n  SOURCE\tDESTINATION\tPORT\tCONNECTIONS\tLAST SEEN\tWHY\n", class.title)
		for _, c := range class.conns {
			fmt.Fprintf(tw, "  %s\t%s\t%s/%d\t%s\t%s\t%s\n", c.Src, c.Dst, c.Protocol, c.Port, traffic.Count(c.Count), traffic.Ago(c.LastSeen, now), why(c.Explanation))
		}
	}
	if len(rep.Unobserved) > 0 {
		fmt.Fprintf(tw, "\nno traffic observed for: %s\n", strings.Join(rep.Unobserved, ", "))
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(tw, "skipped %d edges of %s: %s\n", s.Edges, s.Endpoint, s.Reason)
	}
	return tw.Flush()
}

// formatWindow writes whole days as "7d", other windows as Go does.
func formatWindow(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// why is the one-line reason of a verdict: the side that decides it.
func why(ex *netpol.Explanation) string {
	if ex == nil {
		return "-"
	}
	for _, s := range []netpol.Side{ex.Egress, ex.Ingress} {
		if s.Subject && !s.Allowed {
			return fmt.Sprintf("%s at %s: isolated by %s, no rule allows it", strings.ToLower(string(s.Direction)), s.Endpoint, strings.Join(s.IsolatedBy, ", "))
		}
	}
	return "allowed"
}
