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
	m map[edgeBody]*entry
	// dirty lists the buckets changed since the last flush took them.
	dirty []*entry
	_     [64]byte // keep shards' locks on separate cache lines
}

// entry is one (edge, hour) bucket in memory. Its stats are the bucket's
// absolute values once loaded is set: a flush writes them over the stored
// value.
type entry struct {
	key   edgeBody // egress key body
	hour  uint32
	shard uint8
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
	s.record(&key, at, verdict, true, svc, names)
}

// RecordVerdict notes that a connection already counted by Record was
// reported again with verdict (a more severe one, seen at another node:
// FORWARDED at the source, DROPPED by ingress policy at the destination).
// It adds one to the bucket's Verdicts[verdict] without counting the
// connection again: Count is unchanged, first and last seen only widen to
// include at. Verdicts therefore count per-record verdicts, and their sum
// may exceed Count. Like Record, it only touches memory, ignores flows
// older than the retention and applies backpressure.
func (s *Store) RecordVerdict(key flow.EdgeKey, at time.Time, verdict flow.Verdict) {
	s.record(&key, at, verdict, false, nil, nil)
}

// record is Record (counted) or RecordVerdict (!counted).
func (s *Store) record(key *flow.EdgeKey, at time.Time, verdict flow.Verdict, counted bool, svc *flow.ServiceRef, names []string) {
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
	// kind (see canonicalEndpoint): equal encodings, same ref, same bucket.
	var buf [192]byte
	b := appendEndpoint(buf[:0], key.Src)
	n := len(b)
	b = appendEndpoint(b, key.Dst)
	src, dst, err := s.dict.resolve2(b[:n], b[n:])
	if err != nil {
		s.log.Error("flow not recorded", "err", err)
		s.metrics.droppedDict.Inc()
		return
	}
	k := makeEdgeBody(src, hour, dst, key.Protocol, key.Port)
	si := uint8(maphash.Bytes(s.seed, k[:]) % numShards)
	sh := &s.shards[si]

	sh.mu.Lock()
	e := sh.m[k]
	for e == nil && s.resident.Load() >= int64(s.opts.MaxResidentEdges) {
		// Memory is full: wait for a flush to free room (backpressure).
		sh.mu.Unlock()
		if !s.waitFlush() {
			s.metrics.droppedClosed.Inc()
			return
		}
		sh.mu.Lock()
		e = sh.m[k]
	}
	if e == nil {
		e = &entry{key: k, hour: hour, shard: si}
		sh.m[k] = e
		s.resident.Add(1)
	}
	if counted {
		e.add(t, verdict, svc, names)
	} else {
		e.addVerdict(t, verdict)
	}
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
	e.addVerdict(t, v)
	e.count++
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

// addVerdict counts verdict v at t without counting a connection.
func (e *entry) addVerdict(t int64, v flow.Verdict) {
	if e.empty() {
		e.first, e.last = t, t
	} else {
		e.first = min(e.first, t)
		e.last = max(e.last, t)
	}
	e.verdicts[v]++
}

func clone(s string) string {
	return string([]byte(clip(s)))
}
