package netpol_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/redline-dev/redline/internal/netpol"
)

// conns builds a set from pieces "proto from to" (to 0: a single port;
// from 0: the whole protocol).
func conns(pieces ...any) netpol.ConnSet {
	var c netpol.ConnSet
	for i := 0; i < len(pieces); i += 3 {
		proto := pieces[i].(corev1.Protocol)
		from, to := int32(pieces[i+1].(int)), int32(pieces[i+2].(int))
		switch {
		case from == 0 && to == 0:
			c = c.Union(netpol.ProtocolConns(proto))
		case to == 0:
			c = c.Union(netpol.PortConns(proto, from, from))
		default:
			c = c.Union(netpol.PortConns(proto, from, to))
		}
	}
	return c
}

func TestConnSetString(t *testing.T) {
	cases := []struct {
		name string
		set  netpol.ConnSet
		want string
	}{
		{"zero value", netpol.ConnSet{}, "No Connections"},
		{"all", netpol.AllConns(), "All Connections"},
		{"every protocol separately", conns(tcp, 0, 0, udp, 0, 0, sctp, 0, 0), "All Connections"},
		{"every protocol as ranges", conns(tcp, 1, 100, tcp, 101, 65535, udp, 1, 65535, sctp, 1, 65535), "All Connections"},
		{"design example", conns(tcp, 8000, 8080, udp, 53, 0, tcp, 443, 0, tcp, 80, 0), "TCP 80,443,8000-8080,UDP 53"},
		{"protocol alone", netpol.ProtocolConns(sctp), "SCTP"},
		{"protocol alone then ports", conns(tcp, 0, 0, udp, 53, 0), "TCP,UDP 53"},
		{"ports then protocol alone", conns(tcp, 22, 0, udp, 0, 0), "TCP 22,UDP"},
		{"two protocols alone", conns(udp, 0, 0, sctp, 0, 0), "UDP,SCTP"},
		{"adjacent single ports merge", conns(tcp, 81, 0, tcp, 80, 0), "TCP 80-81"},
		{"adjacent ranges merge", conns(tcp, 100, 200, tcp, 201, 300, tcp, 50, 99), "TCP 50-300"},
		{"adjacent ranges merge into the whole protocol", conns(udp, 1, 1000, udp, 1001, 65535), "UDP"},
		{"overlapping ranges merge", conns(tcp, 80, 90, tcp, 85, 100), "TCP 80-100"},
		{"contained range", conns(tcp, 80, 90, tcp, 82, 83), "TCP 80-90"},
		{"gap of one port stays", conns(tcp, 80, 0, tcp, 82, 0), "TCP 80,82"},
		{"out of order", conns(tcp, 443, 0, tcp, 80, 0, tcp, 8080, 0), "TCP 80,443,8080"},
		{"duplicates", conns(tcp, 80, 0, tcp, 80, 0), "TCP 80"},
		{"protocol order is TCP, UDP, SCTP", conns(sctp, 9, 0, udp, 8, 0, tcp, 7, 0), "TCP 7,UDP 8,SCTP 9"},
		{"lowest and highest ports", conns(tcp, 1, 0, tcp, 65535, 0), "TCP 1,65535"},
		{"range clamped below", netpol.PortConns(tcp, -5, 10), "TCP 1-10"},
		{"range clamped above", netpol.PortConns(tcp, 65530, 70000), "TCP 65530-65535"},
		{"port zero is nothing", netpol.PortConns(tcp, 0, 0), "No Connections"},
		{"reversed range is nothing", netpol.PortConns(tcp, 90, 80), "No Connections"},
		{"unknown protocol is nothing", netpol.PortConns("ICMP", 1, 10), "No Connections"},
		{"empty protocol is TCP", netpol.PortConns("", 80, 80), "TCP 80"},
		{"all but one port", conns(tcp, 1, 79, tcp, 81, 65535, udp, 0, 0, sctp, 0, 0), "TCP 1-79,81-65535,UDP,SCTP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.set.String(); got != c.want {
				t.Errorf("String() = %q, want %q", got, c.want)
			}
			checkCanonical(t, c.set)
		})
	}
}

