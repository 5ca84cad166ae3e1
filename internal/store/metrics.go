package store

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus collectors (documented in the chart
// README):
//
//	redline_store_flushes_total             flushes run (failed ones too)
//	redline_store_flush_errors_total        flushes that failed
//	redline_store_flush_duration_seconds    flush latency
//	redline_store_pending_edges             (edge, hour) buckets waiting for a flush
//	redline_store_resident_edges            (edge, hour) buckets held in memory
//	redline_store_edges_written_total       (edge, hour) buckets written
//	redline_store_retention_deleted_total   (edge, hour) buckets deleted by retention
//	redline_store_dropped_flows_total{reason="too_old|closed|dictionary"}
//	redline_store_backpressure_waits_total  Records that waited for a flush (memory bound reached)
type metrics struct {
	flushes       prometheus.Counter
	flushErrors   prometheus.Counter
	flushDuration prometheus.Histogram
	edgesWritten  prometheus.Counter
	retentionDel  prometheus.Counter
	dropped       *prometheus.CounterVec
	droppedOld    prometheus.Counter
	backpressure  prometheus.Counter
	droppedClosed prometheus.Counter
	droppedDict   prometheus.Counter

	pendingFunc  func() float64
	residentFunc func() float64
	collectors   []prometheus.Collector
}

func newMetrics() *metrics {
	m := &metrics{
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_store_flushes_total",
			Help: "Flushes of recorded edges to the store, failed ones included.",
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_store_flush_errors_total",
			Help: "Flushes that failed (their edges are retried at the next flush).",
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redline_store_flush_duration_seconds",
			Help:    "Time a flush of recorded edges takes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		edgesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_store_edges_written_total",
			Help: "Edge hour buckets written by flushes.",
		}),
		retentionDel: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_store_retention_deleted_total",
			Help: "Edge hour buckets deleted because they are older than the retention.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redline_store_dropped_flows_total",
			Help: "Flows not recorded: older than the retention (too_old), store closing (closed), endpoint dictionary full (dictionary).",
		}, []string{"reason"}),
		backpressure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_store_backpressure_waits_total",
			Help: "Records that waited for a flush because the in-memory bound (MaxResidentEdges) was reached.",
		}),
	}
	m.droppedOld = m.dropped.WithLabelValues("too_old")
	m.droppedClosed = m.dropped.WithLabelValues("closed")
	m.droppedDict = m.dropped.WithLabelValues("dictionary")
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	m.collectors = []prometheus.Collector{
		m.flushes, m.flushErrors, m.flushDuration, m.edgesWritten, m.retentionDel, m.dropped, m.backpressure,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redline_store_pending_edges",
			Help: "Edge hour buckets recorded in memory and waiting for a flush.",
		}, m.pendingFunc),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redline_store_resident_edges",
			Help: "Edge hour buckets held in memory (pending or kept for the open hours).",
		}, m.residentFunc),
	}
	var errs []error
	for n, c := range m.collectors {
		if err := r.Register(c); err != nil {
			for _, done := range m.collectors[:n] {
				r.Unregister(done)
			}
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors {
		r.Unregister(c)
	}
}
