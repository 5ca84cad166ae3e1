package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/rego"
)

// Defaults applied when Options leaves a field zero.
const (
	DefaultNamespace      = "redline"
	DefaultServiceAccount = "redline"
	DefaultMaxConcurrent  = 4
	// DefaultBudget is the time the impact may take, counted from the
	// start of the request. It is below the API server's 3 s timeout
	// (TimeoutSeconds) so that Rego and the response fit after it.
	DefaultBudget = 2 * time.Second
	// DefaultMaxConnections bounds each list of connections the analyzer
	// returns: the decision reads the first DefaultMaxListed, and every
	// row more is garbage that lengthens the admission tail (GC).
	DefaultMaxConnections = DefaultMaxListed
	// DefaultMaxListed is how many red connections the Rego input lists
	// (the default policy writes one warning line per connection).
	DefaultMaxListed = rego.DefaultMaxConnections
	// DefaultMaxExplained is how many listed connections get an
	// explanation (explaining is far slower than judging).
	DefaultMaxExplained = DefaultMaxListed
	// futureSlack extends the edge query past now: the store's buckets are
	// hours, and clocks differ between nodes.
	futureSlack = time.Hour
)

// ClusterView is the current cluster: *inventory.Cluster (live, from
// informers) satisfies it. Snapshot returns a shared value that changes
// pointer when the cluster changes; the Validator keeps one impact
// analyzer per snapshot pointer.
type ClusterView interface {
	Snapshot() *inventory.Inventory
	Synced() bool
}

// EdgeSource gives the edges observed in a namespace (both directions) in
// [from, to): *store.Store satisfies it.
type EdgeSource interface {
	NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error)
}

// Decider turns the Rego input into a decision: *rego.Engine satisfies it.
type Decider interface {
	Decide(ctx context.Context, in rego.Input) (rego.Decision, error)
}

// Deps are the Validator's collaborators.
type Deps struct {
	Cluster ClusterView
	Edges   EdgeSource
	Decider Decider
}

