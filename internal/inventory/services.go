package inventory

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
)

// Services.
//
// A connection to a Service's ClusterIP resolves to what backs the
// Service:
//
//   - exactly one workload (or one node, for host-network pods): that
//     workload, so that the edge is the one the NetworkPolicies at the
//     destination judge; Resolve also returns the Service;
//   - none, or several: the Service itself, as the endpoint
//     {Kind: EndpointWorkload, WorkloadKind: "Service", Namespace, Name}
//     (ServiceEndpoint). Picking one backend would invent an edge, and the
//     ClusterIP address would make an unreadable row that changes when the
//     Service is recreated; the Service row is what a person recognises,
//     and the policy engine expands it to the backing workloads.
//
// What backs a Service: the pods its EndpointSlices list (by targetRef,
// else by address through the pod IP history), when it has any; else the
// running pods its selector picks. Offline (FromInventory) there are no
// EndpointSlices: the workloads whose pod template labels the selector
// picks.

// ServiceEndpointKind is the WorkloadKind of a Service endpoint: what a
// ClusterIP resolves to when no single workload backs the Service.
const ServiceEndpointKind = "Service"

// ServiceEndpoint builds the endpoint of a Service.
func ServiceEndpoint(namespace, name string) flow.Endpoint {
	return flow.WorkloadEndpoint(namespace, ServiceEndpointKind, name)
}

// serviceNameLabel is the label an EndpointSlice names its Service by.
const serviceNameLabel = discoveryv1.LabelServiceName

// serviceRecord is what the inventory keeps of a Service.
type serviceRecord struct {
	key nsName
	// ref is handed out by Resolve: shared, never modified.
	ref        *flow.ServiceRef
	selector   map[string]string
	clusterIPs []netip.Addr
	ports      []ServicePort
	// endpoint is what the ClusterIPs resolve to.
	endpoint flow.Endpoint
}

// sliceRecord is what the inventory keeps of an EndpointSlice.
type sliceRecord struct {
	key     nsName
	service string
	// endpoints are the slice's endpoints: a pod (targetRef) or addresses.
	endpoints []sliceEndpoint
}

type sliceEndpoint struct {
	pod   nsName // zero when the endpoint is not a pod
	addrs []netip.Addr
}

func (s *state) upsertService(svc *corev1.Service) {
	key := nsName{svc.Namespace, svc.Name}
	norm, _ := normaliseService(svc)
	r := s.services[key]
	if r == nil {
		r = &serviceRecord{key: key, ref: &flow.ServiceRef{Namespace: key.namespace, Name: key.name}}
		r.endpoint = ServiceEndpoint(key.namespace, key.name)
		s.services[key] = r
		byNS := s.servicesByNS[key.namespace]
		if byNS == nil {
			byNS = make(map[*serviceRecord]struct{})
			s.servicesByNS[key.namespace] = byNS
		}
		byNS[r] = struct{}{}
	}
	s.unmapClusterIPs(r)
	r.selector, r.clusterIPs, r.ports = norm.Selector, norm.ClusterIPs, norm.Ports
	for _, a := range r.clusterIPs {
		s.clusterIPs[a] = r
	}
	s.dirty[key.namespace] = struct{}{}
}

func (s *state) deleteService(svc *corev1.Service) {
	key := nsName{svc.Namespace, svc.Name}
	r := s.services[key]
	if r == nil {
		return
	}
	s.unmapClusterIPs(r)
	delete(s.services, key)
	if byNS := s.servicesByNS[key.namespace]; byNS != nil {
		delete(byNS, r)
		if len(byNS) == 0 {
			delete(s.servicesByNS, key.namespace)
		}
	}
	s.dirty[key.namespace] = struct{}{}
}

func (s *state) unmapClusterIPs(r *serviceRecord) {
	for _, a := range r.clusterIPs {
		if s.clusterIPs[a] == r {
			delete(s.clusterIPs, a)
		}
	}
}

func (s *state) upsertSlice(es *discoveryv1.EndpointSlice) {
	key := nsName{es.Namespace, es.Name}
	s.deleteSliceKey(key)
	svc := es.Labels[serviceNameLabel]
	if svc == "" {
		return
	}
	r := &sliceRecord{key: key, service: svc}
	for _, e := range es.Endpoints {
		se := sliceEndpoint{}
		if ref := e.TargetRef; ref != nil && ref.Kind == kindPod && ref.Name != "" {
			ns := ref.Namespace
			if ns == "" {
				ns = es.Namespace
			}
			se.pod = nsName{ns, ref.Name}
		}
		for _, raw := range e.Addresses {
			if a, err := netip.ParseAddr(raw); err == nil && a.Zone() == "" {
				se.addrs = append(se.addrs, a.Unmap())
			}
		}
		r.endpoints = append(r.endpoints, se)
	}
	s.slices[key] = r
	sk := nsName{es.Namespace, svc}
	m := s.slicesBySvc[sk]
	if m == nil {
		m = make(map[nsName]*sliceRecord)
		s.slicesBySvc[sk] = m
	}
	m[key] = r
	s.dirty[es.Namespace] = struct{}{}
}

