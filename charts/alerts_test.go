package charts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// renderRules writes the rule groups of the PrometheusRule a values set
// renders to dir/rules.yaml, in the format promtool reads.
func renderRules(t *testing.T, set, dir string) ruleGroups {
	t.Helper()
	out, err := run(t, tool(t, "helm"), "template", releaseName, chartDir, "--namespace", releaseNamespace,
		"-f", valuesFile(set), "--show-only", "templates/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec ruleGroups `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(out), &rule); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	return rule.Spec
}

// The alerts pass `promtool check rules` and the unit tests of
// testdata/alerts_test.yaml, which cover every alert firing and not firing.
func TestAlerts(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := t.TempDir()
	rules := renderRules(t, "monitoring", dir)
	if _, err := run(t, promtool, "check", "rules", filepath.Join(dir, "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), unit, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml")); err != nil {
		t.Fatal(err)
	} else {
		t.Log(strings.TrimSpace(out))
	}

	// Coverage: each alert has a case that fires and one that does not.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(unit, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]int{}, map[string]int{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				silent[a.Alertname]++
			}
		}
	}
	readme := readmeText(t)
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if fires[r.Alert] == 0 || silent[r.Alert] == 0 {
				t.Errorf("%s: %d promtool cases where it fires, %d where it does not; want at least one of each", r.Alert, fires[r.Alert], silent[r.Alert])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !slices.Contains([]string{"info", "warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if !slices.Contains(readmeAnchors(readme), anchor) {
				t.Errorf("%s: runbook_url %s: the README has no section #%s", r.Alert, r.Annotations["runbook_url"], anchor)
			}
		}
	}
	// The alerts are all there.
	for _, want := range []string{
		"RedlineRedConnections", "RedlineUnlabeledNamespaces", "RedlineAdmissionDenialsRising",
		"RedlineWebhookLatencyHigh", "RedlineWebhookErrors", "RedlineNoFlowsIngested",
		"RedlineAuditStale", "RedlineCertificateExpiringSoon",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("alert %s missing (have %v)", want, names)
		}
	}
	for name := range fires {
		if !slices.Contains(names, name) {
			t.Errorf("testdata/alerts_test.yaml tests %s, which the chart does not render", name)
		}
	}
}

// The audit interval and the thresholds reach the expressions; disabled
// alerts and a disabled audit loop leave their alerts out.
func TestAlertsFollowValues(t *testing.T) {
	dir := t.TempDir()
	rules := renderRules(t, "options", dir) // audit.interval 1h30m, RedlineNoFlowsIngested disabled
	exprs := map[string]string{}
	for _, r := range rules.Groups[0].Rules {
		exprs[r.Alert] = r.Expr
		if r.Labels["team"] != "platform" {
			t.Errorf("%s: additionalLabels not applied: %v", r.Alert, r.Labels)
		}
	}
	if !strings.HasSuffix(exprs["RedlineAuditStale"], "> 16200") {
		t.Errorf("RedlineAuditStale with audit.interval 1h30m: %s, want > 16200 (3 intervals)", exprs["RedlineAuditStale"])
	}
	if _, ok := exprs["RedlineNoFlowsIngested"]; ok {
		t.Error("RedlineNoFlowsIngested rendered though disabled")
	}
	out, err := helmTemplate(t, []string{valuesFile("monitoring")}, "audit.interval=0", "prometheusRule.thresholds.certificateExpiryDays=14")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "RedlineAuditStale") {
		t.Error("RedlineAuditStale rendered with the audit loop off")
	}
	if !strings.Contains(out, "< 14 * 86400") {
		t.Error("certificateExpiryDays does not reach RedlineCertificateExpiringSoon")
	}
}
