package charts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	releaseName      = "redline"
	releaseNamespace = "redline"
	chartDir         = "redline"
)

// valuesSets are the files in testdata/values, each a way to install the
// chart, with the objects it must render ("Kind/name").
var valuesSets = map[string][]string{
	"defaults": baseObjects(),
	"ha": edit(baseObjects(), []string{"PersistentVolumeClaim/redline-data"},
		[]string{"PodDisruptionBudget/redline"}),
	"cert-manager": edit(baseObjects(), []string{"Secret/redline-webhook-cert"},
		[]string{"Issuer/redline-selfsigned", "Certificate/redline-webhook"}),
	"persistence-off": edit(baseObjects(), []string{"PersistentVolumeClaim/redline-data"}, nil),
	"monitoring": edit(baseObjects(), nil,
		[]string{"ServiceMonitor/redline", "PrometheusRule/redline"}),
	"options": edit(baseObjects(),
		[]string{"PersistentVolumeClaim/redline-data", "Secret/redline-webhook-cert"},
		[]string{"Certificate/redline-webhook", "ClusterRoleBinding/redline-flow-writers",
			"ClusterRoleBinding/redline-traffic-readers", "ClusterRoleBinding/redline-admins", "ServiceMonitor/redline", "PrometheusRule/redline"}),
}

// baseObjects is what the defaults render.
func baseObjects() []string {
	return []string{
		"ClusterRole/redline", "ClusterRole/redline-admin", "ClusterRole/redline-flow-writer",
		"ClusterRole/redline-traffic-reader", "ClusterRoleBinding/redline", "Deployment/redline", "NetworkPolicy/redline",
		"PersistentVolumeClaim/redline-data", "Pod/redline-test", "Role/redline", "RoleBinding/redline",
		"Secret/redline-webhook-cert", "Service/redline", "ServiceAccount/redline",
		"ValidatingWebhookConfiguration/redline",
	}
}

func edit(objs, remove, add []string) []string {
	out := slices.DeleteFunc(objs, func(o string) bool { return slices.Contains(remove, o) })
	out = append(out, add...)
	slices.Sort(out)
	return out
}

func valuesFile(set string) string { return filepath.Join("testdata", "values", set+".yaml") }

// repoRoot is the repository root (tests run in charts/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// tool returns bin/<name>, failing the test when it was not built.
func tool(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "bin", name)
	if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("%s not found at %s: run `hack/build-tools.sh helm promtool` (`make test` does)", name, path)
	}
	return path
}

// run runs a command and returns its stdout; stderr goes into the error.
func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// helmTemplate renders the chart with the values files and --set flags.
func helmTemplate(t testing.TB, files []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return run(t, tool(t, "helm"), args...)
}

// render renders a values set and decodes the objects.
func render(t testing.TB, set string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(t, []string{valuesFile(set)})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("values set %s: %v", set, err)
	}
	return objs
}

func decodeObjects(manifests string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func objectKeys(objs []*unstructured.Unstructured) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.GetKind()+"/"+o.GetName())
	}
	slices.Sort(keys)
	return keys
}

// find returns the rendered object kind/name, failing the test if absent.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
				t.Fatalf("decode %s/%s: %v", kind, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s/%s rendered (have %v)", kind, name, objectKeys(objs))
}
