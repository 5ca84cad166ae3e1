package audit

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func createNamespace(t *testing.T, name string, lbls map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
	if err := plane.client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

// Writer against the real API server: created, untouched when the data is
// the same (same resourceVersion), updated when it changes, deleted when no
// longer desired; never a ConfigMap Redline does not manage.
func TestWriterAgainstAPIServer(t *testing.T) {
	needPlane(t)
	ctx := context.Background()
	createNamespace(t, "writer-shop", nil)
	createNamespace(t, "writer-payments", nil)
	managed := map[string]string{"app.kubernetes.io/managed-by": "redline"}
	cm := func(ns, name, policy string) corev1.ConfigMap {
		return corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: managed},
			Data:       map[string]string{KeyPolicy: policy, KeyReport: "{}\n"},
		}
	}
	// Not ours: managed label but another name, and a user's ConfigMap
	// under a suggestion's name.
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "writer-shop", Name: "redline-config", Labels: managed}}
	user := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "writer-shop", Name: "redline-suggested-deployment-user"}, Data: map[string]string{"mine": "yes"}}
	for _, o := range []*corev1.ConfigMap{foreign, user} {
		if err := plane.client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	w := &Writer{Client: plane.client}
	namespaces := []string{"writer-shop", "writer-payments"}
	apply := func(step string, desired []corev1.ConfigMap, want ApplyResult) {
		t.Helper()
		got, err := w.Apply(ctx, desired, namespaces)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got != want {
			t.Fatalf("%s: got %+v, want %+v", step, got, want)
		}
	}
	get := func(ns, name string) (corev1.ConfigMap, error) {
		var out corev1.ConfigMap
		err := plane.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &out)
		return out, err
	}

	desired := []corev1.ConfigMap{
		cm("writer-shop", "redline-suggested-deployment-cart", "v1"),
		cm("writer-payments", "redline-suggested-deployment-payment", "v1"),
	}
	apply("first", desired, ApplyResult{Created: 2})
	first, err := get("writer-shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	apply("same data", desired, ApplyResult{Unchanged: 2})
	second, err := get("writer-shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	if first.ResourceVersion != second.ResourceVersion {
		t.Errorf("unchanged data rewrote the ConfigMap: resourceVersion %s → %s", first.ResourceVersion, second.ResourceVersion)
	}
	desired[0] = cm("writer-shop", "redline-suggested-deployment-cart", "v2")
	apply("changed data", desired, ApplyResult{Updated: 1, Unchanged: 1})
	third, err := get("writer-shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	if third.Data[KeyPolicy] != "v2" || third.ResourceVersion == second.ResourceVersion {
		t.Errorf("after update: data %v, resourceVersion %s (was %s)", third.Data, third.ResourceVersion, second.ResourceVersion)
	}

	// The payment workload is gone.
	apply("workload gone", desired[:1], ApplyResult{Deleted: 1, Unchanged: 1})
	if _, err := get("writer-payments", "redline-suggested-deployment-payment"); err == nil {
		t.Error("payment ConfigMap still exists")
	}
	for _, o := range []*corev1.ConfigMap{foreign, user} {
		got, err := get(o.Namespace, o.Name)
		if err != nil || got.ResourceVersion != o.ResourceVersion {
			t.Errorf("%s/%s, not a suggestion of ours, was touched: %v (resourceVersion %s, was %s)", o.Namespace, o.Name, err, got.ResourceVersion, o.ResourceVersion)
		}
	}

	// A user's ConfigMap under our name is neither overwritten nor deleted.
	_, err = w.Apply(ctx, append(desired[:1:1], cm("writer-shop", user.Name, "v1")), namespaces)
	if err == nil || !strings.Contains(err.Error(), "not managed by redline") {
		t.Errorf("Apply over an unmanaged ConfigMap: err = %v, want a not-managed error", err)
	}
	if got, _ := get("writer-shop", user.Name); got.Data["mine"] != "yes" || got.Data[KeyPolicy] != "" {
		t.Errorf("unmanaged ConfigMap overwritten: %v", got.Data)
	}

	// Writes wait for the limiter: one that allows none writes nothing.
	paced := &Writer{Client: plane.client, Limiter: rate.NewLimiter(0, 0)}
	res, err := paced.Apply(ctx, append(desired, cm("writer-payments", "redline-suggested-deployment-new", "v1")), namespaces)
	if err == nil || res.Writes() != 0 {
		t.Errorf("Apply with a closed limiter: %+v, %v; want no writes and an error", res, err)
	}
	if _, err := get("writer-payments", "redline-suggested-deployment-new"); err == nil {
		t.Error("a write went past the limiter")
	}
}
