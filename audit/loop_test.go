package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/store"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func deployment(ns, name string) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
			},
		},
	}
}

// liveWorld is a live inventory over the envtest API server and a real
// Badger store, for the loop tests.
type liveWorld struct {
	cluster *inventory.Cluster
	store   *store.Store
}

func newLiveWorld(ctx context.Context, t *testing.T) *liveWorld {
	t.Helper()
	cluster, err := inventory.NewLiveCluster(plane.clientset, inventory.WatchOptions{Options: inventory.Options{Logger: testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cluster.Start(ctx) }()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &liveWorld{cluster: cluster, store: st}
}

func (w *liveWorld) record(t *testing.T, src, dst flow.Endpoint, port uint16, verdict flow.Verdict, n int, at time.Time) {
	t.Helper()
	for range n {
		w.store.Record(flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}, at, verdict, nil, nil)
	}
	if err := w.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// passes collects the loop's outcomes.
type passes chan Outcome

func (p passes) next(t *testing.T, what string) Outcome {
	t.Helper()
	select {
	case o := <-p:
		if o.Err != nil {
			t.Fatalf("%s: pass failed: %v", what, o.Err)
		}
		if o.WriteErr != nil {
			t.Fatalf("%s: writes failed: %v", what, o.WriteErr)
		}
		return o
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no audit pass within 30 s", what)
	}
	return Outcome{}
}

func getCM(t *testing.T, ns, name string) (corev1.ConfigMap, error) {
	t.Helper()
	var cm corev1.ConfigMap
	err := plane.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cm)
	return cm, err
}

// The loop against the real API server: workloads and traffic → suggestion
// ConfigMaps and the audit report; nothing rewritten when nothing changed;
// updated when traffic changes; deleted with the workload (the deletion
// itself triggers the pass); an Event on the unlabeled namespace; metrics.
func TestLoopAgainstAPIServer(t *testing.T) {
	needPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createNamespace(t, "loop-redline", nil)
	createNamespace(t, "loop-shop", map[string]string{"team": "shop"})
	createNamespace(t, "loop-pay", nil) // lacks "team"
	for _, d := range []*appsv1.Deployment{deployment("loop-shop", "frontend"), deployment("loop-shop", "cart"), deployment("loop-pay", "payment")} {
		if err := plane.client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	world := newLiveWorld(ctx, t)
	now := time.Now()
	frontend := flow.WorkloadEndpoint("loop-shop", "Deployment", "frontend")
	cart := flow.WorkloadEndpoint("loop-shop", "Deployment", "cart")
	payment := flow.WorkloadEndpoint("loop-pay", "Deployment", "payment")
	world.record(t, frontend, cart, 8080, flow.VerdictForwarded, 3, now.Add(-time.Hour))
	world.record(t, cart, payment, 8443, flow.VerdictForwarded, 2, now.Add(-time.Hour))
	world.record(t, frontend, payment, 8443, flow.VerdictDropped, 4, now.Add(-time.Hour))

	reg := prometheus.NewRegistry()
	got := make(passes, 16)
	loop, err := NewLoop(world.cluster, world.store, plane.client, LoopOptions{
		Interval: time.Hour, Debounce: 200 * time.Millisecond, Window: 24 * time.Hour,
		NamespaceLabelKey: "team", Namespace: "loop-redline", WritesPerSecond: 100,
		Recorder: plane.recorder, Registerer: reg, Logger: testLogger(),
		OnPass: func(o Outcome) { got <- o },
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = loop.Start(ctx) }()

	// Other tests' workloads share the API server: count only ours.
	first := got.next(t, "first pass")
	for _, key := range []string{"loop-shop/redline-suggested-deployment-frontend", "loop-shop/redline-suggested-deployment-cart", "loop-pay/redline-suggested-deployment-payment"} {
		ns, name, _ := strings.Cut(key, "/")
		if _, err := getCM(t, ns, name); err != nil {
			t.Errorf("first pass (%+v): %v", first.Applied, err)
		}
	}
	cartCM, err := getCM(t, "loop-shop", "redline-suggested-deployment-cart")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cartCM.Data[KeyPolicy], "name: redline-deployment-cart") || cartCM.Labels["app.kubernetes.io/managed-by"] != "redline" {
		t.Errorf("cart suggestion:\n%s\nlabels %v", cartCM.Data[KeyPolicy], cartCM.Labels)
	}
	reportCM, err := getCM(t, "loop-redline", ReportName)
	if err != nil {
		t.Fatal(err)
	}
	var rep AuditReport
	if err := json.Unmarshal([]byte(reportCM.Data[KeyAuditReport]), &rep); err != nil {
		t.Fatalf("audit report: %v\n%s", err, reportCM.Data[KeyAuditReport])
	}
	if len(rep.Unlabeled) != 1 || rep.Unlabeled[0].Namespace != "loop-pay" || rep.Unlabeled[0].Fix != "kubectl label namespace loop-pay team=<value>" {
		t.Errorf("report's unlabeled namespaces = %+v, want loop-pay with its fix", rep.Unlabeled)
	}
	if rep.RedTotal != 1 || !rep.Red[0].Dropped {
		t.Errorf("report's red = %+v (total %d), want the dropped frontend→payment", rep.Red, rep.RedTotal)
	}
	eventually(t, 10*time.Second, "Event on the unlabeled namespace", func() error {
		// A cluster-scoped object's Events live in the default namespace.
		list, err := plane.clientset.EventsV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Reason == "NamespaceLabelMissing" && e.Regarding.Kind == "Namespace" && e.Regarding.Name == "loop-pay" && strings.Contains(e.Note, "kubectl label namespace loop-pay team=<value>") {
				return nil
			}
		}
		return fmt.Errorf("no NamespaceLabelMissing Event among %d", len(list.Items))
	})
	if v := gauge(t, reg, "redline_unlabeled_namespaces", nil); v != 1 {
		t.Errorf("redline_unlabeled_namespaces = %v, want 1", v)
	}
	if v := gauge(t, reg, "redline_suggested_policies", nil); v != float64(len(first.Pass.ConfigMaps)) || v < 3 {
		t.Errorf("redline_suggested_policies = %v, want the %d suggestions of the pass", v, len(first.Pass.ConfigMaps))
	}
	if v := gauge(t, reg, "redline_workload_red_connections", map[string]string{"namespace": "loop-pay", "workload": "payment"}); v != 1 {
		t.Errorf("payment's red connections = %v, want 1", v)
	}
	if v := gauge(t, reg, "redline_workloads_unprotected", map[string]string{"namespace": "loop-shop", "direction": "ingress"}); v != 2 {
		t.Errorf("unprotected ingress in loop-shop = %v, want 2", v)
	}
	// frontend→payment: the policies allow it (there are none) but the CNI
	// dropped it 4 times.
	if v := testutil.ToFloat64(loop.metrics.disagreements); v != 4 {
		t.Errorf("verdict disagreements = %v, want 4", v)
	}

	// Nothing changed: nothing is written.
	loop.Trigger()
	same := got.next(t, "pass without changes")
	if same.Applied.Writes() != 0 || same.Applied.Unchanged < 4 {
		t.Errorf("pass without changes: %+v, want all %d unchanged", same.Applied, first.Applied.Created)
	}
	if again, _ := getCM(t, "loop-shop", cartCM.Name); again.ResourceVersion != cartCM.ResourceVersion {
		t.Errorf("cart ConfigMap rewritten without a change: %s → %s", cartCM.ResourceVersion, again.ResourceVersion)
	}
	if v := testutil.ToFloat64(loop.metrics.disagreements); v != 4 {
		t.Errorf("verdict disagreements after a pass over the same flows = %v, want still 4", v)
	}

	// New traffic: cart's suggestion gains an egress rule.
	world.record(t, cart, frontend, 9090, flow.VerdictForwarded, 1, now.Add(-time.Minute))
	loop.Trigger()
	changed := got.next(t, "pass after new traffic")
	if changed.Applied.Updated < 1 {
		t.Errorf("pass after new traffic: %+v, want updates", changed.Applied)
	}
	updated, _ := getCM(t, "loop-shop", cartCM.Name)
	if updated.ResourceVersion == cartCM.ResourceVersion || !strings.Contains(updated.Data[KeyPolicy], "port: 9090") {
		t.Errorf("cart ConfigMap not updated with port 9090 (resourceVersion %s → %s):\n%s", cartCM.ResourceVersion, updated.ResourceVersion, updated.Data[KeyPolicy])
	}

	// The cart Deployment goes: the change alone (no Trigger) starts a
	// pass that deletes its suggestion.
	if err := plane.client.Delete(ctx, deployment("loop-shop", "cart")); err != nil {
		t.Fatal(err)
	}
	gone := got.next(t, "pass after the deletion")
	if gone.Applied.Deleted != 1 {
		t.Errorf("pass after the deletion: %+v, want 1 deleted", gone.Applied)
	}
	if _, err := getCM(t, "loop-shop", cartCM.Name); err == nil {
		t.Error("cart's suggestion survived its Deployment")
	}
	if v := testutil.ToFloat64(loop.metrics.runs.WithLabelValues(resultSuccess)); v != 4 {
		t.Errorf("redline_audit_runs_total{result=success} = %v, want 4", v)
	}
}

// gauge reads one series of a registry's metric (the sum over the series
// matching lbls).
func gauge(t *testing.T, reg *prometheus.Registry, name string, lbls map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range lbls {
				if have[k] != v {
					continue series
				}
			}
			found = true
			sum += m.GetGauge().GetValue()
		}
	}
	if !found {
		t.Errorf("no series %s%v", name, lbls)
	}
	return sum
}
