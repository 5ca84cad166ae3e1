package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/suggest"
)

// ReportName is the ConfigMap in Redline's namespace that summarises the
// last audit pass; KeyAuditReport holds it.
const (
	ReportName     = "redline-audit-report"
	KeyAuditReport = "report.json"
)

// maxReportedRed bounds the red connections listed in the audit report, so
// that it stays far below the 1 MiB a ConfigMap may hold.
const maxReportedRed = 500

// AuditReport is the audit report's report.json. Like the suggestions it
// has no timestamps or counters in it, so a pass that finds nothing new
// does not rewrite it.
type AuditReport struct {
	Window            string             `json:"window"`
	NamespaceLabelKey string             `json:"namespaceLabelKey"`
	Namespaces        []NamespaceSummary `json:"namespaces"`
	// Unlabeled are the namespaces to label, with the command that does it.
	Unlabeled []UnlabeledEntry `json:"unlabeledNamespaces"`
	// Red lists up to 500 red connections; RedTotal counts them all.
	Red      []RedConnection `json:"red"`
	RedTotal int             `json:"redTotal"`
	Skipped  []SkippedEntry  `json:"skipped,omitempty"`
}

// UnlabeledEntry is an unlabeled namespace in the audit report.
type UnlabeledEntry struct {
	Namespace string   `json:"namespace"`
	Label     string   `json:"label"`
	Workloads []string `json:"workloads"`
	Fix       string   `json:"fix"`
}

// SkippedEntry is a workload the pass could not suggest for.
type SkippedEntry struct {
	Workload string `json:"workload"`
	Reason   string `json:"reason"`
}

// Message is what the namespace's Event says.
func (u UnlabeledNamespace) Message() string {
	return fmt.Sprintf("namespace %s lacks label %s, which NetworkPolicies select namespaces by, and %d workload(s) talk across namespaces with it (%s): policies cannot select it until it has the label; %s",
		u.Namespace, u.Key, len(u.Workloads), firstOf(u.Workloads, 3), u.Fix())
}

// Fix is the command that labels the namespace.
func (u UnlabeledNamespace) Fix() string {
	return fmt.Sprintf("kubectl label namespace %s %s=<value>", u.Namespace, u.Key)
}

func firstOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// reportConfigMap renders the audit report of a pass.
func reportConfigMap(res PassResult, namespace, labelKey string, window time.Duration, now time.Time) (*corev1.ConfigMap, error) {
	rep := AuditReport{
		Window:            window.String(),
		NamespaceLabelKey: labelKey,
		Namespaces:        res.Summaries,
		Unlabeled:         []UnlabeledEntry{},
		Red:               res.Red,
		RedTotal:          len(res.Red),
	}
	if rep.Namespaces == nil {
		rep.Namespaces = []NamespaceSummary{}
	}
	if len(rep.Red) > maxReportedRed {
		rep.Red = rep.Red[:maxReportedRed]
	}
	if rep.Red == nil {
		rep.Red = []RedConnection{}
	}
	for _, u := range res.Unlabeled {
		rep.Unlabeled = append(rep.Unlabeled, UnlabeledEntry{Namespace: u.Namespace, Label: u.Key, Workloads: u.Workloads, Fix: u.Fix()})
	}
	for _, s := range res.Skipped {
		rep.Skipped = append(rep.Skipped, SkippedEntry(s))
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render the audit report: %w", err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ReportName,
			Namespace:   namespace,
			Labels:      map[string]string{suggest.LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{AnnotationGeneratedAt: now.UTC().Format(time.RFC3339)},
		},
		Data: map[string]string{KeyAuditReport: string(data) + "\n"},
	}, nil
}
