package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/suggest"
)

// edgeList is an in-memory suggest.EdgeReader.
type edgeList []flow.Edge

func (l edgeList) WorkloadEdges(_ context.Context, ep flow.Endpoint, _, _ time.Time) (ingress, egress []flow.Edge, err error) {
	for _, e := range l {
		if e.Dst == ep {
			ingress = append(ingress, e)
		}
		if e.Src == ep {
			egress = append(egress, e)
		}
	}
	return ingress, egress, nil
}

var (
	frontend = flow.WorkloadEndpoint("shop", "Deployment", "frontend")
	cart     = flow.WorkloadEndpoint("shop", "Deployment", "cart")
	payment  = flow.WorkloadEndpoint("payments", "Deployment", "payment")
	cartSvc  = inventory.ServiceEndpoint("shop", "cart")
)

func edge(src, dst flow.Endpoint, port uint16, dropped uint64) flow.Edge {
	e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}}
	e.Count = 3 + dropped
	e.Verdicts[flow.VerdictForwarded] = 3
	e.Verdicts[flow.VerdictDropped] = dropped
	return e
}

// shopWithPolicy is the shop fixture plus a policy that lets only cart
// reach payment on 8443.
func shopWithPolicy(t *testing.T, nsLabels map[string]map[string]string) *inventory.Inventory {
	t.Helper()
	inv := inventorytest.LoadShop(t)
	for i := range inv.Namespaces {
		for k, v := range nsLabels[inv.Namespaces[i].Name] {
			inv.Namespaces[i].Labels[k] = v
		}
	}
	tcp, port := corev1.ProtocolTCP, intstr.FromInt32(8443)
	inv.Policies = append(inv.Policies, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payment-from-cart", Namespace: "payments"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "shop"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
		},
	})
	return inv
}

var shopEdges = edgeList{
	edge(frontend, payment, 8443, 0), // denied by payment-from-cart: red
	edge(cart, payment, 8443, 0),     // allowed
	edge(frontend, cartSvc, 80, 2),   // allowed by policies, but dropped: red
}

func cmNames(cms []corev1.ConfigMap) []string {
	var out []string
	for _, cm := range cms {
		out = append(out, cm.Namespace+"/"+cm.Name)
	}
	return out
}

func TestPass(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	denied := RedConnection{Src: "shop/frontend[Deployment]", Dst: "payments/payment[Deployment]", Protocol: "TCP", Port: 8443, DeniedByPolicies: true}
	dropped := RedConnection{Src: "shop/frontend[Deployment]", Dst: "shop/cart[Service]", Protocol: "TCP", Port: 80, Dropped: true}
	all := []string{"payments/redline-suggested-deployment-payment", "shop/redline-suggested-deployment-cart", "shop/redline-suggested-deployment-frontend"}
	tests := []struct {
		name          string
		nsLabels      map[string]map[string]string
		key           string
		wantCMs       []string
		wantRed       []RedConnection
		wantUnlabeled []string
	}{
		{name: "default key", wantCMs: all, wantRed: []RedConnection{denied, dropped}},
		{name: "custom key, both namespaces lack it", key: "team", wantCMs: all, wantRed: []RedConnection{denied, dropped}, wantUnlabeled: []string{"payments", "shop"}},
		{name: "custom key, payments has it", key: "team", nsLabels: map[string]map[string]string{"payments": {"team": "pay"}}, wantCMs: all, wantRed: []RedConnection{denied, dropped}, wantUnlabeled: []string{"shop"}},
		{
			name: "shop opted out", nsLabels: map[string]map[string]string{"shop": {"redline.io/audit": "disabled"}},
			wantCMs: all[:1], wantRed: []RedConnection{denied},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := PassInput{Inventory: shopWithPolicy(t, tt.nsLabels), Edges: shopEdges, Window: 24 * time.Hour, Now: now, NamespaceLabelKey: tt.key}
			res, err := Pass(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Skipped) > 0 {
				t.Errorf("skipped: %+v", res.Skipped)
			}
			if got := cmNames(res.ConfigMaps); !slices.Equal(got, tt.wantCMs) {
				t.Errorf("ConfigMaps = %v, want %v", got, tt.wantCMs)
			}
			if !slices.Equal(res.Red, tt.wantRed) {
				t.Errorf("red = %+v, want %+v", res.Red, tt.wantRed)
			}
			var unl []string
			for _, u := range res.Unlabeled {
				unl = append(unl, u.Namespace)
				if u.Key != tt.key {
					t.Errorf("unlabeled %s: key %q, want %q", u.Namespace, u.Key, tt.key)
				}
			}
			if !slices.Equal(unl, tt.wantUnlabeled) {
				t.Errorf("unlabeled = %v, want %v", unl, tt.wantUnlabeled)
			}
			for _, cm := range res.ConfigMaps {
				if cm.Labels["app.kubernetes.io/managed-by"] != "redline" {
					t.Errorf("%s: labels %v", cm.Name, cm.Labels)
				}
				if !strings.Contains(cm.Data[KeyPolicy], "kind: NetworkPolicy") {
					t.Errorf("%s: policy.yaml:\n%s", cm.Name, cm.Data[KeyPolicy])
				}
				var rep Report
				if err := json.Unmarshal([]byte(cm.Data[KeyReport]), &rep); err != nil {
					t.Fatalf("%s: report.json: %v", cm.Name, err)
				}
				if cm.Name == "redline-suggested-deployment-payment" && !slices.Contains(rep.Red, denied) {
					t.Errorf("payment report lacks the denied connection: %+v", rep.Red)
				}
			}
			// Deterministic, and independent of Now: a later pass over the
			// same traffic would not rewrite anything.
			in.Now = now.Add(10 * time.Minute)
			again, err := Pass(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range res.ConfigMaps {
				if a, b := res.ConfigMaps[i].Data, again.ConfigMaps[i].Data; a[KeyPolicy] != b[KeyPolicy] || a[KeyReport] != b[KeyReport] {
					t.Errorf("%s: data changed between passes:\n%v\n%v", res.ConfigMaps[i].Name, a, b)
				}
			}
		})
	}
}

