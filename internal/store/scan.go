package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// window is a query's range of hour buckets, both ends inclusive.
type window struct{ from, to uint32 }

// windowOf turns the half-open time range [from, to) into the hour
// buckets it touches: a bucket is included when any part of its hour lies
// in the range. A zero from means since the beginning, a zero to means
// without end. ok is false when the range is empty.
func windowOf(from, to time.Time) (w window, ok bool) {
	w.to = maxHour
	if !from.IsZero() {
		w.from = hourOf(from)
	}
	if !to.IsZero() {
		if !from.IsZero() && !to.After(from) {
			return w, false
		}
		last := to.Add(-time.Nanosecond)
		if last.Unix() < 0 {
			return w, false // before the epoch: nothing is stored there
		}
		w.to = hourOf(last)
	}
	return w, w.from <= w.to
}

// span is an inclusive range of bucket numbers (hours or days).
type span struct{ lo, hi uint32 }

// plan is how a query reads a window: day buckets for the whole days
// that are rolled up, hour buckets for the rest.
type plan struct {
	hours []span
	days  []span
}

// planWindow splits w into rolled-up days (whole days inside w that
// rolled reports as rolled up; sorted) and hour ranges for the rest.
func planWindow(w window, rolled []uint32) plan {
	var p plan
	next := w.from // first hour not planned yet
	for _, d := range rolled {
		lo, hi := d*24, d*24+23
		if lo < w.from || hi > w.to || lo < next {
			continue
		}
		if lo > next {
			p.hours = append(p.hours, span{next, lo - 1})
		}
		if n := len(p.days); n > 0 && p.days[n-1].hi+1 == d {
			p.days[n-1].hi = d
		} else {
			p.days = append(p.days, span{d, d})
		}
		if hi == maxHour {
			return p
		}
		next = hi + 1
	}
	if next <= w.to {
		p.hours = append(p.hours, span{next, w.to})
	}
	return p
}

// rangeIter walks the keys of one family under a prefix whose bucket
// lies in one of spans (sorted, disjoint): within each endpoint it skips
// the buckets between spans, and the endpoint's keys after the last.
//
// A Seek repositions every memtable and table iterator and costs as much
// as 15 to 20 Nexts, so settle first steps over up to maxSkip keys with
// Next. Each gap (before span i, or after the last) has a credit:
// stepping past the gap adds one (up to skipCredit), giving up and
// seeking takes one, and a gap out of credit is sought at once. The hours
// of rolled-up days hold many keys per endpoint and soon are; the days
// before a window, or the hours after it, often hold a key or two.
type rangeIter struct {
	it     *badger.Iterator
	spans  []span
	self   []byte // family | ref of the current key
	bucket uint32
	err    error
	seek   []byte // the key settle seeks to
	credit []int8 // per gap: len(spans)+1
	// Room for seek and credit in the common case, saving allocations.
	seekBuf   [1 + refLen + 4]byte
	creditBuf [4]int8
}

const (
	maxSkip    = 8 // keys stepped over before seeking
	skipCredit = 2
)

func newRangeIter(txn *badger.Txn, prefix []byte, spans []span) *rangeIter {
	if len(spans) == 0 {
		return &rangeIter{} // nothing to read
	}
	r := &rangeIter{it: txn.NewIterator(badger.IteratorOptions{Prefix: prefix}), spans: spans}
	r.seek = r.seekBuf[:0]
	r.credit = r.creditBuf[:0]
	r.credit = slices.Grow(r.credit, len(spans)+1)[:len(spans)+1]
	for i := range r.credit {
		r.credit[i] = skipCredit
	}
	r.it.Seek(prefix)
	r.settle()
	return r
}

func (r *rangeIter) valid() bool { return r.err == nil && len(r.spans) > 0 && r.it.Valid() }

func (r *rangeIter) close() {
	if r.it != nil {
		r.it.Close()
	}
}

func (r *rangeIter) next() {
	r.it.Next()
	r.settle()
}

// settle moves forward to the first key at or after the current one whose
// bucket is in a span.
func (r *rangeIter) settle() {
	// skipped keys stepped over so far, in gap of endpoint at.
	skipped, gap, at := 0, 0, ref(0)
	for r.it.Valid() {
		k := r.it.Item().Key()
		if len(k) != edgeKeyLen {
			r.err = fmt.Errorf("%w: %s", errCorruptKey, describeKey(k))
			return
		}
		self := k[:1+refLen]
		b := binary.BigEndian.Uint32(k[1+refLen:])
		i := 0
		for i < len(r.spans) && r.spans[i].hi < b {
			i++
		}
		in := i < len(r.spans) && b >= r.spans[i].lo
		if skipped > 0 && (in || i != gap || refAt(self[1:]) != at) {
			// Stepped past the gap: as good as the seek.
			r.credit[gap] = min(r.credit[gap]+1, skipCredit)
			skipped = 0
		}
		if in {
			r.self, r.bucket = self, b
			return
		}
		if r.credit[i] > 0 && skipped < maxSkip {
			if skipped == 0 {
				gap, at = i, refAt(self[1:])
			}
			skipped++
			r.it.Next()
			continue
		}
		if skipped > 0 {
			r.credit[i]-- // maxSkip keys and still in the gap
			skipped = 0
		}
		h := uint32(0xFFFFFFFF) // past the endpoint's keys
		if i < len(r.spans) {
			h = r.spans[i].lo
		}
		r.seek = binary.BigEndian.AppendUint32(append(r.seek[:0], self...), h)
		r.it.Seek(r.seek)
	}
}

// ref is the endpoint of the current key.
func (r *rangeIter) ref() ref { return refAt(r.self[1:]) }

// scanRanges calls fn for every key of family fam under prefix (family
// byte excluded: a group, a ref, or nothing) whose bucket is in spans.
// The slices passed to fn are valid only during the call.
func scanRanges(txn *badger.Txn, fam byte, prefix []byte, spans []span, fn func(p *parsedKey, val []byte) error) error {
	if len(spans) == 0 {
		return nil
	}
	r := newRangeIter(txn, append([]byte{fam}, prefix...), spans)
	defer r.close()
	var v visitor
	v.fn = fn
	for ; r.valid(); r.next() {
		if err := v.visit(r.it.Item(), r.it.Item().Key()); err != nil {
			return err
		}
	}
	return r.err
}

// scanPlan scans the hour family for p.hours and the day family for
// p.days.
func scanPlan(txn *badger.Txn, hourFam, dayFam byte, prefix []byte, p plan, fn func(p *parsedKey, val []byte) error) error {
	if err := scanRanges(txn, hourFam, prefix, p.hours, fn); err != nil {
		return err
	}
	return scanRanges(txn, dayFam, prefix, p.days, fn)
}

// visitor parses a key and hands it with its value to fn; its value
// callback is made once per scan, not per key.
type visitor struct {
	p     parsedKey
	fn    func(p *parsedKey, val []byte) error
	value func(v []byte) error
}

func (v *visitor) visit(item *badger.Item, k []byte) error {
	p, err := parseEdgeKey(k[1:])
	if err != nil {
		return fmt.Errorf("%w: %s", err, describeKey(k))
	}
	v.p = p
	if v.value == nil {
		v.value = func(val []byte) error { return v.fn(&v.p, val) }
	}
	return item.Value(v.value)
}
