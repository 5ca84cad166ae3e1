package flow

import (
	"encoding/binary"
	"time"
)

// Seen is what a flow record means for connection counting.
type Seen uint8

const (
	// SeenNew: the record starts a connection to count.
	SeenNew Seen = iota + 1
	// SeenAgain: another record of a connection already counted (the
	// other end's report, a retransmitted SYN, a later packet).
	SeenAgain
	// SeenReply: the reply direction of a connection.
	SeenReply
	// SeenVerdict: a connection already counted is reported again with a
	// more severe verdict (AUDIT, then DROPPED), typically forwarded at the
	// source node and denied by ingress policy at the destination. Count
	// the record's verdict, not another connection.
	SeenVerdict
)

var seenNames = [...]string{"?", "new", "again", "reply", "verdict"}

func (s Seen) String() string {
	if int(s) < len(seenNames) {
		return seenNames[s]
	}
	return "?"
}

// DedupeOptions configure a Deduper.
type DedupeOptions struct {
	// Window is how long a connection is remembered: it is counted at
	// most once per Window, and counted again when a record of it comes
	// between Window and 2×Window after it was counted. Default 2 minutes.
	Window time.Duration
	// MaxEntries bounds the remembered directions (about 100 bytes each).
	// When reached, the older half of the memory is dropped early, so that
	// connections may be counted again sooner. Default 1<<20.
	MaxEntries int
}

// Default dedupe settings.
const (
	DefaultDedupeWindow     = 2 * time.Minute
	DefaultDedupeMaxEntries = 1 << 20
)

// connKey is a directional 5-tuple: source and destination address (16
// bytes each, IPv4 as IPv4-mapped), ports, protocol. An array, so that the
// map hashes and compares it as plain memory.
type connKey [37]byte

func makeKey(src, dst [16]byte, sport, dport uint16, proto Protocol) connKey {
	var k connKey
	copy(k[0:16], src[:])
	copy(k[16:32], dst[:])
	binary.BigEndian.PutUint16(k[32:], sport)
	binary.BigEndian.PutUint16(k[34:], dport)
	k[36] = byte(proto)
	return k
}

// connState bits.
const (
	stForward   = 1 << iota // this direction was counted
	stReplyDir              // this direction is known to be a reply direction
	stRankShift = 2         // bits 2-3: the most severe verdict seen
)

func verdictRank(v Verdict) uint8 {
	switch v {
	case VerdictDropped:
		return 2
	case VerdictAudit:
		return 1
	}
	return 0
}

// Deduper turns flow records into connections: a connection reported at
// both ends, packet by packet, counts once per window; replies are not
// connections. Memory is two generations of maps, swapped every Window,
// with a cap on entries. Time comes from the records (Flow.Time), never
// from a clock. A Deduper is not safe for concurrent use.
type Deduper struct {
	window    int64
	max       int
	cur, prev map[connKey]uint8
	genStart  int64
	started   bool
	stats     DedupeStats
}

// DedupeStats counts a Deduper's decisions.
type DedupeStats struct {
	New, Again, Reply, Verdict uint64
	// Rotations counts generation swaps; Forced those caused by
	// MaxEntries.
	Rotations, Forced uint64
}

// NewDeduper returns a Deduper; zero options take the defaults.
func NewDeduper(opts DedupeOptions) *Deduper {
	if opts.Window <= 0 {
		opts.Window = DefaultDedupeWindow
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultDedupeMaxEntries
	}
	return &Deduper{
		window: int64(opts.Window),
		max:    opts.MaxEntries,
		cur:    make(map[connKey]uint8),
		prev:   make(map[connKey]uint8),
	}
}

// IsNew reports whether f starts a connection to count.
func (d *Deduper) IsNew(f *Flow) bool { return d.Observe(f) == SeenNew }

// Stats returns the decision counters.
func (d *Deduper) Stats() DedupeStats { return d.stats }

