// Package storetest generates realistic traffic for the store's tests and
// benchmarks: a cluster of workloads spread over namespaces, a set of
// external addresses, and flows whose sources and destinations follow
// Zipf distributions (a few chatty clients, a few popular services, many
// repeats), so that every figure in an issue note can be reproduced.
package storetest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/redline-dev/redline/internal/flow"
)

// Cluster is a generated cluster.
type Cluster struct {
	Namespaces []string
	// Workloads are Deployments named "<ns>/app-<i>".
	Workloads []flow.Endpoint
	// Ports[i] is the port Workloads[i] serves on.
	Ports []uint16
	// Services[i] is the Service in front of Workloads[i].
	Services []flow.ServiceRef
	// Externals are unresolved addresses (external, some aliased).
	Externals []flow.Endpoint
	// ExternalNames[i] is the FQDN of Externals[i].
	ExternalNames []string
	// DNS is the cluster DNS workload (kube-system/coredns).
	DNS flow.Endpoint
}

// ClusterSpec sizes a Cluster.
type ClusterSpec struct {
	Namespaces int // default 100
	Workloads  int // default 10,000
	Externals  int // default 2,000
}

// NewCluster builds a cluster deterministically from seed.
func NewCluster(seed uint64, spec ClusterSpec) *Cluster {
	if spec.Namespaces <= 0 {
		spec.Namespaces = 100
	}
	if spec.Workloads <= 0 {
		spec.Workloads = 10_000
	}
	if spec.Externals <= 0 {
		spec.Externals = 2_000
	}
	r := rand.New(rand.NewPCG(seed, 1))
	c := &Cluster{DNS: flow.WorkloadEndpoint("kube-system", "Deployment", "coredns")}
	for i := range spec.Namespaces {
		c.Namespaces = append(c.Namespaces, fmt.Sprintf("team-%03d", i))
	}
	servicePorts := []uint16{80, 443, 8080, 8443, 9090, 5432, 6379, 3306, 9200, 50051}
	for i := range spec.Workloads {
		ns := c.Namespaces[i%spec.Namespaces]
		name := fmt.Sprintf("app-%05d", i)
		c.Workloads = append(c.Workloads, flow.WorkloadEndpoint(ns, "Deployment", name))
		c.Ports = append(c.Ports, servicePorts[r.IntN(len(servicePorts))])
		c.Services = append(c.Services, flow.ServiceRef{Namespace: ns, Name: name})
	}
	for i := range spec.Externals {
		a := netip.AddrFrom4([4]byte{byte(11 + i>>16), byte(i >> 8), byte(i), byte(1 + r.IntN(250))})
		ep := flow.Endpoint{Kind: flow.EndpointAddress, Addr: a, Class: flow.ClassExternal}
		if i%10 == 0 {
			ep.Class, ep.Alias = flow.ClassAliased, fmt.Sprintf("partner-%d", i/10)
		}
		c.Externals = append(c.Externals, ep)
		c.ExternalNames = append(c.ExternalNames, fmt.Sprintf("api%d.example-%d.com", i%7, i))
	}
	return c
}

// Flow is a generated flow: what the store's Record takes.
type Flow struct {
	Key     flow.EdgeKey
	Verdict flow.Verdict
	Service *flow.ServiceRef
	Names   []string
}

// Flows generates n flows the way services talk: every workload has a
// fixed set of dependencies (coredns, 2–20 services drawn Zipf-distributed
// by popularity, sometimes an external API); sources are Zipf-distributed
// by chattiness, and each flow goes to one of its source's dependencies
// (the first ones more often). So edges repeat many times within an hour,
// as they do in a cluster. 1% of flows are dropped.
func (c *Cluster) Flows(seed uint64, n int) []Flow {
	next := c.FlowSource(seed)
	out := make([]Flow, n)
	for i := range out {
		out[i] = next()
	}
	return out
}

