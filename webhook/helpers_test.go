package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/rego"
)

// testCluster is a ClusterView the tests fill: each test adds its
// namespaces, workloads and policies (matching what it creates in the API
// server), which makes a new snapshot.
type testCluster struct {
	mu       sync.Mutex
	snap     atomic.Pointer[inventory.Inventory]
	unsynced atomic.Bool
	reads    atomic.Int64
}

func newTestCluster() *testCluster {
	c := &testCluster{}
	c.snap.Store(&inventory.Inventory{})
	return c
}

func (c *testCluster) Snapshot() *inventory.Inventory {
	c.reads.Add(1)
	return c.snap.Load()
}

func (c *testCluster) Synced() bool { return !c.unsynced.Load() }

// add merges objects into a new snapshot; a namespace of the same name is
// replaced.
func (c *testCluster) add(nss []netpol.Namespace, wls []*netpol.Workload, pols []*networkingv1.NetworkPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	next := &inventory.Inventory{
		Namespaces: slices.Clone(old.Namespaces),
		Workloads:  slices.Clone(old.Workloads),
		Policies:   slices.Clone(old.Policies),
		Services:   slices.Clone(old.Services),
	}
	for _, ns := range nss {
		labels := maps.Clone(ns.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[netpol.NamespaceNameLabel] = ns.Name
		next.Namespaces = slices.DeleteFunc(next.Namespaces, func(n netpol.Namespace) bool { return n.Name == ns.Name })
		next.Namespaces = append(next.Namespaces, netpol.Namespace{Name: ns.Name, Labels: labels})
	}
	for _, w := range wls {
		next.Workloads = slices.DeleteFunc(next.Workloads, func(o *netpol.Workload) bool { return o.Key() == w.Key() })
		next.Workloads = append(next.Workloads, w)
	}
	for _, p := range pols {
		next.Policies = slices.DeleteFunc(next.Policies, func(o *networkingv1.NetworkPolicy) bool {
			return o.Namespace == p.Namespace && o.Name == p.Name
		})
		next.Policies = append(next.Policies, p)
	}
	slices.SortFunc(next.Namespaces, func(a, b netpol.Namespace) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(next.Workloads, func(a, b *netpol.Workload) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	slices.SortFunc(next.Policies, func(a, b *networkingv1.NetworkPolicy) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	c.snap.Store(next)
}

// edgeList is an EdgeSource over canned edges.
type edgeList struct {
	mu    sync.Mutex
	edges []flow.Edge
	// block, if set, makes NamespaceEdges wait for ctx (a slow store).
	block bool
	calls atomic.Int64
}

func (l *edgeList) NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error) {
	l.calls.Add(1)
	if l.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []flow.Edge
	for _, e := range l.edges {
		if e.Src.Namespace == ns || e.Dst.Namespace == ns {
			out = append(out, e)
		}
	}
	return out, nil
}

// deciderFunc adapts a function to Decider.
type deciderFunc func(ctx context.Context, in rego.Input) (rego.Decision, error)

func (f deciderFunc) Decide(ctx context.Context, in rego.Input) (rego.Decision, error) {
	return f(ctx, in)
}

func deployment(ns, name string) *netpol.Workload {
	return &netpol.Workload{Namespace: ns, Kind: "Deployment", Name: name, Labels: map[string]string{"app": name}}
}

func wep(ns, name string) flow.Endpoint { return flow.WorkloadEndpoint(ns, "Deployment", name) }

func tcpEdge(src, dst flow.Endpoint, port uint16, count uint64, last time.Time) flow.Edge {
	return flow.Edge{
		EdgeKey:   flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port},
		EdgeStats: flow.EdgeStats{Count: count, FirstSeen: last.Add(-time.Hour), LastSeen: last},
	}
}

// shopObjects are the workloads of a shop namespace: frontend and checkout
// call cart on TCP/8080, frontend calls checkout on TCP/8443.
func shopObjects(ns string) []*netpol.Workload {
	return []*netpol.Workload{deployment(ns, "frontend"), deployment(ns, "cart"), deployment(ns, "checkout")}
}

func shopEdges(ns string, now time.Time) []flow.Edge {
	return []flow.Edge{
		tcpEdge(wep(ns, "frontend"), wep(ns, "cart"), 8080, 1200, now.Add(-2*time.Hour)),
		tcpEdge(wep(ns, "checkout"), wep(ns, "cart"), 8080, 1, now.Add(-5*time.Minute)),
		tcpEdge(wep(ns, "frontend"), wep(ns, "checkout"), 8443, 40, now.Add(-time.Minute)),
	}
}

// denyAllIngress selects every pod of ns for ingress and allows nothing.
func denyAllIngress(ns, name string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
}

// allowCart lets frontend and checkout reach cart on TCP/8080: harmless
// for shopEdges.
func allowCart(ns, name string) *networkingv1.NetworkPolicy {
	tcp, port := corev1.ProtocolTCP, intstr.FromInt32(8080)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"frontend", "checkout"},
				}}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// policyRequest is the AdmissionRequest the API server sends for a
// NetworkPolicy operation.
func policyRequest(t testing.TB, op admissionv1.Operation, oldP, newP *networkingv1.NetworkPolicy) admission.Request {
	t.Helper()
	p := cmp.Or(newP, oldP)
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + p.Name),
		Kind:      metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
		Resource:  metav1.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
		Namespace: p.Namespace,
		Name:      p.Name,
		Operation: op,
		UserInfo:  authenticationv1.UserInfo{Username: "alice@example.com", Groups: []string{"devs"}},
		DryRun:    ptr.To(false),
	}}
	if newP != nil {
		req.Object = runtime.RawExtension{Raw: mustJSON(t, newP)}
	}
	if oldP != nil {
		req.OldObject = runtime.RawExtension{Raw: mustJSON(t, oldP)}
	}
	return req
}

func namespaceRequest(t testing.TB, oldNS, newNS *corev1.Namespace) admission.Request {
	t.Helper()
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-ns-" + newNS.Name),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "namespaces"},
		Name:      newNS.Name,
		Operation: admissionv1.Update,
		UserInfo:  authenticationv1.UserInfo{Username: "alice@example.com"},
		Object:    runtime.RawExtension{Raw: mustJSON(t, newNS)},
		OldObject: runtime.RawExtension{Raw: mustJSON(t, oldNS)},
	}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger discards logs unless the test is verbose.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.T); ok && testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func containsLine(lines []string, sub string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, sub) })
}

func admissionRequest(r admissionv1.AdmissionRequest) admission.Request {
	return admission.Request{AdmissionRequest: r}
}
