package audit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the audit loop's Prometheus metrics (docs/audit.md).
type metrics struct {
	workloadRed     *prometheus.GaugeVec
	unlabeled       prometheus.Gauge
	unprotected     *prometheus.GaugeVec
	suggested       prometheus.Gauge
	runs            *prometheus.CounterVec
	duration        prometheus.Histogram
	lastSuccess     prometheus.Gauge
	disagreements   prometheus.Counter
	writeErrors     prometheus.Counter
	writesPerformed *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		workloadRed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redline_workload_red_connections",
			Help: "Observed connections of a workload, in the audit window, that the current NetworkPolicies deny or the CNI dropped (workloads with none have no series).",
		}, []string{"namespace", "kind", "workload"}),
		unlabeled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redline_unlabeled_namespaces",
			Help: "Namespaces in cross-namespace traffic that lack the namespace label key policies select them by.",
		}),
		unprotected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redline_workloads_unprotected",
			Help: "Workloads no NetworkPolicy isolates, by namespace and direction (ingress, egress).",
		}, []string{"namespace", "direction"}),
		suggested: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redline_suggested_policies",
			Help: "Suggested NetworkPolicies the last audit pass wrote or kept (redline-suggested-* ConfigMaps).",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redline_audit_runs_total",
			Help: "Audit passes, by result (success, failure).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redline_audit_duration_seconds",
			Help:    "Time of one audit pass, API writes included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redline_audit_last_success_timestamp_seconds",
			Help: "Unix time of the last audit pass that succeeded.",
		}),
		disagreements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_verdict_disagreements_total",
			Help: "Flows on which the CNI's verdict and the policy engine's differ (forwarded although denied, dropped although allowed), counted by the audit as they appear.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_audit_write_errors_total",
			Help: "ConfigMap writes of the audit that failed (the pass itself still counts as a success).",
		}),
		writesPerformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redline_audit_configmap_writes_total",
			Help: "ConfigMap writes of the audit, by operation (create, update, delete).",
		}, []string{"operation"}),
	}
	for _, r := range []string{resultSuccess, resultFailure} {
		m.runs.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.workloadRed, m.unlabeled, m.unprotected, m.suggested, m.runs, m.duration, m.lastSuccess, m.disagreements, m.writeErrors, m.writesPerformed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register audit metrics: %w", err)
		}
	}
	return m, nil
}

const (
	resultSuccess = "success"
	resultFailure = "failure"
)
