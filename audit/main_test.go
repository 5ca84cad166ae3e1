package audit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// plane is the package's one control plane (STYLE.md rule 5): etcd and
// kube-apiserver from envtest. It starts on first use; TestMain stops it.
var plane struct {
	once      sync.Once
	err       error
	env       *envtest.Environment
	cfg       *rest.Config
	clientset kubernetes.Interface
	client    client.Client
	events    events.EventBroadcaster
	recorder  events.EventRecorder
	cancel    context.CancelFunc
}

func TestMain(m *testing.M) {
	code := m.Run()
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
	os.Exit(code)
}

// needPlane returns the shared control plane. Without KUBEBUILDER_ASSETS
// the test fails: a skipped test would look like a passing one.
func needPlane(t testing.TB) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd and kube-apiserver into bin/k8s with hack/build-tools.sh and sets it")
	}
	plane.once.Do(func() { plane.err = startPlane(assets) })
	if plane.err != nil {
		t.Fatal(plane.err)
	}
}

func startPlane(assets string) (err error) {
	ctx, cancel := context.WithCancel(context.Background())
	plane.cancel = cancel
	plane.env = &envtest.Environment{}
	if plane.cfg, err = plane.env.Start(); err != nil {
		return fmt.Errorf("start envtest control plane from KUBEBUILDER_ASSETS=%s: %w (run `make tools` to rebuild it)", assets, err)
	}
	if plane.clientset, err = kubernetes.NewForConfig(plane.cfg); err != nil {
		return err
	}
	if plane.client, err = client.New(plane.cfg, client.Options{}); err != nil {
		return err
	}
	plane.events = events.NewBroadcaster(&events.EventSinkImpl{Interface: plane.clientset.EventsV1()})
	if err := plane.events.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	plane.recorder = plane.events.NewRecorder(scheme.Scheme, "redline-audit")
	return nil
}

// eventually retries check until it passes or limit elapses.
func eventually(t testing.TB, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
