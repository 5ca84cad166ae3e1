package netpol

import (
	corev1 "k8s.io/api/core/v1"
)

// A SideTally is one side of a connection (egress at the source, ingress at
// the destination) judged under an index in enough detail to judge it again
// with one policy of the subject's namespace replaced, without going over
// the others: a policy change's what-if keeps the tally of the current set
// and adjusts it for the old and the new policy alone.
type SideTally struct {
	// Always is set when no policy can deny the side: the subject is not a
	// pod (an address or a host-network pod), or the connection is from a
	// pod to itself.
	Always bool
	// Isolating is how many policies isolate the subject in the direction,
	// Allowing how many of them allow the connection; both stop counting
	// at 255.
	Isolating, Allowing uint8
}

// Allows reports whether the side allows the connection: SideVerdict.
func (t SideTally) Allows() bool { return t.Always || t.Isolating == 0 || t.Allowing > 0 }

// SideTally is SideVerdict, counting the policies that isolate the subject
// and those that allow the connection instead of stopping at the first.
func (ix *Index) SideTally(dir Direction, src, dst *ResolvedEndpoint, protocol corev1.Protocol, port int32) SideTally {
	subject, other := dst, src
	if dir == Egress {
		subject, other = src, dst
	}
	if subject.reg == ix.reg && subject.id == notPod || isSelf(src.Endpoint, dst.Endpoint) {
		return SideTally{Always: true}
	}
	subjectID := ix.identityOfResolved(subject)
	if subjectID == nil {
		return SideTally{Always: true}
	}
	pols := subjectID.policies(dir)
	var t SideTally
	if len(pols) == 0 {
		return t
	}
	t.Isolating = uint8(min(len(pols), 255))
	otherID := ix.identityOfResolved(other)
	for _, p := range pols {
		if p.sideAllows(ix, dir, otherID, other.Endpoint, dst.Endpoint, protocol, port) && t.Allowing < 255 {
			t.Allowing++
		}
	}
	return t
}

// sideAllows reports whether one of the policy's rules of direction dir
// allows the connection to dst from or to other (whose identity is
// otherID), whether or not the policy selects the subject.
func (p *compiledPolicy) sideAllows(ix *Index, dir Direction, otherID *identity, other, dst Endpoint, protocol corev1.Protocol, port int32) bool {
	for _, r := range p.rules(dir) {
		if r.portAllows(dst, protocol, port) && ix.peerMatchesID(r, other, otherID) {
			return true
		}
	}
	return false
}

// A PolicyRules is one compiled policy of an index, to judge connections by
// its rules alone (a SideTally adjusted for a changed policy).
type PolicyRules struct {
	ix *Index
	p  *compiledPolicy
}

// PolicyRules returns the compiled policy namespace/name of ix; false when
// ix has none of that name.
func (ix *Index) PolicyRules(namespace, name string) (PolicyRules, bool) {
	full := namespace + "/" + name
	for _, p := range ix.byNamespace[namespace] {
		if p.name == full {
			return PolicyRules{ix: ix, p: p}, true
		}
	}
	return PolicyRules{}, false
}

// SideAllows reports whether one of the policy's rules of direction dir
// allows the connection, whether or not the policy selects the subject
// (egress: src; ingress: dst) or isolates it in that direction.
func (r PolicyRules) SideAllows(dir Direction, src, dst *ResolvedEndpoint, protocol corev1.Protocol, port int32) bool {
	other := src
	if dir == Egress {
		other = dst
	}
	return r.p.sideAllows(r.ix, dir, r.ix.identityOfResolved(other), other.Endpoint, dst.Endpoint, protocol, port)
}
