package netpol_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/netpol"
)

func TestExternalRanges(t *testing.T) {
	egressTo := func(name string, blocks ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		return policy("x", name, sel(), withEgress(egressRule(blocks)))
	}
	ingressFrom := func(name string, blocks ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		return policy("y", name, sel(), withIngress(ingressRule(blocks)))
	}
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	cases := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		cluster  []netip.Prefix
		want     []string
	}{
		{
			name: "no policies: all of IPv4, no IPv6",
			want: []string{"0.0.0.0-255.255.255.255"},
		},
		{
			name:     "selector peers only: no cuts",
			policies: []*networkingv1.NetworkPolicy{egressTo("sel", nsPeer(selp()))},
			want:     []string{"0.0.0.0-255.255.255.255"},
		},
		{
			name:     "cidr with except",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("10.0.0.0/8", "10.1.0.0/16"))},
			want: []string{
				"0.0.0.0-9.255.255.255",
				"10.0.0.0-10.0.255.255",
				"10.1.0.0-10.1.255.255",
				"10.2.0.0-10.255.255.255",
				"11.0.0.0-255.255.255.255",
			},
		},
		{
			name: "same boundaries from ingress and egress, several policies, counted once",
			policies: []*networkingv1.NetworkPolicy{
				egressTo("a", ipPeer("10.0.0.0/8", "10.1.0.0/16")),
				ingressFrom("b", ipPeer("10.1.0.0/16")),
				ingressFrom("c", ipPeer("10.0.0.0/8"), ipPeer("10.2.0.0/15")),
			},
			want: []string{
				"0.0.0.0-9.255.255.255",
				"10.0.0.0-10.0.255.255",
				"10.1.0.0-10.1.255.255",
				"10.2.0.0-10.3.255.255",
				"10.4.0.0-10.255.255.255",
				"11.0.0.0-255.255.255.255",
			},
		},
		{
			name:     "0.0.0.0/0 cuts nothing",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("0.0.0.0/0"))},
			want:     []string{"0.0.0.0-255.255.255.255"},
		},
		{
			name:     "host bits are dropped; single addresses at both ends",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("192.168.1.77/24"), ipPeer("0.0.0.0/32"), ipPeer("255.255.255.255/32"))},
			want: []string{
				"0.0.0.0-0.0.0.0",
				"0.0.0.1-192.168.0.255",
				"192.168.1.0-192.168.1.255",
				"192.168.2.0-255.255.255.254",
				"255.255.255.255-255.255.255.255",
			},
		},
		{
			name:     "an IPv6 block brings in IPv6",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("10.0.0.0/8")), ingressFrom("v6", ipPeer("2001:db8::/32", "2001:db8:1::/48"))},
			want: []string{
				"0.0.0.0-9.255.255.255",
				"10.0.0.0-10.255.255.255",
				"11.0.0.0-255.255.255.255",
				"::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
				"2001:db8::-2001:db8:0:ffff:ffff:ffff:ffff:ffff",
				"2001:db8:1::-2001:db8:1:ffff:ffff:ffff:ffff:ffff",
				"2001:db8:2::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
				"2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
			},
		},
		{
			name:     "::/0 brings in IPv6 uncut",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("::/0"))},
			want:     []string{"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		},
		{
			name:     "legacy IPv4-mapped cidr cuts IPv4 only",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("::ffff:10.0.0.0/104"))},
			want:     []string{"0.0.0.0-9.255.255.255", "10.0.0.0-10.255.255.255", "11.0.0.0-255.255.255.255"},
		},
		{
			name:     "cluster CIDRs are removed",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("10.0.0.0/8", "10.1.0.0/16"))},
			cluster:  prefixes("10.0.0.0/16"),
			want: []string{
				"0.0.0.0-9.255.255.255",
				"10.1.0.0-10.1.255.255",
				"10.2.0.0-10.255.255.255",
				"11.0.0.0-255.255.255.255",
			},
		},
		{
			name:     "cluster CIDRs cut ranges too, and swallow ipBlocks inside them",
			policies: []*networkingv1.NetworkPolicy{egressTo("p", ipPeer("10.0.0.0/8", "10.1.0.0/16"))},
			cluster:  prefixes("10.0.0.0/8", "172.16.0.0/12"),
			want: []string{
				"0.0.0.0-9.255.255.255",
				"11.0.0.0-172.15.255.255",
				"172.32.0.0-255.255.255.255",
			},
		},
		{
			name:    "IPv6 cluster CIDR: IPv6 ranges outside it",
			cluster: prefixes("fd00::/8"),
			want: []string{
				"0.0.0.0-255.255.255.255",
				"::-fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				"fe00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := netpol.DefaultOptions()
			opts.ClusterCIDRs = c.cluster
			ix, err := netpol.NewIndex(nil, nil, c.policies, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range ix.ExternalRanges() {
				got = append(got, r.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("ExternalRanges:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(c.want, "\n     "))
			}
		})
	}
}

// TestExternalRangesRepresentative checks the promise of ExternalRanges: one
// address of a range stands for all of it. Random ipBlocks (with excepts)
// isolate a pod's egress; within each range, every address gets the verdict
// of the range's first address, and the ranges tile the space outside the
// cluster CIDRs.
func TestExternalRangesRepresentative(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	randPrefix := func(minBits, maxBits int) netip.Prefix {
		bits := minBits + r.IntN(maxBits-minBits+1)
		a := netip.AddrFrom4([4]byte{byte(r.IntN(4) + 9), byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		return netip.PrefixFrom(a, bits).Masked()
	}
	for it := range 50 {
		var pols []*networkingv1.NetworkPolicy
		for i := range 1 + r.IntN(4) {
			cidr := randPrefix(6, 20)
			var except []string
			for range r.IntN(3) {
				inside := randomBetween(r, cidr.Addr(), lastOf(cidr))
				e := netip.PrefixFrom(inside, cidr.Bits()+1+r.IntN(min(8, 32-cidr.Bits()))).Masked()
				except = append(except, e.String())
			}
			pols = append(pols, policy("x", "p"+string(rune('a'+i)), sel(), withEgress(egressRule(peers(ipPeer(cidr.String(), except...)), numPort(tcp, int32(80+i))))))
		}
		w := &netpol.Workload{Namespace: "x", Kind: "Pod", Name: "a", Labels: map[string]string{"pod": "a"}}
		opts := netpol.DefaultOptions()
		opts.ClusterCIDRs = []netip.Prefix{randPrefix(8, 16)}
		ix, err := netpol.NewIndex(nil, []*netpol.Workload{w}, pols, opts)
		if err != nil {
			t.Fatal(err)
		}
		src := netpol.WorkloadEndpoint(w)
		ranges := ix.ExternalRanges()
		next := netip.AddrFrom4([4]byte{})
		for _, rg := range ranges {
			if rg.From.Compare(rg.To) > 0 {
				t.Fatalf("iteration %d: empty range %s", it, rg)
			}
			// Gaps between ranges are exactly cluster CIDRs.
			if next != rg.From && (!opts.ClusterCIDRs[0].Contains(next) || !opts.ClusterCIDRs[0].Contains(rg.From.Prev())) {
				t.Fatalf("iteration %d: gap %s-%s before %s is not inside the cluster CIDR %s", it, next, rg.From.Prev(), rg, opts.ClusterCIDRs[0])
			}
			next = rg.To.Next()
			want := ix.AllowedConns(src, netpol.AddrEndpoint(rg.From))
			samples := []netip.Addr{rg.To, rg.From.Next(), rg.To.Prev()}
			for range 8 {
				samples = append(samples, randomBetween(r, rg.From, rg.To))
			}
			for _, a := range samples {
				if a.Compare(rg.From) < 0 || a.Compare(rg.To) > 0 {
					continue
				}
				if got := ix.AllowedConns(src, netpol.AddrEndpoint(a)); !got.Equal(want) {
					t.Fatalf("iteration %d: range %s: %s gets %s but %s gets %s", it, rg, a, got, rg.From, want)
				}
			}
		}
		if last := ranges[len(ranges)-1].To; last != netip.MustParseAddr("255.255.255.255") && !opts.ClusterCIDRs[0].Contains(netip.MustParseAddr("255.255.255.255")) {
			t.Fatalf("iteration %d: ranges end at %s", it, last)
		}
	}
}

// lastOf is the highest address of an IPv4 prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// randomBetween picks an IPv4 address in [from, to].
func randomBetween(r *rand.Rand, from, to netip.Addr) netip.Addr {
	f, l := from.As4(), to.As4()
	lo := uint64(f[0])<<24 | uint64(f[1])<<16 | uint64(f[2])<<8 | uint64(f[3])
	hi := uint64(l[0])<<24 | uint64(l[1])<<16 | uint64(l[2])<<8 | uint64(l[3])
	v := lo + r.Uint64N(hi-lo+1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
