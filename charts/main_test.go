package charts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The CRDs the chart's optional objects need, from the Go modules that ship
// them (fetched through the module proxy and checked against the checksum
// database by `go mod download`). prometheus-operator's root module is the
// one that holds example/prometheus-operator-crd; v0.85.0 is the newest
// version of it the module proxy serves.
var crdModules = []struct{ module, version, dir string }{
	{"github.com/prometheus-operator/prometheus-operator", "v0.85.0", "example/prometheus-operator-crd"},
	{"github.com/cert-manager/cert-manager", "v1.21.2", "deploy/crds"},
}

// crdFiles are the CRDs installed, relative to their module's dir entry.
var crdFiles = map[string][]string{
	"github.com/prometheus-operator/prometheus-operator": {
		"monitoring.coreos.com_servicemonitors.yaml",
		"monitoring.coreos.com_prometheusrules.yaml",
	},
	"github.com/cert-manager/cert-manager": {
		"cert-manager.io_certificates.yaml",
		"cert-manager.io_issuers.yaml",
	},
}

// plane is the package's one control plane (STYLE.md rule 5): etcd and
// kube-apiserver from envtest with the CRDs above installed. It starts on
// first use; TestMain stops it.
var plane struct {
	once   sync.Once
	err    error
	env    *envtest.Environment
	cfg    *rest.Config
	client client.Client
	// kubeconfig is a file for helm.
	kubeconfig string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if plane.env != nil {
		if err := plane.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest control plane: %v\n", err)
		}
	}
	if plane.kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(plane.kubeconfig))
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

func startPlane(assets string) error {
	var paths []string
	for _, m := range crdModules {
		dir, err := moduleDir(m.module, m.version)
		if err != nil {
			return err
		}
		for _, f := range crdFiles[m.module] {
			paths = append(paths, filepath.Join(dir, m.dir, f))
		}
	}
	plane.env = &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: paths},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := plane.env.Start()
	if err != nil {
		return fmt.Errorf("start envtest control plane from KUBEBUILDER_ASSETS=%s: %w (run `make tools` to rebuild it)", assets, err)
	}
	plane.cfg = cfg
	if plane.client, err = client.New(cfg, client.Options{}); err != nil {
		return err
	}
	// The release namespace, with the ServiceAccount the (absent) controller
	// manager would have made: Pods need it to be admitted.
	ctx := context.Background()
	if err := plane.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}}); err != nil {
		return err
	}
	if err := plane.client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: releaseNamespace}}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "redline-chart-test-")
	if err != nil {
		return err
	}
	user, err := plane.env.ControlPlane.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	plane.kubeconfig = filepath.Join(dir, "kubeconfig")
	return os.WriteFile(plane.kubeconfig, kc, 0o600)
}

// moduleDir downloads module@version into the module cache (once; later
// runs find it there) and returns its directory.
func moduleDir(module, version string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to fetch %s@%s: %w", module, version, err)
	}
	cmd := exec.Command(goCmd, "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: go.mod stays untouched
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	jsonErr := json.Unmarshal(out, &info)
	if info.Error != "" {
		runErr = errors.New(info.Error)
	}
	if runErr != nil || jsonErr != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s (the CRDs of the chart's optional objects come from it): %w",
			module, version, errors.Join(runErr, jsonErr))
	}
	return info.Dir, nil
}
