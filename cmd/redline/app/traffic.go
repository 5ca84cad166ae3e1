package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/traffic"
)

// TrafficOptions are the flags of `redline traffic`.
type TrafficOptions struct {
	DataDir   string
	Namespace string
	Workload  string
	Since     string
	Output    string
	Cluster   ClusterSource

	since    time.Duration
	workload flow.Endpoint
	streams  IO
}

// NewTrafficCommand builds `redline traffic`.
func NewTrafficCommand(streams IO) *cobra.Command {
	o := &TrafficOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "traffic --data-dir DIR [--namespace NS] [--workload ns/Kind/name] [--since 12h]",
		Short: "Show observed traffic: a workload's ingress and egress, a namespace's edges, or a summary",
		Long: `Shows the traffic stored in a data directory over a window:

  --workload ns/Kind/name   the workload's ingress and egress tables (peer, kind,
                            port, protocol, connections, last seen, verdict)
  --namespace NS            every edge touching the namespace
  (neither)                 per-namespace summaries

and, in every view, the unresolved addresses involved with their class
(internal, external, aliased, unknown). A verdict of DROPPED means the
datapath already denied some of those connections.`,
		Example: `  redline traffic --data-dir ./redline-data --workload shop/Deployment/frontend --since 24h
  redline traffic --data-dir ./redline-data --namespace shop -o json`,
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
func (o *TrafficOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", "", "Redline data directory")
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "show the edges of one namespace")
	fs.StringVar(&o.Workload, "workload", "", "show one workload's tables: namespace/Kind/name, e.g. shop/Deployment/frontend")
	fs.StringVar(&o.Since, "since", "24h", "window: how far back to aggregate (e.g. 90m, 12h, 7d)")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	o.Cluster.AddFlags(fs)
}

// Validate checks the flags.
func (o *TrafficOptions) Validate() error {
	if o.DataDir == "" {
		return usageErrorf("--data-dir is required: the directory `redline ingest` or `redline serve` wrote")
	}
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("unknown output format %q: use text or json", o.Output)
	}
	d, err := traffic.ParseWindow(o.Since)
	if err != nil {
		return usageError{fmt.Errorf("invalid --since: %w", err)}
	}
	o.since = d
	if o.Workload != "" {
		ep, err := flow.ParseWorkloadRef(o.Workload)
		if err != nil {
			return usageError{err}
		}
		o.workload = ep
	}
	return nil
}

// TrafficReport is the JSON output of `redline traffic`.
type TrafficReport struct {
	From       time.Time                `json:"from"`
	To         time.Time                `json:"to"`
	Workload   *traffic.Tables          `json:"workload,omitempty"`
	Edges      []traffic.EdgeRow        `json:"edges,omitempty"`
	Namespaces []store.NamespaceSummary `json:"namespaces,omitempty"`
	Unresolved []store.AddressSummary   `json:"unresolved"`
}

// Run queries the store and prints the view.
func (o *TrafficOptions) Run(ctx context.Context) error {
	var cluster *inventory.Cluster
	if len(o.Cluster.Manifests) > 0 || o.Cluster.ConfigFile != "" {
		inv, c, err := o.Cluster.Load(ctx, o.streams)
		if err != nil {
			return err
		}
		cluster = c
		if o.Workload != "" && len(o.Cluster.Manifests) > 0 && !slices.ContainsFunc(inv.Workloads, func(w *netpol.Workload) bool {
			return w.Namespace == o.workload.Namespace && w.Kind == o.workload.WorkloadKind && w.Name == o.workload.Name
		}) {
			fmt.Fprintf(o.streams.ErrOut, "warning: %s is not in the manifests (deleted?): showing its stored traffic\n", o.workload)
		}
	}
	// traffic only reads: a missing or empty directory holds no data and
	// must not become a store.
	if entries, err := os.ReadDir(o.DataDir); errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		return fmt.Errorf("no Redline data in %s: point --data-dir at the directory `redline ingest` or `redline serve` wrote", o.DataDir)
	}
	st, err := store.Open(ctx, store.Options{Dir: o.DataDir, Logger: cliLogger(o.streams)})
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	rep := TrafficReport{From: now.Add(-o.since), To: now}
	// The current hour is open: include it.
	to := now.Add(time.Hour)

	involved := func(store.AddressSummary) bool { return true }
	switch {
	case o.Workload != "":
		in, out, err := st.WorkloadEdges(ctx, o.workload, rep.From, to)
		if err != nil {
			return err
		}
		t := traffic.WorkloadTables(o.workload, in, out)
		rep.Workload = &t
		involved = func(a store.AddressSummary) bool {
			return hasPeer(a, func(e flow.Endpoint) bool { return e == o.workload })
		}
	case o.Namespace != "":
		edges, err := st.NamespaceEdges(ctx, o.Namespace, rep.From, to)
		if err != nil {
			return err
		}
		rep.Edges = traffic.NamespaceRows(edges)
		involved = func(a store.AddressSummary) bool {
			return hasPeer(a, func(e flow.Endpoint) bool { return e.Namespace == o.Namespace })
		}
	default:
		if rep.Namespaces, err = st.NamespaceSummaries(ctx, rep.From, to); err != nil {
			return err
		}
	}
	addrs, err := st.UnresolvedAddresses(ctx, rep.From, to)
	if err != nil {
		return err
	}
	rep.Unresolved = []store.AddressSummary{}
	for _, a := range addrs {
		if involved(a) {
			rep.Unresolved = append(rep.Unresolved, a)
		}
	}
	if cluster != nil {
		reclassify(&rep, cluster.Classifier())
	}
	if o.Output == "json" {
		return writeJSON(o.streams.Out, rep)
	}
	return writeTrafficText(o.streams.Out, rep, now)
}

