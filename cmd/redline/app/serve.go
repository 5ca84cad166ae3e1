package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/store"
)

// ServeOptions are the flags of `redline serve`.
type ServeOptions struct {
	Kubeconfig       string
	Namespace        string
	DataDir          string
	APIAddress       string
	TLSCertFile      string
	TLSKeyFile       string
	MetricsAddress   string
	HealthAddress    string
	MaxFlowBodyBytes int64
	Retention        time.Duration
	FlushInterval    time.Duration
	SnapshotInterval time.Duration

	streams IO
	// onAPIListen, if set, learns the API's bound address (tests).
	onAPIListen func(net.Addr)
	// restConfig, if set, replaces the kubeconfig lookup (tests).
	restConfig *rest.Config
}

// NewServeCommand builds `redline serve`.
func NewServeCommand(streams IO) *cobra.Command {
	o := &ServeOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "serve --data-dir DIR",
		Short: "Run Redline in a cluster: the flow ingest API over the live inventory and the edge store",
		Long: `Watches the cluster (pods, workloads, Services, EndpointSlices, namespaces,
nodes, NetworkPolicies, and the redline-config ConfigMap in its namespace),
serves the HTTP API over TLS — POST /api/v1/flows takes Hubble flow JSON or
native NDJSON — and keeps observed traffic in the data directory.

Callers authenticate with a Kubernetes bearer token (TokenReview) and need
RBAC on Redline's virtual resources (SubjectAccessReview), e.g. "create" on
"flows" in the API group redline.io to send flows (docs/api.md).

Probes: /healthz and /readyz on --health-probe-bind-address; Prometheus
metrics on --metrics-bind-address. SIGTERM flushes the store before exit.

Memory: the Go runtime honours GOMEMLIMIT (e.g. GOMEMLIMIT=400MiB); set it
to about 80% of the container's memory limit.`,
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
func (o *ServeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.Namespace, "namespace", defaultNamespace(), "Redline's own namespace, where the redline-config ConfigMap lives (default: $POD_NAMESPACE or redline)")
	fs.StringVar(&o.DataDir, "data-dir", "", "Redline data directory (a persistent volume in production)")
	fs.StringVar(&o.APIAddress, "api-bind-address", ":8443", "address of the HTTPS API")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serving certificate of the API (PEM); a self-signed one is generated when empty")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "private key of --tls-cert-file (PEM)")
	fs.StringVar(&o.MetricsAddress, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.Int64Var(&o.MaxFlowBodyBytes, "max-flow-body-bytes", api.DefaultMaxFlowBodyBytes, "largest POST /api/v1/flows body, after decompression")
	fs.DurationVar(&o.Retention, "retention", store.DefaultRetention, "how long observed traffic is kept")
	fs.DurationVar(&o.FlushInterval, "flush-interval", store.DefaultFlushInterval, "longest time flows wait in memory before reaching disk")
	fs.DurationVar(&o.SnapshotInterval, "snapshot-interval", 10*time.Minute, "how often workload labels are saved, so that deleted workloads still display")
}

func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "redline"
}

// Validate checks the flags.
func (o *ServeOptions) Validate() error {
	if o.DataDir == "" {
		return usageErrorf("--data-dir is required: where Redline keeps observed traffic")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return usageErrorf("--tls-cert-file and --tls-private-key-file go together")
	}
	if o.MaxFlowBodyBytes <= 0 {
		return usageErrorf("--max-flow-body-bytes must be positive")
	}
	return nil
}

func (o *ServeOptions) loadRESTConfig() (*rest.Config, error) {
	if o.restConfig != nil {
		return o.restConfig, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	if o.Kubeconfig == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("find the cluster: %w (pass --kubeconfig, or run inside a pod)", err)
	}
	return cfg, nil
}

func (o *ServeOptions) tlsConfig() (*tls.Config, error) {
	if o.TLSCertFile != "" {
		// Re-read on every handshake's miss would be costly; read once
		// and let the Deployment restart on rotation (the webhook issue
		// brings a rotator).
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load serving certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	host, _ := os.Hostname()
	cert, err := api.SelfSignedCertificate([]string{"localhost", "127.0.0.1", "::1", host, "redline", "redline." + o.Namespace + ".svc"})
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// Run serves until ctx ends, then flushes and closes the store.
func (o *ServeOptions) Run(ctx context.Context) (err error) {
	logger := slog.New(slog.NewJSONHandler(o.streams.ErrOut, nil))
	cfg, err := o.loadRESTConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return err
	}
	if o.TLSCertFile == "" {
		logger.Warn("no --tls-cert-file: serving the API with a generated self-signed certificate")
	}

	mgr, err := manager.New(cfg, manager.Options{
		Logger:                 zap.New(zap.WriteTo(o.streams.ErrOut), zap.JSONEncoder()),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddress},
		HealthProbeBindAddress: o.HealthAddress,
	})
	if err != nil {
		return fmt.Errorf("start manager: %w", err)
	}

	st, err := store.Open(ctx, store.Options{
		Dir:           o.DataDir,
		Retention:     o.Retention,
		FlushInterval: o.FlushInterval,
		Logger:        logger,
		Registerer:    ctrlmetrics.Registry,
	})
	if err != nil {
		return err
	}
	// Runs after the manager stopped every runnable: SIGTERM flushes.
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()

	cluster, err := inventory.NewLiveCluster(client, inventory.WatchOptions{
		Options:         inventory.Options{Logger: logger},
		ConfigNamespace: o.Namespace,
	})
	if err != nil {
		return err
	}
	guard, err := kubeauth.New(kubeauth.Options{Client: client})
	if err != nil {
		return err
	}
	pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: st, Registerer: ctrlmetrics.Registry})
	apiServer := &api.Server{
		Addr: o.APIAddress,
		TLS:  tlsConf,
		Handler: api.NewHandler(api.Deps{
			Guard:            guard,
			Ingester:         pipe,
			MaxFlowBodyBytes: o.MaxFlowBodyBytes,
			Ready: func() error {
				if err := cluster.ReadyCheck(nil); err != nil {
					return err
				}
				return st.Healthy()
			},
		}),
		Logger: logger,
	}
	if o.onAPIListen != nil {
		apiServer.OnListen(o.onAPIListen)
	}
	snapshots := &snapshotter{cluster: cluster, store: st, interval: o.SnapshotInterval, logger: logger}
	for _, r := range []manager.Runnable{cluster, apiServer, snapshots} {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	checks := map[string]healthz.Checker{
		"inventory": cluster.ReadyCheck,
		"store":     func(_ *http.Request) error { return st.Healthy() },
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	for name, check := range checks {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return err
		}
	}
	logger.Info("redline serving", "api", o.APIAddress, "dataDir", o.DataDir, "namespace", o.Namespace)
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// snapshotter saves the labels of the cluster's workloads now and then, so
// that traffic of deleted workloads still shows who they were.
type snapshotter struct {
	cluster  *inventory.Cluster
	store    *store.Store
	interval time.Duration
	logger   *slog.Logger
}

func (s *snapshotter) NeedLeaderElection() bool { return false }

func (s *snapshotter) Start(ctx context.Context) error {
	if err := s.cluster.WaitForSync(ctx); err != nil {
		return nil // stopping before the caches synced
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		now := time.Now()
		for _, w := range s.cluster.Workloads() {
			ep := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
			if err := s.store.PutWorkloadSnapshot(ctx, ep, w.Labels, now); err != nil && ctx.Err() == nil {
				s.logger.Warn("save workload labels", "workload", ep.String(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
