package flow

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// rec is a compact flow record for dedupe tests: "a:43512>b:8080".
type rec struct {
	src, dst     string
	sport, dport uint16
	proto        Protocol
	flags        TCPFlags
	reply        Reply
	verdict      Verdict
	at           time.Duration
	dir          Direction
}

func (r rec) flow() *Flow {
	p := r.proto
	if p == 0 {
		p = ProtocolTCP
	}
	v := r.verdict
	if v == 0 {
		v = VerdictForwarded
	}
	return &Flow{
		Time: t0.Add(r.at), Protocol: p, Verdict: v, TCPFlags: r.flags, Reply: r.reply, Direction: r.dir,
		Src: Peer{IP: netip.MustParseAddr(r.src)}, Dst: Peer{IP: netip.MustParseAddr(r.dst)},
		SrcPort: r.sport, DstPort: r.dport,
	}
}

const (
	podA = "10.244.1.23"
	podB = "10.244.2.41"
)

func TestDeduper(t *testing.T) {
	syn := rec{src: podA, dst: podB, sport: 43512, dport: 8080, flags: TCPSYN}
	synack := rec{src: podB, dst: podA, sport: 8080, dport: 43512, flags: TCPSYN | TCPACK}
	ack := rec{src: podA, dst: podB, sport: 43512, dport: 8080, flags: TCPACK}
	fin := rec{src: podA, dst: podB, sport: 43512, dport: 8080, flags: TCPFIN | TCPACK}
	finBack := rec{src: podB, dst: podA, sport: 8080, dport: 43512, flags: TCPFIN | TCPACK}
	with := func(r rec, f func(*rec)) rec { f(&r); return r }
	egress := func(r rec) rec { r.dir = DirectionEgress; return r }
	ingress := func(r rec) rec { r.dir = DirectionIngress; return r }
	replyOf := func(r rec) rec { r.reply = ReplyYes; return r }
	notReply := func(r rec) rec { r.reply = ReplyNo; return r }
	at := func(d time.Duration) func(*rec) { return func(r *rec) { r.at = d } }

	dnsQ := rec{src: podA, dst: "10.244.0.5", sport: 51913, dport: 53, proto: ProtocolUDP}
	dnsA := rec{src: "10.244.0.5", dst: podA, sport: 53, dport: 51913, proto: ProtocolUDP}

	tests := []struct {
		name string
		recs []rec
		want []Seen
	}{
		{"a connection reported at both ends counts once",
			[]rec{egress(notReply(syn)), ingress(notReply(syn))},
			[]Seen{SeenNew, SeenAgain}},
		{"SYN, SYN-ACK, ACK, FIN at both ends, Hubble's is_reply set",
			[]rec{notReply(syn), notReply(syn), replyOf(synack), replyOf(synack), notReply(ack), notReply(ack), notReply(fin), replyOf(finBack)},
			[]Seen{SeenNew, SeenAgain, SeenReply, SeenReply, SeenAgain, SeenAgain, SeenAgain, SeenReply}},
		{"the same sequence without is_reply (older agents, drop events)",
			[]rec{syn, syn, synack, synack, ack, ack, fin, finBack},
			[]Seen{SeenNew, SeenAgain, SeenReply, SeenReply, SeenAgain, SeenAgain, SeenAgain, SeenReply}},
		{"is_reply true is never new",
			[]rec{replyOf(synack), replyOf(ack), replyOf(dnsA)},
			[]Seen{SeenReply, SeenReply, SeenReply}},
		{"the SYN-ACK from the other node's stream comes first",
			[]rec{synack, syn, ack},
			[]Seen{SeenReply, SeenNew, SeenAgain}},
		{"a reply with is_reply first, then the request",
			[]rec{replyOf(synack), notReply(syn), synack},
			[]Seen{SeenReply, SeenNew, SeenReply}},
		{"retransmitted SYN",
			[]rec{syn, with(syn, at(time.Second)), with(syn, at(3*time.Second)), with(syn, at(7*time.Second))},
			[]Seen{SeenNew, SeenAgain, SeenAgain, SeenAgain}},
		{"dropped SYN and its retransmits count once, as dropped",
			[]rec{with(syn, func(r *rec) { r.verdict = VerdictDropped }), with(syn, func(r *rec) { r.verdict = VerdictDropped; r.at = time.Second })},
			[]Seen{SeenNew, SeenAgain}},
		{"forwarded at the source, dropped by ingress policy at the destination",
			[]rec{egress(syn), ingress(with(syn, func(r *rec) { r.verdict = VerdictDropped })), with(egress(syn), at(time.Second)), with(ingress(with(syn, func(r *rec) { r.verdict = VerdictDropped })), at(time.Second))},
			[]Seen{SeenNew, SeenVerdict, SeenAgain, SeenAgain}},
		{"audit, then dropped: each escalation once",
			[]rec{syn, with(syn, func(r *rec) { r.verdict = VerdictAudit }), with(syn, func(r *rec) { r.verdict = VerdictDropped }), with(syn, func(r *rec) { r.verdict = VerdictAudit })},
			[]Seen{SeenNew, SeenVerdict, SeenVerdict, SeenAgain}},
		{"a dropped reply does not escalate",
			[]rec{syn, replyOf(with(synack, func(r *rec) { r.verdict = VerdictDropped }))},
			[]Seen{SeenNew, SeenReply}},
		{"UDP request and response",
			[]rec{dnsQ, dnsA, dnsQ, dnsA},
			[]Seen{SeenNew, SeenReply, SeenAgain, SeenReply}},
		{"UDP with is_reply",
			[]rec{notReply(dnsQ), replyOf(dnsA)},
			[]Seen{SeenNew, SeenReply}},
		{"a new source port is a new connection",
			[]rec{syn, with(syn, func(r *rec) { r.sport = 43513 })},
			[]Seen{SeenNew, SeenNew}},
		{"protocols are apart",
			[]rec{dnsQ, with(dnsQ, func(r *rec) { r.proto = ProtocolTCP; r.flags = TCPSYN }), with(dnsQ, func(r *rec) { r.proto = ProtocolSCTP })},
			[]Seen{SeenNew, SeenNew, SeenNew}},
		{"symmetric ports, both said to be original directions (NTP peers)",
			[]rec{notReply(rec{src: podA, dst: podB, sport: 123, dport: 123, proto: ProtocolUDP}), notReply(rec{src: podB, dst: podA, sport: 123, dport: 123, proto: ProtocolUDP})},
			[]Seen{SeenNew, SeenNew}},
		{"mid-stream ACK of a connection that started before the window",
			[]rec{ack, with(ack, at(time.Second)), finBack},
			[]Seen{SeenNew, SeenAgain, SeenReply}},
		{"window: again within it, new after it",
			[]rec{syn, with(ack, at(90*time.Second)), with(ack, at(119*time.Second)), with(ack, at(121*time.Second)), with(ack, at(241*time.Second)), with(ack, at(245*time.Second)), with(ack, at(500*time.Second))},
			// The entry made at 0 lives until the rotation at 241s (≥ one
			// window); the one made at 241 until the jump to 500s.
			[]Seen{SeenNew, SeenAgain, SeenAgain, SeenAgain, SeenNew, SeenAgain, SeenNew}},
		{"IPv4 and IPv6 addresses do not collide",
			[]rec{syn, {src: "::ffff:" + podA, dst: podB, sport: 43512, dport: 8080, flags: TCPSYN}, {src: "fd00::1", dst: "fd00::2", sport: 43512, dport: 8080, flags: TCPSYN}},
			// ::ffff:a.b.c.d is the same address (decoders unmap it anyway).
			[]Seen{SeenNew, SeenAgain, SeenNew}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDeduper(DedupeOptions{Window: 2 * time.Minute})
			var got []Seen
			for _, r := range tc.recs {
				got = append(got, d.Observe(r.flow()))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
			st := d.Stats()
			if n := st.New + st.Again + st.Reply + st.Verdict; n != uint64(len(tc.recs)) {
				t.Fatalf("stats %+v count %d decisions, want %d", st, n, len(tc.recs))
			}
		})
	}
}

