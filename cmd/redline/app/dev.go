package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redline-dev/redline/audit"
	"github.com/redline-dev/redline/internal/demo"
	"github.com/redline-dev/redline/internal/devenv"
	"github.com/redline-dev/redline/internal/suggest"
)

// DevOptions are the flags of `redline dev`.
type DevOptions struct {
	Dir         string
	APIAddress  string
	WebhookPort int
	Seed        uint64
	NoTraffic   bool
	KeepRunning bool
	Once        bool

	streams IO
}

// NewDevCommand builds `redline dev`, what `make run` calls.
func NewDevCommand(streams IO) *cobra.Command {
	o := &DevOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster with a demo shop and Redline doing its whole job (what `make run` calls)",
		Long: `Starts a local control plane (etcd, kube-apiserver, kube-controller-manager
and a fake kubelet; the binaries are built into bin/k8s on first use, which
takes minutes), runs Redline against it as its validating admission webhook,
applies a demo shop of a dozen workloads over three namespaces, feeds a
simulated day of its traffic through Redline's ingest API, waits for an audit
pass and prints what Redline found: suggested policies, namespaces to label,
red connections, and the warnings a too-tight policy gets from the API server.

Then it keeps serving (the kubeconfig, the API address and a token command are
printed) until Ctrl-C, and stops everything it started. Redline's data
directory (--dir/data) survives restarts; the cluster is new every time.
Logs: --dir/redline.log (Redline) and --dir/cluster.log (the control plane).`,
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
func (o *DevOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "dir", filepath.Join(".redline", "dev"), "directory of the environment: Redline's data (kept across runs), kubeconfig, certificates, logs")
	fs.StringVar(&o.APIAddress, "api-bind-address", "127.0.0.1:8443", "address of Redline's HTTPS API")
	fs.IntVar(&o.WebhookPort, "webhook-port", 0, "port of the admission webhook on 127.0.0.1 (0: a free port)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated day of traffic (the same seed gives the same flows)")
	fs.BoolVar(&o.NoTraffic, "no-traffic", false, "do not feed the simulated day (nor wait for the audit pass after it)")
	fs.BoolVar(&o.KeepRunning, "keep-running", true, "keep serving after the summary until Ctrl-C")
	fs.BoolVar(&o.Once, "once", false, "stop after the summary (same as --keep-running=false)")
}

// Validate checks the flags.
func (o *DevOptions) Validate() error {
	if o.Dir == "" {
		return usageErrorf("--dir cannot be empty")
	}
	if _, _, err := splitHostPort(o.APIAddress); err != nil {
		return usageError{fmt.Errorf("invalid --api-bind-address %q: %w", o.APIAddress, err)}
	}
	if o.WebhookPort < 0 || o.WebhookPort > 65535 {
		return usageErrorf("--webhook-port %d: want a port from 0 to 65535", o.WebhookPort)
	}
	if o.Once {
		o.KeepRunning = false
	}
	return nil
}

// Run starts the environment, prints the summary and the what-if, serves
// until ctx ends (or not, with --once), and stops everything.
func (o *DevOptions) Run(ctx context.Context) error {
	out, progress := o.streams.Out, o.streams.ErrOut
	assets, err := devenv.EnsureBinaries(ctx, progress)
	if err != nil {
		return err
	}
	env, err := StartDevEnv(ctx, devenv.Options{
		Dir: o.Dir, AssetsDir: assets, APIAddress: o.APIAddress, WebhookPort: o.WebhookPort,
		Seed: o.Seed, NoTraffic: o.NoTraffic, Progress: progress,
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(progress, "Interrupted; everything started was stopped.")
			return nil
		}
		return fmt.Errorf("start the dev environment: %w (logs in %s)", err, o.Dir)
	}
	stop := func() error {
		fmt.Fprintln(progress, "Stopping Redline (flushing its store) and the cluster ...")
		if err := env.Stop(); err != nil {
			return fmt.Errorf("stop the dev environment: %w", err)
		}
		fmt.Fprintln(progress, "Stopped.")
		return nil
	}

	writeDevSummary(out, env)
	if !o.NoTraffic {
		policy := devenv.TooTightPolicy()
		fmt.Fprintf(out, "\nWhat-if: a deny-all ingress policy on %s/%s, applied through the API server:\n", policy.Namespace, demo.Cart.Name)
		warnings, err := env.WhatIf(ctx, policy, false)
		if err != nil {
			return errors.Join(err, stop())
		}
		for _, w := range warnings {
			fmt.Fprintf(out, "  Warning: %s\n", w)
		}
		if len(warnings) == 0 {
			fmt.Fprintln(out, "  (no warnings: nothing observed would be cut)")
		}
		fmt.Fprintf(out, "  (NetworkPolicy %s/%s deleted again)\n", policy.Namespace, policy.Name)
	}
	writeDevAccess(out, env)
	if !o.KeepRunning {
		return stop()
	}
	fmt.Fprintln(out, "\nServing until Ctrl-C.")
	<-ctx.Done()
	return stop()
}

