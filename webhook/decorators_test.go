package webhook

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/rego"
)

// unitSetup is a Validator over a shop namespace (frontend, cart,
// checkout) with canned edges and the real Rego engine.
type unitSetup struct {
	v        *Validator
	cluster  *testCluster
	edges    *edgeList
	engine   *rego.Engine
	recorder *events.FakeRecorder
	reg      *prometheus.Registry
}

func newUnit(t testing.TB, opts Options, mutate func(*Deps)) *unitSetup {
	t.Helper()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := &unitSetup{cluster: newTestCluster(), edges: &edgeList{}, recorder: events.NewFakeRecorder(16), reg: prometheus.NewRegistry()}
	s.cluster.add([]netpol.Namespace{
		{Name: "shop"},
		{Name: "strict", Labels: map[string]string{rego.ModeLabel: "enforce"}},
	}, append(shopObjects("shop"), shopObjects("strict")...), nil)
	s.edges.edges = append(shopEdges("shop", now), shopEdges("strict", now)...)
	var err error
	s.engine, err = rego.NewEngine(rego.Options{Logger: testLogger(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Cluster: s.cluster, Edges: s.edges, Decider: s.engine}
	if mutate != nil {
		mutate(&deps)
	}
	opts.Logger = testLogger(t)
	opts.Now = func() time.Time { return now }
	opts.Registerer = s.reg
	if opts.EventRecorder == nil {
		opts.EventRecorder = s.recorder
	}
	s.v, err = New(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *unitSetup) events() []string {
	var out []string
	for {
		select {
		case e := <-s.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestNetworkPolicyDecisions(t *testing.T) {
	for _, tc := range []struct {
		name        string
		req         func(t *testing.T) admission.Request
		wantAllowed bool
		wantWarn    []string // substrings, each in some warning
		wantNoWarn  bool
		wantDenial  string
		wantEvent   string
	}{
		{
			name: "deny-all in warn mode warns",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, denyAllIngress("shop", "deny"))
			},
			wantAllowed: true,
			wantWarn: []string{
				"would block shop/frontend[Deployment] -> shop/cart[Deployment] TCP/8080 (last seen 2h ago, 1.2k connections)",
				"would block shop/checkout[Deployment] -> shop/cart[Deployment] TCP/8080 (last seen 5m ago, 1 connection)",
				"would block shop/frontend[Deployment] -> shop/checkout[Deployment] TCP/8443",
			},
			wantEvent: "Warning RedlineWarning",
		},
		{
			name: "deny-all in enforce mode is denied",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny"))
			},
			wantAllowed: false,
			wantDenial:  "would block strict/frontend[Deployment] -> strict/cart[Deployment] TCP/8080",
			wantEvent:   "Warning RedlineDenied",
		},
		{
			name: "harmless policy says nothing",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, allowCart("strict", "cart"))
			},
			wantAllowed: true,
			wantNoWarn:  true,
		},
		{
			name: "deleting a policy the cluster has turns nothing red",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Delete, allowCart("strict", "cart"), nil)
			},
			wantAllowed: true,
			wantNoWarn:  true,
		},
		{
			name: "update narrowing a policy warns",
			req: func(t *testing.T) admission.Request {
				narrowed := allowCart("shop", "cart")
				narrowed.Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values = []string{"frontend"}
				return policyRequest(t, admissionv1.Update, allowCart("shop", "cart"), narrowed)
			},
			wantAllowed: true,
			wantWarn:    []string{"would block shop/checkout[Deployment] -> shop/cart[Deployment] TCP/8080"},
			wantEvent:   "Warning RedlineWarning",
		},
		{
			name: "dry-run warns without an Event",
			req: func(t *testing.T) admission.Request {
				r := policyRequest(t, admissionv1.Create, nil, denyAllIngress("shop", "deny"))
				r.DryRun = ptr.To(true)
				return r
			},
			wantAllowed: true,
			wantWarn:    []string{"would block shop/frontend[Deployment] -> shop/cart[Deployment] TCP/8080"},
		},
		{
			name: "dry-run in enforce mode is denied without an Event",
			req: func(t *testing.T) admission.Request {
				r := policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny"))
				r.DryRun = ptr.To(true)
				return r
			},
			wantAllowed: false,
			wantDenial:  "would block strict/frontend[Deployment]",
		},
		{
			name: "kube-system is exempt",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, denyAllIngress("kube-system", "deny"))
			},
			wantAllowed: true,
			wantNoWarn:  true,
		},
		{
			name: "redline's namespace is exempt",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, denyAllIngress("redline", "deny"))
			},
			wantAllowed: true,
			wantNoWarn:  true,
		},
		{
			name: "redline's own service account is allowed",
			req: func(t *testing.T) admission.Request {
				r := policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny"))
				r.UserInfo.Username = "system:serviceaccount:redline:redline"
				return r
			},
			wantAllowed: true,
			wantNoWarn:  true,
		},
		{
			name: "namespace without observed traffic: impact unknown, allowed",
			req: func(t *testing.T) admission.Request {
				return policyRequest(t, admissionv1.Create, nil, denyAllIngress("elsewhere", "deny"))
			},
			wantAllowed: true,
			wantNoWarn:  true, // selects no pods: nothing can turn red
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newUnit(t, Options{}, nil)
			resp := s.v.NetworkPolicyHandler().Handle(context.Background(), tc.req(t))
			if resp.Allowed != tc.wantAllowed {
				t.Fatalf("allowed = %v, want %v (result %+v, warnings %q)", resp.Allowed, tc.wantAllowed, resp.Result, resp.Warnings)
			}
			for _, w := range tc.wantWarn {
				if !containsLine(resp.Warnings, w) {
					t.Errorf("no warning with %q in %q", w, resp.Warnings)
				}
			}
			if tc.wantNoWarn && len(resp.Warnings) > 0 {
				t.Errorf("warnings %q, want none", resp.Warnings)
			}
			if tc.wantDenial != "" {
				if resp.Result == nil || !strings.Contains(resp.Result.Message, tc.wantDenial) || resp.Result.Code != 403 {
					t.Errorf("denial %+v, want code 403 and %q", resp.Result, tc.wantDenial)
				}
			}
			evs := s.events()
			switch {
			case tc.wantEvent == "" && len(evs) > 0:
				t.Errorf("events %q, want none", evs)
			case tc.wantEvent != "" && (len(evs) != 1 || !strings.HasPrefix(evs[0], tc.wantEvent)):
				t.Errorf("events %q, want one %q", evs, tc.wantEvent)
			}
		})
	}
}

