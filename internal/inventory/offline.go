package inventory

import (
	"math"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// FromInventory returns a Cluster over an inventory read from manifests
// (LoadFiles), for offline use. It knows what the files hold:
//
//   - pods by name, folded into their workloads as Inventory.Workloads;
//     host-network pods resolve to their node (spec.nodeName);
//   - pod addresses (status.podIPs) valid at every time: manifests have no
//     history; workload addresses not held by a pod of the files too;
//   - node addresses: those of host-network pods on a known node;
//   - Services' clusterIPs, resolving to the one workload whose pod
//     template labels the selector picks, else to the Service (see
//     services.go; there are no EndpointSlices in files).
//
// The Cluster is synced from the start and never changes; its Snapshot is
// inv itself. A nil inv is an empty cluster.
func FromInventory(inv *Inventory, opts Options) *Cluster {
	if inv == nil {
		inv = &Inventory{}
	}
	c := newCluster(opts)
	c.offline = inv
	s := &c.st

	byKey := make(map[workloadKey]*netpol.Workload, len(inv.Workloads))
	for _, w := range inv.Workloads {
		k := workloadKey{w.Namespace, w.Kind, w.Name}
		byKey[k] = w
		s.templates[k] = &podTemplateRecord{labels: w.Labels, ports: w.Ports}
	}

	for _, p := range inv.Pods {
		r := &podRecord{key: nsName{p.Namespace, p.Name}, exact: true, hostNetwork: p.HostNetwork, node: p.Node, running: true}
		if w := byKey[workloadKey{p.Namespace, p.WorkloadKind, p.WorkloadName}]; w != nil {
			r.labels, r.ports = w.Labels, w.Ports
		}
		switch {
		case p.HostNetwork && p.Node != "":
			r.endpoint = nodeEndpoint(p.Node)
			for _, a := range p.IPs {
				if _, ok := s.nodeIPs[a]; !ok {
					s.nodeIPs[a] = p.Node
				}
			}
		case !p.HostNetwork:
			r.endpoint = flow.WorkloadEndpoint(p.Namespace, p.WorkloadKind, p.WorkloadName)
			for _, a := range p.IPs {
				s.openIP(a, r, math.MinInt64)
			}
		}
		s.pods[r.key] = r
	}
	for _, w := range inv.Workloads {
		if w.HostNetwork {
			continue
		}
		var r *podRecord
		for _, a := range w.IPs {
			if _, held := s.ips[a]; held {
				continue
			}
			if r == nil {
				r = &podRecord{key: nsName{w.Namespace, ""}, exact: true, running: true,
					endpoint: flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name), labels: w.Labels, ports: w.Ports}
			}
			s.openIP(a, r, math.MinInt64)
		}
	}

	for _, svc := range inv.Services {
		r := &serviceRecord{
			key:        nsName{svc.Namespace, svc.Name},
			ref:        &flow.ServiceRef{Namespace: svc.Namespace, Name: svc.Name},
			selector:   svc.Selector,
			clusterIPs: svc.ClusterIPs,
			ports:      svc.Ports,
		}
		r.endpoint = offlineBacking(r, inv.Workloads)
		s.services[r.key] = r
		for _, a := range r.clusterIPs {
			if _, taken := s.clusterIPs[a]; !taken {
				s.clusterIPs[a] = r
			}
		}
	}
	clear(s.dirty)
	c.synced.Store(true)
	close(c.syncedCh)
	return c
}

// offlineBacking is what a Service resolves to offline: the one workload
// its selector picks, else the Service.
func offlineBacking(r *serviceRecord, workloads []*netpol.Workload) flow.Endpoint {
	var b backers
	if r.selector != nil {
		for _, w := range workloads {
			if w.Namespace != r.key.namespace || !selects(r.selector, w.Labels) {
				continue
			}
			switch {
			case !w.HostNetwork:
				b.add(flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
			case w.Node != "":
				b.add(nodeEndpoint(w.Node))
			default: // host-network pods on several nodes
				b.add(flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
				b.n = 2
			}
		}
	}
	if ep, ok := b.one(); ok {
		return ep
	}
	return ServiceEndpoint(r.key.namespace, r.key.name)
}
