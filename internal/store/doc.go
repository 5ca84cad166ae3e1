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
// # Verdicts
//
// Record counts a connection once, with the verdict of the record that
// counted it; RecordVerdict adds a verdict to a connection already counted
// when another node reports it with a more severe one (FORWARDED at the
// source node, DROPPED by ingress policy at the destination node): it
// increments Verdicts[verdict] and leaves Count alone, only widening first
// and last seen to its time. Verdicts therefore count per-record verdicts,
// and sum(Verdicts) may exceed Count. A connection is "red" (observed
// dropped) when Verdicts[DROPPED] > 0. A bucket may hold verdicts and a
// zero Count (the report came in the hour after the connection's): it is
// an edge like any other in queries of its hour.
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
// Keys are binary and order-preserving. Edge keys name their endpoints by
// ref, 8 bytes, through an endpoint dictionary (schema 2; schema 1 put the
// endpoint encodings in the keys, three times longer). An endpoint
// encoding is prefix-free:
//
//	workload, node: kind(1) | uvarint len | namespace | uvarint len | workload kind | uvarint len | name
//	address:        kind(3) | family (0, 4, 6) | 16 address bytes | class | uvarint len | alias
//
// A ref is group (uint32 BE) | member (uint32 BE, from 1). A workload's
// group is its namespace's (numbered from 256 as namespaces appear), any
// other endpoint's group is its kind (all addresses: 3), so a namespace's
// workloads, or all addresses, share a 4-byte key prefix.
//
// The families (first byte):
//
//	o | src | hour (uint32 BE, hours since the Unix epoch) | dst | proto | port (uint16 BE)   egress, hour buckets
//	i | dst | hour | src | proto | port                                                      ingress, the same value
//	O | src | day (uint32 BE, days since the epoch) | dst | proto | port                      egress, day rollups
//	I | dst | day | src | proto | port                                                       ingress day rollups
//	r | day                                                                                  day rolled up (marker)
//	d | ref                                                                                  endpoint dictionary: the endpoint's encoding
//	w | endpoint encoding                                                                    workload label snapshot
//
// Every edge key is 24 bytes. The value is stored under both the egress
// and the ingress key: duplicating a value of about 20 bytes costs less
// than a second lookup per ingress row. Since the hour follows the
// endpoint, one workload's edges over [from, to) are one contiguous range
// per family; a namespace, or all addresses, is a prefix read that skips
// each endpoint's hours outside the window (with a seek, or a few Nexts
// where they hold few keys).
//
// # Endpoint dictionary
//
// The dictionary (d | ref → encoding) is loaded whole into memory at Open
// (about 200 bytes per endpoint). Record resolves both endpoints of a flow
// through it; an endpoint seen for the first time gets the next member of
// its group. The next flush writes the entries allocated since the last
// one before the edge keys naming them, in the same batch: Badger replays
// a prefix of the committed transactions after a crash, so no stored key
// names an unknown ref. Results list endpoints in encoding order; the
// dictionary keeps a rank per entry (recomputed after new endpoints, at
// most once a minute unless many are new) so that queries sort by number,
// and compares encodings for entries not ranked yet. Entries are not
// removed when their edges expire: the dictionary grows with the distinct
// endpoints ever seen.
//
// # Values
//
// An edge value (value version 1, unchanged in schema 2) is
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
// MemoryBudget/24 (8 MiB by default: a memtable costs its arena plus about
// twice its size in the table builder that flushes it, all on the Go
// heap; 16 MiB ones cost about 35 MB more resident memory in
// BenchmarkServingRSS), 2 MiB tables at every level, no
// block compression (blocks are read in place from the memory-mapped
// tables, so there is no decompressed copy and no block cache; Snappy
// halved the files but cost more anonymous memory than it saved), an
// index cache of MemoryBudget/4 (Badger uses it only for encrypted
// tables), 64 MiB value-log files, two compactors, Badger's metrics and
// conflict detection off.
//
// Badger v4 always memory-maps its tables (v2's table loading modes are
// gone), so the table pages a process reads count in its resident size
// (RssFile) until the kernel reclaims them: queries that read the whole
// store (NamespaceSummaries) touch every table. Those pages are clean page
// cache, dropped under memory pressure; the compact keys of schema 2 make
// the tables about 30% smaller than schema 1's.
package store