func TestNamespaceRelabel(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := newUnit(t, Options{}, nil)
	// payments/api admits only namespaces labelled team=shop.
	allow := allowCart("payments", "from-shop")
	allow.Spec.PodSelector.MatchLabels = map[string]string{"app": "api"}
	allow.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}}
	allow.Spec.Ingress[0].Ports = nil
	s.cluster.add([]netpol.Namespace{{Name: "shop", Labels: map[string]string{"team": "shop"}}, {Name: "payments"}},
		[]*netpol.Workload{deployment("payments", "api")}, []*networkingv1.NetworkPolicy{allow})
	s.edges.edges = append(s.edges.edges, tcpEdge(wep("shop", "frontend"), wep("payments", "api"), 9090, 7, now.Add(-time.Hour)))

	ns := func(labels map[string]string) *corev1.Namespace {
		labels["kubernetes.io/metadata.name"] = "shop"
		return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: labels}}
	}
	h := s.v.NamespaceHandler()

	resp := h.Handle(context.Background(), namespaceRequest(t, ns(map[string]string{"team": "shop"}), ns(map[string]string{"team": "other"})))
	if !resp.Allowed || !containsLine(resp.Warnings, "would block shop/frontend[Deployment] -> payments/api[Deployment] TCP/9090 (last seen 1h ago, 7 connections)") {
		t.Fatalf("relabel team=shop → other: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	resp = h.Handle(context.Background(), namespaceRequest(t, ns(map[string]string{"team": "shop"}), ns(map[string]string{"team": "shop", "env": "prod"})))
	if !resp.Allowed || len(resp.Warnings) > 0 {
		t.Fatalf("harmless relabel: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	// The namespace's mode before the change applies.
	resp = h.Handle(context.Background(), namespaceRequest(t,
		ns(map[string]string{"team": "shop", rego.ModeLabel: "enforce"}), ns(map[string]string{"team": "other"})))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "would block shop/frontend[Deployment] -> payments/api[Deployment]") {
		t.Fatalf("relabel in enforce mode: allowed %v, result %+v", resp.Allowed, resp.Result)
	}
	resp = h.Handle(context.Background(), namespaceRequest(t, ns(map[string]string{"team": "shop"}), ns(map[string]string{"team": "shop"})))
	if !resp.Allowed || len(resp.Warnings) > 0 {
		t.Fatalf("unchanged labels: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
}

func TestSemaphoreBusy(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s := newUnit(t, Options{MaxConcurrent: 1, Budget: 100 * time.Millisecond}, func(d *Deps) {
		engine := d.Decider
		d.Decider = deciderFunc(func(ctx context.Context, in rego.Input) (rego.Decision, error) {
			if in.Request.Name == "holder" {
				entered <- struct{}{}
				<-release
			}
			return engine.Decide(ctx, in)
		})
	})
	h := s.v.NetworkPolicyHandler()
	var wg sync.WaitGroup
	wg.Go(func() {
		h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, allowCart("shop", "holder")))
	})
	<-entered
	resp := h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "waiter")))
	if !resp.Allowed || len(resp.Warnings) != 1 || resp.Warnings[0] != WarningBusy {
		t.Errorf("busy: allowed %v, warnings %q, want allowed with %q", resp.Allowed, resp.Warnings, WarningBusy)
	}

	// A request whose context ends while it waits gives up too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp = h.Handle(ctx, policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "cancelled")))
	if !resp.Allowed || !containsLine(resp.Warnings, WarningBusy) {
		t.Errorf("cancelled: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	close(release)
	wg.Wait()

	if got := counterValue(t, s.v.metrics.requests.WithLabelValues("CREATE", decisionFailedOpen, "", "false")); got != 2 {
		t.Errorf("failed_open requests = %v, want 2", got)
	}
	// The slot is free again.
	resp = h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "after")))
	if resp.Allowed {
		t.Errorf("after the holder left: allowed, want the enforce denial")
	}
}

