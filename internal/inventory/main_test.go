package inventory

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlane is the kube-apiserver + etcd the package's tests share
// (STYLE.md rule 5). It starts on first use, once, so that the manifest
// loader's tests and fuzzing do not pay for it; TestMain stops it.
var controlPlane struct {
	once   sync.Once
	env    *envtest.Environment
	cfg    *rest.Config
	client kubernetes.Interface
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil {
		if err := controlPlane.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest control plane: %v\n", err)
		}
	}
	os.Exit(code)
}

// needAPIServer returns a client of the shared control plane. Without
// one the test fails: a skipped test would look like a passing one.
func needAPIServer(t *testing.T) (kubernetes.Interface, *envtest.Environment) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd and kube-apiserver into bin/k8s with hack/build-tools.sh and sets it")
	}
	controlPlane.once.Do(func() {
		env := &envtest.Environment{}
		cfg, err := env.Start()
		if err != nil {
			controlPlane.err = fmt.Errorf("start envtest control plane from KUBEBUILDER_ASSETS=%s: %w (run `make tools` to rebuild it)", assets, err)
			return
		}
		controlPlane.env, controlPlane.cfg = env, cfg
		controlPlane.client, controlPlane.err = kubernetes.NewForConfig(cfg)
	})
	if controlPlane.err != nil {
		t.Fatal(controlPlane.err)
	}
	return controlPlane.client, controlPlane.env
}