// A connection through a Service is judged at the backends, on the target
// port (the named port http resolves to 8080).
func TestPassServiceDestination(t *testing.T) {
	inv := shopWithPolicy(t, nil)
	tcp, http := corev1.ProtocolTCP, intstr.FromInt32(8080)
	inv.Policies = append(inv.Policies, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-http-only", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &http}}}},
		},
	})
	edges := edgeList{edge(frontend, cartSvc, 80, 0), edge(frontend, cartSvc, 9090, 0)}
	res, err := Pass(context.Background(), PassInput{Inventory: inv, Edges: edges, Window: time.Hour, Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := []RedConnection{{Src: "shop/frontend[Deployment]", Dst: "shop/cart[Service]", Protocol: "TCP", Port: 9090, DeniedByPolicies: true}}
	if !slices.Equal(res.Red, want) {
		t.Errorf("red = %+v, want %+v", res.Red, want)
	}
}

// The pass also counts, per namespace, the workloads no policy isolates,
// the suggestions and the red connections, and per edge the flows on which
// the CNI and the engine disagree.
func TestPassSummaries(t *testing.T) {
	inv := shopWithPolicy(t, nil)
	res, err := Pass(context.Background(), PassInput{Inventory: inv, Edges: shopEdges, Window: time.Hour, Now: time.Unix(0, 0), NamespaceLabelKey: "team"})
	if err != nil {
		t.Fatal(err)
	}
	byNS := map[string]NamespaceSummary{}
	for _, s := range res.Summaries {
		byNS[s.Namespace] = s
	}
	t.Logf("summaries: %+v", res.Summaries)
	if got, want := len(res.Summaries), len(inv.Namespaces); got != want {
		t.Fatalf("%d summaries, want one per namespace (%d)", got, want)
	}
	pay := byNS["payments"]
	if pay.Workloads != 1 || pay.UnprotectedIngress != 0 || pay.UnprotectedEgress != 1 || pay.SuggestedPolicies != 1 || pay.RedConnections != 1 || pay.MissingLabel != "team" {
		t.Errorf("payments = %+v, want 1 workload isolated for ingress only, 1 suggestion, 1 red connection, missing label team", pay)
	}
	shop := byNS["shop"]
	if shop.RedConnections != 2 || shop.SuggestedPolicies != 2 || shop.UnprotectedIngress != shop.Workloads {
		t.Errorf("shop = %+v, want 2 red connections, 2 suggestions, nothing isolated", shop)
	}
	wantRed := map[string]int{"payments/payment": 1, "shop/frontend": 2, "shop/cart": 1}
	for _, wr := range res.WorkloadRed {
		if want, ok := wantRed[wr.Namespace+"/"+wr.Name]; ok && wr.Red != want {
			t.Errorf("%s/%s: %d red, want %d", wr.Namespace, wr.Name, wr.Red, want)
		}
	}
	// frontend→payment is denied but was forwarded 3 times; frontend→cart
	// is allowed but was dropped twice; cart→payment agrees.
	want := map[flow.EdgeKey]uint64{shopEdges[0].EdgeKey: 3, shopEdges[2].EdgeKey: 2}
	if !maps.Equal(res.Disagreements, want) {
		t.Errorf("disagreements = %v, want %v", res.Disagreements, want)
	}
}

// workloadEdgesOnly hides the store's NamespaceEdges: the pass reads per
// workload, as before the bulk read.
type workloadEdgesOnly struct{ suggest.EdgeReader }

// The bulk read of a pass's edges (one query per namespace) gives the same
// pass as reading per workload.
func TestPassBulkEdgesMatchPerWorkloadReads(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(t, now, 300, 12_000)
	in := PassInput{Inventory: inv, Edges: st, Window: 7 * 24 * time.Hour, Now: now, NamespaceLabelKey: "team"}
	bulk, err := Pass(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	in.Edges = workloadEdgesOnly{st}
	each, err := Pass(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(bulk.ConfigMaps) < 250 || len(bulk.Red) == 0 {
		t.Fatalf("a thin world: %d suggestions, %d red", len(bulk.ConfigMaps), len(bulk.Red))
	}
	if len(bulk.ConfigMaps) != len(each.ConfigMaps) {
		t.Fatalf("%d suggestions in bulk, %d per workload", len(bulk.ConfigMaps), len(each.ConfigMaps))
	}
	// Red connections come sorted (source, destination, protocol, port,
	// verdicts) without repeats, the pass's and each workload's.
	strictly := func(rs []RedConnection) bool {
		return slices.IsSortedFunc(rs, redCmp) && len(slices.Compact(slices.Clone(rs))) == len(rs)
	}
	if !strictly(bulk.Red) {
		t.Error("the pass's red connections are not sorted, or repeat")
	}
	reds := 0
	for _, cm := range bulk.ConfigMaps {
		var rep Report
		if err := json.Unmarshal([]byte(cm.Data[KeyReport]), &rep); err != nil {
			t.Fatal(err)
		}
		if !strictly(rep.Red) {
			t.Fatalf("%s: red connections not sorted, or repeated: %v", cm.Name, rep.Red)
		}
		reds += len(rep.Red)
	}
	if reds < 1000 {
		t.Fatalf("only %d red connections in the reports", reds)
	}
	// The pass validates the policies' metadata only (SkipSelfCheck): the
	// rules it writes are valid all the same.
	for _, cm := range bulk.ConfigMaps {
		var np networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict([]byte(cm.Data[KeyPolicy]), &np); err != nil {
			t.Fatalf("%s: %v", cm.Name, err)
		}
		if errs := netpol.Validate(&np); len(errs) > 0 || len(np.Spec.Ingress)+len(np.Spec.Egress) == 0 {
			t.Fatalf("%s: %d rules, invalid: %v", cm.Name, len(np.Spec.Ingress)+len(np.Spec.Egress), errs)
		}
	}
	for i := range bulk.ConfigMaps {
		if !maps.Equal(bulk.ConfigMaps[i].Data, each.ConfigMaps[i].Data) {
			t.Fatalf("%s differs:\nbulk %v\neach %v", bulk.ConfigMaps[i].Name, bulk.ConfigMaps[i].Data, each.ConfigMaps[i].Data)
		}
	}
	if !slices.Equal(bulk.Red, each.Red) || !slices.Equal(bulk.Summaries, each.Summaries) || !maps.Equal(bulk.Disagreements, each.Disagreements) {
		t.Error("red connections, summaries or disagreements differ")
	}
}

// The bulk reader hands every workload exactly the edges the store's own
// per-workload read does: an edge between namespaces, which both
// namespaces' queries return, is not filed twice.
func TestBulkEdgesEqualWorkloadEdges(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(t, now, 200, 6_000)
	var nss []string
	for _, ns := range inv.Namespaces {
		nss = append(nss, ns.Name)
	}
	from := now.Add(-7 * 24 * time.Hour)
	bulk, err := bulkEdges(context.Background(), st, inv, nss, from, now)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(es []flow.Edge) []string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%v %d %v", e.EdgeKey, e.Count, e.Verdicts))
		}
		slices.Sort(out)
		return out
	}
	total := 0
	for _, w := range inv.Workloads {
		ep := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
		bin, bout, _ := bulk.WorkloadEdges(context.Background(), ep, from, now)
		win, wout, err := st.WorkloadEdges(context.Background(), ep, from, now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys(bin), keys(win)) || !slices.Equal(keys(bout), keys(wout)) {
			t.Fatalf("%s: bulk %d in / %d out, store %d in / %d out", ep, len(bin), len(bout), len(win), len(wout))
		}
		total += len(bout)
	}
	if total < 5000 {
		t.Fatalf("only %d egress edges compared", total)
	}
}

// crowd is an inventory where shop/Deployment/hub talks with n workloads
// of the opted-out namespace crowd (opted out so that the pass suggests for
// the hub only).
func crowd(n int) (*inventory.Inventory, edgeList) {
	inv := &inventory.Inventory{Namespaces: []netpol.Namespace{
		{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}},
		{Name: "crowd", Labels: map[string]string{"kubernetes.io/metadata.name": "crowd", "redline.io/audit": "disabled"}},
	}}
	hub := &netpol.Workload{Namespace: "shop", Kind: "Deployment", Name: "hub", Labels: map[string]string{"app": "hub"}}
	inv.Workloads = append(inv.Workloads, hub)
	var edges edgeList
	for i := range n {
		name := fmt.Sprintf("peer-%05d", i)
		inv.Workloads = append(inv.Workloads, &netpol.Workload{Namespace: "crowd", Kind: "Deployment", Name: name, Labels: map[string]string{"app": name}})
		edges = append(edges, edge(flow.WorkloadEndpoint("crowd", "Deployment", name), flow.WorkloadEndpoint("shop", "Deployment", "hub"), 8080, 0))
	}
	return inv, edges
}