func TestBudgetExceeded(t *testing.T) {
	s := newUnit(t, Options{Budget: 50 * time.Millisecond}, nil)
	s.edges.block = true // a store that answers only when the context ends
	start := time.Now()
	resp := s.v.NetworkPolicyHandler().Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny")))
	if !resp.Allowed || !containsLine(resp.Warnings, "impact not computed in time: allowed") {
		t.Fatalf("enforce mode out of budget: allowed %v, warnings %q; want allowed with a warning", resp.Allowed, resp.Warnings)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v with a 50ms budget", took)
	}
}

func TestImpactUnknown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s *unitSetup)
		want  string
	}{
		{"caches not synced", func(s *unitSetup) { s.cluster.unsynced.Store(true) }, "impact unknown (cluster inventory not synced yet): allowed"},
		{"no traffic", func(s *unitSetup) { s.edges.edges = nil }, "impact unknown (no traffic observed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newUnit(t, Options{}, nil)
			tc.setup(s)
			resp := s.v.NetworkPolicyHandler().Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny")))
			if !resp.Allowed || !containsLine(resp.Warnings, tc.want) {
				t.Fatalf("allowed %v, warnings %q; want allowed with %q", resp.Allowed, resp.Warnings, tc.want)
			}
		})
	}
}

func TestPanicRecovered(t *testing.T) {
	s := newUnit(t, Options{}, func(d *Deps) {
		d.Decider = deciderFunc(func(context.Context, rego.Input) (rego.Decision, error) { panic("boom") })
	})
	resp := s.v.NetworkPolicyHandler().Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny")))
	if !resp.Allowed || len(resp.Warnings) != 1 || resp.Warnings[0] != WarningPanic {
		t.Fatalf("allowed %v, warnings %q; want allowed with %q", resp.Allowed, resp.Warnings, WarningPanic)
	}
	if got := counterValue(t, s.v.metrics.requests.WithLabelValues("CREATE", decisionFailedOpen, "enforce", "false")); got != 1 {
		t.Errorf("failed_open = %v, want 1", got)
	}
}

