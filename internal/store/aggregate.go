package store

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// numShards splits the in-memory aggregate so that concurrent Records
// rarely contend.
const numShards = 32

// shard holds part of the in-memory (edge, hour) buckets.
type shard struct {
	mu sync.Mutex
	// m maps an egress key body (src | hour | dst | proto | port) to its
	// bucket. Buckets stay while their hour is open so that flushes write
	// absolute values without reading the store back.
	m map[string]*entry
	// dirty lists the buckets changed since the last flush took them.
	dirty []*entry
	_     [64]byte // keep shards' locks on separate cache lines
}

// entry is one (edge, hour) bucket in memory. Its stats are the bucket's
// absolute values once loaded is set: a flush writes them over the stored
// value.
type entry struct {
	key    string // egress key body
	srcLen int32  // length of the src encoding in key
	hour   uint32
	shard  uint8
	// dirty: changed since its value was last taken by a flush (and listed
	// in its shard's dirty slice).
	dirty bool
	// loaded: the stored value (if any) has been merged in. Set by the
	// flush that first writes the bucket.
	loaded bool
	svcAt  int64 // time of the Record that set svc
	bucketStats
}

// Record counts one connection of edge key at time at (the zero time
// means now) with its verdict, the Service it went through (nil if none)
// and the FQDNs seen for the destination. It only touches memory: the
// bucket reaches the store at the next flush. Flows older than the
// retention are ignored, as are Records once Close has started. When
// MaxResidentEdges buckets are in memory, a Record of a new bucket waits
// for a flush to free room: backpressure rather than loss.
func (s *Store) Record(key flow.EdgeKey, at time.Time, verdict flow.Verdict, svc *flow.ServiceRef, names []string) {
	if s.closing.Load() {
		s.metrics.droppedClosed.Inc()
		return
	}
	if at.IsZero() {
		at = s.opts.Clock()
	}
	t := max(unixNanos(at), 0)
	if t < s.cutoff.Load() {
		s.metrics.droppedOld.Inc()
		return
	}
	hour := uint32(min(t/int64(time.Hour), maxHour))
	if int(verdict) >= flow.NumVerdicts {
		verdict = flow.VerdictUnknown
	}
	// The encoding reads only the fields that identify an endpoint of its
	// kind (see canonicalEndpoint): equal encodings, same bucket.
	var buf [160]byte
	b, srcLen := appendEdgeKey(buf[:0], &key, hour)
	si := uint8(maphash.Bytes(s.seed, b) % numShards)
	sh := &s.shards[si]

	sh.mu.Lock()
	e := sh.m[string(b)]
	for e == nil && s.resident.Load() >= int64(s.opts.MaxResidentEdges) {
		// Memory is full: wait for a flush to free room (backpressure).
		sh.mu.Unlock()
		if !s.waitFlush() {
			s.metrics.droppedClosed.Inc()
			return
		}
		sh.mu.Lock()
		e = sh.m[string(b)]
	}
	if e == nil {
		k := string(b)
		e = &entry{key: k, srcLen: int32(srcLen), hour: hour, shard: si}
		sh.m[k] = e
		s.resident.Add(1)
	}
	e.add(t, verdict, svc, names)
	newlyDirty := !e.dirty
	if newlyDirty {
		e.dirty = true
		sh.dirty = append(sh.dirty, e)
	}
	sh.mu.Unlock()

	if newlyDirty {
		if n := s.pending.Add(1); n%int64(s.opts.FlushEdges) == 0 {
			s.kickFlush()
		}
	}
}

// waitFlush starts a flush and waits until one has finished; it returns
// false if the store is closing instead.
func (s *Store) waitFlush() bool {
	s.metrics.backpressure.Inc()
	done := *s.flushDone.Load()
	s.kickFlush()
	select {
	case <-done:
		return true
	case <-s.stop:
		return false
	}
}

func (s *Store) kickFlush() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (e *entry) add(t int64, v flow.Verdict, svc *flow.ServiceRef, names []string) {
	if e.count == 0 {
		e.first, e.last = t, t
	} else {
		e.first = min(e.first, t)
		e.last = max(e.last, t)
	}
	e.count++
	e.verdicts[v]++
	if svc != nil && (!e.hasSvc || t >= e.svcAt) {
		if !e.hasSvc || e.svc != *svc {
			e.svc = flow.ServiceRef{Namespace: clone(svc.Namespace), Name: clone(svc.Name)}
		}
		e.hasSvc = true
		e.svcAt = t
	}
	for _, n := range names {
		e.addName(n)
	}
}

func clone(s string) string {
	return string([]byte(clip(s)))
}