// A suggestion ConfigMap stays below the API server's object limit: the
// report's tables go first; a policy that alone does not fit is skipped
// with a reason.
func TestPassConfigMapSizeLimit(t *testing.T) {
	in := PassInput{Window: time.Hour, Now: time.Unix(0, 0)}
	in.Inventory, in.Edges = crowd(3000)
	res, err := Pass(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ConfigMaps) != 1 {
		t.Fatalf("%d ConfigMaps (skipped %+v), want the hub's", len(res.ConfigMaps), res.Skipped)
	}
	cm := res.ConfigMaps[0]
	size := len(cm.Data[KeyPolicy]) + len(cm.Data[KeyReport])
	var rep Report
	if err := json.Unmarshal([]byte(cm.Data[KeyReport]), &rep); err != nil {
		t.Fatal(err)
	}
	if size > maxConfigMapData || !rep.Truncated || rep.TrafficTotal != 3000 || len(rep.Traffic) != 0 || !strings.Contains(cm.Data[KeyPolicy], "peer-02999") {
		t.Errorf("3,000 peers: %d bytes, report truncated=%v with %d of %d rows; want the whole policy and a truncated report under %d bytes",
			size, rep.Truncated, len(rep.Traffic), rep.TrafficTotal, maxConfigMapData)
	}

	in.Inventory, in.Edges = crowd(6000)
	if res, err = Pass(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(res.ConfigMaps) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "more than a ConfigMap holds") {
		t.Errorf("6,000 peers: %d ConfigMaps, skipped %+v; want the hub skipped for size", len(res.ConfigMaps), res.Skipped)
	}
}

