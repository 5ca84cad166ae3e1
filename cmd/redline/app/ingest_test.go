package app

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/inventory/inventorytest"
)

// flowRecords returns Hubble and native records of a few minutes ago:
//
//   - a TCP connection frontend → cart:8080 reported at both ends
//     (SYN at each node, the SYN-ACK reply);
//   - a connection frontend → the cart ClusterIP 10.96.0.10:80 (native,
//     before DNAT): the same edge, on port 8080;
//   - a SYN frontend → payment:8443 DROPPED by policy;
//   - a connection frontend → 203.0.113.9:443 (reserved:world);
//   - an ICMP record (ignored).
func flowRecords() []string {
	at := time.Now().Add(-10 * time.Minute).UTC()
	ts := func(ms int) string { return at.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	const (
		frontend = `{"ID":1734,"identity":31245,"namespace":"shop","labels":["k8s:app=frontend","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"frontend-7d9c8b6f5-x2kqp","workloads":[{"name":"frontend","kind":"Deployment"}]}`
		cart     = `{"ID":2291,"identity":18211,"namespace":"shop","labels":["k8s:app=cart","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"cart-5b7f9d8c6-9hzlw","workloads":[{"name":"cart","kind":"Deployment"}]}`
		payment  = `{"ID":977,"identity":44107,"namespace":"payments","labels":["k8s:app=payment","k8s:io.kubernetes.pod.namespace=payments"],"pod_name":"payment-6c8d9f7b4-q7m2x","workloads":[{"name":"payment","kind":"Deployment"}]}`
		world    = `{"identity":2,"labels":["reserved:world"]}`
	)
	hubble := func(ms int, verdict, srcIP, dstIP string, sport, dport int, flags, src, dst, node, dir, reply, extra string) string {
		return fmt.Sprintf(`{"flow":{"time":%q,"verdict":%q,"IP":{"source":%q,"destination":%q,"ipVersion":"IPv4"},"l4":{"TCP":{"source_port":%d,"destination_port":%d,"flags":{%s}}},"source":%s,"destination":%s,"Type":"L3_L4","node_name":%q,"traffic_direction":%q,"is_reply":%s%s},"node_name":%q,"time":%q}`,
			ts(ms), verdict, srcIP, dstIP, sport, dport, flags, src, dst, node, dir, reply, extra, node, ts(ms))
	}
	svc := `,"destination_service":{"name":"cart","namespace":"shop"}`
	return []string{
		hubble(0, "FORWARDED", "10.244.1.23", "10.244.2.41", 43512, 8080, `"SYN":true`, frontend, cart, "kind-kind/kind-worker", "EGRESS", "false", svc),
		hubble(1, "FORWARDED", "10.244.1.23", "10.244.2.41", 43512, 8080, `"SYN":true`, frontend, cart, "kind-kind/kind-worker2", "INGRESS", "false", svc),
		hubble(2, "FORWARDED", "10.244.2.41", "10.244.1.23", 8080, 43512, `"SYN":true,"ACK":true`, cart, frontend, "kind-kind/kind-worker2", "EGRESS", "true", ""),
		fmt.Sprintf(`{"time":%q,"src":"10.244.1.23","src_port":43600,"dst":"10.96.0.10","port":80,"protocol":"TCP","verdict":"forwarded","tcp_flags":["SYN"]}`, ts(3)),
		hubble(4, "DROPPED", "10.244.1.23", "10.244.3.7", 51000, 8443, `"SYN":true`, frontend, payment, "kind-kind/kind-worker", "EGRESS", "false", `,"drop_reason_desc":"POLICY_DENIED"`),
		hubble(5, "FORWARDED", "10.244.1.23", "203.0.113.9", 38000, 443, `"SYN":true`, frontend, world, "kind-kind/kind-worker", "EGRESS", "false", `,"destination_names":["api.stripe.com"]`),
		fmt.Sprintf(`{"time":%q,"src":"10.244.1.23","dst":"10.244.2.41","protocol":"ICMP"}`, ts(6)),
	}
}

// ingestFixture writes the cluster and flow files into a temporary
// directory; the data directory is dir/data (not created yet).
func ingestFixture(t *testing.T, flowLines []string) (dir, cluster, flows, data string) {
	t.Helper()
	dir = t.TempDir()
	cluster = inventorytest.WriteShop(t, dir)
	flows = filepath.Join(dir, "flows.jsonl")
	if err := os.WriteFile(flows, []byte(strings.Join(flowLines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cluster, flows, filepath.Join(dir, "data")
}

func TestIngestSummary(t *testing.T) {
	_, cluster, flows, data := ingestFixture(t, flowRecords())
	out, errOut, code := run(t, "", "ingest", "--data-dir", data, "-f", cluster, flows)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "7 lines: 4 connections recorded, 1 duplicate reports, 1 replies, 1 ignored, 0 rejected\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "REDLINE_STORE")); err != nil {
		t.Errorf("the data directory is not a store: %v", err)
	}
}

func TestIngestStdin(t *testing.T) {
	_, cluster, _, data := ingestFixture(t, nil)
	out, errOut, code := run(t, strings.Join(flowRecords(), "\n"), "ingest", "--data-dir", data, "-f", cluster, "--format", "auto", "-")
	if code != 0 || !strings.HasPrefix(out, "7 lines: 4 connections recorded") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestIngestBadLines(t *testing.T) {
	good := flowRecords()
	lines := []string{good[0], `{"flow":`, good[1], "", `{"src":"10.0.0.1","dst":"10.0.0.2","port":0,"protocol":"TCP","time":"2026-01-01T00:00:00Z"}`, good[4]}
	_, cluster, flows, data := ingestFixture(t, lines)
	out, errOut, code := run(t, "", "ingest", "--data-dir", data, "-f", cluster, flows)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	if want := "5 lines: 2 connections recorded, 1 duplicate reports, 0 replies, 0 ignored, 2 rejected\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	for _, want := range []string{flows + ": line 2: ", flows + ": line 5: ", "some lines were rejected: 2 of 5 lines (the others were kept)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "line 3:") || strings.Contains(errOut, "line 6:") {
		t.Errorf("good lines reported as bad:\n%s", errOut)
	}
	// The good lines were kept.
	out, errOut, code = run(t, "", "traffic", "--data-dir", data, "--workload", "shop/Deployment/frontend")
	if code != 0 || !regexp.MustCompile(`(?m)^\s+cart\s+Deployment\s+shop\s+8080\s+TCP\s+1\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^\s+payment\s+Deployment\s+payments\s+8443\s+TCP\s+1\s.*DROPPED`).MatchString(out) {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestIngestErrors(t *testing.T) {
	dir, cluster, flows, data := ingestFixture(t, flowRecords())
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no data dir", []string{"ingest", flows}, 2, "--data-dir is required"},
		// A wrong argument count is a bad command line, like a bad flag.
		{"no input", []string{"ingest", "--data-dir", data}, 2, "accepts 1 arg"},
		{"two inputs", []string{"ingest", "--data-dir", data, flows, flows}, 2, "accepts 1 arg"},
		{"bad format", []string{"ingest", "--data-dir", data, "--format", "pcap", flows}, 2, `unknown flow format "pcap"`},
		{"stdin twice", []string{"ingest", "--data-dir", data, "-f", "-", "-"}, 2, "stdin (-) can hold the flows or the manifests, not both"},
		{"missing input", []string{"ingest", "--data-dir", data, filepath.Join(dir, "nope.jsonl")}, 1, "nope.jsonl"},
		{"missing manifests", []string{"ingest", "--data-dir", data, "-f", filepath.Join(dir, "nope.yaml"), flows}, 1, "nope.yaml"},
		{"data dir is a file", []string{"ingest", "--data-dir", cluster, flows}, 1, "not a Redline data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a failed ingest created %s", data)
	}
}

// A directory that is not a Redline store is refused, by ingest and by
// traffic, and left as it was.
func TestNotRedlineDataDir(t *testing.T) {
	_, cluster, flows, _ := ingestFixture(t, flowRecords())
	data := t.TempDir()
	notes := filepath.Join(data, "notes.txt")
	if err := os.WriteFile(notes, []byte("my notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, data)
	for _, args := range [][]string{
		{"ingest", "--data-dir", data, "-f", cluster, flows},
		{"traffic", "--data-dir", data},
		{"traffic", "--data-dir", data, "--workload", "shop/Deployment/frontend", "-o", "json"},
	} {
		out, errOut, code := run(t, "", args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", args[0], code)
		}
		if !strings.Contains(errOut, "not a Redline data directory") || !strings.Contains(errOut, "notes.txt") {
			t.Errorf("%s: stderr does not say what is wrong: %q", args[0], errOut)
		}
		if args[0] == "traffic" && out != "" {
			t.Errorf("%s: stdout %q", args[0], out)
		}
		if after := listDir(t, data); after != before {
			t.Errorf("%s changed the directory:\nbefore %s\nafter  %s", args[0], before, after)
		}
	}
}

// listDir describes a directory's files: names, sizes and contents.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/ ", rel)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s(%q) ", rel, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
