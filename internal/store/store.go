package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Options fields left zero.
const (
	DefaultRetention        = 30 * 24 * time.Hour
	DefaultFlushInterval    = time.Second
	DefaultFlushEdges       = 50_000
	DefaultMaxResidentEdges = 250_000
	DefaultMemoryBudget     = 192 << 20
)

// retentionEvery is how often the background loop enforces retention.
const retentionEvery = time.Hour

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("edge store is closed")

// Options configure a Store. Zero fields take the defaults above.
type Options struct {
	// Dir is the data directory. A missing or empty directory becomes a
	// new store; otherwise it must hold a store this version can read.
	Dir string
	// Retention is how long hour buckets are kept (default 30 days).
	// Flows older than that are not recorded.
	Retention time.Duration
	// FlushInterval is the longest time recorded flows wait in memory
	// (default 1 s): a kill -9 loses at most this much.
	FlushInterval time.Duration
	// FlushEdges starts a flush early when this many (edge, hour) buckets
	// are waiting (default 50,000).
	FlushEdges int
	// MaxResidentEdges bounds the (edge, hour) buckets held in memory
	// (default 250,000, about 90 MB). When it is reached, a Record of a
	// new bucket waits for a flush to free room (counted in
	// redline_store_backpressure_waits_total).
	MaxResidentEdges int
	// MemoryBudget sizes Badger's caches and memtables (default 192 MiB):
	// three memtables of budget/24 (4–64 MiB each) and an index cache of
	// budget/4 (used by Badger for encrypted tables only). It does not
	// include the resident buckets above.
	MemoryBudget int64
	// Logger receives the store's and Badger's logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer, if set, gets the store's metrics (redline_store_*).
	Registerer prometheus.Registerer
	// Clock tells the time (default time.Now); tests set it.
	Clock func() time.Time
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("no data directory given: set the store directory")
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushEdges == 0 {
		o.FlushEdges = DefaultFlushEdges
	}
	if o.MaxResidentEdges == 0 {
		o.MaxResidentEdges = DefaultMaxResidentEdges
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	switch {
	case o.Retention < 2*time.Hour:
		return fmt.Errorf("retention %s is shorter than two hour buckets: use at least 2h", o.Retention)
	case o.FlushInterval < 0:
		return fmt.Errorf("flush interval %s is negative", o.FlushInterval)
	case o.FlushEdges < 0:
		return fmt.Errorf("flush edges %d is negative", o.FlushEdges)
	case o.MaxResidentEdges < o.FlushEdges:
		return fmt.Errorf("max resident edges %d is below flush edges %d: raise it", o.MaxResidentEdges, o.FlushEdges)
	case o.MemoryBudget < 32<<20:
		return fmt.Errorf("memory budget %d bytes is below the 32 MiB the store needs", o.MemoryBudget)
	}
	return nil
}

// badgerOptions tunes Badger for a bounded resident size (see doc.go):
// few, small memtables; tables of 2 MiB at every level (compaction
// builders hold two tables' worth each); no block compression, so blocks
// are read straight from the memory-mapped tables without a decompressed
// copy and no block cache is needed; a bounded index cache; small
// value-log files (values are small and live in the LSM tree); no Badger
// metrics; no conflict detection (one writer: the flusher).
func badgerOptions(o *Options) badger.Options {
	memtable := min(max(o.MemoryBudget/24, 4<<20), 64<<20)
	opts := badger.DefaultOptions(o.Dir)
	opts.TableSizeMultiplier = 1
	return opts.
		WithLogger(badgerLogger{o.Logger.With("component", "badger")}).
		WithMemTableSize(memtable).
		WithNumMemtables(3).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithBaseTableSize(2 << 20).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(o.MemoryBudget / 4).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithSyncWrites(false)
}

// Store is the Badger-backed edge store. Record aggregates in memory; a
// background loop flushes every FlushInterval (or FlushEdges buckets) and
// enforces retention and rolls up days hourly. Queries read what has been flushed. All
// methods are safe for concurrent use.
type Store struct {
	opts    Options
	db      *badger.DB
	log     *slog.Logger
	metrics *metrics

	seed   maphash.Seed
	shards [numShards]shard
	dict   *dict // set by Open

	pending  atomic.Int64 // dirty buckets
	resident atomic.Int64 // buckets in memory
	cutoff   atomic.Int64 // Unix ns: flows before it are past retention
	kick     chan struct{}

	flushMu       sync.Mutex // one flush at a time
	lastEvictHour uint32     // guarded by flushMu
	flushErr      atomic.Pointer[error]
	rollups       rollups
	nsScans       sync.Pool  // *nsScan, see Store.nsScan
	rollupMu      sync.Mutex // one RollUp at a time
	// flushDone is closed (and replaced) when a flush ends.
	flushDone atomic.Pointer[chan struct{}]

	closing   atomic.Bool
	closeMu   sync.RWMutex // readers: calls using db; writer: Close
	closed    bool
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup // loop and maintain
}

// Open opens (or creates) the store in opts.Dir. A directory that is not
// a Redline store gives ErrNotRedlineDir, one of another schema version
// ErrIncompatibleSchema; in both cases it is left untouched.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("open edge store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open edge store %s: %w", opts.Dir, err)
	}
	created, err := prepareDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open edge store: %w", err)
	}
	m := newMetrics()
	db, err := badger.Open(badgerOptions(&opts))
	if err != nil {
		return nil, fmt.Errorf("open edge store %s (is another Redline process using it?): %w", opts.Dir, err)
	}
	s := &Store{
		opts:    opts,
		db:      db,
		log:     opts.Logger.With("component", "store"),
		metrics: m,
		seed:    maphash.MakeSeed(),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[edgeBody]*entry)
	}
	done := make(chan struct{})
	s.flushDone.Store(&done)
	if err := s.loadDict(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open edge store %s: %w", opts.Dir, err)
	}
	if err := s.loadRollups(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open edge store %s: %w", opts.Dir, err)
	}
	s.updateCutoff()
	m.pendingFunc = func() float64 { return float64(s.pending.Load()) }
	m.residentFunc = func() float64 { return float64(s.resident.Load()) }
	if opts.Registerer != nil {
		if err := m.register(opts.Registerer); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open edge store %s: register metrics: %w", opts.Dir, err)
		}
	}
	s.log.Info("edge store open", "dir", opts.Dir, "created", created, "schema", SchemaVersion,
		"retention", opts.Retention, "flushInterval", opts.FlushInterval)
	s.wg.Add(2)
	go s.loop()
	go s.maintain()
	return s, nil
}

