package demo

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// peer is one end of a connection as Hubble describes it.
type peer struct {
	ip netip.Addr
	// node is the node the peer runs on (its observer); empty for an
	// address outside the cluster or a ClusterIP.
	node string
	// pod names a pod peer, for ordering.
	pod string
	// endpoint is Hubble's description; nil when it has none (a ClusterIP
	// before translation).
	endpoint *hubbleEndpoint
	// service is the Service the connection goes through.
	service *hubbleServiceName
	// names are DNS names of the address (destination_names).
	names []string
}

// Cilium's reserved identities.
const (
	identityHost       = 1
	identityWorld      = 2
	identityRemoteNode = 6
)

// labelsDropped are the pod labels Cilium leaves out of identities.
var labelsDropped = []string{"pod-template-hash", "controller-revision-hash", "pod-template-generation",
	"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "controller-uid",
	"batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "job-name"}

// podPeer describes a running pod of workload w.
func podPeer(p *corev1.Pod, ip netip.Addr, w Workload, cluster string) *peer {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return &peer{
		ip:   ip,
		node: p.Spec.NodeName,
		pod:  p.Name,
		endpoint: withIdentity(&hubbleEndpoint{
			ID:        endpointID(p.Namespace + "/" + p.Name),
			Namespace: p.Namespace,
			Labels:    podLabels(p.Namespace, p.Labels, sa, cluster),
			PodName:   p.Name,
			Workloads: []hubbleWorkload{{Name: w.Name, Kind: w.Kind}},
		}),
	}
}

// podLabels are a pod's labels as Cilium writes them, sorted.
func podLabels(ns string, labels map[string]string, serviceAccount, cluster string) []string {
	out := []string{
		"k8s:io.cilium.k8s.policy.cluster=" + cluster,
		"k8s:io.cilium.k8s.policy.serviceaccount=" + serviceAccount,
		"k8s:io.kubernetes.pod.namespace=" + ns,
	}
	for k, v := range labels {
		if !slices.Contains(labelsDropped, k) {
			out = append(out, "k8s:"+k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// withIdentity sets an endpoint's numeric identity from its labels, as
// Cilium allocates one per label set (cluster-local identities start at
// 256; these stay in 10000-59999).
func withIdentity(e *hubbleEndpoint) *hubbleEndpoint {
	h := fnv.New32a()
	h.Write([]byte(strings.Join(e.Labels, ",")))
	e.Identity = 10000 + h.Sum32()%50000
	return e
}

// endpointID is a Cilium endpoint id (per node, 1-4095).
func endpointID(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return 1 + h.Sum32()%4095
}

func reserved(identity uint32, label string) *hubbleEndpoint {
	return &hubbleEndpoint{Identity: identity, Labels: []string{"reserved:" + label}}
}

// nodeSource is a node sending to a pod on node dst: the node itself is
// Cilium's host, any other is a remote node.
func nodeSource(n *peer, dst string) *peer {
	e := reserved(identityRemoteNode, "remote-node")
	if n.node == dst {
		e = reserved(identityHost, "host")
	}
	return &peer{ip: n.ip, node: n.node, endpoint: e}
}

// external is an address outside the cluster.
func external(ip netip.Addr, names ...string) *peer {
	return &peer{ip: ip, endpoint: reserved(identityWorld, "world"), names: names}
}

// serviceIP is a Service's ClusterIP and port: a connection seen before
// translation.
func (g *generator) serviceIP(w Workload, portName string) (*peer, uint16, string, error) {
	svc := g.services[[2]string{w.Namespace, w.Service}]
	if svc == nil {
		return nil, 0, "", fmt.Errorf("demo traffic: Service %s/%s not found: apply the demo", w.Namespace, w.Service)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		return nil, 0, "", fmt.Errorf("demo traffic: Service %s/%s has no ClusterIP (%q)", w.Namespace, w.Service, svc.Spec.ClusterIP)
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == portName {
			proto := string(p.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			return &peer{ip: ip, service: &hubbleServiceName{Name: svc.Name, Namespace: svc.Namespace}}, uint16(p.Port), proto, nil
		}
	}
	return nil, 0, "", fmt.Errorf("demo traffic: Service %s/%s has no port named %s", w.Namespace, w.Service, portName)
}

// behindService is a pod reached through its workload's Service, seen
// after translation.
func behindService(p *peer, w Workload) *peer {
	if w.Service == "" {
		return p
	}
	q := *p
	q.service = &hubbleServiceName{Name: w.Service, Namespace: w.Namespace}
	return &q
}
