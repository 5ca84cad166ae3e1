package audit

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestApplyFakeClient checks Apply's create / unchanged / update / delete
// bookkeeping against controller-runtime's fake client. It is a stand-in:
// the envtest version (real kube-apiserver from hack/) is a follow-up.
func TestApplyFakeClient(t *testing.T) {
	ctx := context.Background()
	managed := map[string]string{"app.kubernetes.io/managed-by": "redline"}
	cm := func(ns, name, policy string) corev1.ConfigMap {
		return corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: managed},
			Data:       map[string]string{KeyPolicy: policy, KeyReport: "{}\n"},
		}
	}
	// Not ours: same label but another name, and an unlabelled ConfigMap.
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "redline-config", Labels: managed}}
	user := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "redline-suggested-deployment-user"}}
	c := fake.NewClientBuilder().WithObjects(foreign, user).Build()
	namespaces := []string{"shop", "payments"}

	type counts struct{ created, updated, deleted, unchanged int }
	apply := func(step string, desired []corev1.ConfigMap, want counts) {
		t.Helper()
		cr, up, de, un, err := Apply(ctx, c, desired, namespaces)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := (counts{cr, up, de, un}); got != want {
			t.Fatalf("%s: got %+v, want %+v", step, got, want)
		}
	}
	get := func(ns, name string) (corev1.ConfigMap, error) {
		var out corev1.ConfigMap
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &out)
		return out, err
	}

	desired := []corev1.ConfigMap{
		cm("shop", "redline-suggested-deployment-cart", "v1"),
		cm("payments", "redline-suggested-deployment-payment", "v1"),
	}
	apply("first", desired, counts{created: 2})
	first, err := get("shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}

	apply("same data", desired, counts{unchanged: 2})
	second, err := get("shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	if first.ResourceVersion != second.ResourceVersion {
		t.Errorf("unchanged data rewrote the ConfigMap: resourceVersion %s → %s", first.ResourceVersion, second.ResourceVersion)
	}

	desired[0] = cm("shop", "redline-suggested-deployment-cart", "v2")
	apply("changed data", desired, counts{updated: 1, unchanged: 1})
	third, err := get("shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	if third.Data[KeyPolicy] != "v2" || third.ResourceVersion == second.ResourceVersion {
		t.Errorf("after update: data %v, resourceVersion %s (was %s)", third.Data, third.ResourceVersion, second.ResourceVersion)
	}

	// The payment workload is gone.
	apply("workload gone", desired[:1], counts{deleted: 1, unchanged: 1})
	if _, err := get("payments", "redline-suggested-deployment-payment"); err == nil {
		t.Error("payment ConfigMap still exists")
	}
	for _, o := range []*corev1.ConfigMap{foreign, user} {
		if _, err := get(o.Namespace, o.Name); err != nil {
			t.Errorf("%s/%s, not a suggestion of ours, was touched: %v", o.Namespace, o.Name, err)
		}
	}

	// A user's ConfigMap under our name is not overwritten.
	if _, _, _, _, err := Apply(ctx, c, append(desired[:1:1], cm("shop", user.Name, "v1")), namespaces); err == nil {
		t.Error("Apply overwrote an unmanaged ConfigMap without an error")
	}
	if got, _ := get("shop", user.Name); got.Data != nil {
		t.Errorf("unmanaged ConfigMap overwritten: %v", got.Data)
	}
}
