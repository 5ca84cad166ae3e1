package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/store"
)

// ClusterSource is how offline commands learn the cluster: manifests and
// an optional redline-config file.
type ClusterSource struct {
	Manifests  []string
	ConfigFile string
}

// AddFlags registers -f and --config.
func (c *ClusterSource) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&c.Manifests, "filename", "f", nil, "cluster manifests (file, folder or -) used to resolve addresses to workloads; repeatable")
	fs.StringVar(&c.ConfigFile, "config", "", "a redline-config ConfigMap (YAML) with cluster CIDRs and aliases, to classify unresolved addresses (docs/config.md)")
}

// Load builds the offline inventory and the Cluster over it.
func (c *ClusterSource) Load(ctx context.Context, streams IO) (*inventory.Inventory, *inventory.Cluster, error) {
	inv := &inventory.Inventory{}
	if len(c.Manifests) > 0 {
		var err error
		if inv, err = inventory.LoadFiles(ctx, c.Manifests, inventory.LoadOptions{Stdin: streams.In}); err != nil {
			return nil, nil, err
		}
		for _, w := range inv.Warnings {
			fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
		}
	}
	var opts inventory.Options
	if c.ConfigFile != "" {
		cl, warnings, err := inventory.LoadConfigFile(c.ConfigFile)
		if err != nil {
			return nil, nil, err
		}
		for _, w := range warnings {
			fmt.Fprintf(streams.ErrOut, "warning: %s: %s\n", c.ConfigFile, w)
		}
		opts.Classifier = cl
	}
	return inv, inventory.FromInventory(inv, opts), nil
}

// IngestOptions are the flags of `redline ingest`.
type IngestOptions struct {
	DataDir string
	Cluster ClusterSource
	Format  string
	Input   string

	streams IO
}

// NewIngestCommand builds `redline ingest`.
func NewIngestCommand(streams IO) *cobra.Command {
	o := &IngestOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "ingest --data-dir DIR [-f MANIFESTS] FILE|-",
		Short: "Load flow records (Hubble JSON or native NDJSON) into a data directory, offline",
		Long: `Reads flow records, one JSON object a line — Hubble's flow JSON as
"hubble observe -o json" or the Hubble exporter write it, or Redline's native
NDJSON (docs/flow-format.md) — resolves both ends to workloads with the given
manifests, and aggregates the connections into the data directory.

Bad lines are reported with their numbers and skipped; the good ones are kept.
The exit status is 1 when any line was bad.`,
		Example: `  hubble observe -o json --since 1h > flows.json
  kubectl get pods,deploy,rs,svc,ns -A -o yaml > cluster.yaml
  redline ingest --data-dir ./redline-data -f cluster.yaml flows.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Input = args[0]
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
func (o *IngestOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", "", "Redline data directory (created when missing)")
	fs.StringVar(&o.Format, "format", "auto", "flow format: auto, hubble or native")
	o.Cluster.AddFlags(fs)
}

// Validate checks the flags.
func (o *IngestOptions) Validate() error {
	if o.DataDir == "" {
		return usageErrorf("--data-dir is required: the directory where Redline keeps observed traffic")
	}
	if _, err := flow.ParseFormat(o.Format); err != nil {
		return usageError{err}
	}
	if o.Input == "-" && slices.Contains(o.Cluster.Manifests, "-") {
		return usageErrorf("stdin (-) can hold the flows or the manifests, not both: pass the manifests with -f FILE")
	}
	return nil
}

// ErrBadLines reports an ingest that kept the good lines but not all.
var ErrBadLines = errors.New("some lines were rejected")

// Run ingests the input.
func (o *IngestOptions) Run(ctx context.Context) error {
	inv, cluster, err := o.Cluster.Load(ctx, o.streams)
	if err != nil {
		return err
	}
	var in io.Reader = o.streams.In
	if o.Input != "-" {
		f, err := os.Open(o.Input)
		if err != nil {
			return fmt.Errorf("open flows: %w", err)
		}
		defer f.Close()
		in = f
	}
	st, err := store.Open(ctx, store.Options{Dir: o.DataDir, Logger: cliLogger(o.streams)})
	if err != nil {
		return err
	}
	format, _ := flow.ParseFormat(o.Format)
	pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: st})
	res, ingestErr := pipe.Ingest(ctx, in, ingest.StreamOptions{Format: format, KeepErrors: 20})
	// Labels of the workloads the manifests describe, so that tables still
	// show them once the workloads are gone.
	now := time.Now()
	for _, w := range inv.Workloads {
		ep := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
		if err := st.PutWorkloadSnapshot(ctx, ep, w.Labels, now); err != nil && ingestErr == nil {
			ingestErr = err
		}
	}
	if err := st.Close(); err != nil && ingestErr == nil {
		ingestErr = fmt.Errorf("store: %w", err)
	}
	fmt.Fprintf(o.streams.Out, "%d lines: %d connections recorded, %d duplicate reports, %d replies, %d ignored, %d rejected\n",
		res.Lines, res.Recorded, res.Duplicates, res.Replies, res.IgnoredTotal(), res.Errors)
	for _, le := range res.FirstErrors {
		fmt.Fprintf(o.streams.ErrOut, "%s: line %d: %s\n", o.Input, le.Line, le.Error)
	}
	if more := res.Errors - len(res.FirstErrors); more > 0 {
		fmt.Fprintf(o.streams.ErrOut, "%s: and %d more bad lines\n", o.Input, more)
	}
	if ingestErr != nil {
		return ingestErr
	}
	if res.Errors > 0 {
		return fmt.Errorf("%w: %d of %d lines (the others were kept)", ErrBadLines, res.Errors, res.Lines)
	}
	return nil
}