func TestDeduperIsNew(t *testing.T) {
	d := NewDeduper(DedupeOptions{})
	r := rec{src: podA, dst: podB, sport: 1, dport: 2, flags: TCPSYN}
	if !d.IsNew(r.flow()) || d.IsNew(r.flow()) {
		t.Fatal("IsNew: want true then false")
	}
}

func TestDeduperBounded(t *testing.T) {
	const max = 1000
	d := NewDeduper(DedupeOptions{MaxEntries: max, Window: time.Hour})
	for i := 0; i < 10*max; i++ {
		r := rec{src: podA, dst: podB, sport: uint16(i), dport: 80, flags: TCPSYN}
		if d.Observe(r.flow()) != SeenNew {
			t.Fatalf("%d: a fresh tuple must be new", i)
		}
		if d.Len() > max {
			t.Fatalf("%d entries, cap %d", d.Len(), max)
		}
	}
	if d.Stats().Forced == 0 {
		t.Fatal("no forced rotation")
	}
	// The most recent connections are still remembered.
	r := rec{src: podA, dst: podB, sport: uint16(10*max - 1), dport: 80, flags: TCPSYN}
	if s := d.Observe(r.flow()); s != SeenAgain {
		t.Fatalf("latest connection: %v", s)
	}
}

func TestDeduperZeroTime(t *testing.T) {
	d := NewDeduper(DedupeOptions{Window: time.Second})
	f := rec{src: podA, dst: podB, sport: 1, dport: 2}.flow()
	f.Time = time.Time{}
	if d.Observe(f) != SeenNew || d.Observe(f) != SeenAgain || d.Stats().Rotations != 0 {
		t.Fatal("records without time are deduped without rotation")
	}
}

