package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Day rollups: once a day is over, RollUp aggregates its hour buckets into
// one bucket per edge under the day families (O, I) and writes a marker
// (r | day). Queries read whole rolled-up days from the day families and
// everything else from the hour families, so a 7-day query reads about 7
// buckets per edge instead of 168 (plus the hours of partial days at its
// ends). Hour buckets stay the source of truth: a flush that writes an
// hour of a rolled-up day (a late flow) removes the day's marker first,
// and the next RollUp computes the day again.

// rollups is the set of rolled-up days and, per day, a generation bumped
// by every flush that wrote one of its hours.
type rollups struct {
	mu   sync.Mutex
	days atomic.Pointer[[]uint32] // sorted; replaced, never modified
	gen  map[uint32]uint64
}

func (r *rollups) list() []uint32 {
	if p := r.days.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *rollups) has(d uint32) bool {
	_, ok := slices.BinarySearch(r.list(), d)
	return ok
}

// set adds or removes d.
func (r *rollups) set(d uint32, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.list()
	i, found := slices.BinarySearch(old, d)
	if found == on {
		return
	}
	var days []uint32
	if on {
		days = slices.Insert(slices.Clone(old), i, d)
	} else {
		days = slices.Delete(slices.Clone(old), i, i+1)
	}
	r.days.Store(&days)
}

func (r *rollups) generation(d uint32) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen[d]
}

func (r *rollups) bump(days map[uint32]struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == nil {
		r.gen = make(map[uint32]uint64)
	}
	for d := range days {
		r.gen[d]++
	}
}

func (r *rollups) forget(before uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.gen {
		if d < before {
			delete(r.gen, d)
		}
	}
}

func rolledUpKey(d uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{famRolledUp}, d)
}

// loadRollups reads the markers at open.
func (s *Store) loadRollups() error {
	var days []uint32
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{famRolledUp}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 5 {
				return fmt.Errorf("%w: %s", errCorruptKey, describeKey(k))
			}
			days = append(days, binary.BigEndian.Uint32(k[1:]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read day rollups: %w", err)
	}
	slices.Sort(days)
	s.rollups.days.Store(&days)
	return nil
}

// RollUp rolls up every complete day inside the retention that is not
// rolled up yet (days ending at or before now), and returns how many it
// rolled up. The background loop runs it at open and hourly.
func (s *Store) RollUp(ctx context.Context, now time.Time) (int, error) {
	s.rollupMu.Lock()
	defer s.rollupMu.Unlock()
	today := hourOf(now) / 24
	first := hourOf(now.Add(-s.opts.Retention))/24 + 1
	n := 0
	for d := first; d < today; d++ {
		if s.rollups.has(d) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ok, err := s.rollUpDay(ctx, d)
		if err != nil {
			return n, fmt.Errorf("roll up %s: %w", hourStart(d*24).Format(time.DateOnly), err)
		}
		if ok {
			n++
		}
	}
	s.rollups.forget(first)
	return n, nil
}

// rollUpDay aggregates the hour buckets of day d into day buckets and
// marks the day rolled up, unless a flush wrote to the day meanwhile (then
// it reports false and a later run tries again).
func (s *Store) rollUpDay(ctx context.Context, d uint32) (bool, error) {
	gen := s.rollups.generation(d)
	memtable := badgerOptions(&s.opts).MemTableSize
	err := s.view(func(txn *badger.Txn) error {
		w := newPairWriter(s.db, memtable)
		r := newRangeIter(txn, []byte{famEgress}, []span{{d * 24, d*24 + 23}})
		defer r.close()
		var src ref
		started := false
		aggs := newEdgeAggregates[restKey]()
		emit := func() {
			for i, id := range aggs.ids {
				body := bodyWithBucket(src, d, &id)
				in := body.swapped()
				v := appendValue(nil, &aggs.at(int32(i)).bucketStats)
				w.set(body.appendKey(nil, famEgressDay), in.appendKey(nil, famIngressDay), v)
			}
			aggs = newEdgeAggregates[restKey]()
		}
		n := 0
		for ; r.valid(); r.next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := r.it.Item()
			p, err := parseEdgeKey(item.Key()[1:])
			if err != nil {
				return fmt.Errorf("%w: %s", err, describeKey(item.Key()))
			}
			if !started || p.self != src {
				emit()
				src, started = p.self, true
			}
			if err := item.Value(func(v []byte) error { return aggs.add(p.rest, v) }); err != nil {
				return err
			}
		}
		if r.err != nil {
			return r.err
		}
		emit()
		return w.finish()
	})
	if err != nil {
		return false, err
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.rollups.generation(d) != gen {
		return false, nil
	}
	err = s.update(func(txn *badger.Txn) error { return txn.Set(rolledUpKey(d), []byte{1}) })
	if err != nil {
		return false, err
	}
	s.rollups.set(d, true)
	return true, nil
}