// Options tune a Validator. The zero value is ready to use.
type Options struct {
	// GlobalMode applies to namespaces without a valid redline.io/mode
	// label (default warn).
	GlobalMode rego.Mode
	// Window is how far back observed traffic counts (default
	// impact.DefaultWindow, 7 days).
	Window time.Duration
	// Namespace is Redline's own namespace (default "redline"): always
	// exempt, like kube-system.
	Namespace string
	// ExemptNamespaces are exempt too.
	ExemptNamespaces []string
	// OwnServiceAccount is the user Redline runs as; its requests are
	// always allowed (default system:serviceaccount:<Namespace>:redline).
	OwnServiceAccount string
	// MaxConcurrent bounds the evaluations in flight, both kinds together
	// (default 4).
	MaxConcurrent int
	// Budget is how long a request may wait for a slot and compute the
	// impact, from its start (default 2 s).
	Budget time.Duration
	// MaxConnections, MaxListed and MaxExplained: see the Default*
	// constants.
	MaxConnections int
	MaxListed      int
	MaxExplained   int
	// NetpolOptions are the policy semantics options (default
	// netpol.DefaultOptions()).
	NetpolOptions *netpol.Options
	// EventRecorder, if set, gets an Event on the admitted object for
	// warnings and denials (never for dry-run requests).
	// controller-runtime's Manager.GetEventRecorder returns one.
	EventRecorder events.EventRecorder
	// Registerer, if set, gets the redline_admission_* metrics.
	Registerer prometheus.Registerer
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock of the traffic window and "last seen" (default
	// time.Now); budgets use the real clock.
	Now func() time.Time
	// EdgeCacheTTL is how long a namespace's edges read from the store
	// serve what-ifs before a background read refreshes them (default
	// DefaultEdgeCacheTTL; negative: read for every request).
	EdgeCacheTTL time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.GlobalMode == "" {
		o.GlobalMode = rego.ModeWarn
	}
	if _, err := rego.ParseMode(string(o.GlobalMode)); err != nil {
		return o, fmt.Errorf("global mode: %w", err)
	}
	if o.Window <= 0 {
		o.Window = impact.DefaultWindow
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.OwnServiceAccount == "" {
		o.OwnServiceAccount = "system:serviceaccount:" + o.Namespace + ":" + DefaultServiceAccount
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.EdgeCacheTTL == 0 {
		o.EdgeCacheTTL = DefaultEdgeCacheTTL
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxListed <= 0 {
		o.MaxListed = DefaultMaxListed
	}
	o.MaxListed = min(o.MaxListed, o.MaxConnections)
	if o.MaxExplained <= 0 {
		o.MaxExplained = DefaultMaxExplained
	}
	if o.NetpolOptions == nil {
		def := netpol.DefaultOptions()
		o.NetpolOptions = &def
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// exempt returns the exempt namespaces: Redline's, kube-system and the
// configured ones, sorted.
func (o Options) exempt() []string {
	out := append([]string{o.Namespace, "kube-system"}, o.ExemptNamespaces...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Validator decides admission requests for NetworkPolicies and Namespaces.
// It is safe for concurrent use.
type Validator struct {
	deps    Deps
	opts    Options
	log     *slog.Logger
	exempt  map[string]bool
	slots   chan struct{} // the evaluation semaphore, shared by both kinds
	metrics *metrics
	edges   *edgeCache // nil when reads are not cached

	mu        sync.Mutex // serialises analyzer builds
	analyzers analyzerCache
}

// New checks deps and options and registers the metrics.
func New(deps Deps, opts Options) (*Validator, error) {
	if deps.Cluster == nil || deps.Edges == nil || deps.Decider == nil {
		return nil, errors.New("webhook: Cluster, Edges and Decider are required")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	v := &Validator{
		deps:    deps,
		opts:    opts,
		log:     opts.Logger.With("component", "webhook"),
		exempt:  map[string]bool{},
		slots:   make(chan struct{}, opts.MaxConcurrent),
		metrics: m,
	}
	for _, ns := range opts.exempt() {
		v.exempt[ns] = true
	}
	if opts.EdgeCacheTTL > 0 {
		v.edges = newEdgeCache(deps.Edges, opts.EdgeCacheTTL, v.log)
		v.deps.Edges = v.edges
	}
	return v, nil
}

// Options returns the options in use, defaulted.
func (v *Validator) Options() Options { return v.opts }

// analyzerCache is the analyzer of the last snapshot seen.
type analyzerCache struct {
	snapshot    *inventory.Inventory
	fingerprint uint64
	built       time.Time
	analyzer    *impact.Analyzer
	err         error
}

// MaxAnalyzerAge bounds how long an analyzer serves snapshots that differ
// from its own only in pods (addresses, restarts): pod churn makes a new
// snapshot every few seconds in a busy cluster, and rebuilding for each
// would throw away the analyzer's per-namespace caches. Workload addresses
// (which ipBlock peers can match) are that much behind at most.
const MaxAnalyzerAge = 30 * time.Second

// analyzer returns the analyzer of the cluster's current snapshot,
// building it when what policies depend on changed, or the analyzer is
// older than MaxAnalyzerAge (about 15 ms for 10,000 workloads; Start builds
// it ahead of the requests). Concurrent callers of a new snapshot wait for
// one build.
func (v *Validator) analyzer() (*impact.Analyzer, error) {
	snap := v.deps.Cluster.Snapshot()
	if snap == nil {
		return nil, errors.New("no cluster snapshot yet")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.analyzers.snapshot == snap {
		return v.analyzers.analyzer, v.analyzers.err
	}
	fp := snap.Fingerprint()
	if v.analyzers.snapshot != nil && v.analyzers.err == nil && fp == v.analyzers.fingerprint && time.Since(v.analyzers.built) < MaxAnalyzerAge {
		v.analyzers.snapshot = snap
		return v.analyzers.analyzer, nil
	}
	start := time.Now()
	a, err := impact.NewAnalyzer(clusterOf(snap, *v.opts.NetpolOptions), impact.Options{
		Window:         v.opts.Window,
		MaxExplained:   v.opts.MaxExplained,
		MaxConnections: v.opts.MaxConnections,
		// The decision reads the red connections only (and the totals).
		TurnsRedOnly: true,
		// The decision writes one line per connection (explanationLine).
		BriefExplanations: true,
	})
	if err != nil {
		err = fmt.Errorf("compile the cluster's current policies: %w", err)
		v.log.Error("impact analyzer not built", "err", err)
	}
	v.analyzers = analyzerCache{snapshot: snap, fingerprint: fp, built: start, analyzer: a, err: err}
	v.metrics.analyzerBuilds.Observe(time.Since(start).Seconds())
	return a, err
}

// clusterOf turns an inventory into what impact needs.
func clusterOf(inv *inventory.Inventory, opts netpol.Options) impact.Cluster {
	c := impact.Cluster{
		Namespaces: inv.Namespaces,
		Workloads:  inv.Workloads,
		Policies:   inv.Policies,
		Options:    opts,
		Services:   make([]impact.Service, 0, len(inv.Services)),
	}
	for _, s := range inv.Services {
		c.Services = append(c.Services, impact.Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Selector})
	}
	return c
}

// refreshInterval is how often Start looks for a new snapshot.
const refreshInterval = time.Second

// Start keeps the analyzer of the current snapshot built, so that requests
// rarely pay for it: a controller-runtime manager.Runnable (every replica
// runs it, see NeedLeaderElection).
func (v *Validator) Start(ctx context.Context) error {
	t := time.NewTicker(refreshInterval)
	defer t.Stop()
	for {
		if v.deps.Cluster.Synced() {
			_, _ = v.analyzer() // errors are logged and answered per request
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: every replica answers admission requests.
func (v *Validator) NeedLeaderElection() bool { return false }

// ReadyChecks are the Validator's readiness checks, for the manager's
// /readyz (STYLE.md rule 6): the cluster caches synced, and, when the
// dependencies can tell, the store open and the Rego set compiled. The
// caller adds CertificateCheck and the webhook server's StartedChecker.
func (v *Validator) ReadyChecks() map[string]healthz.Checker {
	checks := map[string]healthz.Checker{
		"inventory": func(*http.Request) error {
			if !v.deps.Cluster.Synced() {
				return errors.New("cluster inventory not synced yet")
			}
			return nil
		},
	}
	// (The edge cache forwards the store's check.)
	if s, ok := v.deps.Edges.(interface{ Healthy() error }); ok {
		checks["store"] = func(*http.Request) error { return s.Healthy() }
	}
	if r, ok := v.deps.Decider.(interface{ Ready() error }); ok {
		checks["rego"] = func(*http.Request) error { return r.Ready() }
	}
	return checks
}

// CertificateCheck is ready once dir holds the serving certificate and key
// (names default to tls.crt and tls.key, as the webhook server's).
func CertificateCheck(dir, certName, keyName string) healthz.Checker {
	if certName == "" {
		certName = "tls.crt"
	}
	if keyName == "" {
		keyName = "tls.key"
	}
	return func(*http.Request) error {
		for _, name := range []string{certName, keyName} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("webhook serving certificate: %w", err)
			}
			if fi.Size() == 0 {
				return fmt.Errorf("webhook serving certificate: %s is empty", filepath.Join(dir, name))
			}
		}
		return nil
	}
}
