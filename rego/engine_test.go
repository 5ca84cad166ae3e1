package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// TestRegoUnitTests runs the embedded *_test.rego files through OPA's tester,
// compiled like the decision set.
func TestRegoUnitTests(t *testing.T) {
	modules := map[string]*ast.Module{}
	for name, src := range embedded() {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		modules[name] = m
	}
	ch, err := tester.NewRunner().
		SetCompiler(newCompiler()).
		SetModules(modules).
		RaiseBuiltinErrors(true).
		RunTests(t.Context(), nil)
	if err != nil {
		t.Fatalf("run rego tests: %v", err)
	}
	ran := 0
	for r := range ch {
		ran++
		switch {
		case r.Error != nil:
			t.Errorf("%s: %s.%s: error: %v", r.Location, r.Package, r.Name, r.Error)
		case r.Fail && r.FailedAt != nil:
			t.Errorf("%s: %s.%s: failed at %v", r.Location, r.Package, r.Name, r.FailedAt)
		case r.Fail:
			t.Errorf("%s: %s.%s: failed", r.Location, r.Package, r.Name)
		case r.Skip:
			t.Logf("%s.%s: skipped", r.Package, r.Name)
		}
	}
	if ran == 0 {
		t.Fatal("no Rego tests ran")
	}
	t.Logf("%d Rego tests ran", ran)
}

