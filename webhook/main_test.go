package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/rego"
)

// plane is the package's one control plane (STYLE.md rule 5): etcd and
// kube-apiserver from envtest, calling the webhook server over TLS, which
// serves a Validator over a real edge store, the real Rego engine and a
// testCluster the tests fill. It starts on first use; TestMain stops it.
var plane struct {
	once    sync.Once
	err     error
	env     *envtest.Environment
	cfg     *rest.Config
	client  kubernetes.Interface
	v       *Validator
	engine  *rego.Engine
	cluster *testCluster
	store   *store.Store
	dir     string
	reg     *prometheus.Registry
	events  events.EventBroadcaster
	cancel  context.CancelFunc
	// addr is the webhook server's host:port, caData the CA of its
	// certificate.
	addr   string
	caData []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopPlane()
	os.Exit(code)
}

func stopPlane() {
	if plane.cancel != nil {
		plane.cancel()
	}
	if plane.events != nil {
		plane.events.Shutdown()
	}
	if plane.env != nil {
		if err := plane.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest control plane: %v\n", err)
		}
	}
	if plane.store != nil {
		_ = plane.store.Close()
	}
	if plane.dir != "" {
		_ = os.RemoveAll(plane.dir)
	}
}

// needPlane returns the shared control plane. Without KUBEBUILDER_ASSETS
// the test fails: a skipped test would look like a passing one.
func needPlane(t testing.TB) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd and kube-apiserver into bin/k8s with hack/build-tools.sh and sets it")
	}
	plane.once.Do(func() {
		plane.err = startPlane(assets)
	})
	if plane.err != nil {
		t.Fatal(plane.err)
	}
}

// lateRecorder forwards to a recorder set once the API server runs.
type lateRecorder struct {
	r atomic.Pointer[events.EventRecorder]
}

func (l *lateRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if r := l.r.Load(); r != nil {
		(*r).Eventf(regarding, related, eventtype, reason, action, note, args...)
	}
}

func startPlane(assets string) (err error) {
	ctx, cancel := context.WithCancel(context.Background())
	plane.cancel = cancel
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	if plane.dir, err = os.MkdirTemp("", "redline-webhook-test-"); err != nil {
		return err
	}
	if plane.store, err = store.Open(ctx, store.Options{Dir: plane.dir, Logger: log}); err != nil {
		return err
	}
	if plane.engine, err = rego.NewEngine(rego.Options{Logger: log}); err != nil {
		return err
	}
	plane.cluster = newTestCluster()
	plane.reg = prometheus.NewRegistry()
	recorder := &lateRecorder{}
	plane.v, err = New(Deps{Cluster: plane.cluster, Edges: plane.store, Decider: plane.engine}, Options{
		EventRecorder: recorder,
		Registerer:    plane.reg,
		Logger:        log,
	})
	if err != nil {
		return err
	}

	// envtest rewrites the service reference to https://host:port/<path>:
	// give it the path without its leading slash.
	hooks := plane.v.ValidatingWebhooks(ConfigOptions{})
	for i := range hooks.Webhooks {
		p := strings.TrimPrefix(*hooks.Webhooks[i].ClientConfig.Service.Path, "/")
		hooks.Webhooks[i].ClientConfig.Service.Path = &p
	}
	plane.env = &envtest.Environment{WebhookInstallOptions: envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{hooks},
	}}
	if plane.cfg, err = plane.env.Start(); err != nil {
		return fmt.Errorf("start envtest control plane from KUBEBUILDER_ASSETS=%s: %w (run `make tools` to rebuild it)", assets, err)
	}
	if plane.client, err = kubernetes.NewForConfig(plane.cfg); err != nil {
		return err
	}
	plane.events = events.NewBroadcaster(&events.EventSinkImpl{Interface: plane.client.EventsV1()})
	if err := plane.events.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	var r events.EventRecorder = plane.events.NewRecorder(scheme.Scheme, "redline-webhook")
	recorder.r.Store(&r)

	wo := plane.env.WebhookInstallOptions
	plane.addr = fmt.Sprintf("%s:%d", wo.LocalServingHost, wo.LocalServingPort)
	plane.caData = wo.LocalServingCAData
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	plane.v.Register(srv)
	go func() {
		if err := srv.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "webhook server: %v\n", err)
		}
	}()
	go func() { _ = plane.v.Start(ctx) }()
	if err := waitFor(ctx, 20*time.Second, func() error {
		if err := srv.StartedChecker()(nil); err != nil {
			return err
		}
		return CertificateCheck(wo.LocalServingCertDir, "", "")(nil)
	}); err != nil {
		return fmt.Errorf("webhook server not serving: %w", err)
	}
	// The API server's webhook informer lags the configuration a little:
	// wait until a dry-run request reaches the handler.
	probe := denyAllIngress("default", "probe")
	return waitFor(ctx, 20*time.Second, func() error {
		before := plane.v.metrics.requestsSeen()
		_, err := plane.client.NetworkingV1().NetworkPolicies("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if plane.v.metrics.requestsSeen() == before {
			return errors.New("the API server does not call the webhook yet")
		}
		return nil
	})
}

func waitFor(ctx context.Context, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// warningCollector is a client-go WarningHandler that keeps the warnings.
type warningCollector struct {
	mu   sync.Mutex
	list []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings received since the last call.
func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// clientWithWarnings is a client of the control plane whose warnings the
// test reads; mutate adjusts its config (impersonation).
func clientWithWarnings(t testing.TB, mutate func(*rest.Config)) (kubernetes.Interface, *warningCollector) {
	t.Helper()
	cfg := rest.CopyConfig(plane.cfg)
	w := &warningCollector{}
	cfg.WarningHandler = w
	if mutate != nil {
		mutate(cfg)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// policies is a shorthand for a namespace's NetworkPolicy client.
func policies(c kubernetes.Interface, ns string) interface {
	Create(context.Context, *networkingv1.NetworkPolicy, metav1.CreateOptions) (*networkingv1.NetworkPolicy, error)
	Get(context.Context, string, metav1.GetOptions) (*networkingv1.NetworkPolicy, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
} {
	return c.NetworkingV1().NetworkPolicies(ns)
}
