package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/redline-dev/redline/audit"
	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/traffic"
	"github.com/redline-dev/redline/internal/ui"
	"github.com/redline-dev/redline/rego"
	"github.com/redline-dev/redline/webhook"
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

	Mode                  string
	WebhookAddress        string
	WebhookCertDir        string
	WebhookSelfManaged    bool
	WebhookSecret         string
	WebhookConfiguration  string
	WebhookDNSName        string
	WebhookMaxConcurrency int
	WebhookEdgeCacheTTL   time.Duration
	WebhookCertSync       bool

	LeaderElect       bool
	AuditInterval     time.Duration
	AuditDebounce     time.Duration
	AuditWindow       string
	AuditOptOutLabel  string
	AuditWriteQPS     float64
	NamespaceLabelKey string
	auditWindow       time.Duration

	streams IO
	// onAPIListen, if set, learns the API's bound address (tests).
	onAPIListen func(net.Addr)
	// restConfig, if set, replaces the kubeconfig lookup (tests).
	restConfig *rest.Config
	// onAuditPass, if set, learns every audit pass (tests).
	onAuditPass func(audit.Outcome)
	// onAuditLoop, if set, learns the audit loop (redline dev triggers
	// a pass after it fed traffic).
	onAuditLoop func(*audit.Loop)
	client      kubernetes.Interface
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

The audit loop (on the elected leader with --leader-elect) writes, every
--audit-interval and soon after relevant changes, a suggested policy per
workload into ConfigMaps redline-suggested-<kind>-<name> in the workload's
namespace, and a summary into redline-audit-report in --namespace
(docs/audit.md).

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
	fs.StringVar(&o.Mode, "mode", string(rego.ModeWarn), "admission mode for namespaces without a redline.io/mode label: off, warn or enforce")
	fs.StringVar(&o.WebhookAddress, "webhook-bind-address", ":9443", "address of the admission webhook (HTTPS); 0 disables the webhook")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"), "directory of the webhook's tls.crt and tls.key")
	fs.BoolVar(&o.WebhookSelfManaged, "webhook-self-managed-certs", true, "generate and rotate the webhook's CA and serving certificate in --webhook-cert-secret and inject the CA into --webhook-configuration (turn off with cert-manager)")
	fs.StringVar(&o.WebhookSecret, "webhook-cert-secret", "redline-webhook-cert", "Secret (in --namespace) holding the self-managed webhook certificates")
	fs.StringVar(&o.WebhookConfiguration, "webhook-configuration", webhook.ConfigurationName, "ValidatingWebhookConfiguration whose caBundle the self-managed certificates fill")
	fs.StringVar(&o.WebhookDNSName, "webhook-dns-name", "", "DNS name in the webhook serving certificate (default redline.<namespace>.svc)")
	fs.BoolVar(&o.WebhookCertSync, "webhook-cert-sync", false, "outside a pod: copy the self-managed certificates from their Secret into --webhook-cert-dir (in a pod, mount the Secret there instead)")
	fs.IntVar(&o.WebhookMaxConcurrency, "webhook-max-concurrent", webhook.DefaultMaxConcurrent, "admission evaluations in flight; more wait, then are allowed with a warning")
	fs.DurationVar(&o.WebhookEdgeCacheTTL, "webhook-edge-cache-ttl", webhook.DefaultEdgeCacheTTL, "how long a namespace's observed edges serve admission what-ifs before a background read refreshes them; negative: read the store for every request")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader among replicas (Lease "+LeaderElectionID+" in --namespace); only the leader runs the audit loop")
	fs.DurationVar(&o.AuditInterval, "audit-interval", audit.DefaultInterval, "time between audit passes (suggested policies, red connections, unlabeled namespaces); 0 disables the audit loop")
	fs.DurationVar(&o.AuditDebounce, "audit-debounce", audit.DefaultDebounce, "delay between a relevant cluster change (workload, policy, namespace label, Service) and the audit pass it causes")
	fs.StringVar(&o.AuditWindow, "audit-window", "7d", "observed traffic the audit looks at, back from now (e.g. 12h, 7d)")
	fs.StringVar(&o.AuditOptOutLabel, "audit-opt-out-label", audit.DefaultOptOutLabel, "namespace label (key=value) that turns the audit off for a namespace; its suggestions are deleted")
	fs.Float64Var(&o.AuditWriteQPS, "audit-write-qps", audit.DefaultWritesPerSecond, "most ConfigMap writes per second the audit makes")
	fs.StringVar(&o.NamespaceLabelKey, "namespace-label-key", "kubernetes.io/metadata.name", "namespace label key suggested policies select namespaces by; namespaces without it are reported")
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
	if _, err := rego.ParseMode(o.Mode); err != nil {
		return usageError{fmt.Errorf("invalid --mode: %w", err)}
	}
	if o.WebhookDNSName == "" {
		o.WebhookDNSName = "redline." + o.Namespace + ".svc"
	}
	if o.MaxFlowBodyBytes <= 0 {
		return usageErrorf("--max-flow-body-bytes must be positive")
	}
	if o.AuditInterval < 0 || o.AuditDebounce < 0 {
		return usageErrorf("--audit-interval and --audit-debounce cannot be negative")
	}
	window, err := traffic.ParseWindow(o.AuditWindow)
	if err != nil {
		return usageError{fmt.Errorf("invalid --audit-window: %w", err)}
	}
	o.auditWindow = window
	if k, v, ok := strings.Cut(o.AuditOptOutLabel, "="); !ok || k == "" || v == "" {
		return usageErrorf("invalid --audit-opt-out-label %q: write key=value, e.g. %s", o.AuditOptOutLabel, audit.DefaultOptOutLabel)
	}
	if errs := validation.IsQualifiedName(o.NamespaceLabelKey); len(errs) > 0 {
		return usageErrorf("invalid --namespace-label-key %q: %s", o.NamespaceLabelKey, strings.Join(errs, "; "))
	}
	if o.AuditWriteQPS <= 0 {
		return usageErrorf("--audit-write-qps must be positive")
	}
	return nil
}

