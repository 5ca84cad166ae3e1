package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
)

// WorkloadSnapshot is the last known labels of a workload, kept so that a
// deleted workload still displays with its labels.
type WorkloadSnapshot struct {
	Endpoint flow.Endpoint
	Labels   map[string]string
	LastSeen time.Time
}

// snapshotVersion is the first byte of a snapshot value:
// version | varint lastSeen ns | uvarint n | n × (string key, string value),
// keys sorted.
const snapshotVersion byte = 1

// PutWorkloadSnapshot records that ep had labels at time at. An older at
// than the stored snapshot's is ignored; the same labels again only move
// LastSeen forward.
func (s *Store) PutWorkloadSnapshot(ctx context.Context, ep flow.Endpoint, labels map[string]string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := endpointKeyPrefix(famSnapshot, ep)
	val := encodeSnapshot(labels, unixNanos(at))
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			var old WorkloadSnapshot
			if err := item.Value(func(v []byte) error { return decodeSnapshot(v, &old) }); err == nil {
				if at.Before(old.LastSeen) || (at.Equal(old.LastSeen) && maps.Equal(old.Labels, labels)) {
					return nil
				}
			}
		}
		return txn.Set(key, val)
	})
	if err != nil {
		return fmt.Errorf("store labels of %s: %w", ep, err)
	}
	return nil
}

// WorkloadSnapshot returns the stored snapshot of ep; found is false when
// there is none.
func (s *Store) WorkloadSnapshot(ctx context.Context, ep flow.Endpoint) (snap WorkloadSnapshot, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return snap, false, err
	}
	ep = canonicalEndpoint(ep)
	key := endpointKeyPrefix(famSnapshot, ep)
	found, err = s.get(key, func(v []byte) error { return decodeSnapshot(v, &snap) })
	if err != nil {
		return WorkloadSnapshot{}, false, fmt.Errorf("read labels of %s: %w", ep, err)
	}
	snap.Endpoint = ep
	return snap, found, nil
}

// WorkloadSnapshots returns the snapshots of namespace ns's workloads (of
// every workload and node when ns is empty), sorted by endpoint.
func (s *Store) WorkloadSnapshots(ctx context.Context, ns string) ([]WorkloadSnapshot, error) {
	prefix := []byte{famSnapshot}
	if ns != "" {
		prefix = appendNamespacePrefix(prefix, ns)
	}
	var out []WorkloadSnapshot
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			ep, n, err := decodeEndpoint(item.Key()[1:])
			if err != nil || n != len(item.Key())-1 {
				return fmt.Errorf("%w: %s", errCorruptKey, describeKey(item.Key()))
			}
			snap := WorkloadSnapshot{Endpoint: ep}
			if err := item.Value(func(v []byte) error { return decodeSnapshot(v, &snap) }); err != nil {
				return err
			}
			out = append(out, snap)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workload labels of namespace %q: %w", ns, err)
	}
	return out, nil
}

func encodeSnapshot(labels map[string]string, lastSeen int64) []byte {
	b := []byte{snapshotVersion}
	b = binary.AppendVarint(b, lastSeen)
	b = binary.AppendUvarint(b, uint64(len(labels)))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b = appendString(b, k)
		b = appendString(b, labels[k])
	}
	return b
}

func decodeSnapshot(v []byte, snap *WorkloadSnapshot) error {
	if len(v) < 1 || v[0] != snapshotVersion {
		return fmt.Errorf("%w: snapshot version", errCorruptValue)
	}
	r := reader{b: v[1:]}
	snap.LastSeen = fromNanos(r.varint())
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return errCorruptValue
	}
	snap.Labels = make(map[string]string, n)
	for range n {
		k := r.string()
		snap.Labels[k] = r.string()
	}
	if r.err != nil || len(r.b) != 0 {
		return errCorruptValue
	}
	return nil
}

// deleteOldSnapshots deletes snapshots last seen before cutoff (Unix ns).
func deleteOldSnapshots(ctx context.Context, txn *badger.Txn, wb *badger.WriteBatch, cutoff int64) (int, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{famSnapshot}})
	defer it.Close()
	deleted := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		item := it.Item()
		var last int64
		err := item.Value(func(v []byte) error {
			if len(v) < 2 || v[0] != snapshotVersion {
				return errCorruptValue
			}
			x, n := binary.Varint(v[1:])
			if n <= 0 {
				return errCorruptValue
			}
			last = x
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("snapshot %s: %w", describeKey(item.Key()), err)
		}
		if last < cutoff {
			if err := wb.Delete(item.KeyCopy(nil)); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	return deleted, nil
}
