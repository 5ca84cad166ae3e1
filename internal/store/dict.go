package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
)

// The endpoint dictionary. Edge keys name their endpoints by ref, 8 bytes
// instead of an encoding of 40 or more, which makes keys (and the tables
// holding them) about three times smaller and every key the same layout.
//
// A ref is group(4) | member(4), big-endian. The group of a workload is
// its namespace's (allocated from firstNamespaceGroup on), so a
// namespace's workloads are one key prefix; every other kind has the
// group of its kind number (all addresses are group 3, one prefix too).
// Members are numbered from 1 within their group.
//
// The dictionary lives in Badger (d | ref → endpoint encoding) and, whole,
// in memory: Open loads it; Record resolves the two endpoints of a flow
// through it (a new endpoint gets the next member of its group); the
// flush writes the entries allocated since the last flush before (and in
// the same batch as) the edge keys that use them, so that a key never
// names an unknown ref, even after a crash. Refs are never reused: entries
// stay after the edges naming them expire (a known limitation: the
// dictionary grows with the distinct endpoints ever seen, about 200 bytes
// of memory each).
type ref uint64

func (r ref) group() uint32  { return uint32(r >> 32) }
func (r ref) member() uint32 { return uint32(r) }

func makeRef(group, member uint32) ref { return ref(group)<<32 | ref(member) }

func appendRef(b []byte, r ref) []byte { return binary.BigEndian.AppendUint64(b, uint64(r)) }

func refAt(b []byte) ref { return ref(binary.BigEndian.Uint64(b)) }

// firstNamespaceGroup is the first group given to a namespace; the groups
// below are the endpoint kinds'.
const firstNamespaceGroup = 256

// groupAddresses is the group of every address endpoint.
const groupAddresses = uint32(flow.EndpointAddress)

// dictEntry is one endpoint of the dictionary.
type dictEntry struct {
	enc string        // the endpoint's encoding (appendEndpoint)
	ep  flow.Endpoint // decoded, strings shared with other entries
}

// dictGroup holds the entries of one group, indexed by member-1 (members
// are allocated in sequence, so the slices are dense).
type dictGroup struct {
	ns      string // the namespace of a namespace group
	entries []*dictEntry
	// ranks order entries by encoding (0: not ranked yet); see rerank.
	ranks []uint32
}

// dict is the in-memory endpoint dictionary.
type dict struct {
	mu        sync.RWMutex
	byEnc     map[string]ref
	groups    []dictGroup       // by group number
	nsGroup   map[string]uint32 // namespace → group
	lastGroup uint32            // last namespace group allocated
	intern    interner          // namespaces, workload kinds, aliases
	unsaved   []ref             // allocated, not written yet
	size      int               // entries
	unranked  int               // entries with rank 0
	rankedAt  time.Time         // last rerank
}

func newDict() *dict {
	return &dict{
		byEnc:     make(map[string]ref),
		groups:    make([]dictGroup, firstNamespaceGroup),
		nsGroup:   make(map[string]uint32),
		lastGroup: firstNamespaceGroup - 1,
		intern:    interner{},
	}
}

// groupLocked returns group g (nil if it has no entries).
func (d *dict) groupLocked(g uint32) *dictGroup {
	if uint64(g) >= uint64(len(d.groups)) {
		return nil
	}
	return &d.groups[g]
}

// entryLocked returns the entry of r (nil if none). The caller holds d.mu.
func (d *dict) entryLocked(r ref) *dictEntry {
	g := d.groupLocked(r.group())
	if g == nil || r.member() == 0 || uint64(r.member()) > uint64(len(g.entries)) {
		return nil
	}
	return g.entries[r.member()-1]
}

// rankLocked returns the rank of r (0: not ranked yet); ok is false when r
// is unknown. The caller holds d.mu.
func (d *dict) rankLocked(r ref) (rank uint32, ok bool) {
	g := d.groupLocked(r.group())
	if g == nil || r.member() == 0 || uint64(r.member()) > uint64(len(g.entries)) || g.entries[r.member()-1] == nil {
		return 0, false
	}
	return g.ranks[r.member()-1], true
}