// LeaderElectionID is the Lease the replicas of `redline serve` elect a
// leader with.
const LeaderElectionID = "redline-leader"

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
	o.client = client
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return err
	}
	if o.TLSCertFile == "" {
		logger.Warn("no --tls-cert-file: serving the API with a generated self-signed certificate")
	}

	// controller-runtime and the certificate rotator log through the
	// process-wide logr logger: set it once, like every operator's main.
	ctrlLogger := zap.New(zap.WriteTo(o.streams.ErrOut), zap.JSONEncoder())
	ctrllog.SetLogger(ctrlLogger)
	mgr, err := manager.New(cfg, manager.Options{
		Logger:                        ctrlLogger,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddress},
		HealthProbeBindAddress:        o.HealthAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
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

	checks := map[string]healthz.Checker{
		"store": func(_ *http.Request) error { return st.Healthy() },
	}
	cluster, err := inventory.NewLiveCluster(client, inventory.WatchOptions{
		Options:         inventory.Options{Logger: logger},
		ConfigNamespace: o.Namespace,
	})
	if err != nil {
		return err
	}
	checks["inventory"] = cluster.ReadyCheck
	guard, err := kubeauth.New(kubeauth.Options{Client: client})
	if err != nil {
		return err
	}
	pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: st, Registerer: ctrlmetrics.Registry})
	apiServer := &api.Server{
		Addr: o.APIAddress,
		TLS:  tlsConf,
		// /api/... is the API; everything else the web UI's page (internal/ui).
		Handler: ui.WithAPI(api.NewHandler(api.Deps{
			Guard:            guard,
			Ingester:         pipe,
			MaxFlowBodyBytes: o.MaxFlowBodyBytes,
			Suggestions: &api.SuggestionsHandler{
				Auth:      guard,
				Inventory: cluster.Snapshot,
				Edges:     st,
				Aliases:   func() map[string][]netip.Prefix { return cluster.Classifier().Aliases() },
				Now:       time.Now,

				NamespaceLabelKey: o.NamespaceLabelKey,
			},
			Network: &api.NetworkHandler{
				Inventory: cluster.Snapshot, Classifier: cluster.Classifier, Store: st,
				Client: client, ConfigNamespace: o.Namespace, Now: time.Now,
				NamespaceLabelKey: o.NamespaceLabelKey,
			},
			Ready: func() error {
				if err := cluster.ReadyCheck(nil); err != nil {
					return err
				}
				return st.Healthy()
			},
		})),
		Logger: logger,
	}
	if o.onAPIListen != nil {
		apiServer.OnListen(o.onAPIListen)
	}
	if o.WebhookAddress != "0" {
		validator, err := o.addWebhook(ctx, mgr, cluster, st, logger)
		if err != nil {
			return err
		}
		for name, check := range validator {
			checks[name] = check
		}
	}
	if o.AuditInterval > 0 {
		if err := o.addAudit(mgr, cfg, cluster, st, logger); err != nil {
			return err
		}
	}
	snapshots := &snapshotter{cluster: cluster, store: st, interval: o.SnapshotInterval, logger: logger}
	for _, r := range []manager.Runnable{cluster, apiServer, snapshots} {
		if err := mgr.Add(r); err != nil {
			return err
		}
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

// addWebhook wires the admission webhook: the Rego engine, the validator
// over the live inventory and the store, its HTTPS server, and the
// self-managed certificates. It returns the readiness checks to add.
func (o *ServeOptions) addWebhook(ctx context.Context, mgr manager.Manager, cluster *inventory.Cluster, st *store.Store, logger *slog.Logger) (map[string]healthz.Checker, error) {
	regoConfig := &regoConfigWatcher{client: o.client, namespace: o.Namespace, name: RegoConfigMapName, recorder: mgr.GetEventRecorder("redline"), logger: logger}
	engine, err := rego.NewEngine(rego.Options{Logger: logger, Registerer: ctrlmetrics.Registry, EventSink: regoConfig.eventSink})
	if err != nil {
		return nil, err
	}
	regoConfig.engine = engine
	if err := mgr.Add(regoConfig); err != nil {
		return nil, err
	}
	mode, _ := rego.ParseMode(o.Mode)
	validator, err := webhook.New(webhook.Deps{Cluster: cluster, Edges: st, Decider: engine}, webhook.Options{
		GlobalMode:    mode,
		Namespace:     o.Namespace,
		MaxConcurrent: o.WebhookMaxConcurrency,
		EdgeCacheTTL:  o.WebhookEdgeCacheTTL,
		EventRecorder: mgr.GetEventRecorder("redline"),
		Registerer:    ctrlmetrics.Registry,
		Logger:        logger,
	})
	if err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(o.WebhookAddress)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid --webhook-bind-address: %w", err)}
	}
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: host, Port: port, CertDir: o.WebhookCertDir})
	validator.Register(srv)
	if err := mgr.Add(validator); err != nil {
		return nil, err
	}

	certsReady := make(chan struct{})
	if o.WebhookSelfManaged {
		if err := os.MkdirAll(o.WebhookCertDir, 0o700); err != nil {
			return nil, fmt.Errorf("webhook certificate directory: %w", err)
		}
		err := rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.WebhookSecret},
			CertDir:        o.WebhookCertDir,
			CAName:         "redline-ca",
			CAOrganization: "redline",
			DNSName:        o.WebhookDNSName,
			IsReady:        certsReady,
			Webhooks:       []rotator.WebhookInfo{{Name: o.WebhookConfiguration, Type: rotator.Validating}},
		})
		if err != nil {
			return nil, fmt.Errorf("self-managed webhook certificates: %w", err)
		}
		if o.WebhookCertSync {
			sync := &certFileSync{client: o.client, namespace: o.Namespace, name: o.WebhookSecret, dir: o.WebhookCertDir, logger: logger}
			if err := mgr.Add(sync); err != nil {
				return nil, err
			}
		}
	} else {
		close(certsReady)
	}
	// The webhook server reads its certificate when it starts: start it
	// once the rotator has written one (as Gatekeeper does).
	go func() {
		select {
		case <-certsReady:
		case <-ctx.Done():
			return
		}
		if err := mgr.Add(srv); err != nil {
			logger.Error("start webhook server", "err", err)
		}
	}()
	if err := ctrlmetrics.Registry.Register(webhook.CertificateExpiry(o.WebhookCertDir)); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) { // a second serve in one process (tests)
			return nil, err
		}
	}
	checks := validator.ReadyChecks()
	checks["webhook-certificate"] = webhook.CertificateCheck(o.WebhookCertDir, "", "")
	checks["webhook-server"] = func(r *http.Request) error {
		select {
		case <-certsReady:
			return srv.StartedChecker()(r)
		default:
			return errors.New("webhook certificates not ready")
		}
	}
	return checks, nil
}

