package webhook

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact/impacttest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/rego"
)

type staticEdges []flow.Edge

func (s staticEdges) NamespaceEdges(context.Context, string, time.Time, time.Time) ([]flow.Edge, error) {
	return s, nil
}

// benchWorld is impacttest's world, the one internal/impact's benchmarks
// measure, observed until now.
func benchWorld(b *testing.B) (inv *inventory.Inventory, ns string, edges []flow.Edge) {
	w := impacttest.Generate(time.Now())
	if w.Namespace == "" {
		b.Fatal("no namespace without a default deny")
	}
	inv = &inventory.Inventory{Namespaces: w.Namespaces, Workloads: w.Workloads, Policies: w.Policies}
	for _, s := range w.Services {
		inv.Services = append(inv.Services, inventory.Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Selector})
	}
	return inv, w.Namespace, w.Edges
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
