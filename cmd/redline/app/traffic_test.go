package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ingested returns a data directory holding flowRecords, and the cluster
// file.
func ingested(t *testing.T) (data, cluster string) {
	t.Helper()
	_, cluster, flows, data := ingestFixture(t, flowRecords())
	if _, errOut, code := run(t, "", "ingest", "--data-dir", data, "-f", cluster, flows); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	return data, cluster
}

func TestTrafficWorkloadText(t *testing.T) {
	data, _ := ingested(t)
	out, errOut, code := run(t, "", "traffic", "--data-dir", data, "--workload", "shop/Deployment/frontend")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, re := range []string{
		`(?m)^INGRESS to shop/frontend\[Deployment\]\n  \(none observed\)$`,
		`(?m)^EGRESS from shop/frontend\[Deployment\]$`,
		`(?m)^  PEER\s+KIND\s+NAMESPACE\s+PORT\s+PROTOCOL\s+CONNECTIONS\s+LAST SEEN\s+VERDICT$`,
		// Both connections to cart: the pod address and the ClusterIP
		// (port 80 translated to the target port).
		`(?m)^  cart\s+Deployment\s+shop\s+8080\s+TCP\s+2\s+10m ago\s+FORWARDED$`,
		`(?m)^  payment\s+Deployment\s+payments\s+8443\s+TCP\s+1\s+10m ago\s+DROPPED$`,
		`(?m)^  203\.0\.113\.9\s+Address/external\s+-\s+443\s+TCP\s+1\s+10m ago\s+FORWARDED$`,
		`(?m)^UNRESOLVED ADDRESSES$`,
		`(?m)^  203\.0\.113\.9\s+external\s+-\s+1\s+0\s+1\s+10m ago\s+api\.stripe\.com$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}

	// The other side: cart's ingress from frontend; kinds by their short
	// names, as kubectl takes them.
	out, errOut, code = run(t, "", "traffic", "--data-dir", data, "--workload", "shop/deploy/cart", "--since", "1h")
	if code != 0 || !regexp.MustCompile(`(?m)^INGRESS to shop/cart\[Deployment\]\n.*\n  frontend\s+Deployment\s+shop\s+8080\s+TCP\s+2\s`).MatchString(out) ||
		!strings.Contains(out, "UNRESOLVED ADDRESSES\n  (none)") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestTrafficJSON(t *testing.T) {
	data, _ := ingested(t)
	out, errOut, code := run(t, "", "traffic", "--data-dir", data, "--workload", "shop/Deployment/frontend", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		From, To string
		Workload struct {
			Workload string
			Ingress  []map[string]any
			Egress   []struct {
				Peer, Kind, Namespace, Class, Protocol, Verdict, Service string
				Port, Connections, Dropped                               int
				Names                                                    []string
			}
		}
		Unresolved []map[string]any
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value:\n%s", out)
	}
	w := rep.Workload
	if w.Workload != "shop/frontend[Deployment]" || len(w.Ingress) != 0 || len(w.Egress) != 3 || len(rep.Unresolved) != 1 || rep.From == "" {
		t.Fatalf("report:\n%s", out)
	}
	// Workloads first, by namespace, then addresses.
	payment, cart, ext := w.Egress[0], w.Egress[1], w.Egress[2]
	if cart.Peer != "cart" || cart.Kind != "Deployment" || cart.Port != 8080 || cart.Connections != 2 || cart.Verdict != "FORWARDED" || cart.Service != "shop/cart" {
		t.Errorf("cart row = %+v", cart)
	}
	if payment.Peer != "payment" || payment.Verdict != "DROPPED" || payment.Dropped != 1 || payment.Port != 8443 {
		t.Errorf("payment row = %+v", payment)
	}
	if ext.Peer != "203.0.113.9" || ext.Kind != "Address" || ext.Class != "external" || ext.Port != 443 || len(ext.Names) != 1 {
		t.Errorf("external row = %+v", ext)
	}
}

func TestTrafficNamespaceAndSummary(t *testing.T) {
	data, _ := ingested(t)
	out, errOut, code := run(t, "", "traffic", "--data-dir", data, "--namespace", "payments")
	if code != 0 || !regexp.MustCompile(`(?m)^  shop/frontend\[Deployment\]\s+payments/payment\s+Deployment\s+8443\s+TCP\s+1\s.*DROPPED$`).MatchString(out) ||
		strings.Contains(out, "cart") || !strings.Contains(out, "UNRESOLVED ADDRESSES\n  (none)") {
		t.Errorf("--namespace payments: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, errOut, code = run(t, "", "traffic", "--data-dir", data, "--since", "7d")
	if code != 0 || !regexp.MustCompile(`(?m)^  shop\s+2\s`).MatchString(out) || !strings.Contains(out, "203.0.113.9") {
		t.Errorf("summary: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestTrafficFlags(t *testing.T) {
	data, _ := ingested(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"since days", []string{"--since", "7d"}, 0, ""},
		{"since minutes", []string{"--since", "90m"}, 0, ""},
		{"since days and hours", []string{"--since", "1d12h"}, 0, ""},
		{"since word", []string{"--since", "bad"}, 2, `invalid --since: "bad"`},
		{"since empty", []string{"--since", ""}, 2, "invalid --since"},
		{"since zero", []string{"--since", "0s"}, 2, "positive duration"},
		{"since zero days", []string{"--since", "0d"}, 2, "invalid --since"},
		{"since negative days", []string{"--since", "-1d"}, 2, "invalid --since"},
		{"since negative", []string{"--since", "-5m"}, 2, "positive duration"},
		{"since too long", []string{"--since", "200000d"}, 2, "invalid --since"},
		{"workload without kind", []string{"--workload", "shop/frontend"}, 2, "want namespace/Kind/name"},
		{"workload empty part", []string{"--workload", "shop//frontend"}, 2, "want namespace/Kind/name"},
		{"workload bad kind", []string{"--workload", "shop/Widget/frontend"}, 2, `invalid workload kind "Widget"`},
		{"output yaml", []string{"-o", "yaml"}, 2, `unknown output format "yaml"`},
		{"unknown flag", []string{"--colour"}, 2, "unknown flag"},
		// A bad command line, like a bad flag.
		{"argument", []string{"shop"}, 2, `unknown command "shop"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, "", append([]string{"traffic", "--data-dir", data}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
			if tc.wantCode != 0 && out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
	if _, errOut, code := run(t, "", "traffic"); code != 2 || !strings.Contains(errOut, "--data-dir is required") {
		t.Errorf("no --data-dir: exit %d, %q", code, errOut)
	}
}

// traffic reads: it does not create a data directory that is not there.
func TestTrafficMissingDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "typo")
	_, errOut, code := run(t, "", "traffic", "--data-dir", data)
	if code != 1 || !strings.Contains(errOut, data) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("traffic created %s", data)
	}
}
