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
	// Each endpoint's identity is looked up once, not once per peer.
	srcID, dstID := ix.podIdentity(src), ix.podIdentity(dst)
	return ix.sideAllows(Egress, srcID, dstID, dst, dst, protocol, port) &&
		ix.sideAllows(Ingress, dstID, srcID, src, dst, protocol, port)
}

// podIdentity is the identity of a pod endpoint, nil for an address or a
// host-network pod (which policies neither isolate nor select).
func (ix *Index) podIdentity(e Endpoint) *identity {
	if !e.isPod() {
		return nil
	}
	return ix.identityOf(e.Workload)
}

// sideAllows evaluates one direction: egress at src or ingress at dst. The
// subject is the side the policies apply to (nil: not a pod, so not
// isolated), other the peer endpoint and otherID its identity.
func (ix *Index) sideAllows(dir Direction, subjectID, otherID *identity, other, dst Endpoint, protocol corev1.Protocol, port int32) bool {
	if subjectID == nil {
		return true
	}
	pols := subjectID.policies(dir)
	if len(pols) == 0 {
		return true
	}
	for _, p := range pols {
		for _, r := range p.rules(dir) {
			if r.portAllows(dst, protocol, port) && ix.peerMatchesID(r, other, otherID) {
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
	otherID := ix.podIdentity(other)
	var out ConnSet
	for _, p := range pols {
		for _, r := range p.rules(dir) {
			if ix.peerMatchesID(r, other, otherID) {
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

// isSelf: traffic from a pod to itself is always allowed. Two endpoints of
// one workload are the same pod only when their addresses say so, or when
// the workload is a bare Pod; replicas talking to each other (etcd, Kafka
// peers) are subject to policies like any other pair.
func isSelf(src, dst Endpoint) bool {
	if src.Workload == nil || src.Workload != dst.Workload {
		return false
	}
	if src.Addr.IsValid() || dst.Addr.IsValid() {
		return src.Addr == dst.Addr
	}
	return src.Workload.Kind == "Pod"
}

// peerMatches reports whether one of the rule's peers selects e.
func (ix *Index) peerMatches(r *compiledRule, e Endpoint) bool {
	if r.allPeers {
		return true
	}
	return ix.peerMatchesID(r, e, ix.podIdentity(e))
}

// peerMatchesID is peerMatches with e's identity (ix.podIdentity(e)) given.
func (ix *Index) peerMatchesID(r *compiledRule, e Endpoint, id *identity) bool {
	if r.allPeers {
		return true
	}
	for _, p := range r.peers {
		if ix.peerSelects(p, e, id) {
			return true
		}
	}
	return false
}

// peerSelects reports whether peer p selects e, whose identity is id (nil
// when e is not a pod).
func (ix *Index) peerSelects(p *compiledPeer, e Endpoint, id *identity) bool {
	if p.block != nil {
		if id != nil && !ix.opts.IPBlockMatchesPods {
			return false
		}
		a, ok := e.address()
		return ok && p.block.contains(a)
	}
	if id == nil {
		return false // selectors never select addresses or host-network pods
	}
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
			if id.namespace.id != p.ownNS.id {
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
