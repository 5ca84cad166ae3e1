package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"
)

// Flush writes every bucket recorded before the call to the store and
// syncs it to disk. It runs by itself every FlushInterval; call it to make
// recent Records visible to queries at once.
func (s *Store) Flush(ctx context.Context) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.flush(ctx)
}

// flush takes the dirty buckets, merges the stored value into those not
// loaded yet (first flush of a bucket in this process), and writes the
// absolute values of each under both its egress and its ingress key, the
// two in one transaction. On failure the buckets are marked dirty again:
// values are absolute, so writing them again later is harmless.
func (s *Store) flush(ctx context.Context) (err error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	start := time.Now()
	defer func() {
		next := make(chan struct{})
		close(*s.flushDone.Swap(&next))
		s.metrics.flushes.Inc()
		s.metrics.flushDuration.Observe(time.Since(start).Seconds())
		if err != nil {
			s.metrics.flushErrors.Inc()
			s.flushErr.Store(&err)
		} else {
			s.flushErr.Store(nil)
		}
	}()

	// 1. Take the dirty lists. Entries stay marked dirty, so Records
	// meanwhile do not list them again.
	var batch, toLoad []*entry
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.dirty {
			batch = append(batch, e)
			if !e.loaded {
				toLoad = append(toLoad, e)
			}
		}
		clear(sh.dirty)
		sh.dirty = sh.dirty[:0]
		sh.mu.Unlock()
	}
	// Entries of the dictionary allocated before the buckets were taken:
	// every ref of the batch is either written already or among these.
	dictRefs, dictEncs := s.dict.takeUnsaved()
	if len(batch) == 0 && len(dictRefs) == 0 {
		s.evict()
		return nil
	}
	requeue := func() {
		s.dict.requeue(dictRefs)
		for _, e := range batch {
			sh := &s.shards[e.shard]
			sh.mu.Lock()
			if !e.dirty {
				e.dirty = true
				s.pending.Add(1)
			}
			sh.dirty = append(sh.dirty, e)
			sh.mu.Unlock()
		}
	}

	// 2. Merge stored values into buckets first flushed by this process.
	if len(toLoad) > 0 {
		if err := s.load(ctx, toLoad); err != nil {
			requeue()
			return err
		}
	}

	// 3. Encode keys and values, clearing dirty. One arena holds them all:
	// Badger keeps the slices until the transactions commit.
	size := 0
	for _, e := range batch {
		size += 2*edgeKeyLen + 64 + 24*len(e.names)
	}
	arena := make([]byte, 0, size)
	type kv struct{ o, i, v [2]int } // [start, end) in arena
	kvs := make([]kv, len(batch))
	for n, e := range batch {
		sh := &s.shards[e.shard]
		sh.mu.Lock()
		var r kv
		r.o[0] = len(arena)
		arena = e.key.appendKey(arena, famEgress)
		r.o[1] = len(arena)
		r.i[0] = len(arena)
		in := e.key.swapped()
		arena = in.appendKey(arena, famIngress)
		r.i[1] = len(arena)
		r.v[0] = len(arena)
		arena = appendValue(arena, &e.bucketStats)
		r.v[1] = len(arena)
		e.dirty = false
		s.pending.Add(-1)
		sh.mu.Unlock()
		kvs[n] = r
	}

	// 4. Write, pipelining commits; each pair in one transaction. Days
	// written to stop being rolled up first: queries read their hours.
	days := make(map[uint32]struct{})
	for _, e := range batch {
		days[e.hour/24] = struct{}{}
	}
	w := newPairWriter(s.db, badgerOptions(&s.opts).MemTableSize)
	// The dictionary entries first: a crash keeps a prefix of the
	// transactions, so no edge key survives without its endpoints.
	for i, r := range dictRefs {
		w.put(dictKey(r), []byte(dictEncs[i]))
	}
	for d := range days {
		if s.rollups.has(d) {
			s.rollups.set(d, false)
			w.delete(rolledUpKey(d))
		}
	}
	for _, r := range kvs {
		w.set(arena[r.o[0]:r.o[1]:r.o[1]], arena[r.i[0]:r.i[1]:r.i[1]], arena[r.v[0]:r.v[1]:r.v[1]])
	}
	if err := w.finish(); err != nil {
		requeue()
		return fmt.Errorf("flush %d edge buckets to %s: %w", len(batch), s.opts.Dir, err)
	}
	if err := s.db.Sync(); err != nil {
		requeue()
		return fmt.Errorf("sync %s after flush: %w", s.opts.Dir, err)
	}
	s.rollups.bump(days)
	s.metrics.edgesWritten.Add(float64(len(batch)))
	s.dict.rerank(false)
	s.evict()
	return nil
}

