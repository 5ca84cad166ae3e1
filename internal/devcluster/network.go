package devcluster

import "net/netip"

// The dev cluster's address plan. It imitates a kind cluster: nodes on a
// private bridge network, a /24 of pods per node out of PodCIDR, Services
// out of ServiceCIDR with the cluster DNS at DNSServiceIP.
const (
	// PodCIDR holds every node's pod CIDR.
	PodCIDR = "10.244.0.0/16"
	// ServiceCIDR is the API server's --service-cluster-ip-range.
	ServiceCIDR = "10.96.0.0/16"
	// DNSServiceIP is the ClusterIP conventionally given to kube-system/kube-dns.
	DNSServiceIP = "10.96.0.10"
)

// Node is a node of the dev cluster. No kubelet runs it: a Kubelet plays
// the kubelet's and the scheduler's part for it.
type Node struct {
	Name string
	// IP is the node's InternalIP, also the address of its host-network
	// pods.
	IP netip.Addr
	// PodCIDR is where its pods' addresses come from.
	PodCIDR netip.Prefix
}

// DefaultNodes are the two nodes of the dev cluster.
func DefaultNodes() []Node {
	return []Node{
		{Name: "dev-node-1", IP: netip.MustParseAddr("172.18.0.2"), PodCIDR: netip.MustParsePrefix("10.244.1.0/24")},
		{Name: "dev-node-2", IP: netip.MustParseAddr("172.18.0.3"), PodCIDR: netip.MustParsePrefix("10.244.2.0/24")},
	}
}
