package netpol

import (
	corev1 "k8s.io/api/core/v1"
)

// Verdict reports whether src may open a connection to dst on protocol/port
// (the destination port). It is the fast path of Explain.
func (ix *Index) Verdict(src, dst Endpoint, protocol corev1.Protocol, port int32) bool {
	if isSelf(src, dst) {
		return true
	}
	return ix.sideAllows(Egress, src, dst, protocol, port) && ix.sideAllows(Ingress, src, dst, protocol, port)
}

// sideAllows evaluates one direction: egress at src or ingress at dst.
func (ix *Index) sideAllows(dir Direction, src, dst Endpoint, protocol corev1.Protocol, port int32) bool {
	subject, other := dst, src
	if dir == Egress {
		subject, other = src, dst
	}
	if !subject.isPod() {
		return true
	}
	pols := ix.identityOf(subject.Workload).policies(dir)
	if len(pols) == 0 {
		return true
	}
	for _, p := range pols {
		for _, r := range p.rules(dir) {
			if r.portAllows(dst, protocol, port) && ix.peerMatches(r, other) {
				return true
			}
		}
	}
	return false
}

// AllowedConns returns every (protocol, port) on which src may connect to
// dst.
func (ix *Index) AllowedConns(src, dst Endpoint) ConnSet {
	if isSelf(src, dst) {
		return AllConns()
	}
	egress := ix.sideConns(Egress, src, dst)
	if egress.IsEmpty() {
		return egress
	}
	return egress.Intersect(ix.sideConns(Ingress, src, dst))
}

func (ix *Index) sideConns(dir Direction, src, dst Endpoint) ConnSet {
	subject, other := dst, src
	if dir == Egress {
		subject, other = src, dst
	}
	if !subject.isPod() {
		return AllConns()
	}
	pols := ix.identityOf(subject.Workload).policies(dir)
	if len(pols) == 0 {
		return AllConns()
	}
	var out ConnSet
	for _, p := range pols {
		for _, r := range p.rules(dir) {
			if ix.peerMatches(r, other) {
				out = out.Union(r.conns(dst))
			}
		}
	}
	return out
}

func (id *identity) policies(dir Direction) []*compiledPolicy {
	if dir == Egress {
		return id.egress
	}
	return id.ingress
}

func (p *compiledPolicy) rules(dir Direction) []*compiledRule {
	if dir == Egress {
		return p.egressRules
	}
	return p.ingressRules
}

// isSelf: traffic from a pod to itself is always allowed.
func isSelf(src, dst Endpoint) bool {
	if src.Workload == nil || src.Workload != dst.Workload {
		return false
	}
	sa, sok := src.address()
	da, dok := dst.address()
	return sok == dok && sa == da
}

// peerMatches reports whether one of the rule's peers selects e.
func (ix *Index) peerMatches(r *compiledRule, e Endpoint) bool {
	if r.allPeers {
		return true
	}
	for _, p := range r.peers {
		if ix.peerSelects(p, e) {
			return true
		}
	}
	return false
}

func (ix *Index) peerSelects(p *compiledPeer, e Endpoint) bool {
	if p.block != nil {
		if e.isPod() && !ix.opts.IPBlockMatchesPods {
			return false
		}
		a, ok := e.address()
		return ok && p.block.contains(a)
	}
	if !e.isPod() {
		return false // selectors never select addresses or host-network pods
	}
	id := ix.identityOf(e.Workload)
	if id.id < 0 {
		return ix.peerSelectsIdentity(p, id)
	}
	p.once.Do(func() { p.members = ix.peerMembers(p) })
	return p.members.has(id.id)
}

// peerSelectsIdentity evaluates the selectors directly.
func (ix *Index) peerSelectsIdentity(p *compiledPeer, id *identity) bool {
	if p.ns == nil {
		if id.namespace.name != p.ownNS.name {
			return false
		}
	} else if !p.ns.selector.Matches(id.namespace.labels) {
		return false
	}
	return p.podSelector == nil || p.podSelector.Matches(id.labels)
}

// peerMembers computes, once, the identities a selector peer selects.
func (ix *Index) peerMembers(p *compiledPeer) bitset {
	members := newBitset(len(ix.identities))
	var nsMembers bitset
	if p.ns != nil {
		p.ns.once.Do(func() {
			p.ns.members = newBitset(len(ix.nsList))
			for _, ns := range ix.nsList {
				if p.ns.selector.Matches(ns.labels) {
					p.ns.members.set(ns.id)
				}
			}
		})
		nsMembers = p.ns.members
	}
	for _, id := range ix.identities {
		if p.ns == nil {
			if id.namespace != p.ownNS {
				continue
			}
		} else if !nsMembers.has(id.namespace.id) {
			continue
		}
		if p.podSelector == nil || p.podSelector.Matches(id.labels) {
			members.set(id.id)
		}
	}
	return members
}

// portAllows reports whether the rule's ports admit protocol/port to dst.
func (r *compiledRule) portAllows(dst Endpoint, protocol corev1.Protocol, port int32) bool {
	if r.allPorts {
		return true
	}
	for i := range r.ports {
		if r.ports[i].admits(dst, protocol, port) {
			return true
		}
	}
	return false
}

func (c *compiledPort) admits(dst Endpoint, protocol corev1.Protocol, port int32) bool {
	if normalProtocol(protocol) != c.protocol {
		return false
	}
	switch {
	case c.allPorts:
		return true
	case c.named != "":
		n, ok := resolveNamedPort(dst, c.named, c.protocol)
		return ok && n == port
	}
	return c.from <= port && port <= c.to
}

// conns is the set of connections the rule's ports admit to dst.
func (r *compiledRule) conns(dst Endpoint) ConnSet {
	if r.allPorts {
		return AllConns()
	}
	var out ConnSet
	for _, c := range r.ports {
		out = out.Union(c.conns(dst))
	}
	return out
}

func (c *compiledPort) conns(dst Endpoint) ConnSet {
	switch {
	case c.allPorts:
		return ProtocolConns(c.protocol)
	case c.named != "":
		n, ok := resolveNamedPort(dst, c.named, c.protocol)
		if !ok {
			return ConnSet{}
		}
		return PortConns(c.protocol, n, n)
	}
	return PortConns(c.protocol, c.from, c.to)
}

// resolveNamedPort finds the number of a named container port, protocol
// included. Addresses outside the cluster have no named ports.
func resolveNamedPort(dst Endpoint, name string, protocol corev1.Protocol) (int32, bool) {
	if dst.Workload == nil {
		return 0, false
	}
	for _, p := range dst.Workload.Ports {
		if p.Name == name && normalProtocol(p.Protocol) == protocol {
			return p.Port, true
		}
	}
	return 0, false
}

func normalProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