func TestConnSetUnionIntersect(t *testing.T) {
	cases := []struct {
		name             string
		a, b             netpol.ConnSet
		union, intersect string
	}{
		{"empty and empty", netpol.ConnSet{}, netpol.ConnSet{}, "No Connections", "No Connections"},
		{"empty and all", netpol.ConnSet{}, netpol.AllConns(), "All Connections", "No Connections"},
		{"all and some", netpol.AllConns(), conns(tcp, 80, 0, udp, 53, 0), "All Connections", "TCP 80,UDP 53"},
		{"partial overlap", conns(tcp, 70, 80), conns(tcp, 80, 90), "TCP 70-90", "TCP 80"},
		{"adjacent", conns(tcp, 70, 79), conns(tcp, 80, 90), "TCP 70-90", "No Connections"},
		{"different protocols", conns(tcp, 80, 0), conns(udp, 80, 0), "TCP 80,UDP 80", "No Connections"},
		{"protocol and its ports", netpol.ProtocolConns(tcp), conns(tcp, 80, 0, tcp, 443, 0, udp, 53, 0), "TCP,UDP 53", "TCP 80,443"},
		{"interleaved", conns(tcp, 1, 10, tcp, 20, 30, tcp, 40, 50), conns(tcp, 5, 25, tcp, 45, 60), "TCP 1-30,40-60", "TCP 5-10,20-25,45-50"},
		{"one range spanning several", conns(tcp, 1, 65535), conns(tcp, 5, 6, tcp, 8, 9, sctp, 1, 2), "TCP,SCTP 1-2", "TCP 5-6,8-9"},
		{"same set", conns(udp, 53, 0, tcp, 80, 90), conns(udp, 53, 0, tcp, 80, 90), "TCP 80-90,UDP 53", "TCP 80-90,UDP 53"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, order := range [][2]netpol.ConnSet{{c.a, c.b}, {c.b, c.a}} {
				a, b := order[0], order[1]
				u, i := a.Union(b), a.Intersect(b)
				if u.String() != c.union {
					t.Errorf("%s ∪ %s = %q, want %q", a, b, u, c.union)
				}
				if i.String() != c.intersect {
					t.Errorf("%s ∩ %s = %q, want %q", a, b, i, c.intersect)
				}
				checkCanonical(t, u)
				checkCanonical(t, i)
			}
		})
	}
}

func TestConnSetContains(t *testing.T) {
	set := conns(tcp, 80, 0, tcp, 443, 0, tcp, 8000, 8080, udp, 53, 0, sctp, 0, 0)
	cases := []struct {
		proto corev1.Protocol
		port  int32
		want  bool
	}{
		{tcp, 80, true}, {tcp, 79, false}, {tcp, 81, false}, {tcp, 443, true},
		{tcp, 7999, false}, {tcp, 8000, true}, {tcp, 8040, true}, {tcp, 8080, true}, {tcp, 8081, false},
		{"", 80, true}, {"", 53, false},
		{udp, 53, true}, {udp, 80, false}, {udp, 54, false},
		{sctp, 1, true}, {sctp, 65535, true}, {sctp, 0, false}, {sctp, 65536, false},
		{"ICMP", 80, false}, {"tcp", 80, false},
	}
	for _, c := range cases {
		if got := set.Contains(c.proto, c.port); got != c.want {
			t.Errorf("%s.Contains(%q, %d) = %v, want %v", set, c.proto, c.port, got, c.want)
		}
	}
	allSet := netpol.AllConns()
	for _, p := range netpol.Protocols {
		for _, port := range []int32{1, 2, 1000, 65534, 65535} {
			if !allSet.Contains(p, port) {
				t.Errorf("AllConns does not contain %s/%d", p, port)
			}
		}
		if (netpol.ConnSet{}).Contains(p, 80) {
			t.Errorf("empty set contains %s/80", p)
		}
	}
}