func newTestEngine(t testing.TB, reg prometheus.Registerer, sink func(reason, msg string)) *Engine {
	t.Helper()
	e, err := NewEngine(Options{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: reg,
		EventSink:  sink,
		Now:        func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func workload(ns, kind, name string) Endpoint {
	return Endpoint{Namespace: ns, Kind: kind, Name: name}
}

func frontendToCart() Connection {
	return Connection{
		Src: workload("shop", "Deployment", "frontend"), Dst: workload("shop", "Deployment", "cart"),
		Protocol: "TCP", Port: 7070, Count: 1234, LastSeen: testNow.Add(-2*time.Hour - 5*time.Minute),
		Explanation: "ingress at shop/cart allows only shop/checkout",
	}
}

const frontendToCartLine = "would block shop/frontend[Deployment] -> shop/cart[Deployment] TCP/7070 (last seen 2h ago, 1.2k connections)"

// redConnections returns n distinct red connections: frontend-<i> -> cart.
func redConnections(n int) []Connection {
	out := make([]Connection, n)
	for i := range out {
		c := frontendToCart()
		c.Src.Name = fmt.Sprintf("frontend-%02d", i)
		c.Count = int64(1000 * (i + 1))
		out[i] = c
	}
	return out
}

func testInput(mode Mode, impact Impact) Input {
	return Input{
		Request: Request{
			UID: "7e3c", Operation: "UPDATE",
			Kind:      Kind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
			UserInfo:  UserInfo{Username: "alice", Groups: []string{"devs"}},
			Namespace: "shop", Name: "cart-ingress",
		},
		Object:    json.RawMessage(`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"cart-ingress","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"cart"}},"policyTypes":["Ingress"]}}`),
		OldObject: json.RawMessage(`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"cart-ingress","namespace":"shop"},"spec":{"podSelector":{}}}`),
		Namespace: Namespace{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}},
		Mode:      mode,
		Impact:    impact,
	}
}

func TestDecide(t *testing.T) {
	e := newTestEngine(t, nil, nil)
	one := Impact{TurnsRed: []Connection{frontendToCart()}, TurnsRedTotal: 1, Window: 24 * time.Hour}
	many := Impact{TurnsRed: redConnections(30), TurnsRedTotal: 45}
	var manyLines []string
	for _, c := range redConnections(20) {
		manyLines = append(manyLines, fmt.Sprintf("would block shop/%s[Deployment] -> shop/cart[Deployment] TCP/7070 (last seen 2h ago, %s connections)", c.Src.Name, FormatCount(c.Count)))
	}
	sort.Strings(manyLines)
	manyLines = append(manyLines, "and 25 more")

	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{"warn mode warns", testInput(ModeWarn, one), Decision{Warn: []string{frontendToCartLine}}},
		{"empty mode is warn", testInput("", one), Decision{Warn: []string{frontendToCartLine}}},
		{"enforce mode denies", testInput(ModeEnforce, one), Decision{Deny: []string{frontendToCartLine}}},
		{"off mode says nothing", testInput(ModeOff, one), Decision{}},
		{"harmless change", testInput(ModeEnforce, Impact{TurnsGreenTotal: 4, StaysRedTotal: 2}), Decision{}},
		{"list capped at 20 with and K more", testInput(ModeEnforce, many), Decision{Deny: manyLines}},
		{"total below list length is corrected", testInput(ModeWarn, Impact{TurnsRed: []Connection{frontendToCart()}}), Decision{Warn: []string{frontendToCartLine}}},
		{
			"unknown impact warns in enforce",
			testInput(ModeEnforce, Impact{Unknown: true, UnknownReason: "no flows observed in namespace shop yet"}),
			Decision{Warn: []string{"impact unknown (no flows observed in namespace shop yet): allowed"}},
		},
		{
			"incomplete impact warns in enforce with what was found",
			testInput(ModeEnforce, Impact{TurnsRed: []Connection{frontendToCart()}, TurnsRedTotal: 3, Incomplete: true}),
			Decision{Warn: []string{"impact not computed in time: allowed", frontendToCartLine, "and 2 more"}},
		},
		{
			"preformatted texts are kept",
			testInput(ModeWarn, Impact{TurnsRed: []Connection{{
				Src:      Endpoint{Address: "203.0.113.7", Class: "external"},
				Dst:      Endpoint{Namespace: "shop", Kind: "Deployment", Name: "cart", Text: "cart (shop)"},
				Protocol: "UDP", Port: 53, Count: 1, CountText: "one", LastSeenText: "yesterday",
			}}}),
			Decision{Warn: []string{"would block 203.0.113.7 (external) -> cart (shop) UDP/53 (last seen yesterday, one connection)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Decide(t.Context(), tt.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !slices.Equal(got.Deny, tt.want.Deny) || !slices.Equal(got.Warn, tt.want.Warn) {
				t.Errorf("Decide =\n  deny %q\n  warn %q\nwant\n  deny %q\n  warn %q", got.Deny, got.Warn, tt.want.Deny, tt.want.Warn)
			}
			if got.Denied() != (len(tt.want.Deny) > 0) {
				t.Errorf("Denied() = %v", got.Denied())
			}
		})
	}

	t.Run("invalid mode is an error", func(t *testing.T) {
		if _, err := e.Decide(t.Context(), testInput("block", one)); err == nil {
			t.Fatal("Decide accepted mode block")
		}
	})
	t.Run("caller's list is not modified", func(t *testing.T) {
		in := testInput(ModeWarn, many)
		if _, err := e.Decide(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		if len(in.Impact.TurnsRed) != 30 || in.Impact.TurnsRed[0].CountText != "" {
			t.Errorf("Decide changed the caller's input: %d connections, countText %q", len(in.Impact.TurnsRed), in.Impact.TurnsRed[0].CountText)
		}
	})
	t.Run("object that is not JSON is an error", func(t *testing.T) {
		in := testInput(ModeWarn, one)
		in.Object = json.RawMessage(`{"kind":`)
		if _, err := e.Decide(t.Context(), in); err == nil {
			t.Fatal("Decide accepted a broken object")
		}
	})
}

// TestInputJSONMatchesValue: what json.Marshal(Input) writes (the README's
// document) is what the policies see.
func TestInputJSONMatchesValue(t *testing.T) {
	c := frontendToCart()
	c.Src.Text, c.Dst.Text = c.Src.Label(), c.Dst.Label()
	c.CountText, c.LastSeenText, c.Service, c.PortText = "1.2k", "2h ago", "shop/cart", "TCP/7070"
	in := testInput(ModeEnforce, Impact{TurnsRed: []Connection{c}, TurnsRedTotal: 3, TurnsGreenTotal: 1, Window: 7 * 24 * time.Hour})
	in.ModeWarning = "bad label"
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	built, err := in.value(testNow)
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON.Compare(built) != 0 {
		t.Errorf("input differs:\njson:  %v\nbuilt: %v", fromJSON, built)
	}
	if !strings.Contains(string(b), `"window":"7d"`) || !strings.Contains(string(b), `"lastSeen":"2026-05-01T09:55:00Z"`) {
		t.Errorf("unexpected JSON: %s", b)
	}
}

const forbiddenModule = `package redline.admission

deny contains msg if {
	input.object.metadata.name == "forbidden"
	msg := sprintf("NetworkPolicy %s/%s: the name forbidden is reserved", [input.namespace.name, input.object.metadata.name])
}
`

func TestUpdate(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	var mu sync.Mutex
	var events []string
	e := newTestEngine(t, reg, func(reason, msg string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, reason+": "+msg)
	})
	defaults := e.Version()
	if err := e.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	forbidden := testInput(ModeWarn, Impact{})
	forbidden.Object = json.RawMessage(`{"metadata":{"name":"forbidden","namespace":"shop"}}`)
	decide := func() Decision {
		t.Helper()
		d, err := e.Decide(t.Context(), forbidden)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		return d
	}
	if d := decide(); d.Denied() {
		t.Fatalf("defaults deny: %v", d.Deny)
	}

	// A valid user module is added to the defaults.
	if err := e.Update(map[string]string{"forbidden.rego": forbiddenModule, "README": "not a module"}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	v1 := e.Version()
	if v1 == defaults {
		t.Error("version unchanged after an update")
	}
	wantDeny := []string{"NetworkPolicy shop/forbidden: the name forbidden is reserved"}
	if d := decide(); !slices.Equal(d.Deny, wantDeny) {
		t.Fatalf("after update deny = %q, want %q", d.Deny, wantDeny)
	}
	if _, ok := e.Modules()[embeddedPrefix+"admission.rego"]; !ok {
		t.Errorf("default module dropped: %v", slices.Sorted(maps.Keys(e.Modules())))
	}
	if got := metricValue(t, e.version.WithLabelValues(v1)); got != 1 {
		t.Errorf("redline_rego_policy_version{version=%q} = %v", v1, got)
	}

	// A broken module keeps the last good set.
	broken := map[string]string{"forbidden.rego": forbiddenModule, "broken.rego": "package redline.admission\n\nwarn contains msg if {\n\tmsg := \n}\n"}
	err := e.Update(broken)
	if err == nil {
		t.Fatal("Update accepted a module that does not compile")
	}
	if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "broken.rego:") {
		t.Errorf("error %q should wrap ErrCompile and name broken.rego:<line>", err)
	}
	if !errors.Is(e.LastUpdateError(), ErrCompile) {
		t.Errorf("LastUpdateError = %v", e.LastUpdateError())
	}
	if e.Version() != v1 {
		t.Errorf("version changed to %s after a failed update", e.Version())
	}
	if d := decide(); !slices.Equal(d.Deny, wantDeny) {
		t.Errorf("after failed update deny = %q, want %q", d.Deny, wantDeny)
	}
	if got := metricValue(t, e.compileErrors); got != 1 {
		t.Errorf("redline_rego_compile_errors_total = %v, want 1", got)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready after a failed update: %v", err)
	}

	// Fixing it applies.
	broken["broken.rego"] = "package redline.admission\n\nwarn contains \"fixed\" if input.request.dryRun == false\n"
	if err := e.Update(broken); err != nil {
		t.Fatalf("Update with the fix: %v", err)
	}
	if d := decide(); !slices.Equal(d.Deny, wantDeny) || !slices.Equal(d.Warn, []string{"fixed"}) {
		t.Errorf("after fix: %+v", d)
	}
	if e.LastUpdateError() != nil {
		t.Errorf("LastUpdateError after fix = %v", e.LastUpdateError())
	}

	// The same modules again: nothing to do.
	v2 := e.Version()
	if err := e.Update(broken); err != nil || e.Version() != v2 {
		t.Errorf("re-applying the active set: err %v, version %s -> %s", err, v2, e.Version())
	}

	// A user admission.rego replaces the default one.
	if err := e.Update(map[string]string{"admission.rego": "package redline.admission\n\nwarn contains \"custom\" if true\n"}); err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(t.Context(), testInput(ModeEnforce, Impact{TurnsRed: []Connection{frontendToCart()}}))
	if err != nil || d.Denied() || !slices.Equal(d.Warn, []string{"custom"}) {
		t.Errorf("replaced admission.rego: %+v, %v", d, err)
	}

	// No user modules: the defaults again, same version as at start.
	if err := e.Update(nil); err != nil || e.Version() != defaults {
		t.Errorf("reset to defaults: err %v, version %s want %s", err, e.Version(), defaults)
	}

	mu.Lock()
	defer mu.Unlock()
	var reasons []string
	for _, ev := range events {
		reasons = append(reasons, strings.SplitN(ev, ":", 2)[0])
	}
	want := []string{ReasonPolicyUpdated, ReasonCompileFailed, ReasonPolicyUpdated, ReasonPolicyUpdated, ReasonPolicyUpdated}
	if !slices.Equal(reasons, want) {
		t.Errorf("events %q, want reasons %q", events, want)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	wantNames := []string{"redline_rego_compile_errors_total", "redline_rego_evaluation_duration_seconds", "redline_rego_policy_version"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("metrics %q, want %q", names, wantNames)
	}
}

func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither counter nor gauge", m.Desc())
	return 0
}

func TestOutputContract(t *testing.T) {
	e := newTestEngine(t, nil, nil)
	in := testInput(ModeWarn, Impact{})

	t.Run("boolean deny is rejected at update", func(t *testing.T) {
		boolean := "package redline.admission\n\ndeny if input.mode == \"warn\"\n"
		// Beside the defaults, the compiler sees the conflict.
		err := e.Update(map[string]string{"bool.rego": boolean})
		if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "bool.rego:3") {
			t.Errorf("err = %v", err)
		}
		// Replacing the defaults, the output contract check does.
		err = e.Update(map[string]string{"admission.rego": boolean})
		if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "admission.rego:3") || !strings.Contains(err.Error(), "deny contains msg") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("non-string messages are kept as text", func(t *testing.T) {
		mod := "package redline.admission\n\ndeny contains {\"msg\": \"conftest style\"} if true\n\ndeny contains 42 if true\n\nwarn contains {\"code\": 7} if true\n"
		if err := e.Update(map[string]string{"odd.rego": mod}); err != nil {
			t.Fatal(err)
		}
		d, err := e.Decide(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Deny, []string{"42", "conftest style"}) || !slices.Equal(d.Warn, []string{`{"code":7}`}) {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("runtime conflict is an error", func(t *testing.T) {
		mod := "package redline.extra\n\nx := 1 if true\n\nx := 2 if true\n"
		use := "package redline.admission\n\nimport data.redline.extra\n\nwarn contains sprintf(\"%d\", [extra.x]) if true\n"
		if err := e.Update(map[string]string{"extra.rego": mod, "use.rego": use}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Decide(t.Context(), in); err == nil || !strings.Contains(err.Error(), "conflict") {
			t.Errorf("err = %v, want a conflict error", err)
		}
	})
	t.Run("network built-ins are not available", func(t *testing.T) {
		mod := "package redline.admission\n\nwarn contains msg if {\n\tr := http.send({\"method\": \"GET\", \"url\": \"http://example.com\"})\n\tmsg := r.body\n}\n"
		if err := e.Update(map[string]string{"net.rego": mod}); !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "http.send") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDecideRespectsDeadline(t *testing.T) {
	e := newTestEngine(t, nil, nil)
	slow := "package redline.admission\n\nwarn contains \"slow\" if {\n\tcount([x | some x in numbers.range(1, 100000000); x % 7 == 0]) > 0\n}\n"
	if err := e.Update(map[string]string{"slow.rego": slow}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Decide(ctx, testInput(ModeWarn, Impact{}))
	if err == nil {
		t.Fatal("slow policy finished before the deadline")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Decide returned %v after the 20ms deadline", elapsed)
	}
	t.Logf("err after %v: %v", time.Since(start), err)
}

// TestDecideDuringUpdate: decisions stay consistent while sets are swapped
// (run with -race).
func TestDecideDuringUpdate(t *testing.T) {
	e := newTestEngine(t, prometheus.NewRegistry(), nil)
	in := testInput(ModeEnforce, Impact{TurnsRed: []Connection{frontendToCart()}, TurnsRedTotal: 1})
	in.Object = json.RawMessage(`{"metadata":{"name":"forbidden"}}`)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := e.Decide(ctx, in)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				// Either set: defaults alone (1 deny) or with forbidden.rego (2).
				if n := len(d.Deny); n != 1 && n != 2 {
					errs <- fmt.Errorf("unexpected decision %+v", d)
					return
				}
			}
		})
	}
	for i := range 20 {
		mods := map[string]string{}
		if i%2 == 0 {
			mods["forbidden.rego"] = forbiddenModule
		}
		if i%5 == 0 {
			mods["broken.rego"] = "package redline.admission\n\ndeny contains"
		}
		_ = e.Update(mods)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestResolveMode(t *testing.T) {
	tests := []struct {
		labels      map[string]string
		global      Mode
		want        Mode
		wantWarning bool
	}{
		{nil, ModeEnforce, ModeEnforce, false},
		{nil, "", ModeWarn, false},
		{map[string]string{ModeLabel: "off"}, ModeEnforce, ModeOff, false},
		{map[string]string{ModeLabel: "enforce"}, ModeWarn, ModeEnforce, false},
		{map[string]string{ModeLabel: "block"}, ModeOff, ModeOff, true},
		{map[string]string{ModeLabel: ""}, ModeWarn, ModeWarn, true},
	}
	for _, tt := range tests {
		got, warning := ResolveMode("shop", tt.labels, tt.global)
		if got != tt.want || (warning != "") != tt.wantWarning {
			t.Errorf("ResolveMode(%v, %q) = %q, %q", tt.labels, tt.global, got, warning)
		}
		if tt.wantWarning && !strings.Contains(warning, "namespace shop") {
			t.Errorf("warning %q does not name the namespace", warning)
		}
	}
}

func TestFormat(t *testing.T) {
	counts := map[int64]string{0: "0", 1: "1", 999: "999", 1000: "1k", 1234: "1.2k", 9960: "10k", 12345: "12k", 123456: "123k", 999_600: "1M", 1_260_000: "1.3M", 3e9: "3G"}
	for n, want := range counts {
		if got := FormatCount(n); got != want {
			t.Errorf("FormatCount(%d) = %q, want %q", n, got, want)
		}
	}
	agos := map[time.Duration]string{-time.Minute: "just now", 0: "just now", 40 * time.Second: "40s ago", 5 * time.Minute: "5m ago", 2*time.Hour + 59*time.Minute: "2h ago", 47 * time.Hour: "47h ago", 72 * time.Hour: "3d ago"}
	for d, want := range agos {
		if got := FormatAgo(testNow, testNow.Add(-d)); got != want {
			t.Errorf("FormatAgo(-%v) = %q, want %q", d, got, want)
		}
	}
	if got := FormatAgo(testNow, time.Time{}); got != "never" {
		t.Errorf("FormatAgo(zero) = %q", got)
	}
	windows := map[time.Duration]string{0: "", 90 * time.Minute: "90m", 24 * time.Hour: "1d", 36 * time.Hour: "36h", 90 * time.Second: "1m30s"}
	for d, want := range windows {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%v) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkDecide: the default policies with 20 red connections listed (of
// 137), in enforce mode, with a realistic NetworkPolicy as object and old
// object.
func BenchmarkDecide(b *testing.B) {
	e := newTestEngine(b, nil, nil)
	in := testInput(ModeEnforce, Impact{TurnsRed: redConnections(20), TurnsRedTotal: 137, TurnsGreenTotal: 3, StaysRedTotal: 12, Window: 24 * time.Hour})
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		d, err := e.Decide(ctx, in)
		durations = append(durations, time.Since(start))
		if err != nil || len(d.Deny) != 21 {
			b.Fatalf("Decide: %d denials, %v", len(d.Deny), err)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	p := func(q float64) float64 { return float64(durations[int(q*float64(len(durations)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// TestInputEndpointCache: inputs built with the endpoint cache, whose
// endpoints repeat within and across inputs (past the cache's size, so
// that it drops some), are the inputs built without it.
func TestInputEndpointCache(t *testing.T) {
	var cache endpointCache
	r := rand.New(rand.NewPCG(1, 2))
	endpoint := func() Endpoint {
		n := r.IntN(3 * endpointCacheSize)
		switch n % 3 {
		case 0:
			return Endpoint{Namespace: "shop", Kind: "Deployment", Name: fmt.Sprintf("w%d", n)}
		case 1:
			return Endpoint{Address: fmt.Sprintf("203.0.113.%d", n%256), Class: "external", Alias: fmt.Sprintf("a%d", n/256)}
		}
		return Endpoint{Namespace: "shop", Kind: "StatefulSet", Name: fmt.Sprintf("w%d", n), Text: fmt.Sprintf("text %d", n)}
	}
	for i := range 300 {
		conns := make([]Connection, 1+r.IntN(DefaultMaxConnections))
		for k := range conns {
			c := frontendToCart()
			c.Src, c.Dst = endpoint(), endpoint()
			if k > 0 && r.IntN(3) == 0 {
				c.Src = conns[r.IntN(k)].Dst // repeated within the input
			}
			conns[k] = c
		}
		in := testInput(ModeWarn, Impact{TurnsRed: conns, TurnsRedTotal: len(conns)})
		want, err := in.value(testNow)
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.valueWith(testNow, &cache)
		if err != nil {
			t.Fatal(err)
		}
		if want.Compare(got) != 0 {
			t.Fatalf("input %d differs with the cache:\nwant: %v\ngot:  %v", i, want, got)
		}
	}
	if n := len(cache.cur) + len(cache.prev); n > 2*endpointCacheSize {
		t.Errorf("cache holds %d endpoints, want at most %d", n, 2*endpointCacheSize)
	}
}