// TestDedupeCorpus runs the committed Hubble capture through decode and
// dedupe and checks the connections it holds.
func TestDedupeCorpus(t *testing.T) {
	for _, file := range []string{"testdata/hubble/observe.jsonl", "testdata/hubble/exporter-camelcase.jsonl"} {
		t.Run(file, func(t *testing.T) {
			d := NewDeduper(DedupeOptions{})
			var news []string
			counts := map[Seen]int{}
			readCorpus(t, file, func(f *Flow) {
				s := d.Observe(f)
				counts[s]++
				if s == SeenNew {
					news = append(news, fmt.Sprintf("%s %s:%d>%s:%d %s", f.Protocol, f.Src.IP, f.SrcPort, f.Dst.IP, f.DstPort, f.Verdict))
				}
			})
			want := []string{
				"TCP 10.244.1.23:43512>10.244.2.41:8080 FORWARDED",
				"UDP 10.244.1.23:51913>10.244.0.5:53 FORWARDED",
				"TCP 10.244.1.23:38822>203.0.113.10:443 FORWARDED",
				"TCP 10.244.1.61:60144>10.244.2.77:5432 DROPPED",
				"TCP 10.244.1.23:41002>10.244.2.77:5432 FORWARDED",
				"TCP fd00:10:244:1::17:52110>fd00:10:244:2::2a:8080 FORWARDED",
				"TCP fd00:10:244:1::17:52200>2001:db8:4006:812::200e:443 FORWARDED",
				"TCP 10.244.1.9:36618>10.244.2.41:9090 AUDIT",
				"TCP 172.18.0.4:48880>10.244.2.41:8080 FORWARDED",
				"UDP 172.18.0.3:41234>10.244.0.5:53 FORWARDED",
				"SCTP 10.244.2.77:2905>10.244.2.41:2905 FORWARDED",
				"TCP 10.244.1.23:43600>10.244.2.41:8080 TRACED",
				"UDP 10.244.1.61:45000>198.51.100.123:123 FORWARDED",
				"TCP 198.51.100.77:50123>10.244.1.23:8443 FORWARDED",
				"TCP 10.244.2.41:39001>10.244.2.77:5432 FORWARDED",
				"TCP 10.244.1.23:43900>10.244.2.41:8080 REDIRECTED",
			}
			if fmt.Sprint(news) != fmt.Sprint(want) {
				t.Fatalf("new connections:\n%q\nwant\n%q", news, want)
			}
			if counts[SeenVerdict] != 1 || counts[SeenAgain] != 6 || counts[SeenReply] != 7 {
				t.Fatalf("decisions %v", counts)
			}
		})
	}
}

// TestDeduperProperties checks, over random streams, what must hold
// whatever the order of records: a repeat of the record just seen is never
// new; a reply is never new; a direction is counted at most once per
// window; memory stays under the cap.
func TestDeduperProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := []string{podA, podB, "10.244.0.5", "fd00::1"}
	const window = time.Minute
	for run := 0; run < 50; run++ {
		d := NewDeduper(DedupeOptions{Window: window})
		counted := map[connKey]time.Time{}
		at := time.Duration(0)
		for i := 0; i < 2000; i++ {
			at += time.Duration(rng.IntN(400)) * time.Millisecond
			r := rec{
				src: addrs[rng.IntN(len(addrs))], dst: addrs[rng.IntN(len(addrs))],
				sport: uint16(1 + rng.IntN(3)), dport: uint16(1 + rng.IntN(3)),
				proto: Protocol(1 + rng.IntN(3)), reply: Reply(rng.IntN(3)), verdict: Verdict(rng.IntN(NumVerdicts)),
				flags: TCPFlags(rng.IntN(32)), at: at,
			}
			if r.proto != ProtocolTCP {
				r.flags = 0
			}
			f := r.flow()
			s := d.Observe(f)
			if again := d.Observe(f); again == SeenNew || again == SeenVerdict {
				t.Fatalf("run %d rec %d: the same record twice: %v then %v", run, i, s, again)
			}
			if f.Reply == ReplyYes && s == SeenNew {
				t.Fatalf("run %d rec %d: a reply counted", run, i)
			}
			if s == SeenNew {
				k := makeKey(f.Src.IP.As16(), f.Dst.IP.As16(), f.SrcPort, f.DstPort, f.Protocol)
				if last, ok := counted[k]; ok && f.Time.Sub(last) < window {
					t.Fatalf("run %d rec %d: counted again after %v", run, i, f.Time.Sub(last))
				}
				counted[k] = f.Time
			}
		}
		if st := d.Stats(); st.Forced != 0 {
			t.Fatalf("forced rotations: %+v", st)
		}
	}
}
