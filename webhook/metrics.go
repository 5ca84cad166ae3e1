package webhook

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Decisions, the decision label of redline_admission_requests_total.
const (
	decisionAllowed    = "allowed"     // no message
	decisionWarned     = "warned"      // allowed with warnings
	decisionDenied     = "denied"      // rejected
	decisionExempt     = "exempt"      // not evaluated: exempt namespace or Redline itself
	decisionFailedOpen = "failed_open" // allowed because the decision could not be made (busy, out of budget, error)
)

type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	red            *prometheus.HistogramVec
	analyzerBuilds prometheus.Histogram
	// seen counts the requests answered (all labels together).
	seen atomic.Int64
}

// requestsSeen is how many requests were answered.
func (m *metrics) requestsSeen() int64 { return m.seen.Load() }

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redline_admission_requests_total",
			Help: "Admission requests answered, by operation, decision (allowed, warned, denied, exempt, failed_open), mode and dry_run.",
		}, []string{"operation", "decision", "mode", "dry_run"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redline_admission_duration_seconds",
			Help:    "Time to answer one admission request, by admitted kind.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3},
		}, []string{"kind"}),
		red: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redline_admission_red_connections",
			Help:    "Observed connections one admission request would turn red, by admitted kind.",
			Buckets: []float64{0, 1, 2, 5, 10, 20, 50, 100, 500, 1000, 10000},
		}, []string{"kind"}),
		analyzerBuilds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redline_admission_analyzer_build_seconds",
			Help:    "Time to compile the current policy set of a new cluster snapshot for impact analysis.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.red, m.analyzerBuilds} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register admission metrics: %w", err)
			}
		}
	}
	return m, nil
}

// outcome is what the decorators and the handler learn about one request,
// for withMetrics: it travels in the context.
type outcome struct {
	mode       string
	red        int
	evaluated  bool // the impact was computed (red is meaningful)
	exempt     bool
	failedOpen bool
}

type outcomeKey struct{}

func withOutcome(ctx context.Context) (context.Context, *outcome) {
	o := &outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

// outcomeOf returns the request's outcome, or a throwaway one when no
// withMetrics is in the chain (unit tests of one stage).
func outcomeOf(ctx context.Context) *outcome {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		return o
	}
	return &outcome{}
}

func boolLabel(b bool) string { return strconv.FormatBool(b) }
