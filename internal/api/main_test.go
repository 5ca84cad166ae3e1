package api

import (
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// One control plane per test binary, started by the first test that needs
// it (the tests of the handlers alone do not pay for it) and stopped by
// TestMain.
var controlPlane struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

func needAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd and kube-apiserver with hack/build-tools.sh")
	}
	controlPlane.once.Do(func() {
		controlPlane.env = &envtest.Environment{}
		controlPlane.cfg, controlPlane.err = controlPlane.env.Start()
	})
	if controlPlane.err != nil {
		t.Fatalf("start envtest: %v", controlPlane.err)
	}
	return controlPlane.cfg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil {
		_ = controlPlane.env.Stop()
	}
	os.Exit(code)
}
