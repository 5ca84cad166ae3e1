package audit

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/suggest"
)

// Defaults of LoopOptions.
const (
	DefaultInterval        = 10 * time.Minute
	DefaultDebounce        = 10 * time.Second
	DefaultWindow          = 7 * 24 * time.Hour
	DefaultWritesPerSecond = 5
	// eventEvery is how often an unlabeled namespace gets its Event again.
	eventEvery = time.Hour
	// maxRetry bounds the wait after a failed pass.
	maxRetry = 5 * time.Minute
)

// Source is the cluster view the loop audits (inventory.Cluster).
type Source interface {
	// Snapshot returns the current inventory; it is shared, and a new
	// pointer only when something changed.
	Snapshot() *inventory.Inventory
	// WaitForSync returns when the view is complete, or with an error when
	// ctx ends first.
	WaitForSync(ctx context.Context) error
}

// LoopOptions configure the audit loop.
type LoopOptions struct {
	// Interval between passes (DefaultInterval).
	Interval time.Duration
	// Debounce is how long the loop waits after a relevant change in the
	// cluster (a workload, namespace label, policy or Service) before a
	// pass, so that a rollout of many objects costs one pass
	// (DefaultDebounce).
	Debounce time.Duration
	// Window of traffic a pass looks at (DefaultWindow).
	Window            time.Duration
	NamespaceLabelKey string
	OptOutLabel       string
	// Namespace is Redline's own; the audit report goes there.
	Namespace string
	// WritesPerSecond paces ConfigMap writes (DefaultWritesPerSecond;
	// negative: unpaced).
	WritesPerSecond float64
	Recorder        events.EventRecorder
	Registerer      prometheus.Registerer
	Logger          *slog.Logger
	Now             func() time.Time
	// OnPass, if set, learns the outcome of every pass (tests, redline dev).
	OnPass func(Outcome)
}

// Outcome is what one pass of the loop did.
type Outcome struct {
	At       time.Time
	Duration time.Duration
	Pass     PassResult
	Applied  ApplyResult
	// Err is a failure of the pass (nothing was written); WriteErr are the
	// writes that failed in a pass that otherwise succeeded.
	Err      error
	WriteErr error
}

// Loop is the audit loop: a leader-elected controller-runtime Runnable that
// runs a Pass every interval and soon after relevant changes, writes what
// it found, and exports it as metrics.
type Loop struct {
	src     Source
	edges   suggest.EdgeReader
	client  client.Client
	writer  Writer
	opts    LoopOptions
	metrics *metrics
	trigger chan struct{}

	mu sync.Mutex // guards the fields below: RunOnce may run beside Start (tests)
	// eventSent is when each unlabeled namespace last got its Event.
	eventSent map[string]time.Time
	// disagreeing is the last pass's count per edge, to count new flows
	// only.
	disagreeing map[flow.EdgeKey]uint64
	// memo carries unchanged workloads' ConfigMaps from pass to pass.
	memo Memo
}

// NewLoop builds the loop. c should read from the API server directly (see
// Writer).
func NewLoop(src Source, edges suggest.EdgeReader, c client.Client, opts LoopOptions) (*Loop, error) {
	if src == nil || edges == nil || c == nil {
		return nil, errors.New("audit loop: source, edges and client are required")
	}
	opts.Interval = cmp.Or(opts.Interval, DefaultInterval)
	opts.Debounce = cmp.Or(opts.Debounce, DefaultDebounce)
	opts.Window = cmp.Or(opts.Window, DefaultWindow)
	opts.WritesPerSecond = cmp.Or(opts.WritesPerSecond, DefaultWritesPerSecond)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Namespace == "" {
		return nil, errors.New("audit loop: Redline's namespace is required (the audit report goes there)")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	l := &Loop{
		src: src, edges: edges, client: c, opts: opts, metrics: m,
		writer:      Writer{Client: c},
		trigger:     make(chan struct{}, 1),
		eventSent:   map[string]time.Time{},
		disagreeing: map[flow.EdgeKey]uint64{},
	}
	if opts.WritesPerSecond > 0 {
		l.writer.Limiter = rate.NewLimiter(rate.Limit(opts.WritesPerSecond), max(1, int(opts.WritesPerSecond)))
	}
	return l, nil
}

// NeedLeaderElection: only the leader writes.
func (l *Loop) NeedLeaderElection() bool { return true }

// Trigger asks for a pass after the debounce delay.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Start runs passes until ctx ends: the first once the cluster view has
// synced, then every Interval, after Debounce when the cluster changes, and
// after a growing delay when a pass failed. It never writes from a view
// that has not synced, nor after a failed pass.
func (l *Loop) Start(ctx context.Context) error {
	if err := l.src.WaitForSync(ctx); err != nil {
		return nil // stopping before the caches synced
	}
	poll := time.NewTicker(min(l.opts.Debounce, 2*time.Second))
	defer poll.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	var (
		seen       = l.src.Snapshot()
		seenPrint  = seen.Fingerprint()
		due        time.Time // when next fires; zero while a pass runs
		retryAfter = 10 * time.Second
	)
	schedule := func(d time.Duration) {
		at := l.opts.Now().Add(d)
		if !due.IsZero() && !at.Before(due) {
			return
		}
		next.Reset(d)
		due = at
	}
	due = l.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.trigger:
			schedule(l.opts.Debounce)
		case <-poll.C:
			if snap := l.src.Snapshot(); snap != seen {
				seen = snap
				if fp := snap.Fingerprint(); fp != seenPrint {
					seenPrint = fp
					schedule(l.opts.Debounce)
				}
			}
		case <-next.C:
			due = time.Time{}
			out := l.RunOnce(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if out.Err != nil {
				schedule(min(retryAfter, l.opts.Interval))
				retryAfter = min(2*retryAfter, maxRetry)
				continue
			}
			retryAfter = 10 * time.Second
			schedule(l.opts.Interval)
		}
	}
}