// Len returns the number of remembered directions.
func (d *Deduper) Len() int { return len(d.cur) + len(d.prev) }

// Observe classifies f and remembers what it learns from it:
//
//   - is_reply true: a reply, never new.
//   - the same direction already counted: SeenAgain (or SeenVerdict, once
//     per escalation, when the verdict is more severe than before).
//   - the reverse direction counted, and f not marked "not a reply": a
//     reply.
//   - TCP SYN+ACK: a reply (the SYN may come later from another node's
//     stream: it is then still counted).
//   - anything else is a new connection: a SYN; a UDP or SCTP datagram; a
//     TCP record without SYN whose connection started before the window
//     (a long-lived connection is counted again once per window, which
//     keeps it live in every time bucket); a DROPPED record.
func (d *Deduper) Observe(f *Flow) Seen {
	s := d.observe(f)
	switch s {
	case SeenNew:
		d.stats.New++
	case SeenAgain:
		d.stats.Again++
	case SeenReply:
		d.stats.Reply++
	case SeenVerdict:
		d.stats.Verdict++
	}
	return s
}

func (d *Deduper) observe(f *Flow) Seen {
	if !f.Time.IsZero() {
		d.advance(f.Time.UnixNano())
	}
	src, dst := f.Src.IP.As16(), f.Dst.IP.As16()
	k := makeKey(src, dst, f.SrcPort, f.DstPort, f.Protocol)
	rank := verdictRank(f.Verdict)
	if st, m, ok := d.lookup(k); ok {
		switch {
		case st&stForward != 0:
			if f.Reply != ReplyYes && rank > st>>stRankShift {
				m[k] = st&^(3<<stRankShift) | rank<<stRankShift
				return SeenVerdict
			}
			return SeenAgain
		case f.Reply == ReplyNo:
			// Said to be an original direction: trust it, and count it
			// in the current generation so that it lives a full window.
			delete(m, k)
			d.insert(k, st|stForward|rank<<stRankShift)
			return SeenNew
		}
		return SeenReply
	}
	if f.Reply == ReplyYes {
		d.insert(k, stReplyDir)
		return SeenReply
	}
	if f.Reply != ReplyNo {
		rk := makeKey(dst, src, f.DstPort, f.SrcPort, f.Protocol)
		if st, _, ok := d.lookup(rk); ok && st&stForward != 0 {
			return SeenReply
		}
		if f.Protocol == ProtocolTCP && f.TCPFlags&(TCPSYN|TCPACK) == TCPSYN|TCPACK {
			d.insert(k, stReplyDir)
			return SeenReply
		}
	}
	d.insert(k, stForward|rank<<stRankShift)
	return SeenNew
}

func (d *Deduper) lookup(k connKey) (uint8, map[connKey]uint8, bool) {
	if st, ok := d.cur[k]; ok {
		return st, d.cur, true
	}
	if st, ok := d.prev[k]; ok {
		return st, d.prev, true
	}
	return 0, nil, false
}

// insert adds a direction to the current generation. A generation holds
// at most half of MaxEntries: when full, it becomes the previous one early.
func (d *Deduper) insert(k connKey, st uint8) {
	if len(d.cur) >= max(1, d.max/2) {
		d.rotate()
		d.stats.Forced++
	}
	d.cur[k] = st
}

// advance swaps generations when the records' time has moved a Window
// past the current generation's start.
func (d *Deduper) advance(now int64) {
	if !d.started {
		d.genStart, d.started = now, true
		return
	}
	if now-d.genStart < d.window {
		return
	}
	if now-d.genStart >= 2*d.window {
		// Everything remembered is more than a window old.
		clear(d.cur)
		clear(d.prev)
		d.stats.Rotations++
	} else {
		d.rotate()
	}
	d.genStart = now
}

func (d *Deduper) rotate() {
	clear(d.prev)
	d.prev, d.cur = d.cur, d.prev
	d.stats.Rotations++
}