// load reads the stored values of buckets this process has not written
// yet and merges them in (the stored data is older: the entry's Service
// wins).
func (s *Store) load(ctx context.Context, es []*entry) error {
	bases := make([]bucketStats, len(es))
	found := make([]bool, len(es))
	var key []byte
	err := s.db.View(func(txn *badger.Txn) error {
		for n, e := range es {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key = e.key.appendKey(key[:0], famEgress)
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { return decodeValue(v, &bases[n]) }); err != nil {
				// A corrupt stored value is replaced by what memory holds
				// rather than blocking every later flush.
				s.log.Warn("replacing unreadable stored edge value", "key", describeKey(key), "err", err)
				continue
			}
			found[n] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stored edge buckets in %s: %w", s.opts.Dir, err)
	}
	for n, e := range es {
		sh := &s.shards[e.shard]
		sh.mu.Lock()
		if found[n] {
			e.merge(&bases[n])
		}
		e.loaded = true
		sh.mu.Unlock()
	}
	return nil
}

// evict drops clean buckets of closed hours (older than the previous
// hour) once per hour, and every clean bucket when memory is near its
// bound. Evicted buckets that see flows again are loaded again.
func (s *Store) evict() {
	cur := hourOf(s.opts.Clock())
	full := s.resident.Load() >= int64(s.opts.MaxResidentEdges)*9/10
	if cur == s.lastEvictHour && !full {
		return
	}
	s.lastEvictHour = cur
	evicted := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if !e.dirty && e.loaded && (full || e.hour+1 < cur) {
				delete(sh.m, k)
				evicted++
			}
		}
		sh.mu.Unlock()
	}
	s.resident.Add(-int64(evicted))
}

// pairWriter writes (egress, ingress, value) triples in update
// transactions committed asynchronously. It starts a new transaction
// before Badger's batch limits would be hit, so both keys of a pair land
// in the same transaction (atomic on recovery).
type pairWriter struct {
	db       *badger.DB
	txn      *badger.Txn
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	count    int64 // entries in txn
	size     int64 // estimated bytes in txn
	maxCount int64
	maxSize  int64
}

func newPairWriter(db *badger.DB, memTableSize int64) *pairWriter {
	// Badger refuses a transaction of 15% of a memtable, or of that many
	// bytes divided by a skiplist node's size entries; stay well below.
	maxSize := memTableSize * 15 / 100
	return &pairWriter{
		db:       db,
		txn:      db.NewTransaction(true),
		maxSize:  maxSize * 8 / 10,
		maxCount: maxSize / int64(skl.MaxNodeSize) * 8 / 10,
	}
}

func (w *pairWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *pairWriter) commit() {
	if w.count == 0 {
		return
	}
	w.wg.Add(1)
	w.txn.CommitWith(func(err error) {
		if err != nil {
			w.fail(err)
		}
		w.wg.Done()
	})
	w.txn = w.db.NewTransaction(true)
	w.count, w.size = 0, 0
}

func (w *pairWriter) set(o, i, v []byte) {
	pair := int64(len(o)+len(i)+2*len(v)) + 2*32
	if w.count+2 > w.maxCount || w.size+pair > w.maxSize {
		w.commit()
	}
	w.count += 2
	w.size += pair
	for _, k := range [2][]byte{o, i} {
		err := w.txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			// Only a pair larger than our estimate gets here.
			w.commit()
			err = w.txn.Set(k, v)
		}
		if err != nil {
			w.fail(fmt.Errorf("write key %s: %w", describeKey(k), err))
			return
		}
	}
}

// put writes one key.
func (w *pairWriter) put(k, v []byte) {
	n := int64(len(k)+len(v)) + 32
	if w.count+1 > w.maxCount || w.size+n > w.maxSize {
		w.commit()
	}
	w.count++
	w.size += n
	err := w.txn.Set(k, v)
	if errors.Is(err, badger.ErrTxnTooBig) {
		w.commit()
		err = w.txn.Set(k, v)
	}
	if err != nil {
		w.fail(fmt.Errorf("write key %s: %w", describeKey(k), err))
	}
}

func (w *pairWriter) delete(k []byte) {
	if w.count+1 > w.maxCount || w.size+int64(len(k))+32 > w.maxSize {
		w.commit()
	}
	w.count++
	w.size += int64(len(k)) + 32
	if err := w.txn.Delete(k); err != nil {
		w.fail(fmt.Errorf("delete key %s: %w", describeKey(k), err))
	}
}

func (w *pairWriter) finish() error {
	w.commit()
	w.txn.Discard()
	w.wg.Wait()
	return w.err
}