// reclassify applies the current configuration to stored addresses: an
// alias added after the traffic was recorded shows, and an address stored as
// unknown gets the class the configuration now gives it.
func reclassify(rep *TrafficReport, c *inventory.Classifier) {
	apply := func(a netip.Addr, class *flow.AddrClass, alias *string) {
		cls, name := c.Classify(a, inventory.AddrFacts{})
		if cls == flow.ClassAliased || *class == flow.ClassUnknown {
			*class, *alias = cls, name
		}
	}
	for i := range rep.Unresolved {
		u := &rep.Unresolved[i]
		apply(u.Addr, &u.Class, &u.Alias)
	}
	if rep.Workload != nil {
		for _, rows := range [][]traffic.Row{rep.Workload.Ingress, rep.Workload.Egress} {
			for i := range rows {
				r := &rows[i]
				if r.Kind != "Address" {
					continue
				}
				a, err := netip.ParseAddr(r.Peer)
				if err != nil {
					continue
				}
				class, _ := flow.ParseAddrClass(r.Class)
				apply(a, &class, &r.Alias)
				r.Class = class.String()
			}
		}
	}
}

func hasPeer(a store.AddressSummary, match func(flow.Endpoint) bool) bool {
	for _, p := range a.Peers {
		if match(p) {
			return true
		}
	}
	return false
}

func writeTrafficText(w io.Writer, rep TrafficReport, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string) { fmt.Fprintf(tw, "%s\n", title) }
	rowsTable := func(rows []traffic.Row) {
		if len(rows) == 0 {
			fmt.Fprintln(tw, "  (none observed)")
			return
		}
		fmt.Fprintln(tw, "  PEER\tKIND\tNAMESPACE\tPORT\tPROTOCOL\tCONNECTIONS\tLAST SEEN\tVERDICT")
		for _, r := range rows {
			peer := r.Peer
			if r.Alias != "" {
				peer += " (" + r.Alias + ")"
			}
			kind := r.Kind
			if r.Class != "" {
				kind += "/" + r.Class
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", peer, kind, dash(r.Namespace), r.Port, r.Protocol, traffic.Count(r.Connections), traffic.Ago(r.LastSeen, now), r.Verdict)
		}
	}
	switch {
	case rep.Workload != nil:
		section("INGRESS to " + rep.Workload.Workload)
		rowsTable(rep.Workload.Ingress)
		fmt.Fprintln(tw)
		section("EGRESS from " + rep.Workload.Workload)
		rowsTable(rep.Workload.Egress)
	case rep.Edges != nil:
		section("EDGES")
		if len(rep.Edges) == 0 {
			fmt.Fprintln(tw, "  (none observed)")
		} else {
			fmt.Fprintln(tw, "  SOURCE\tDESTINATION\tKIND\tPORT\tPROTOCOL\tCONNECTIONS\tLAST SEEN\tVERDICT")
			for _, e := range rep.Edges {
				dst := e.Peer
				if e.Namespace != "" {
					dst = e.Namespace + "/" + e.Peer
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Src, dst, e.Kind, e.Port, e.Protocol, traffic.Count(e.Connections), traffic.Ago(e.LastSeen, now), e.Verdict)
			}
		}
	default:
		section("NAMESPACES")
		if len(rep.Namespaces) == 0 {
			fmt.Fprintln(tw, "  (no traffic observed in the window)")
			break
		}
		fmt.Fprintln(tw, "  NAMESPACE\tWORKLOADS\tEDGES IN\tEDGES OUT\tCONNECTIONS\tDROPPED\tUNRESOLVED PEERS")
		for _, n := range rep.Namespaces {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%s\t%d\n", n.Namespace, n.Workloads, n.EdgesIn, n.EdgesOut, traffic.Count(n.Connections), traffic.Count(n.Dropped), n.UnresolvedPeers)
		}
	}
	fmt.Fprintln(tw)
	section("UNRESOLVED ADDRESSES")
	if len(rep.Unresolved) == 0 {
		fmt.Fprintln(tw, "  (none)")
	} else {
		fmt.Fprintln(tw, "  ADDRESS\tCLASS\tALIAS\tCONNECTIONS\tDROPPED\tPEERS\tLAST SEEN\tNAMES")
		for _, a := range rep.Unresolved {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Addr, a.Class, dash(a.Alias), traffic.Count(a.Count), traffic.Count(a.Dropped), a.PeerCount, traffic.Ago(a.LastSeen, now), dash(strings.Join(a.Names, ",")))
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