// rankedEntryLocked is entryLocked and rankLocked in one lookup; the
// entry is nil when r is unknown. The caller holds d.mu (read).
func (d *dict) rankedEntryLocked(r ref) (*dictEntry, uint32) {
	g := d.groupLocked(r.group())
	m := uint64(r.member())
	if g == nil || m == 0 || m > uint64(len(g.entries)) {
		return nil, 0
	}
	return g.entries[m-1], g.ranks[m-1]
}

// lookup returns the ref of an endpoint encoding.
func (d *dict) lookup(enc []byte) (ref, bool) {
	d.mu.RLock()
	r, ok := d.byEnc[string(enc)]
	d.mu.RUnlock()
	return r, ok
}

// namespaceGroup returns the group of namespace ns's workloads.
func (d *dict) namespaceGroup(ns string) (uint32, bool) {
	d.mu.RLock()
	g, ok := d.nsGroup[clip(ns)]
	d.mu.RUnlock()
	return g, ok
}

// resolve2 returns the refs of two endpoint encodings (as appendEndpoint
// writes them), allocating those not in the dictionary yet.
func (d *dict) resolve2(a, b []byte) (ra, rb ref, err error) {
	d.mu.RLock()
	ra, okA := d.byEnc[string(a)]
	rb, okB := d.byEnc[string(b)]
	d.mu.RUnlock()
	if okA && okB {
		return ra, rb, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ra, err = d.allocLocked(a); err != nil {
		return 0, 0, err
	}
	if rb, err = d.allocLocked(b); err != nil {
		return 0, 0, err
	}
	return ra, rb, nil
}

// allocLocked returns the ref of enc, allocating it if needed.
func (d *dict) allocLocked(enc []byte) (ref, error) {
	if r, ok := d.byEnc[string(enc)]; ok {
		return r, nil
	}
	ep, n, err := decodeEndpointInterned(enc, d.intern)
	if err != nil || n != len(enc) {
		return 0, fmt.Errorf("%w: endpoint %x", errCorruptKey, string(enc)) // a copy: enc does not escape
	}
	var g uint32
	if ep.Kind == flow.EndpointWorkload {
		var ok bool
		if g, ok = d.nsGroup[ep.Namespace]; !ok {
			if d.lastGroup == math.MaxUint32 {
				return 0, fmt.Errorf("endpoint dictionary full: %d namespaces", d.lastGroup-firstNamespaceGroup+1)
			}
			d.lastGroup++
			g = d.lastGroup
		}
	} else {
		g = uint32(ep.Kind)
	}
	var m uint32
	if gr := d.groupLocked(g); gr != nil {
		m = uint32(len(gr.entries))
	}
	if m == math.MaxUint32 {
		return 0, fmt.Errorf("endpoint dictionary full: %d endpoints in group %d", m, g)
	}
	r := makeRef(g, m+1)
	d.addLocked(r, &dictEntry{enc: string(enc), ep: ep})
	d.unsaved = append(d.unsaved, r)
	return r, nil
}

// addLocked adds entry e as r (member 0 is not a ref).
func (d *dict) addLocked(r ref, e *dictEntry) {
	g, m := r.group(), int(r.member())
	for uint64(len(d.groups)) <= uint64(g) {
		d.groups = append(d.groups, dictGroup{})
	}
	gr := &d.groups[g]
	for len(gr.entries) < m {
		gr.entries = append(gr.entries, nil)
		gr.ranks = append(gr.ranks, 0)
	}
	if old := gr.entries[m-1]; old != nil {
		delete(d.byEnc, old.enc)
		d.size--
	}
	gr.entries[m-1] = e
	gr.ranks[m-1] = 0
	d.byEnc[e.enc] = r
	d.size++
	d.unranked++
	if e.ep.Kind == flow.EndpointWorkload {
		d.nsGroup[e.ep.Namespace] = g
		gr.ns = e.ep.Namespace
		d.lastGroup = max(d.lastGroup, g)
	}
}

// entry returns the entry of r (nil if none).
func (d *dict) entry(r ref) *dictEntry {
	d.mu.RLock()
	e := d.entryLocked(r)
	d.mu.RUnlock()
	return e
}

// groupNamespace returns the namespace of group g.
func (d *dict) groupNamespace(g uint32) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if gr := d.groupLocked(g); gr != nil && g >= firstNamespaceGroup && len(gr.entries) > 0 {
		return gr.ns, true
	}
	return "", false
}

