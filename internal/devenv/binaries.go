package devenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/redline-dev/redline/internal/devcluster"
)

// Binaries are the control plane's programs the environment runs.
var Binaries = []string{devcluster.EtcdBinary, devcluster.APIServerBinary, devcluster.ControllerManagerBinary}

// module is the repository's Go module, to recognise a checkout.
const module = "github.com/redline-dev/redline"

// ErrNoCheckout is wrapped when the binaries are missing and no checkout of
// the repository is at hand to build them.
var ErrNoCheckout = errors.New("not in a checkout of " + module)

// EnsureBinaries returns a directory holding etcd, kube-apiserver and
// kube-controller-manager: $KUBEBUILDER_ASSETS if it holds them all, else
// bin/k8s of the repository checkout found from the executable or the
// working directory, built there with hack/build-tools.sh when missing
// (its output streamed to progress: a first build takes minutes).
func EnsureBinaries(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" && len(missing(dir)) == 0 {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("%w: etcd, kube-apiserver and kube-controller-manager are needed; run `make run` in a clone of https://%s (it builds them into bin/k8s), or set KUBEBUILDER_ASSETS to a directory holding all three", err, module)
	}
	assets := filepath.Join(root, "bin", "k8s")
	need := missing(assets)
	if len(need) == 0 {
		return assets, nil
	}
	fmt.Fprintf(progress, "Building %s into %s from the pinned Kubernetes modules: the first build takes a few minutes (3-8 on two cores); later runs reuse them.\n", strings.Join(need, ", "), assets)
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build-tools.sh"), "envtest", devcluster.ControllerManagerBinary)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the control plane's binaries with hack/build-tools.sh envtest kube-controller-manager: %w (its output is above; it needs Go and network access to the module proxy)", err)
	}
	if need := missing(assets); len(need) > 0 {
		return "", fmt.Errorf("hack/build-tools.sh finished but %s still missing from %s", strings.Join(need, ", "), assets)
	}
	return assets, nil
}

// missing lists the Binaries not in dir.
func missing(dir string) []string {
	var out []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			out = append(out, b)
		}
	}
	return out
}

// repoRoot finds the checkout: from the executable (bin/redline in it),
// then from the working directory upwards.
func repoRoot() (string, error) {
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if isCheckout(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", ErrNoCheckout
}

func isCheckout(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "hack", "build-tools.sh")); err != nil {
		return false
	}
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == module
		}
	}
	return false
}
