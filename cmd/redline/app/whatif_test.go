package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// observedShopTraffic writes native flows between the example shop's
// workloads, minutes old, and ingests them into a fresh data directory.
func observedShopTraffic(t *testing.T) string {
	t.Helper()
	now := time.Now().UTC()
	type conn struct {
		srcNS, srcKind, src, dstNS, dstKind, dst string
		port                                     int
	}
	var b strings.Builder
	for i, c := range []conn{
		{"shop", "Deployment", "frontend", "shop", "Deployment", "cart", 8080},
		{"shop", "Deployment", "gateway", "shop", "Deployment", "frontend", 3000},
		{"shop", "Deployment", "checkout", "payments", "Deployment", "payment", 8443},
	} {
		for k := 0; k < 3; k++ {
			fmt.Fprintf(&b, `{"time":%q,"src":"10.244.1.%d","dst":"10.244.2.%d","src_port":%d,"port":%d,"protocol":"TCP","verdict":"forwarded","observer":"n1","src_pod":{"namespace":%q,"name":"%s-0","workload":{"kind":%q,"name":%q}},"dst_pod":{"namespace":%q,"name":"%s-0","workload":{"kind":%q,"name":%q}}}`+"\n",
				now.Add(-time.Duration(10+k)*time.Minute).Format(time.RFC3339Nano), 10+i, 10+i, 30000+i*10+k, c.port,
				c.srcNS, c.src, c.srcKind, c.src, c.dstNS, c.dst, c.dstKind, c.dst)
		}
	}
	flows := filepath.Join(t.TempDir(), "flows.ndjson")
	if err := os.WriteFile(flows, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if _, errOut, code := run(t, "", "ingest", "--data-dir", dataDir, "-f", "../../../examples/", flows); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	return dataDir
}

func TestWhatIf(t *testing.T) {
	dataDir := observedShopTraffic(t)
	isolate := filepath.Join("testdata", "whatif-frontend-isolated.yaml")

	// Replacing the frontend's policy with one that allows nothing cuts
	// both its observed connections: exit status 3, each listed with why.
	out, errOut, code := run(t, "", "whatif", "--data-dir", dataDir, "-f", "../../../examples/", "--policy", isolate)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (turns red): %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"NetworkPolicy shop/frontend (UPDATE), traffic of the last 7d: 2 connections turn red",
		"shop/frontend[Deployment]  shop/cart[Deployment]",
		"egress at shop/frontend[Deployment]: isolated by",
		"shop/gateway[Deployment]   shop/frontend[Deployment]  TCP/3000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Deleting the shop's default-deny changes nothing that was allowed.
	denyAll := filepath.Join(t.TempDir(), "deny.yaml")
	os.WriteFile(denyAll, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"), 0o644)
	out, errOut, code = run(t, "", "whatif", "--data-dir", dataDir, "-f", "../../../examples/", "--policy", denyAll, "--delete", "-o", "json")
	if code != 0 {
		t.Fatalf("delete: exit %d: %s\n%s", code, errOut, out)
	}
	var rep struct {
		Operation string
		Totals    struct{ TurnsRed struct{ Connections int } }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if rep.Operation != "DELETE" || rep.Totals.TurnsRed.Connections != 0 {
		t.Errorf("delete default-deny: %+v, want DELETE with nothing red", rep)
	}

	// A policy for pods with no observed traffic: impact unknown, exit 0.
	idle := filepath.Join(t.TempDir(), "idle.yaml")
	os.WriteFile(idle, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: redis-lockdown, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: redis}}\n  policyTypes: [Ingress]\n"), 0o644)
	out, errOut, code = run(t, "", "whatif", "--data-dir", dataDir, "-f", "../../../examples/", "--policy", idle)
	if code != 0 || !strings.Contains(out, "impact unknown") {
		t.Errorf("idle workload: exit %d, output %q (stderr %q), want impact unknown and exit 0", code, out, errOut)
	}

	if _, errOut, code := run(t, "", "whatif", "--data-dir", dataDir, "-f", "../../../examples/"); code != 2 || !strings.Contains(errOut, "--policy") {
		t.Errorf("missing --policy: exit %d, stderr %q", code, errOut)
	}
}