// One address recorded under several classes reads as one connection per
// verdict pair: red connections are counted once each, whatever order the
// sort leaves equal-looking ones in.
func TestPassRedDeduplicated(t *testing.T) {
	inv := &inventory.Inventory{
		Namespaces: []netpol.Namespace{{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}}},
		Workloads:  []*netpol.Workload{{Namespace: "shop", Kind: "Deployment", Name: "hub", Labels: map[string]string{"app": "hub"}}},
	}
	hub := flow.WorkloadEndpoint("shop", "Deployment", "hub")
	addr := func(class flow.AddrClass, alias string) flow.Endpoint {
		return flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.9"), Class: class, Alias: alias}
	}
	edges := edgeList{
		edge(hub, addr(flow.ClassExternal, ""), 443, 1),
		edge(hub, addr(flow.ClassAliased, "proxies"), 443, 0),
		edge(hub, addr(flow.ClassUnknown, ""), 443, 2),
	}
	// Deny-all egress: all three are denied; two were also dropped.
	inv.Policies = []*networkingv1.NetworkPolicy{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deny"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
	}}
	for range 20 { // the sort is not stable: give every order a chance
		res, err := Pass(context.Background(), PassInput{Inventory: inv, Edges: edges, Window: time.Hour, Now: time.Unix(3600, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Red) != 2 || res.WorkloadRed[0].Red != 2 || res.Summaries[0].RedConnections != 2 {
			t.Fatalf("red %+v, hub %d, namespace %d: want 2 (dropped and not)", res.Red, res.WorkloadRed[0].Red, res.Summaries[0].RedConnections)
		}
	}
}

// An address seen with two classes reads the same in red connections: its
// connections sort by port across both, and repeat only once.
func TestPassRedAddressTwoClasses(t *testing.T) {
	inv := inventorytest.LoadShop(t)
	src := flow.WorkloadEndpoint(inv.Workloads[0].Namespace, inv.Workloads[0].Kind, inv.Workloads[0].Name)
	addr := netip.MustParseAddr("203.0.113.9")
	ext := flow.Endpoint{Kind: flow.EndpointAddress, Addr: addr, Class: flow.ClassExternal}
	aliased := flow.Endpoint{Kind: flow.EndpointAddress, Addr: addr, Class: flow.ClassAliased, Alias: "proxies"}
	other := flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.10"), Class: flow.ClassExternal}
	edges := edgeList{edge(src, ext, 443, 1), edge(src, aliased, 80, 1), edge(src, aliased, 443, 1), edge(src, other, 22, 1)}
	res, err := Pass(context.Background(), PassInput{Inventory: inv, Edges: edges, Window: time.Hour, Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, r := range res.Red {
		ports = append(ports, r.Port)
	}
	if !slices.Equal(ports, []uint16{22, 80, 443}) {
		t.Errorf("red connections %v, want 203.0.113.10, then 203.0.113.9 on 80 and 443 (once)", res.Red)
	}
}

// A workload without traffic keeps the report it always had ("traffic":
// null): a different spelling would rewrite every idle workload's
// ConfigMap on upgrade.
func TestPassReportWithoutTraffic(t *testing.T) {
	res, err := Pass(context.Background(), PassInput{Inventory: inventorytest.LoadShop(t), Edges: edgeList{}, Window: time.Hour, Now: time.Unix(0, 0)})
	if err != nil || len(res.ConfigMaps) == 0 {
		t.Fatalf("%d ConfigMaps, %v", len(res.ConfigMaps), err)
	}
	for _, cm := range res.ConfigMaps {
		if !strings.Contains(cm.Data[KeyReport], `"traffic": null,`) {
			t.Fatalf("%s: %s", cm.Name, cm.Data[KeyReport])
		}
	}
}

// redCmp is the order of red connections, spelled out on their strings:
// source, destination, protocol, port, then the two verdicts.
func redCmp(a, b RedConnection) int {
	if c := strings.Compare(a.Src, b.Src); c != 0 {
		return c
	}
	if c := strings.Compare(a.Dst, b.Dst); c != 0 {
		return c
	}
	if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if a.DeniedByPolicies != b.DeniedByPolicies {
		return boolCmp(a.DeniedByPolicies)
	}
	if a.Dropped != b.Dropped {
		return boolCmp(a.Dropped)
	}
	return 0
}