func TestDecisionError(t *testing.T) {
	s := newUnit(t, Options{}, func(d *Deps) {
		d.Decider = deciderFunc(func(context.Context, rego.Input) (rego.Decision, error) {
			return rego.Decision{}, errors.New("conflicting values\nfor deny")
		})
	})
	resp := s.v.NetworkPolicyHandler().Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny")))
	if !resp.Allowed || len(resp.Warnings) != 1 || resp.Warnings[0] != WarningDecisionFailed+"conflicting values for deny" {
		t.Fatalf("allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
}

func TestMetrics(t *testing.T) {
	s := newUnit(t, Options{}, nil)
	h := s.v.NetworkPolicyHandler()
	h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("shop", "deny")))
	h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny")))
	dry := policyRequest(t, admissionv1.Create, nil, allowCart("strict", "cart"))
	dry.DryRun = ptr.To(true)
	h.Handle(context.Background(), dry)
	h.Handle(context.Background(), policyRequest(t, admissionv1.Create, nil, denyAllIngress("kube-system", "deny")))

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"CREATE", decisionWarned, "warn", "false"}, 1},
		{[]string{"CREATE", decisionDenied, "enforce", "false"}, 1},
		{[]string{"CREATE", decisionAllowed, "enforce", "true"}, 1},
		{[]string{"CREATE", decisionExempt, "", "false"}, 1},
	} {
		if got := counterValue(t, s.v.metrics.requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("requests%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n, _ := histogramValue(t, s.v.metrics.duration.WithLabelValues("NetworkPolicy")); n != 4 {
		t.Errorf("duration samples = %d, want 4", n)
	}
	// Three evaluated requests: 3 red, 3 red, 0 red.
	if n, sum := histogramValue(t, s.v.metrics.red.WithLabelValues("NetworkPolicy")); n != 3 || sum != 6 {
		t.Errorf("red connections: %d samples, sum %v; want 3 and 6", n, sum)
	}
}

func TestAnalyzerCachedPerSnapshot(t *testing.T) {
	s := newUnit(t, Options{}, nil)
	a1, err := s.v.analyzer()
	if err != nil {
		t.Fatal(err)
	}
	if a2, _ := s.v.analyzer(); a2 != a1 {
		t.Error("same snapshot: analyzer rebuilt")
	}
	s.cluster.add([]netpol.Namespace{{Name: "new"}}, nil, nil)
	a3, _ := s.v.analyzer()
	if a3 == a1 {
		t.Error("new snapshot: analyzer not rebuilt")
	}
	// A snapshot that differs in pods only keeps the analyzer (and its
	// caches); a policy rebuilds it.
	podsOnly := *s.cluster.snap.Load()
	podsOnly.Pods = append(slices.Clone(podsOnly.Pods), inventory.Pod{Namespace: "new", Name: "p-1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.9")}})
	s.cluster.snap.Store(&podsOnly)
	if a4, _ := s.v.analyzer(); a4 != a3 {
		t.Error("a pod-only change rebuilt the analyzer")
	}
	s.cluster.add(nil, nil, []*networkingv1.NetworkPolicy{denyAllIngress("new", "deny")})
	if a5, _ := s.v.analyzer(); a5 == a3 {
		t.Error("a new policy did not rebuild the analyzer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.v.Start(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start: %v", err)
	}
}

func TestFitWarnings(t *testing.T) {
	long := strings.Repeat("x", 600)
	many := make([]string, 60)
	for i := range many {
		many[i] = "would block " + strings.Repeat("y", 100)
	}
	got := fitWarnings(append([]string{"a\nb\tc", long}, many...))
	if got[0] != "a b c" {
		t.Errorf("control characters: %q", got[0])
	}
	if n := len([]rune(got[1])); n != maxWarningRunes {
		t.Errorf("long warning: %d runes, want %d", n, maxWarningRunes)
	}
	total := 0
	for _, w := range got {
		total += len([]rune(w))
	}
	if total > maxWarningsRunes {
		t.Errorf("total %d runes, over %d", total, maxWarningsRunes)
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "redline: ") || !strings.Contains(last, "more warnings not shown") {
		t.Errorf("last warning %q, want the count of the rest", last)
	}
	if fitWarnings(nil) != nil {
		t.Error("no warnings: want nil")
	}
}