func (s *Store) updateCutoff() {
	s.cutoff.Store(unixNanos(s.opts.Clock().Add(-s.opts.Retention)))
}

// loop flushes every FlushInterval or when kicked.
func (s *Store) loop() {
	defer s.wg.Done()
	flushT := time.NewTicker(s.opts.FlushInterval)
	defer flushT.Stop()
	ctx := context.Background()
	for {
		select {
		case <-s.stop:
			return
		case <-flushT.C:
		case <-s.kick:
		}
		s.updateCutoff()
		if err := s.flush(ctx); err != nil {
			s.log.Error("flush edges", "err", err, "pending", s.pending.Load())
		}
	}
}

// maintain enforces retention and rolls up days one FlushInterval after
// open, then hourly. It runs apart from the flushes so that a long rollup
// never delays them.
func (s *Store) maintain() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTimer(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.backgroundRetention(ctx)
		t.Reset(retentionEvery)
	}
}

// backgroundRetention enforces retention and rolls up complete days.
func (s *Store) backgroundRetention(ctx context.Context) {
	now := s.opts.Clock()
	if _, err := s.EnforceRetention(ctx, now); err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		s.log.Error("enforce retention", "err", err)
	}
	start := time.Now()
	if n, err := s.RollUp(ctx, now); err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		s.log.Error("roll up days", "err", err)
	} else if n > 0 {
		s.log.Info("rolled up days", "days", n, "took", time.Since(start))
	}
}

// Close stops the background loop, flushes what is pending and closes the
// database. Records after Close starts are dropped. Calling it again
// returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.stop)
		s.wg.Wait()
		ferr := s.flush(context.Background())
		s.closeMu.Lock()
		s.closed = true
		derr := s.db.Close()
		s.closeMu.Unlock()
		if ferr != nil {
			ferr = fmt.Errorf("flush on close of %s: %w", s.opts.Dir, ferr)
		}
		if derr != nil {
			derr = fmt.Errorf("close edge store %s: %w", s.opts.Dir, derr)
		}
		s.closeErr = errors.Join(ferr, derr)
		if s.opts.Registerer != nil {
			s.metrics.unregister(s.opts.Registerer)
		}
		s.log.Info("edge store closed", "dir", s.opts.Dir, "err", s.closeErr)
	})
	return s.closeErr
}

// Healthy reports whether the store is open and its last flush worked;
// it is the store's readiness check.
func (s *Store) Healthy() error {
	if s.closing.Load() {
		return ErrClosed
	}
	if p := s.flushErr.Load(); p != nil {
		return fmt.Errorf("edge store %s: last flush failed: %w", s.opts.Dir, *p)
	}
	return nil
}

// view runs fn in a read transaction, unless the store is closed.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}

// get reads the value of one key and hands it to decode; found is false
// (and decode not called) when the key is absent.
func (s *Store) get(key []byte, decode func(v []byte) error) (found bool, err error) {
	err = s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(decode)
	})
	return found, err
}

// update runs fn in an update transaction, unless the store is closed.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.Update(fn)
}

// badgerLogger sends Badger's logs to slog. Badger's INFO lines (table
// counts, replays) are debug chatter here.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.l.Error(trimf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(trimf(f, a...))
}
func (b badgerLogger) Infof(f string, a ...any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug) {
		b.l.Debug(trimf(f, a...))
	}
}
func (b badgerLogger) Debugf(f string, a ...any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug-4) {
		b.l.Log(context.Background(), slog.LevelDebug-4, trimf(f, a...))
	}
}

func trimf(f string, a ...any) string {
	s := fmt.Sprintf(f, a...)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