// addAudit adds the audit loop; the manager runs it on the leader only.
func (o *ServeOptions) addAudit(mgr manager.Manager, cfg *rest.Config, cluster *inventory.Cluster, st *store.Store, logger *slog.Logger) error {
	// Uncached: the loop lists its own ConfigMaps once per pass, where a
	// cache would hold every ConfigMap of the cluster.
	c, err := ctrlclient.New(cfg, ctrlclient.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("audit client: %w", err)
	}
	loop, err := audit.NewLoop(cluster, st, c, audit.LoopOptions{
		Interval:          o.AuditInterval,
		Debounce:          o.AuditDebounce,
		Window:            o.auditWindow,
		NamespaceLabelKey: o.NamespaceLabelKey,
		OptOutLabel:       o.AuditOptOutLabel,
		Namespace:         o.Namespace,
		WritesPerSecond:   o.AuditWriteQPS,
		Recorder:          mgr.GetEventRecorder("redline"),
		Registerer:        ctrlmetrics.Registry,
		Logger:            logger.With("component", "audit"),
		OnPass:            o.onAuditPass,
	})
	if err != nil {
		return err
	}
	if o.onAuditLoop != nil {
		o.onAuditLoop(loop)
	}
	return mgr.Add(loop)
}

// certFileSync does, outside a pod, what the kubelet does for a mounted
// Secret: it keeps tls.crt and tls.key in the webhook's certificate
// directory equal to the Secret the rotator maintains.
type certFileSync struct {
	client          kubernetes.Interface
	namespace, name string
	dir             string
	logger          *slog.Logger
}

func (c *certFileSync) NeedLeaderElection() bool { return false }

func (c *certFileSync) Start(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := c.sync(ctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("copy webhook certificates", "secret", c.namespace+"/"+c.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *certFileSync) sync(ctx context.Context) error {
	secret, err := c.client.CoreV1().Secrets(c.namespace).Get(ctx, c.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, name := range []string{"tls.key", "tls.crt"} {
		data := secret.Data[name]
		if len(data) == 0 {
			return nil // the rotator has not filled it yet
		}
		path := filepath.Join(c.dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want a number from 0 to 65535", portText)
	}
	return host, port, nil
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
