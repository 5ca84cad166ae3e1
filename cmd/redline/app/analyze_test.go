package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// The shipped examples are what `make run` shows: their report is reviewed
// and pinned, so any semantic change shows up here.
func TestAnalyzeExamplesGolden(t *testing.T) {
	out, errOut, code := run(t, "", "analyze", "-f", "../../../examples/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden := filepath.Join("testdata", "analyze-examples.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("report differs from %s (go test -update to accept):\n%s", golden, out)
	}
}

func TestAnalyzeJSONAndStdin(t *testing.T) {
	manifest := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-dns, namespace: shop}
spec:
  podSelector: {}
  egress:
  - ports: [{protocol: UDP, port: 53}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
`
	out, errOut, code := run(t, manifest, "analyze", "-f", "-", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "ConfigMap") {
		t.Errorf("no warning for the skipped ConfigMap: %q", errOut)
	}
	var got []struct{ Src, Dst, Conn string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := []struct{ Src, Dst, Conn string }{
		{"shop/web[Deployment]", "0.0.0.0-255.255.255.255[External]", "UDP 53"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}\n"), 0o644)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n"), 0o644)

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"invalid policy", []string{"analyze", "-f", bad}, 1, []string{"networkpolicy a/p", "spec.ingress[0].from[0].ipBlock.except[0]"}},
		{"malformed yaml", []string{"analyze", "-f", broken}, 1, []string{broken, "line"}},
		{"missing file", []string{"analyze", "-f", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml"}},
		{"no -f", []string{"analyze"}, 2, []string{"-f PATH"}},
		{"bad output", []string{"analyze", "-f", bad, "-o", "xml"}, 2, []string{"xml"}},
		{"unknown flag", []string{"analyze", "--nope"}, 2, []string{"nope"}},
		{"unknown focus", []string{"analyze", "-f", "../../../examples/", "--focus-workload", "shop/nope"}, 1, []string{"shop/nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, "", tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if out != "" {
				t.Errorf("printed a result on bad input: %q", out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}
