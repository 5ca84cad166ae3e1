// Package acceptance holds the acceptance tests: the five sample use cases
// of the product's seed (../shared/seed/000_3bf9910d722cc1a1.txt), each
// scripted through Redline's public interfaces — its HTTPS API with a
// service-account token, and the API server (dry-run and real applies,
// with the admission webhook's warnings) — against the environment
// `redline dev` runs (one, shared by the cases), and `redline dev` itself
// end to end.
package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/redline-dev/redline/cmd/redline/app"
	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/devenv"
	"github.com/redline-dev/redline/internal/netpol"
)

// execEnv, when set, makes the test binary run the redline command line
// given after its flags instead of the tests: TestDevOnce runs `redline dev`
// as a process of its own this way, as main does (signals included).
const execEnv = "REDLINE_ACCEPTANCE_EXEC"

// shared is the dev environment the use cases share, started by the first
// one that needs it.
var shared struct {
	once     sync.Once
	env      *devenv.Env
	err      error
	progress bytes.Buffer
	dir      string
}

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := app.Execute(ctx, os.Args[1:], app.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the dev environment: %v\n", err)
			code = 1
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// needAssets returns KUBEBUILDER_ASSETS; without it the test fails (a
// skipped acceptance test would pass for nothing).
func needAssets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd, kube-apiserver and kube-controller-manager into bin/k8s and sets it")
	}
	return dir
}

// devEnv returns the shared environment, started as `redline dev` starts
// it (app.StartDevEnv).
func devEnv(t *testing.T) *devenv.Env {
	t.Helper()
	assets := needAssets(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "redline-acceptance-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.env, shared.err = app.StartDevEnv(ctx, devenv.Options{
			Dir: shared.dir, AssetsDir: assets, APIAddress: "127.0.0.1:0", Seed: 1, Progress: &shared.progress,
		})
	})
	if shared.err != nil {
		t.Fatalf("start the dev environment: %v\n%s", shared.err, shared.progress.String())
	}
	return shared.env
}

// peer is a table row's peer as the API writes it.
type peer struct {
	Kind         string `json:"kind"`
	Namespace    string `json:"namespace"`
	WorkloadKind string `json:"workloadKind"`
	Name         string `json:"name"`
	Addr         string `json:"addr"`
	Class        string `json:"class"`
	Alias        string `json:"alias"`
}

func (p peer) String() string {
	if p.Kind == "address" {
		return p.Addr
	}
	return p.Namespace + "/" + p.Name + "[" + p.WorkloadKind + "]"
}

// row is a row of the ingress or egress table.
type row struct {
	Direction string `json:"Direction"`
	Peer      peer   `json:"Peer"`
	Protocol  string `json:"Protocol"`
	Port      uint16 `json:"Port"`
}

func (r row) String() string {
	return fmt.Sprintf("%s %s %s/%d", r.Direction, r.Peer, r.Protocol, r.Port)
}

// choice is the row as a request names it.
func (r row) choice() api.RowChoice {
	p := r.Peer.Addr
	if r.Peer.Kind != "address" {
		p = r.Peer.Namespace + "/" + r.Peer.WorkloadKind + "/" + r.Peer.Name
	}
	return api.RowChoice{Direction: netpol.Direction(r.Direction), Peer: p, Protocol: r.Protocol, Port: r.Port}
}

// suggestion is the answer of POST /api/v1/suggestions.
type suggestion struct {
	YAML       string   `json:"yaml"`
	Included   []row    `json:"included"`
	Excluded   []row    `json:"excluded"`
	NeedsLabel []string `json:"needsLabel"`
	Warnings   []string `json:"warnings"`
	policy     *networkingv1.NetworkPolicy
}

// rows lists the rows of a direction, included and excluded.
func (s suggestion) rows(direction string) []row {
	var out []row
	for _, r := range append(append([]row(nil), s.Included...), s.Excluded...) {
		if r.Direction == direction {
			out = append(out, r)
		}
	}
	return out
}

// suggest asks Redline's API for a suggestion, with the demo's namespace
// label key, over the last day.
func suggest(ctx context.Context, t *testing.T, env *devenv.Env, req api.SuggestionRequest) suggestion {
	t.Helper()
	if req.Since == "" {
		req.Since = "24h"
	}
	if req.NamespaceLabelKey == "" {
		req.NamespaceLabelKey = "team"
	}
	status, body, err := env.Suggest(ctx, req)
	if err != nil {
		t.Fatalf("POST /api/v1/suggestions: %v", err)
	}
	if status != http.StatusOK {
		t.Fatalf("POST /api/v1/suggestions %+v: %d %s", req, status, body)
	}
	var s suggestion
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("suggestion: %v\n%s", err, body)
	}
	s.policy = &networkingv1.NetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(s.YAML), s.policy); err != nil {
		t.Fatalf("suggested policy: %v\n%s", err, s.YAML)
	}
	return s
}

// whatIf creates the policy with dry-run through the API server and returns
// the webhook's warnings.
func whatIf(ctx context.Context, t *testing.T, env *devenv.Env, p *networkingv1.NetworkPolicy) []string {
	t.Helper()
	warnings, err := env.WhatIf(ctx, p.DeepCopy(), true)
	if err != nil {
		t.Fatal(err)
	}
	return warnings
}

// blocked returns the "src -> dst PROTO/port" of each "would block" warning,
// and fails on any other warning.
func blocked(t *testing.T, warnings []string) []string {
	t.Helper()
	var out []string
	for _, w := range warnings {
		rest, ok := strings.CutPrefix(w, "would block ")
		if !ok {
			t.Errorf("unexpected warning %q", w)
			continue
		}
		if i := strings.Index(rest, " (last seen"); i >= 0 {
			rest = rest[:i]
		}
		out = append(out, rest)
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
