package demo

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestApply checks the demo in the dev cluster: applied, every workload
// ready (with kube-controller-manager and the fake kubelet), its pods
// owned through real owner references, and a second Apply a no-op.
func TestApply(t *testing.T) {
	needDemo(t)
	t.Logf("control plane with controller manager started in %s; demo applied and ready in %s", env.startup.Round(1e6), env.appliedIn.Round(1e6))
	ctx := t.Context()

	var before appsv1.Deployment
	if err := env.client.Get(ctx, client.ObjectKey{Namespace: NamespaceShop, Name: Cart.Name}, &before); err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, env.client); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	var after appsv1.Deployment
	if err := env.client.Get(ctx, client.ObjectKey{Namespace: NamespaceShop, Name: Cart.Name}, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("a second Apply changed Deployment cart (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
	}

	var ks corev1.Namespace
	if err := env.client.Get(ctx, client.ObjectKey{Name: NamespaceDNS}, &ks); err != nil {
		t.Fatal(err)
	}
	if ks.Labels[NamespaceLabel] == "" {
		t.Errorf("namespace kube-system lacks label %s: %v", NamespaceLabel, ks.Labels)
	}

	// Each pod of the cart is owned by a ReplicaSet the Deployment owns.
	var pods corev1.PodList
	if err := env.client.List(ctx, &pods, client.InNamespace(NamespaceShop), client.MatchingLabels(Cart.Selector)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("%d cart pods, want 2", len(pods.Items))
	}
	for _, p := range pods.Items {
		owner := metav1.GetControllerOf(&p)
		if owner == nil || owner.Kind != "ReplicaSet" {
			t.Fatalf("pod %s: controller %v, want a ReplicaSet", p.Name, owner)
		}
		var rs appsv1.ReplicaSet
		if err := env.client.Get(ctx, client.ObjectKey{Namespace: NamespaceShop, Name: owner.Name}, &rs); err != nil {
			t.Fatal(err)
		}
		if o := metav1.GetControllerOf(&rs); o == nil || o.Kind != "Deployment" || o.UID != after.UID || !ptr.Deref(o.Controller, false) {
			t.Errorf("ReplicaSet %s: controller %v, want Deployment cart", rs.Name, o)
		}
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			t.Errorf("pod %s: phase %s, IP %q", p.Name, p.Status.Phase, p.Status.PodIP)
		}
	}
	var all corev1.PodList
	if err := env.client.List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pods running the demo", len(all.Items))
}
