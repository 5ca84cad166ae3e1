package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// EnforceRetention deletes the hour buckets that ended before
// now - Retention (the bucket holding that instant is kept), the day
// rollups of the days up to the one holding that instant, and the
// workload snapshots last seen before it. It returns the number of
// (edge, hour) buckets deleted. The background loop runs it at open and
// hourly.
//
// Retention reads the hour in each key rather than using Badger TTLs: a
// TTL is fixed when a bucket is written and checked against the wall
// clock, so it would not follow a changed Retention, and it would hide
// data recorded with an injected Clock or replayed from old flow logs. The
// cost is one seek per endpoint and family per run, plus the expired keys.
func (s *Store) EnforceRetention(ctx context.Context, now time.Time) (deleted int, err error) {
	cutoff := now.Add(-s.opts.Retention)
	cutHour := hourOf(cutoff)
	start := time.Now()
	snapshots := 0
	// Day rollups go with the day holding the cutoff: the hours of that
	// day still kept are read from the hour buckets.
	cutDay := cutHour/24 + 1
	for _, d := range s.rollups.list() {
		if d < cutDay {
			s.rollups.set(d, false)
		}
	}
	err = s.view(func(txn *badger.Txn) error {
		wb := s.db.NewWriteBatch()
		defer wb.Cancel()
		for _, fam := range []byte{famRolledUp, famEgress, famIngress, famEgressDay, famIngressDay} {
			cut := cutHour
			if fam != famEgress && fam != famIngress {
				cut = cutDay
			}
			var n int
			var err error
			if fam == famRolledUp {
				n, err = deleteOldMarkers(txn, wb, cutDay)
			} else {
				n, err = deleteOldBuckets(ctx, txn, wb, fam, cut)
			}
			if err != nil {
				return err
			}
			if fam == famEgress {
				deleted = n
			}
		}
		n, err := deleteOldSnapshots(ctx, txn, wb, unixNanos(cutoff))
		if err != nil {
			return err
		}
		snapshots = n
		return wb.Flush()
	})
	if err != nil {
		return 0, fmt.Errorf("enforce retention of %s in %s: %w", s.opts.Retention, s.opts.Dir, err)
	}
	s.metrics.retentionDel.Add(float64(deleted))
	if deleted > 0 || snapshots > 0 {
		s.log.Info("retention enforced", "before", hourStart(cutHour), "deletedEdgeBuckets", deleted,
			"deletedSnapshots", snapshots, "took", time.Since(start))
	}
	return deleted, nil
}

// deleteOldBuckets deletes the keys of family fam with an hour before
// cutHour: per endpoint, the old hours come first, then it seeks to the
// next endpoint.
func deleteOldBuckets(ctx context.Context, txn *badger.Txn, wb *badger.WriteBatch, fam byte, cutHour uint32) (int, error) {
	if cutHour == 0 {
		return 0, nil
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{fam}})
	defer it.Close()
	deleted := 0
	it.Seek([]byte{fam})
	for it.Valid() {
		if deleted%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return deleted, err
			}
		}
		item := it.Item()
		k := item.Key()
		if len(k) != edgeKeyLen {
			return deleted, fmt.Errorf("%w: %s", errCorruptKey, describeKey(k))
		}
		if binary.BigEndian.Uint32(k[1+refLen:]) >= cutHour {
			it.Seek(afterEndpoint(k[:1+refLen]))
			continue
		}
		if err := wb.Delete(item.KeyCopy(nil)); err != nil {
			return deleted, err
		}
		deleted++
		it.Next()
	}
	return deleted, nil
}

// deleteOldMarkers deletes the rollup markers of days before cutDay.
func deleteOldMarkers(txn *badger.Txn, wb *badger.WriteBatch, cutDay uint32) (int, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{famRolledUp}})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) == 5 && binary.BigEndian.Uint32(k[1:]) < cutDay {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