// takeUnsaved returns the entries to write (their refs and encodings) and
// forgets them; a failed write gives them back with requeue.
func (d *dict) takeUnsaved() (refs []ref, encs []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	refs, d.unsaved = d.unsaved, nil
	for _, r := range refs {
		encs = append(encs, d.entryLocked(r).enc)
	}
	return refs, encs
}

func (d *dict) requeue(refs []ref) {
	d.mu.Lock()
	d.unsaved = append(refs, d.unsaved...)
	d.mu.Unlock()
}

// rerank numbers the entries in encoding order, so that queries sort
// endpoints by comparing numbers. Entries added since have rank 0 and are
// compared by encoding: ranks follow the encoding order, so the two
// comparisons agree. Unless forced, it runs only when many entries are
// unranked or some have been for a minute: it sorts the whole dictionary
// (outside the lock).
func (d *dict) rerank(force bool) {
	type item struct {
		enc string
		r   ref
	}
	d.mu.RLock()
	due := d.unranked > 0 && (force || d.unranked*16 > d.size || time.Since(d.rankedAt) > time.Minute)
	var items []item
	if due {
		items = make([]item, 0, d.size)
		for g := range d.groups {
			for m, e := range d.groups[g].entries {
				if e != nil {
					items = append(items, item{e.enc, makeRef(uint32(g), uint32(m+1))})
				}
			}
		}
	}
	d.mu.RUnlock()
	if !due {
		return
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.enc, b.enc) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, it := range items {
		// Entries are never removed: it.r still names it.enc.
		d.groups[it.r.group()].ranks[it.r.member()-1] = uint32(i + 1)
	}
	d.unranked = d.size - len(items)
	d.rankedAt = time.Now()
}

// loadDict reads the dictionary at open.
func (s *Store) loadDict() error {
	d := newDict()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{famDict}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != 1+refLen {
				return fmt.Errorf("%w: %s", errCorruptKey, describeKey(k))
			}
			r := refAt(k[1:])
			err := item.Value(func(v []byte) error {
				ep, n, err := decodeEndpointInterned(v, d.intern)
				if err != nil || n != len(v) {
					return fmt.Errorf("%w: endpoint of ref %016x: %x", errCorruptValue, uint64(r), v)
				}
				if r.member() == 0 || (ep.Kind == flow.EndpointWorkload) != (r.group() >= firstNamespaceGroup) ||
					(ep.Kind != flow.EndpointWorkload && r.group() != uint32(ep.Kind)) {
					return fmt.Errorf("%w: endpoint %s has ref %016x", errCorruptValue, ep, uint64(r))
				}
				if gr := d.groupLocked(r.group()); gr != nil && uint64(r.member()) > uint64(len(gr.entries))+1<<16 {
					return fmt.Errorf("%w: ref %016x far past the group's last member %d", errCorruptValue, uint64(r), len(gr.entries))
				}
				if g, ok := d.nsGroup[ep.Namespace]; ok && ep.Kind == flow.EndpointWorkload && g != r.group() {
					return fmt.Errorf("%w: namespace %q has groups %d and %d", errCorruptValue, ep.Namespace, g, r.group())
				}
				d.addLocked(r, &dictEntry{enc: string(v), ep: ep})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read endpoint dictionary: %w", err)
	}
	d.rerank(true)
	s.dict = d
	return nil
}

func dictKey(r ref) []byte { return appendRef([]byte{famDict}, r) }
