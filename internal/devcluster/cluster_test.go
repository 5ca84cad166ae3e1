package devcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// TestStartStop starts a control plane of its own with the controller
// manager, checks that a Deployment gets a ReplicaSet and Pods owned
// through real owner references and that the kubeconfig works, then that
// Stop leaves no process behind.
func TestStartStop(t *testing.T) {
	assets := needAssets(t)
	ctx := t.Context()
	dir := t.TempDir()
	begin := time.Now()
	c, err := Start(ctx, Options{AssetsDir: assets, WorkDir: dir, Logger: testLogger(), ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane with controller manager started in %s", time.Since(begin).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	// The kubeconfig is an admin's: kubectl's loader reads it and it may
	// create a namespace.
	if want := filepath.Join(dir, KubeconfigFile); c.KubeconfigPath() != want {
		t.Errorf("kubeconfig at %s, want %s", c.KubeconfigPath(), want)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		t.Fatalf("load the kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "start-stop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a namespace with the kubeconfig's user: %v", err)
	}

	deploy := testDeployment("start-stop", "web", 2)
	created, err := client.AppsV1().Deployments("start-stop").Create(ctx, deploy, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	var rs appsv1.ReplicaSet
	eventually(t, 30*time.Second, func() error {
		list, err := client.AppsV1().ReplicaSets("start-stop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d ReplicaSets, want 1", len(list.Items))
		}
		rs = list.Items[0]
		return ownedBy(rs.OwnerReferences, "Deployment", created.Name, created.UID)
	})
	eventually(t, 30*time.Second, func() error {
		list, err := client.CoreV1().Pods("start-stop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) != 2 {
			return fmt.Errorf("%d pods, want 2", len(list.Items))
		}
		for _, p := range list.Items {
			if err := ownedBy(p.OwnerReferences, "ReplicaSet", rs.Name, rs.UID); err != nil {
				return fmt.Errorf("pod %s: %w", p.Name, err)
			}
		}
		return nil
	})
	t.Logf("Deployment → ReplicaSet → 2 Pods in %s", time.Since(begin).Round(time.Millisecond))

	pids := c.PIDs()
	if len(pids) != 3 {
		t.Fatalf("PIDs = %v, want 3 (etcd, kube-apiserver, kube-controller-manager)", pids)
	}
	for _, pid := range pids {
		if !Running(pid) {
			t.Fatalf("process %d is not running before Stop", pid)
		}
	}
	begin = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	stopped = true
	t.Logf("stopped in %s", time.Since(begin).Round(time.Millisecond))
	for _, pid := range pids {
		if Running(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
	if left := childPIDs(); len(left) > 0 {
		t.Errorf("child processes left after Stop: %v", left)
	}
	if _, err := os.Stat(c.KubeconfigPath()); !os.IsNotExist(err) {
		t.Errorf("kubeconfig of a stopped cluster left at %s", c.KubeconfigPath())
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartNeedsItsBinaries(t *testing.T) {
	assets := needAssets(t)
	partial := t.TempDir()
	for _, b := range []string{EtcdBinary, APIServerBinary} {
		if err := os.Symlink(filepath.Join(assets, b), filepath.Join(partial, b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no work directory", Options{AssetsDir: assets}, "no work directory"},
		{"no controller manager", Options{AssetsDir: partial, WorkDir: t.TempDir(), ControllerManager: true},
			"kube-controller-manager not found in " + partial + ": build it with hack/build-tools.sh kube-controller-manager"},
		{"no etcd", Options{AssetsDir: t.TempDir(), WorkDir: t.TempDir()}, "etcd not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start(t.Context(), tc.opts)
			if err == nil {
				_ = c.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if left := childPIDs(); slices.ContainsFunc(left, func(pid int) bool { return shared.cluster == nil || !slices.Contains(shared.cluster.PIDs(), pid) }) {
		t.Errorf("failed starts left processes: %v", left)
	}
}

func ownedBy(refs []metav1.OwnerReference, kind, name string, uid types.UID) error {
	for _, r := range refs {
		if r.Kind == kind && r.Name == name && r.UID == uid && ptr.Deref(r.Controller, false) {
			return nil
		}
	}
	return fmt.Errorf("no controller owner reference to %s %s in %v", kind, name, refs)
}

func testDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: testTemplate(labels),
		},
	}
}

func testTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "registry.example/" + labels["app"] + ":1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}