func (s *state) deleteSlice(es *discoveryv1.EndpointSlice) {
	s.deleteSliceKey(nsName{es.Namespace, es.Name})
}

func (s *state) deleteSliceKey(key nsName) {
	r := s.slices[key]
	if r == nil {
		return
	}
	delete(s.slices, key)
	sk := nsName{key.namespace, r.service}
	if m := s.slicesBySvc[sk]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(s.slicesBySvc, sk)
		}
	}
	s.dirty[key.namespace] = struct{}{}
}

// refreshServices recomputes what backs the Services of the namespaces
// changed since the last refresh, at time now.
func (s *state) refreshServices(now int64) {
	for ns := range s.dirty {
		for r := range s.servicesByNS[ns] {
			r.endpoint = s.backing(r, now)
		}
		if ns == metaNamespaceDefault {
			s.refreshAPIServers()
		}
	}
	clear(s.dirty)
}

// metaNamespaceDefault is where Service kubernetes lives.
const metaNamespaceDefault = "default"

// refreshAPIServers learns the API server's addresses from the
// EndpointSlices of Service default/kubernetes.
func (s *state) refreshAPIServers() {
	clear(s.apiServers)
	for _, sl := range s.slicesBySvc[nsName{metaNamespaceDefault, "kubernetes"}] {
		for _, e := range sl.endpoints {
			for _, a := range e.addrs {
				s.apiServers[a] = struct{}{}
			}
		}
	}
}

// backing returns what a Service's ClusterIPs resolve to: its one backing
// workload, else the Service itself.
func (s *state) backing(r *serviceRecord, now int64) flow.Endpoint {
	var b backers
	if sls := s.slicesBySvc[r.key]; len(sls) > 0 {
		for _, sl := range sls {
			for _, e := range sl.endpoints {
				if p := s.pods[e.pod]; p != nil {
					b.add(p.endpoint)
					continue
				}
				for _, a := range e.addrs {
					if p := s.podAt(a, now); p != nil {
						b.add(p.endpoint)
					} else if n, ok := s.nodeIPs[a]; ok {
						b.add(nodeEndpoint(n))
					}
				}
			}
		}
	} else if r.selector != nil {
		for p := range s.podsByNS[r.key.namespace] {
			if p.running && selects(r.selector, p.labels) {
				b.add(p.endpoint)
			}
		}
	}
	if ep, ok := b.one(); ok {
		return ep
	}
	return ServiceEndpoint(r.key.namespace, r.key.name)
}

// backers counts the distinct endpoints behind a Service, up to two.
type backers struct {
	first flow.Endpoint
	n     int
}

func (b *backers) add(ep flow.Endpoint) {
	switch {
	case ep.Kind == 0:
	case b.n == 0:
		b.first, b.n = ep, 1
	case ep != b.first:
		b.n = 2
	}
}

func (b *backers) one() (flow.Endpoint, bool) { return b.first, b.n == 1 }

// Selects reports whether the Service picks pods with these labels; a
// Service without a selector picks none (its endpoints are managed by hand).
func (s *Service) Selects(podLabels map[string]string) bool {
	return len(s.Selector) > 0 && selects(s.Selector, podLabels)
}

// selects reports whether a Service selector picks labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// targetPort maps a Service port to the port of its backend.
func (s *state) targetPort(svc *flow.ServiceRef, proto flow.Protocol, port uint16, backend flow.Endpoint) (uint16, bool) {
	r := s.services[nsName{svc.Namespace, svc.Name}]
	if r == nil {
		return port, false
	}
	for _, p := range r.ports {
		if p.Port != int32(port) || flow.ParseProtocol(string(p.Protocol)) != proto {
			continue
		}
		if p.TargetPort.Type == intstr.Int {
			if t := p.TargetPort.IntVal; t > 0 && t <= 65535 {
				return uint16(t), true
			}
			return port, false
		}
		for _, cp := range s.workloadPorts(backend) {
			if cp.Name == p.TargetPort.StrVal && (cp.Protocol == p.Protocol || cp.Protocol == "" && p.Protocol == corev1.ProtocolTCP) {
				return uint16(cp.Port), cp.Port > 0 && cp.Port <= 65535
			}
		}
		return port, false
	}
	return port, false
}