// StartDevEnv starts the environment of `redline dev`, with Redline served
// in-process by `redline serve`'s code (the acceptance tests use it too).
// Redline's logs go to the environment's redline.log.
func StartDevEnv(ctx context.Context, opts devenv.Options) (*devenv.Env, error) {
	opts.Serve = serveDev
	return devenv.Start(ctx, opts)
}

// serveDev runs `redline serve` with the environment's settings.
func serveDev(ctx context.Context, c devenv.ServeConfig) error {
	o := &ServeOptions{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.AddFlags(fs) // the defaults of every other flag
	o.Namespace, o.DataDir = c.Namespace, c.DataDir
	o.APIAddress, o.TLSCertFile, o.TLSKeyFile = c.APIAddress, c.TLSCertFile, c.TLSKeyFile
	o.MetricsAddress, o.HealthAddress = "0", "0"
	o.Mode = c.Mode
	o.WebhookAddress, o.WebhookCertDir = c.WebhookAddress, c.WebhookCertDir
	o.WebhookSelfManaged, o.WebhookCertSync = true, true
	o.WebhookSecret, o.WebhookConfiguration, o.WebhookDNSName = c.WebhookSecret, c.WebhookConfiguration, c.WebhookDNSName
	o.NamespaceLabelKey = c.NamespaceLabelKey
	o.AuditInterval, o.AuditDebounce = c.AuditInterval, c.AuditDebounce
	o.FlushInterval = 200 * time.Millisecond
	if err := o.Validate(); err != nil {
		return err
	}
	o.streams = IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: c.Log}
	o.restConfig = c.RESTConfig
	o.onAPIListen, o.onAuditPass, o.onAuditLoop = c.OnAPIListen, c.OnAuditPass, c.OnAuditLoop
	return o.Run(ctx)
}

// writeDevSummary prints what the audit pass after the simulated day found.
func writeDevSummary(w io.Writer, env *devenv.Env) {
	fmt.Fprintf(w, "\nRedline dev environment ready in %s.\n", env.Timings.Total.Round(100*time.Millisecond))
	if env.Day.Lines == 0 {
		fmt.Fprintln(w, "No traffic fed (--no-traffic): send flows to POST /api/v1/flows (docs/api.md).")
		return
	}
	fmt.Fprintf(w, "\nTraffic: a simulated day, %d Hubble flow lines, %d connections recorded (%d of them DROPPED by policy).\n",
		env.Ingested.Lines, env.Ingested.Recorded, env.Day.Dropped)
	pass := env.FirstAudit.Pass
	fmt.Fprintf(w, "\nSuggested policies: %d, written to ConfigMaps redline-suggested-<kind>-<name> in each workload's namespace:\n", len(pass.ConfigMaps))
	fmt.Fprintf(w, "  kubectl get cm -A -l %s=%s\n", suggest.LabelManagedBy, audit.ManagedByValue)
	fmt.Fprintf(w, "  kubectl -n %s get cm %s -o jsonpath='{.data.policy\\.yaml}'\n", demo.Cart.Namespace, audit.ConfigMapName(demo.Cart.Kind, demo.Cart.Name))

	fmt.Fprintf(w, "\nUnlabeled namespaces: %d\n", len(pass.Unlabeled))
	for _, u := range pass.Unlabeled {
		fmt.Fprintf(w, "  %s needs label %s (%d workloads talk across namespaces with it): %s\n", u.Namespace, u.Key, len(u.Workloads), u.Fix())
	}
	fmt.Fprintf(w, "\nRed connections now: %d\n", len(pass.Red))
	for _, r := range pass.Red {
		why := "denied by the current policies"
		if r.Dropped {
			why = "DROPPED by the CNI"
		}
		fmt.Fprintf(w, "  %s -> %s %s/%d (%s)\n", r.Src, r.Dst, r.Protocol, r.Port, why)
	}
	fmt.Fprintf(w, "The full report: kubectl -n %s get cm %s -o jsonpath='{.data.report\\.json}'\n", devenv.Namespace, audit.ReportName)
}

// writeDevAccess prints how to reach the cluster and Redline.
func writeDevAccess(w io.Writer, env *devenv.Env) {
	fmt.Fprintf(w, "\nThe cluster (kubectl):\n  export KUBECONFIG=%s\n", env.Cluster.KubeconfigPath())
	fmt.Fprintf(w, "Redline's UI (the Network view): %s/ (log in with a token from the command below)\n", env.APIURL)
	fmt.Fprintf(w, "Redline's API: %s (CA %s)\n", env.APIURL, env.CAFile)
	fmt.Fprintf(w, "  TOKEN=$(%s)\n", env.TokenCommand())
	fmt.Fprintf(w, "  admin (aliases, allowed addresses, saved drafts): TOKEN=$(%s)\n", env.AdminTokenCommand())
	fmt.Fprintf(w, "  curl --cacert %s -H \"Authorization: Bearer $TOKEN\" -d '{\"workload\":\"shop/Deployment/cart\"}' %s/api/v1/suggestions\n", env.CAFile, env.APIURL)
	fmt.Fprintf(w, "Logs: %s\n", env.LogPath)
}
