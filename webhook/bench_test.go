package webhook

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
	"github.com/redline-dev/redline/rego"
)

// The benchmark cluster matches internal/impact's: 10,000 workloads in 50
// namespaces under 300 policies, 20,000 edges observed in one namespace
// without a default deny (to its own workloads, other namespaces', its
// Services and external addresses). The generator of the edges is a copy
// of impact's (test code of another package); STYLE.md rule 8 wants it in
// a shared helper package, which is outside this change.
const (
	benchNamespaces = 50
	benchWorkloads  = 10_000
	benchPolicies   = 300
	benchEdges      = 20_000
)

type staticEdges []flow.Edge

func (s staticEdges) NamespaceEdges(context.Context, string, time.Time, time.Time) ([]flow.Edge, error) {
	return s, nil
}

func benchWorld(b *testing.B) (inv *inventory.Inventory, ns string, edges []flow.Edge) {
	nss, wls, pols := netpoltest.GenerateCluster(1, benchNamespaces, benchWorkloads, benchPolicies)
	inv = &inventory.Inventory{Namespaces: nss, Workloads: wls, Policies: pols}
	denied := map[string]bool{}
	for _, p := range pols {
		if p.Name == "default-deny" {
			denied[p.Namespace] = true
		}
	}
	for _, n := range nss[1:] {
		if !denied[n.Name] {
			ns = n.Name
			break
		}
	}
	if ns == "" {
		b.Fatal("no namespace without a default deny")
	}
	var in []*netpol.Workload
	for _, w := range wls {
		if w.Namespace == ns {
			in = append(in, w)
		}
	}
	for _, app := range []string{"api", "web", "postgres"} {
		inv.Services = append(inv.Services, inventory.Service{Namespace: ns, Name: app, Selector: map[string]string{"app": app}})
	}
	r := rand.New(rand.NewPCG(5, 6))
	ep := func(w *netpol.Workload) flow.Endpoint { return flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name) }
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8050, 9090, 9187, 50051}
	now := time.Now()
	keys := map[flow.EdgeKey]bool{}
	for len(edges) < benchEdges {
		local := ep(in[r.IntN(len(in))])
		var peer flow.Endpoint
		switch n := r.IntN(100); {
		case n < 40:
			peer = ep(in[r.IntN(len(in))])
		case n < 80:
			peer = ep(wls[r.IntN(len(wls))])
		case n < 95:
			peer = flow.Endpoint{Kind: flow.EndpointAddress, Class: flow.ClassExternal,
				Addr: netip.AddrFrom4([4]byte{byte(11 + r.IntN(100)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})}
		default:
			svc := inv.Services[r.IntN(len(inv.Services))]
			peer = flow.WorkloadEndpoint(svc.Namespace, impact.ServiceKind, svc.Name)
		}
		src, dst := local, peer
		if r.IntN(2) == 0 {
			src, dst = peer, local
		}
		e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: ports[r.IntN(len(ports))]}}
		if r.IntN(10) == 0 {
			e.Protocol = flow.ProtocolUDP
		}
		if keys[e.EdgeKey] {
			continue
		}
		keys[e.EdgeKey] = true
		e.Count = 1 + uint64(r.IntN(10_000))
		e.LastSeen = now.Add(-time.Duration(r.IntN(7*24*3600)) * time.Second)
		edges = append(edges, e)
	}
	return inv, ns, edges
}

// BenchmarkNetworkPolicyDecision measures one admission decision in
// process, through the whole handler chain: decoding the policy, the
// impact over 20,000 edges (analyzer cached, as between cluster changes)
// and the Rego decision with the default policies.
func BenchmarkNetworkPolicyDecision(b *testing.B) {
	inv, ns, edges := benchWorld(b)
	cluster := newTestCluster()
	cluster.snap.Store(inv)
	engine, err := rego.NewEngine(rego.Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(Deps{Cluster: cluster, Edges: staticEdges(edges), Decider: engine}, Options{
		Budget: time.Minute, Logger: testLogger(b), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	var existing *networkingv1.NetworkPolicy
	for _, p := range inv.Policies {
		if p.Namespace == ns {
			existing = p
			break
		}
	}
	h := v.NetworkPolicyHandler()
	for _, bc := range []struct {
		name string
		req  func() admissionv1.AdmissionRequest
	}{
		{"deny-all", func() admissionv1.AdmissionRequest {
			deny := denyAllIngress(ns, "bench-deny-all")
			deny.Spec.PolicyTypes = append(deny.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			return policyRequest(b, admissionv1.Create, nil, deny).AdmissionRequest
		}},
		{"delete", func() admissionv1.AdmissionRequest {
			return policyRequest(b, admissionv1.Delete, existing, nil).AdmissionRequest
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := admissionRequest(bc.req())
			resp := h.Handle(context.Background(), req) // builds the analyzer
			if !resp.Allowed {
				b.Fatalf("warn mode denied: %+v", resp.Result)
			}
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				h.Handle(context.Background(), req)
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(durations)
			at := func(q float64) float64 {
				return float64(durations[min(len(durations)-1, int(q*float64(len(durations))))].Nanoseconds())
			}
			b.ReportMetric(at(0.50), "p50-ns")
			b.ReportMetric(at(0.99), "p99-ns")
			b.ReportMetric(float64(len(resp.Warnings)), "warnings")
		})
	}
}
