// Package store is Redline's edge store: observed connections aggregated
// into (edge, hour) buckets in Badger, with day rollups, retention and the
// queries the API, the audit loop and the what-if engine need.
//
// # Write path
//
// Record aggregates in memory only: one bucket per (edge, hour) in 32
// mutex-guarded shards keyed by the bucket's egress key. A background loop
// flushes every FlushInterval (1 s) or when FlushEdges (50,000) buckets
// are pending; Close flushes a last time (the server calls it on SIGTERM).
// A bucket stays in memory while its hour is open, so a flush writes the
// bucket's absolute value without reading the store: only the first flush
// of a bucket in a process reads the stored value (a Get, cheap on a miss
// thanks to the bloom filters) and merges it in. Absolute values also make
// a failed flush safe to retry. Buckets of closed hours leave memory after
// their hour; MaxResidentEdges bounds memory, with backpressure (a Record
// of a new bucket waits for a flush) rather than loss. Each flush writes
// both keys of a bucket in one transaction (atomic on recovery), then
// syncs: a kill -9 or a power loss loses at most the last interval, and
// Badger replays its write-ahead log on the next Open.
//
// # Data directory
//
// Open inspects the directory before Badger touches it: missing or empty,
// it writes the marker file REDLINE_STORE ("redline edge store\nschema
// N\n", via a temporary file, fsync and rename) and creates the store;
// with a marker of this SchemaVersion it opens the store; with a marker of
// another version it fails with ErrIncompatibleSchema; anything else fails
// with ErrNotRedlineDir. The two errors leave the directory untouched.
//
// # Keys
//
// Keys are binary and order-preserving. An endpoint is encoded
// prefix-free, so family|endpoint selects exactly that endpoint's keys:
//
//	workload, node: kind(1) | uvarint len | namespace | uvarint len | workload kind | uvarint len | name
//	address:        kind(3) | family (0, 4, 6) | 16 address bytes | class | uvarint len | alias
//
// The families (first byte):
//
//	o | src | hour (uint32 BE, hours since the Unix epoch) | dst | proto | port (uint16 BE)   egress, hour buckets
//	i | dst | hour | src | proto | port                                                      ingress, the same value
//	O | src | day (uint32 BE, days since the epoch) | dst | proto | port                      egress, day rollups
//	I | dst | day | src | proto | port                                                       ingress day rollups
//	r | day                                                                                  day rolled up (marker)
//	w | endpoint                                                                             workload label snapshot
//
// The value is stored under both the egress and the ingress key:
// duplicating a value of about 20 bytes costs less than a second lookup
// per ingress row. Since the hour follows the endpoint, one workload's
// edges over [from, to) are one contiguous range per family; a namespace,
// or all addresses, is a prefix read with one seek per endpoint over the
// hours outside the window.
//
// # Values
//
// An edge value (schema 1) is
//
//	version(1) | uvarint count | varint first seen (Unix ns) | uvarint last-first (ns) |
//	uvarint verdict bitmap | uvarint count per verdict set | flags (bit 0: service) |
//	[string service namespace | string service name] | uvarint n | n × string FQDN
//
// with string = uvarint length | bytes, at most MaxNames FQDNs. A snapshot
// is version(1) | varint last seen (Unix ns) | uvarint n | n × (string
// label key | string label value), keys sorted.
//
// # Day rollups
//
// Hour buckets are the source of truth. Once a day is over, RollUp
// (hourly, in the background) aggregates its hours into day buckets and
// writes its marker; queries read rolled-up whole days from O/I and
// everything else from o/i, so a 7-day query reads about 7 + the partial
// days' hours buckets per edge instead of 168. A flush that writes an hour
// of a rolled-up day (a late flow) removes the marker first; the next
// RollUp computes the day again.
//
// # Queries
//
// Queries read flushed data. Their range [from, to) is half-open and
// widened to whole hour buckets; a zero bound is open. Edges are
// aggregated across buckets: counts and verdicts summed, first seen the
// earliest, last seen the latest, the Service of the latest bucket that
// has one, FQDNs merged (at most MaxNames).
//
// # Retention
//
// EnforceRetention (hourly) deletes the hour buckets that ended before
// now - Retention by reading the hour in each key (one seek per endpoint),
// the day rollups up to the day holding that instant, and snapshots last
// seen before it. Badger TTLs were not used: a TTL is fixed at write time
// and checked against the wall clock, so it would not follow a changed
// Retention and would hide data recorded with an injected clock or
// replayed from old flow logs.
//
// # Badger tuning
//
// For a bounded resident size (see badgerOptions): three memtables of
// MemoryBudget/12 (16 MiB by default), 2 MiB tables at every level, no
// block compression (blocks are read in place from the memory-mapped
// tables, so there is no decompressed copy and no block cache; Snappy
// halved the files but cost more anonymous memory than it saved), an
// index cache of MemoryBudget/4, 64 MiB value-log files, two compactors,
// Badger's metrics and conflict detection off.
package store
