package demo

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/devcluster"
)

// env is the dev cluster the package's tests share (STYLE.md rule 5):
// etcd, kube-apiserver, kube-controller-manager and the fake kubelet,
// running the demo. It starts on first use; TestMain stops it.
var env struct {
	once      sync.Once
	err       error
	cluster   *devcluster.Cluster
	client    client.Client
	kube      kubernetes.Interface
	cancel    context.CancelFunc
	done      chan struct{}
	dir       string
	startup   time.Duration
	appliedIn time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.cancel != nil {
		env.cancel()
		<-env.done
	}
	if env.cluster != nil {
		if err := env.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop dev cluster: %v\n", err)
			code = 1
		}
	}
	if env.dir != "" {
		_ = os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("DEMO_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// needDemo returns the shared cluster with the demo applied and ready.
// Without KUBEBUILDER_ASSETS the test fails: a skipped test would look
// like a passing one.
func needDemo(t testing.TB) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd, kube-apiserver and kube-controller-manager into bin/k8s with hack/build-tools.sh and sets it")
	}
	env.once.Do(func() { env.err = startDemo(assets) })
	if env.err != nil {
		t.Fatal(env.err)
	}
}

func startDemo(assets string) (err error) {
	ctx := context.Background()
	if env.dir, err = os.MkdirTemp("", "redline-demo-test-"); err != nil {
		return err
	}
	begin := time.Now()
	env.cluster, err = devcluster.Start(ctx, devcluster.Options{AssetsDir: assets, WorkDir: env.dir, Logger: testLogger(), ControllerManager: true})
	if err != nil {
		return err
	}
	env.startup = time.Since(begin)
	cfg := env.cluster.RESTConfig()
	if env.client, err = client.New(cfg, client.Options{}); err != nil {
		return err
	}
	if env.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	kubelet, err := devcluster.NewKubelet(env.kube, devcluster.KubeletOptions{Logger: testLogger(), Resync: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := kubelet.RegisterNodes(ctx); err != nil {
		return err
	}
	run, cancel := context.WithCancel(ctx)
	env.cancel, env.done = cancel, make(chan struct{})
	go func() {
		defer close(env.done)
		_ = kubelet.Start(run)
	}()
	begin = time.Now()
	if err := Apply(ctx, env.client); err != nil {
		return err
	}
	wait, cancelWait := context.WithTimeout(ctx, 60*time.Second)
	defer cancelWait()
	if err := WaitReady(wait, env.client); err != nil {
		return err
	}
	env.appliedIn = time.Since(begin)
	return nil
}
