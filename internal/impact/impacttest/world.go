// Package impacttest generates the what-if benchmark world shared by
// internal/impact and webhook (STYLE.md rule 8: every figure reproducible
// from one generator).
package impacttest

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// The figures: 10,000 workloads in 50 namespaces (200 each) under
// 300 policies, and 20,000 edges observed in one namespace.
const (
	Namespaces = 50
	Workloads  = 10_000
	Policies   = 300
	Edges      = 20_000
)

// World is a generated cluster and the traffic observed in one of its
// namespaces.
type World struct {
	Namespaces []netpol.Namespace
	Workloads  []*netpol.Workload
	Policies   []*networkingv1.NetworkPolicy
	// Namespace has no default deny, so that a deny-all turns its traffic
	// red; Services are its api, web and postgres Services.
	Namespace string
	Services  []impact.Service
	// Edges are between Namespace's workloads and its own workloads,
	// other namespaces' workloads, its Services and external addresses,
	// last seen in the 7 days before the end time, sorted as the store
	// returns them (source, destination, protocol, port).
	Edges []flow.Edge
}

// Generate builds the world deterministically; end is the end of the
// observation window. Namespace is empty when every namespace has a
// default deny (not with the figures).
func Generate(end time.Time) World {
	nss, wls, pols := netpoltest.GenerateCluster(1, Namespaces, Workloads, Policies)
	w := World{Namespaces: nss, Workloads: wls, Policies: pols}
	denied := map[string]bool{}
	for _, p := range pols {
		if p.Name == "default-deny" {
			denied[p.Namespace] = true
		}
	}
	for _, ns := range nss[1:] {
		if !denied[ns.Name] {
			w.Namespace = ns.Name
			break
		}
	}
	if w.Namespace == "" {
		return w
	}
	var in []*netpol.Workload
	for _, wl := range wls {
		if wl.Namespace == w.Namespace {
			in = append(in, wl)
		}
	}
	for _, app := range []string{"api", "web", "postgres"} {
		w.Services = append(w.Services, impact.Service{Namespace: w.Namespace, Name: app, Selector: map[string]string{"app": app}})
	}
	r := rand.New(rand.NewPCG(5, 6))
	ep := func(wl *netpol.Workload) flow.Endpoint { return flow.WorkloadEndpoint(wl.Namespace, wl.Kind, wl.Name) }
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8050, 9090, 9187, 50051}
	keys := map[flow.EdgeKey]bool{}
	for len(w.Edges) < Edges {
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
			svc := w.Services[r.IntN(len(w.Services))]
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
		e.LastSeen = end.Add(-time.Duration(r.IntN(7*24*3600)) * time.Second)
		w.Edges = append(w.Edges, e)
	}
	slices.SortFunc(w.Edges, func(a, b flow.Edge) int {
		return cmp.Or(
			strings.Compare(a.Src.String(), b.Src.String()),
			strings.Compare(a.Dst.String(), b.Dst.String()),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port))
	})
	return w
}