func TestReadyChecks(t *testing.T) {
	s := newUnit(t, Options{}, nil)
	checks := s.v.ReadyChecks()
	if checks["rego"] == nil || checks["inventory"] == nil {
		t.Fatalf("checks %v: want rego and inventory", checks)
	}
	if err := checks["inventory"](nil); err != nil {
		t.Error(err)
	}
	s.cluster.unsynced.Store(true)
	if err := checks["inventory"](nil); err == nil {
		t.Error("unsynced: ready")
	}
	if err := CertificateCheck(t.TempDir(), "", "")(nil); err == nil {
		t.Error("no certificates: ready")
	}
}

// healthyEdges is an edge source with a health check, as the store has.
type healthyEdges struct {
	EdgeSource
	err error
}

func (h healthyEdges) Healthy() error { return h.err }

// The store's health check is a readiness check, whether the webhook
// caches edges (the default) or not.
func TestReadyChecksStore(t *testing.T) {
	for _, ttl := range []time.Duration{0, -1} {
		broken := errors.New("store closed")
		s := newUnit(t, Options{EdgeCacheTTL: ttl}, func(d *Deps) { d.Edges = healthyEdges{d.Edges, broken} })
		check := s.v.ReadyChecks()["store"]
		if check == nil {
			t.Fatalf("edge cache TTL %v: no store check", ttl)
		}
		if err := check(nil); !errors.Is(err, broken) {
			t.Errorf("edge cache TTL %v: store check = %v, want %v", ttl, err, broken)
		}
	}
}

func TestValidatingWebhooks(t *testing.T) {
	s := newUnit(t, Options{ExemptNamespaces: []string{"monitoring"}}, nil)
	cfg := s.v.ValidatingWebhooks(ConfigOptions{})
	if len(cfg.Webhooks) != 2 {
		t.Fatalf("%d webhooks", len(cfg.Webhooks))
	}
	for _, w := range cfg.Webhooks {
		if *w.FailurePolicy != "Ignore" || *w.TimeoutSeconds != 3 || *w.SideEffects != "None" {
			t.Errorf("%s: failurePolicy %s timeout %d sideEffects %s", w.Name, *w.FailurePolicy, *w.TimeoutSeconds, *w.SideEffects)
		}
		if got := w.NamespaceSelector.MatchExpressions[0].Values; strings.Join(got, ",") != "kube-system,monitoring,redline" {
			t.Errorf("%s: exempt %v", w.Name, got)
		}
		if w.ClientConfig.Service.Namespace != "redline" {
			t.Errorf("%s: service %+v", w.Name, w.ClientConfig.Service)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func histogramValue(t *testing.T, o prometheus.Observer) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// Configuration is a Validator's ValidatingWebhooks without the Validator;
// with a URL the webhooks call it, each at its path, instead of the
// Service.
func TestConfiguration(t *testing.T) {
	opts := Options{ExemptNamespaces: []string{"monitoring"}}
	s := newUnit(t, opts, nil)
	got, err := Configuration(opts, ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := s.v.ValidatingWebhooks(ConfigOptions{}); !reflect.DeepEqual(got, want) {
		t.Errorf("Configuration = %+v, want %+v", got, want)
	}
	byURL, err := Configuration(opts, ConfigOptions{URL: "https://localhost:9443"})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{PathNetworkPolicy, PathNamespace}
	for i, w := range byURL.Webhooks {
		if w.ClientConfig.Service != nil || w.ClientConfig.URL == nil || *w.ClientConfig.URL != "https://localhost:9443"+paths[i] {
			t.Errorf("%s: client config %+v, want URL https://localhost:9443%s", w.Name, w.ClientConfig, paths[i])
		}
	}
	if _, err := Configuration(Options{GlobalMode: "loud"}, ConfigOptions{}); err == nil {
		t.Error("Configuration with an invalid mode: no error")
	}
}