func TestConnSetPredicates(t *testing.T) {
	if !netpol.AllConns().IsAll() || netpol.AllConns().IsEmpty() {
		t.Error("AllConns: want IsAll and not IsEmpty")
	}
	if (netpol.ConnSet{}).IsAll() || !(netpol.ConnSet{}).IsEmpty() {
		t.Error("zero ConnSet: want IsEmpty and not IsAll")
	}
	if conns(tcp, 0, 0, udp, 0, 0).IsAll() {
		t.Error("TCP,UDP IsAll")
	}
	if !conns(tcp, 1, 9, tcp, 10, 65535, udp, 0, 0, sctp, 0, 0).IsAll() {
		t.Error("merged ranges covering everything: not IsAll")
	}
	a := conns(tcp, 80, 0, tcp, 81, 0, udp, 53, 0)
	b := conns(udp, 53, 0, tcp, 80, 81)
	if !a.Equal(b) || !b.Equal(a) {
		t.Errorf("%s and %s not Equal", a, b)
	}
	if a.Equal(conns(tcp, 80, 81)) || a.Equal(netpol.ConnSet{}) {
		t.Errorf("%s Equal to a smaller set", a)
	}
	if got := a.Ranges(tcp); !slices.Equal(got, []netpol.PortRange{{From: 80, To: 81}}) {
		t.Errorf("Ranges(TCP) = %v", got)
	}
	if got := a.Ranges("ICMP"); got != nil {
		t.Errorf("Ranges(ICMP) = %v, want nil", got)
	}
}

// TestConnSetOperandsUnchanged: Union and Intersect return new sets and
// leave their operands (which may share range slices) alone.
func TestConnSetOperandsUnchanged(t *testing.T) {
	a := conns(tcp, 80, 90)
	b := conns(tcp, 91, 100, udp, 53, 0)
	empty := netpol.ConnSet{}
	u1 := a.Union(empty) // may share a's slice
	u2 := u1.Union(b)
	u3 := empty.Union(b).Union(conns(tcp, 10, 0))
	_ = a.Intersect(b)
	_ = u2.Intersect(u3)
	for _, c := range []struct {
		set  netpol.ConnSet
		want string
	}{
		{a, "TCP 80-90"}, {b, "TCP 91-100,UDP 53"}, {empty, "No Connections"},
		{u1, "TCP 80-90"}, {u2, "TCP 80-100,UDP 53"}, {u3, "TCP 10,91-100,UDP 53"},
	} {
		if c.set.String() != c.want {
			t.Errorf("set changed: %s, want %s", c.set, c.want)
		}
	}
}

// checkCanonical checks the representation: per protocol, sorted disjoint
// non-adjacent ranges within 1..65535.
func checkCanonical(t *testing.T, c netpol.ConnSet) {
	t.Helper()
	for _, p := range netpol.Protocols {
		rs := c.Ranges(p)
		for i, r := range rs {
			if r.From < 1 || r.To > 65535 || r.From > r.To {
				t.Errorf("%s %s: bad range %v", c, p, r)
			}
			if i > 0 && r.From <= rs[i-1].To+1 {
				t.Errorf("%s %s: ranges %v and %v overlap or touch", c, p, rs[i-1], r)
			}
		}
	}
}

// portModel is the naive model: one bit per (protocol, port 0..65535).
type portModel [3][65536 / 64]uint64

func (m *portModel) set(p int, from, to int32) {
	for port := max(from, 1); port <= min(to, 65535); {
		if port%64 == 0 && port+63 <= to {
			m[p][port/64] = ^uint64(0) // a whole word at once
			port += 64
			continue
		}
		m[p][port/64] |= 1 << (port % 64)
		port++
	}
}

func (m *portModel) has(p int, port int32) bool {
	if port < 0 || port > 65535 {
		return false
	}
	return m[p][port/64]&(1<<(port%64)) != 0
}

func protoNumber(p corev1.Protocol) int { return slices.Index(netpol.Protocols[:], p) }

