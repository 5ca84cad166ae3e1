package netpol

import (
	"net/netip"
	"slices"
)

// AddrRange is an inclusive range of addresses of one family.
type AddrRange struct{ From, To netip.Addr }

// String renders the range as "a.b.c.d-e.f.g.h".
func (r AddrRange) String() string { return r.From.String() + "-" + r.To.String() }

type addrBoundary = netip.Addr

var (
	ipv4First = netip.AddrFrom4([4]byte{})
	ipv4Last  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	ipv6First = netip.IPv6Unspecified()
	ipv6Last  = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
)

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// collectBoundaries returns every address where some ipBlock starts or
// stops applying: the start of each cidr and except, and the address after
// each one's end.
func collectBoundaries(policies []*compiledPolicy) []addrBoundary {
	var out []addrBoundary
	add := func(p netip.Prefix) {
		out = append(out, p.Masked().Addr())
		if next := lastAddr(p).Next(); next.IsValid() {
			out = append(out, next)
		}
	}
	for _, p := range policies {
		for _, rules := range [][]*compiledRule{p.ingressRules, p.egressRules} {
			for _, r := range rules {
				for _, peer := range r.peers {
					if peer.block == nil {
						continue
					}
					add(peer.block.cidr)
					for _, e := range peer.block.except {
						add(e)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// ExternalRanges partitions the address space outside the cluster CIDRs
// into ranges that every ipBlock of the policy set treats alike: all of IPv4,
// and all of IPv6 when a policy or cluster CIDR mentions IPv6, cut at every
// ipBlock and except boundary. One address of a range stands for all of it.
func (ix *Index) ExternalRanges() []AddrRange {
	bounds := slices.Clone(ix.ipBoundaries)
	for _, c := range ix.opts.ClusterCIDRs {
		bounds = append(bounds, c.Masked().Addr())
		if next := lastAddr(c).Next(); next.IsValid() {
			bounds = append(bounds, next)
		}
	}
	slices.SortFunc(bounds, func(a, b netip.Addr) int { return a.Compare(b) })
	bounds = slices.Compact(bounds)

	hasV6 := slices.ContainsFunc(bounds, func(a netip.Addr) bool { return a.Is6() })
	var out []AddrRange
	cut := func(first, last netip.Addr, is6 bool) {
		start := first
		for _, b := range bounds {
			if b.Is6() != is6 || b.Compare(first) <= 0 {
				continue
			}
			out = append(out, AddrRange{start, b.Prev()})
			start = b
		}
		out = append(out, AddrRange{start, last})
	}
	cut(ipv4First, ipv4Last, false)
	if hasV6 {
		cut(ipv6First, ipv6Last, true)
	}
	return slices.DeleteFunc(out, func(r AddrRange) bool {
		for _, c := range ix.opts.ClusterCIDRs {
			if c.Contains(r.From) {
				return true
			}
		}
		return false
	})
}
