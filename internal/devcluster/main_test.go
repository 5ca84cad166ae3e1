package devcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// shared is the control plane most of the package's tests share (STYLE.md
// rule 5): etcd, kube-apiserver and kube-controller-manager, with a
// Kubelet running. It starts on first use; TestMain stops it.
var shared struct {
	once    sync.Once
	err     error
	cluster *Cluster
	client  kubernetes.Interface
	kubelet *Kubelet
	cancel  context.CancelFunc
	done    chan struct{}
	dir     string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
		<-shared.done
	}
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop dev cluster: %v\n", err)
			code = 1
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// needAssets returns KUBEBUILDER_ASSETS. Without it the test fails: a
// skipped test would look like a passing one.
func needAssets(t testing.TB) string {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd, kube-apiserver and kube-controller-manager into bin/k8s with hack/build-tools.sh and sets it")
	}
	return assets
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// needCluster returns the shared cluster, its client and its Kubelet.
func needCluster(t testing.TB) (*Cluster, kubernetes.Interface, *Kubelet) {
	t.Helper()
	assets := needAssets(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "redline-devcluster-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		c, err := Start(context.Background(), Options{AssetsDir: assets, WorkDir: dir, Out: kcmOut(), Logger: testLogger(), ControllerManager: true})
		if err != nil {
			shared.err = err
			return
		}
		shared.cluster = c
		if shared.client, err = kubernetes.NewForConfig(c.RESTConfig()); err != nil {
			shared.err = err
			return
		}
		if shared.kubelet, err = NewKubelet(shared.client, KubeletOptions{Resync: 500 * time.Millisecond, Logger: testLogger()}); err != nil {
			shared.err = err
			return
		}
		// The nodes first, so that tests find them at once.
		if shared.err = shared.kubelet.RegisterNodes(context.Background()); shared.err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		shared.cancel, shared.done = cancel, make(chan struct{})
		go func() {
			defer close(shared.done)
			if err := shared.kubelet.Start(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "fake kubelet: %v\n", err)
			}
		}()
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster, shared.client, shared.kubelet
}

// eventually polls check every 100 ms until it returns nil or limit passes,
// then fails the test with check's last error.
func eventually(t testing.TB, limit time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func kcmOut() io.Writer {
	if os.Getenv("DEVCLUSTER_DEBUG") != "" {
		return os.Stderr
	}
	return io.Discard
}