// randomConns builds a random set from up to 5 pieces, with its model and
// the ports at which membership may change. Ports cluster near both ends of
// the range so pieces touch and overlap often.
func randomConns(r *rand.Rand, boundaries map[int32]bool) (netpol.ConnSet, *portModel) {
	var set netpol.ConnSet
	m := new(portModel)
	randPort := func() int32 {
		switch r.IntN(4) {
		case 0:
			return 65535 - r.Int32N(40)
		case 1:
			return 1 + r.Int32N(65535)
		}
		return 1 + r.Int32N(40)
	}
	for range r.IntN(6) {
		proto := netpol.Protocols[r.IntN(len(netpol.Protocols))]
		var piece netpol.ConnSet
		var from, to int32
		switch r.IntN(6) {
		case 0:
			piece, from, to = netpol.ProtocolConns(proto), 1, 65535
		case 1, 2:
			from = randPort()
			to = from
			piece = netpol.PortConns(proto, from, to)
		default:
			from, to = randPort(), randPort()
			if from > to {
				from, to = to, from
			}
			piece = netpol.PortConns(proto, from, to)
		}
		set = set.Union(piece)
		m.set(protoNumber(proto), from, to)
		for _, b := range []int32{from - 1, from, to, to + 1} {
			boundaries[b] = true
		}
	}
	return set, m
}

func TestConnSetProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(20260726, 1))
	const iterations = 3000
	for it := range iterations {
		boundaries := map[int32]bool{-1: true, 0: true, 1: true, 2: true, 65534: true, 65535: true, 65536: true}
		a, ma := randomConns(r, boundaries)
		b, mb := randomConns(r, boundaries)
		u, in := a.Union(b), a.Intersect(b)
		for _, s := range []netpol.ConnSet{a, b, u, in} {
			checkCanonical(t, s)
			// The sets' own range ends are points where they may change too.
			for _, p := range netpol.Protocols {
				for _, rg := range s.Ranges(p) {
					boundaries[rg.From-1], boundaries[rg.From], boundaries[rg.To], boundaries[rg.To+1] = true, true, true, true
				}
			}
		}
		for range 16 {
			boundaries[r.Int32N(65537)] = true
		}
		for port := range boundaries {
			for pi, p := range netpol.Protocols {
				inA, inB := ma.has(pi, port), mb.has(pi, port)
				for _, c := range []struct {
					name string
					set  netpol.ConnSet
					want bool
				}{{"a", a, inA}, {"b", b, inB}, {"a∪b", u, inA || inB}, {"a∩b", in, inA && inB}} {
					if got := c.set.Contains(p, port); got != c.want {
						t.Fatalf("iteration %d: %s = %s: Contains(%s, %d) = %v, model says %v (a = %s, b = %s)", it, c.name, c.set, p, port, got, c.want, a, b)
					}
				}
			}
		}
		if !u.Equal(b.Union(a)) || !in.Equal(b.Intersect(a)) {
			t.Fatalf("iteration %d: not commutative: a = %s, b = %s", it, a, b)
		}
		if !in.Union(u).Equal(u) || !in.Intersect(u).Equal(in) {
			t.Fatalf("iteration %d: absorption fails: a = %s, b = %s", it, a, b)
		}
		if u.IsAll() != (u.String() == "All Connections") || in.IsEmpty() != (in.String() == "No Connections") {
			t.Fatalf("iteration %d: IsAll/IsEmpty disagree with String", it)
		}
	}
}

func ExampleConnSet_String() {
	set := netpol.PortConns(corev1.ProtocolTCP, 8000, 8080).
		Union(netpol.PortConns(corev1.ProtocolUDP, 53, 53)).
		Union(netpol.PortConns(corev1.ProtocolTCP, 443, 443)).
		Union(netpol.PortConns(corev1.ProtocolTCP, 80, 80))
	fmt.Println(set)
	fmt.Println(set.Intersect(netpol.PortConns(corev1.ProtocolTCP, 1, 1024)))
	fmt.Println(netpol.ProtocolConns(corev1.ProtocolSCTP).Union(set))
	// Output:
	// TCP 80,443,8000-8080,UDP 53
	// TCP 80,443
	// TCP 80,443,8000-8080,UDP 53,SCTP
}
