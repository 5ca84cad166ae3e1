package inventory

import (
	"net/netip"
	"slices"

	"github.com/redline-dev/redline/internal/flow"
)

// Hubble reserved identities Resolve and Classify act on (flow.Peer.Reserved).
const (
	ReservedWorld         = "world"
	ReservedHost          = "host"
	ReservedRemoteNode    = "remote-node"
	ReservedKubeAPIServer = "kube-apiserver"
	ReservedHealth        = "health"
	ReservedIngress       = "ingress"
)

// AliasKubeAPIServer is the built-in alias of the API server's addresses:
// those Hubble marks reserved:kube-apiserver and the endpoints of the
// Service default/kubernetes. A user alias for the same address wins.
const AliasKubeAPIServer = "kube-apiserver"

// Classifier classifies addresses that resolve to no pod, Service or node.
// It is immutable and safe for concurrent use; the nil *Classifier is an
// empty configuration. Build one with ParseConfig or LoadConfigFile.
//
// The rule (docs/config.md), first match wins:
//
//  1. aliased, with the alias name: the longest alias prefix that contains
//     the address (a /32 alias beats a /16 named CIDR);
//  2. aliased "kube-apiserver": the address is the API server's (Hubble's
//     reserved:kube-apiserver, or an endpoint of Service default/kubernetes);
//  3. internal: the address is in a configured cluster CIDR, or is inside
//     the cluster by what the cluster itself says (a node address, a node's
//     spec.podCIDRs), or Hubble marks it host, remote-node, health or
//     ingress;
//  4. external: Hubble marks it world, or cluster CIDRs are known
//     (configured, or learnt from nodes' spec.podCIDRs) and the address is
//     public (see IsPublic);
//  5. unknown.
type Classifier struct {
	clusterCIDRs []netip.Prefix
	aliases      prefixTable
	// allowed are the allowed entries, alias names expanded.
	allowed []netip.Prefix
	// aliasNames are the names of the aliases that have addresses, sorted.
	aliasNames []string
}

// AddrFacts is what the cluster and the traffic source know of an
// unresolved address, for Classify.
type AddrFacts struct {
	// Reserved is the Hubble reserved identity of the peer, if any.
	Reserved string
	// InCluster says the cluster itself places the address inside: a node
	// address, or in a node's pod CIDR.
	InCluster bool
	// ClusterCIDRsKnown says cluster CIDRs were learnt from the cluster
	// (nodes' pod CIDRs), in addition to the configured ones.
	ClusterCIDRsKnown bool
	// APIServer says the address is an endpoint of Service default/kubernetes.
	APIServer bool
}

// Classify returns the class of an address that resolved to nothing in the
// cluster, and its alias name for ClassAliased.
func (c *Classifier) Classify(a netip.Addr, in AddrFacts) (flow.AddrClass, string) {
	if !a.IsValid() {
		return flow.ClassUnknown, ""
	}
	a = a.Unmap()
	if name, ok := c.Alias(a); ok {
		return flow.ClassAliased, name
	}
	if in.APIServer || in.Reserved == ReservedKubeAPIServer {
		return flow.ClassAliased, AliasKubeAPIServer
	}
	switch in.Reserved {
	case ReservedHost, ReservedRemoteNode, ReservedHealth, ReservedIngress:
		return flow.ClassInternal, ""
	}
	if in.InCluster || c.InClusterCIDRs(a) {
		return flow.ClassInternal, ""
	}
	if in.Reserved == ReservedWorld {
		return flow.ClassExternal, ""
	}
	if (in.ClusterCIDRsKnown || (c != nil && len(c.clusterCIDRs) > 0)) && IsPublic(a) {
		return flow.ClassExternal, ""
	}
	return flow.ClassUnknown, ""
}

// Alias returns the name of the longest alias prefix containing a.
func (c *Classifier) Alias(a netip.Addr) (string, bool) {
	if c == nil {
		return "", false
	}
	return c.aliases.lookup(a.Unmap())
}

// InClusterCIDRs reports whether a is in a configured cluster CIDR.
func (c *Classifier) InClusterCIDRs(a netip.Addr) bool {
	if c == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.clusterCIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Allowed reports whether a is in an entry of the allowed key (an address,
// a CIDR or every prefix of a named alias).
func (c *Classifier) Allowed(a netip.Addr) bool {
	if c == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClusterCIDRs returns the configured cluster CIDRs.
func (c *Classifier) ClusterCIDRs() []netip.Prefix {
	if c == nil {
		return nil
	}
	return slices.Clone(c.clusterCIDRs)
}

// Aliases returns every alias with its prefixes, names sorted.
func (c *Classifier) Aliases() map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	if c == nil {
		return out
	}
	for p, name := range c.aliases.names {
		out[name] = append(out[name], p)
	}
	for _, ps := range out {
		slices.SortFunc(ps, comparePrefix)
	}
	return out
}

// IsPublic reports whether a is a public unicast address: not private
// (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7), not shared address
// space (100.64.0.0/10), not loopback, link-local, multicast, unspecified,
// "this network" (0.0.0.0/8) or reserved (240.0.0.0/4, broadcast included).
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsUnspecified() {
		return false
	}
	if a.Is4() {
		b := a.As4()
		switch {
		case b[0] == 100 && b[1]&0xc0 == 64, // 100.64.0.0/10
			b[0] == 0,   // 0.0.0.0/8
			b[0] >= 240: // 240.0.0.0/4
			return false
		}
	}
	return true
}

// prefixTable finds the longest prefix containing an address: one map
// probe per prefix length in use, longest first.
type prefixTable struct {
	names          map[netip.Prefix]string
	v4bits, v6bits []int // prefix lengths in use, longest first
}

func (t *prefixTable) add(p netip.Prefix, name string) {
	if t.names == nil {
		t.names = make(map[netip.Prefix]string)
	}
	t.names[p] = name
	bits := &t.v6bits
	if p.Addr().Is4() {
		bits = &t.v4bits
	}
	if !slices.Contains(*bits, p.Bits()) {
		*bits = append(*bits, p.Bits())
		slices.SortFunc(*bits, func(x, y int) int { return y - x })
	}
}

func (t *prefixTable) lookup(a netip.Addr) (string, bool) {
	if len(t.names) == 0 || !a.IsValid() {
		return "", false
	}
	bits := t.v6bits
	if a.Is4() {
		bits = t.v4bits
	}
	for _, b := range bits {
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if name, ok := t.names[p]; ok {
			return name, true
		}
	}
	return "", false
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