// RunOnce runs one pass: audit the current inventory, write the
// suggestions and the report, send Events for unlabeled namespaces, and
// update the metrics. A failed pass writes nothing.
func (l *Loop) RunOnce(ctx context.Context) Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	out := Outcome{At: l.opts.Now()}
	defer func() {
		out.Duration = time.Since(start)
		l.metrics.duration.Observe(out.Duration.Seconds())
		if out.Err != nil {
			l.metrics.runs.WithLabelValues(resultFailure).Inc()
			l.opts.Logger.Error("audit pass failed; nothing written", "err", out.Err, "duration", out.Duration)
		} else {
			l.metrics.runs.WithLabelValues(resultSuccess).Inc()
			l.metrics.lastSuccess.Set(float64(out.At.Unix()))
		}
		if l.opts.OnPass != nil {
			l.opts.OnPass(out)
		}
	}()
	res, err := Pass(ctx, PassInput{
		Inventory:         l.src.Snapshot(),
		Edges:             l.edges,
		Window:            l.opts.Window,
		Now:               out.At,
		NamespaceLabelKey: l.opts.NamespaceLabelKey,
		OptOutLabel:       l.opts.OptOutLabel,
		Memo:              &l.memo,
	})
	if err != nil {
		out.Err = err
		return out
	}
	out.Pass = res
	report, err := reportConfigMap(res, l.opts.Namespace, cmp.Or(l.opts.NamespaceLabelKey, "kubernetes.io/metadata.name"), l.opts.Window, out.At)
	if err != nil {
		out.Err = err
		return out
	}
	applied, werr := l.writer.Apply(ctx, res.ConfigMaps, res.Namespaces)
	if errors.Is(werr, ErrListManaged) || ctx.Err() != nil {
		// Nothing known about what exists (or stopping): a failure.
		out.Err = cmp.Or(ctx.Err(), werr)
		return out
	}
	rep, rerr := l.writer.Put(ctx, report)
	applied.Created += rep.Created
	applied.Updated += rep.Updated
	applied.Unchanged += rep.Unchanged
	out.Applied, out.WriteErr = applied, errors.Join(werr, rerr)
	if out.WriteErr != nil {
		l.metrics.writeErrors.Inc()
		l.opts.Logger.Warn("audit pass: some writes failed", "err", out.WriteErr)
	}
	l.sendEvents(ctx, res.Unlabeled, out.At)
	l.export(res, applied)
	l.opts.Logger.Info("audit pass", "workloads", len(res.WorkloadRed), "red", len(res.Red),
		"unlabeledNamespaces", len(res.Unlabeled), "created", applied.Created, "updated", applied.Updated,
		"deleted", applied.Deleted, "unchanged", applied.Unchanged, "rendered", l.memo.Misses, "reused", l.memo.Hits,
		"duration", time.Since(start))
	return out
}

// export sets the gauges from a pass and counts the new disagreements.
func (l *Loop) export(res PassResult, applied ApplyResult) {
	m := l.metrics
	m.workloadRed.Reset()
	for _, w := range res.WorkloadRed {
		if w.Red > 0 {
			m.workloadRed.WithLabelValues(w.Namespace, w.Kind, w.Name).Set(float64(w.Red))
		}
	}
	m.unprotected.Reset()
	for _, s := range res.Summaries {
		if s.OptedOut {
			continue
		}
		m.unprotected.WithLabelValues(s.Namespace, "ingress").Set(float64(s.UnprotectedIngress))
		m.unprotected.WithLabelValues(s.Namespace, "egress").Set(float64(s.UnprotectedEgress))
	}
	m.unlabeled.Set(float64(len(res.Unlabeled)))
	m.suggested.Set(float64(len(res.ConfigMaps)))
	m.writesPerformed.WithLabelValues("create").Add(float64(applied.Created))
	m.writesPerformed.WithLabelValues("update").Add(float64(applied.Updated))
	m.writesPerformed.WithLabelValues("delete").Add(float64(applied.Deleted))
	// A counter of flows: add what grew since the last pass. Counts that
	// shrink (hours leaving the window) add nothing.
	var added uint64
	for k, n := range res.Disagreements {
		if prev := l.disagreeing[k]; n > prev {
			added += n - prev
		}
	}
	m.disagreements.Add(float64(added))
	l.disagreeing = maps.Clone(res.Disagreements)
}

// sendEvents puts a Warning Event on every unlabeled namespace, at most
// once an hour each.
func (l *Loop) sendEvents(ctx context.Context, unlabeled []UnlabeledNamespace, now time.Time) {
	if l.opts.Recorder == nil {
		return
	}
	for _, u := range unlabeled {
		if last, ok := l.eventSent[u.Namespace]; ok && now.Sub(last) < eventEvery {
			continue
		}
		var ns corev1.Namespace
		if err := l.client.Get(ctx, client.ObjectKey{Name: u.Namespace}, &ns); err != nil {
			l.opts.Logger.Warn("audit: read namespace for its Event", "namespace", u.Namespace, "err", err)
			continue
		}
		l.opts.Recorder.Eventf(&ns, nil, corev1.EventTypeWarning, "NamespaceLabelMissing", "Audit", "%s", u.Message())
		l.eventSent[u.Namespace] = now
	}
	for ns := range l.eventSent {
		if !slices.ContainsFunc(unlabeled, func(u UnlabeledNamespace) bool { return u.Namespace == ns }) {
			delete(l.eventSent, ns)
		}
	}
}
