package netpol

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Protocols are the protocols NetworkPolicies speak of, in output order.
var Protocols = [...]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

const (
	minPort = 1
	maxPort = 65535
)

// PortRange is an inclusive range of ports.
type PortRange struct{ From, To int32 }

// ConnSet is a set of (protocol, port) pairs: per protocol a sorted list of
// disjoint, non-adjacent port ranges. The zero value is the empty set.
type ConnSet struct {
	ranges [len(Protocols)][]PortRange
}

// AllConns is every port of every protocol.
func AllConns() ConnSet {
	var c ConnSet
	for i := range c.ranges {
		c.ranges[i] = []PortRange{{minPort, maxPort}}
	}
	return c
}

// ProtocolConns is every port of one protocol.
func ProtocolConns(p corev1.Protocol) ConnSet {
	return PortConns(p, minPort, maxPort)
}

// PortConns is the ports from..to of one protocol. An unknown protocol or an
// empty range gives the empty set.
func PortConns(p corev1.Protocol, from, to int32) ConnSet {
	var c ConnSet
	i := protoIndex(p)
	from, to = max(from, minPort), min(to, maxPort)
	if i < 0 || from > to {
		return c
	}
	c.ranges[i] = []PortRange{{from, to}}
	return c
}

func protoIndex(p corev1.Protocol) int {
	switch p {
	case corev1.ProtocolTCP, "":
		return 0
	case corev1.ProtocolUDP:
		return 1
	case corev1.ProtocolSCTP:
		return 2
	}
	return -1
}

// Contains reports whether the set holds port of protocol p.
func (c ConnSet) Contains(p corev1.Protocol, port int32) bool {
	i := protoIndex(p)
	if i < 0 {
		return false
	}
	rs := c.ranges[i]
	// Ranges are few; a binary search pays only for long lists.
	j, _ := slices.BinarySearchFunc(rs, port, func(r PortRange, port int32) int {
		switch {
		case r.To < port:
			return -1
		case r.From > port:
			return 1
		}
		return 0
	})
	return j < len(rs) && rs[j].From <= port && port <= rs[j].To
}

// IsEmpty reports whether the set holds nothing.
func (c ConnSet) IsEmpty() bool {
	for _, rs := range c.ranges {
		if len(rs) > 0 {
			return false
		}
	}
	return true
}

// IsAll reports whether the set holds every port of every protocol.
func (c ConnSet) IsAll() bool {
	for i := range c.ranges {
		if !isFull(c.ranges[i]) {
			return false
		}
	}
	return true
}

func isFull(rs []PortRange) bool {
	return len(rs) == 1 && rs[0].From == minPort && rs[0].To == maxPort
}

// Ranges returns the port ranges of protocol p (do not modify).
func (c ConnSet) Ranges(p corev1.Protocol) []PortRange {
	i := protoIndex(p)
	if i < 0 {
		return nil
	}
	return c.ranges[i]
}

// Equal reports whether both sets hold the same connections.
func (c ConnSet) Equal(o ConnSet) bool {
	for i := range c.ranges {
		if !slices.Equal(c.ranges[i], o.ranges[i]) {
			return false
		}
	}
	return true
}

// Union returns c ∪ o.
func (c ConnSet) Union(o ConnSet) ConnSet {
	var r ConnSet
	for i := range c.ranges {
		r.ranges[i] = unionRanges(c.ranges[i], o.ranges[i])
	}
	return r
}

// Intersect returns c ∩ o.
func (c ConnSet) Intersect(o ConnSet) ConnSet {
	var r ConnSet
	for i := range c.ranges {
		r.ranges[i] = intersectRanges(c.ranges[i], o.ranges[i])
	}
	return r
}

func unionRanges(a, b []PortRange) []PortRange {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	all := make([]PortRange, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	slices.SortFunc(all, func(x, y PortRange) int { return int(x.From - y.From) })
	out := all[:1]
	for _, r := range all[1:] {
		last := &out[len(out)-1]
		if r.From <= last.To+1 {
			last.To = max(last.To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

func intersectRanges(a, b []PortRange) []PortRange {
	var out []PortRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].From, b[j].From), min(a[i].To, b[j].To)
		if lo <= hi {
			out = append(out, PortRange{lo, hi})
		}
		if a[i].To < b[j].To {
			i++
		} else {
			j++
		}
	}
	return out
}

// String renders the set as analyze prints it: "All Connections", "No
// Connections", or protocols in order with merged ranges, a protocol with all
// its ports written alone: "TCP 80,443,8000-8080,UDP 53", "SCTP".
func (c ConnSet) String() string {
	if c.IsAll() {
		return "All Connections"
	}
	if c.IsEmpty() {
		return "No Connections"
	}
	var b strings.Builder
	for i, rs := range c.ranges {
		if len(rs) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(Protocols[i]))
		if isFull(rs) {
			continue
		}
		b.WriteByte(' ')
		for k, r := range rs {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(r.From)))
			if r.To != r.From {
				b.WriteByte('-')
				b.WriteString(strconv.Itoa(int(r.To)))
			}
		}
	}
	return b.String()
}