// FlowSource returns a generator of the flows Flows returns, for long runs
// that should not hold them all in memory.
func (c *Cluster) FlowSource(seed uint64) func() Flow {
	r := rand.New(rand.NewPCG(seed, 2))
	dstZ := rand.NewZipf(r, 1.2, 4, uint64(len(c.Workloads)-1))
	extZ := rand.NewZipf(r, 1.1, 2, uint64(len(c.Externals)-1))
	dstPerm := r.Perm(len(c.Workloads))
	deps := make([][]Flow, len(c.Workloads))
	for i := range deps {
		src := c.Workloads[i]
		d := []Flow{{Key: flow.EdgeKey{Src: src, Dst: c.DNS, Protocol: flow.ProtocolUDP, Port: 53}}}
		for range 2 + r.IntN(19) {
			w := dstPerm[dstZ.Uint64()]
			d = append(d, Flow{Key: flow.EdgeKey{Src: src, Dst: c.Workloads[w], Protocol: flow.ProtocolTCP, Port: c.Ports[w]},
				Service: &c.Services[w]})
		}
		if r.IntN(3) == 0 {
			e := extZ.Uint64()
			d = append(d, Flow{Key: flow.EdgeKey{Src: src, Dst: c.Externals[e], Protocol: flow.ProtocolTCP, Port: 443},
				Names: c.ExternalNames[e : e+1]})
		}
		deps[i] = d
	}
	srcZ := rand.NewZipf(r, 1.05, 8, uint64(len(c.Workloads)-1))
	srcPerm := r.Perm(len(c.Workloads))
	return func() Flow {
		d := deps[srcPerm[srcZ.Uint64()]]
		f := d[min(len(d)-1, int(r.ExpFloat64()*float64(len(d))/3))]
		f.Verdict = flow.VerdictForwarded
		if r.IntN(100) == 0 {
			f.Verdict = flow.VerdictDropped
		}
		return f
	}
}

// DistinctEdges generates n distinct edges: each workload in turn gets
// peers drawn Zipf-distributed (workloads, external addresses) plus
// coredns, the same peer never twice for one source, so that popular
// services collect many sources. Used to preload a store with a known
// number of distinct edges.
func (c *Cluster) DistinctEdges(seed uint64, n int) []flow.EdgeKey {
	r := rand.New(rand.NewPCG(seed, 3))
	dstZ := rand.NewZipf(r, 1.2, 4, uint64(len(c.Workloads)-1))
	extZ := rand.NewZipf(r, 1.1, 2, uint64(len(c.Externals)-1))
	dstPerm := r.Perm(len(c.Workloads))
	out := make([]flow.EdgeKey, 0, n)
	per := (n + len(c.Workloads) - 1) / len(c.Workloads)
	seen := make(map[int]struct{}, per)
	for round := 0; len(out) < n; round++ {
		// Later rounds (when a source ran out of peers) use other ports.
		shift := uint16(round * 1000)
		for s := 0; s < len(c.Workloads) && len(out) < n; s++ {
			clear(seen)
			src := c.Workloads[s]
			out = append(out, flow.EdgeKey{Src: src, Dst: c.DNS, Protocol: flow.ProtocolUDP, Port: 53 + shift})
			for tries := 0; len(seen) < per-1 && len(out) < n && tries < 100*per; tries++ {
				var k flow.EdgeKey
				var id int
				if r.IntN(5) == 0 {
					e := int(extZ.Uint64())
					id = -1 - e
					k = flow.EdgeKey{Src: src, Dst: c.Externals[e], Protocol: flow.ProtocolTCP, Port: 443 + shift}
				} else {
					d := dstPerm[dstZ.Uint64()]
					id = d
					k = flow.EdgeKey{Src: src, Dst: c.Workloads[d], Protocol: flow.ProtocolTCP, Port: c.Ports[d] + shift}
				}
				if _, dup := seen[id]; dup {
					continue
				}
				seen[id] = struct{}{}
				out = append(out, k)
			}
		}
	}
	return out
}
