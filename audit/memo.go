package audit

import (
	"hash/maphash"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Memo carries, from one pass to the next, each workload's ConfigMap and a
// digest of everything it was made from, so that a pass renders again only
// the workloads a change can reach — none, over an unchanged cluster. A
// workload's suggestion and report depend on the pass's settings, the keys
// of the workload's edges with how each was judged (counts and timestamps
// are not in the ConfigMap, so new connections on known edges change
// nothing), and the inventory of the namespaces those edges touch, its
// own and kube-system (cluster DNS): their labels, workloads, ports and
// Services (inventory.NamespaceFingerprints). Policies are not among them:
// they change what is red, which the edges' judgement holds. A Memo is not
// safe for concurrent passes (the Loop runs one at a time); the zero value
// is ready to use.
type Memo struct {
	context memoContext
	entries map[string]memoEntry
	// seeds make two independent 64-bit digests: 128 bits per workload.
	seeds [2]maphash.Seed
	// Hits and Misses count the workloads of the last pass served from
	// the memo and rendered anew.
	Hits, Misses int
}

// memoContext is what every workload's ConfigMap depends on.
type memoContext struct {
	window           time.Duration
	source, labelKey string
	// nodeLocalDNS: NodeLocal DNSCache runs (somewhere in the cluster).
	nodeLocalDNS bool
}

type memoEntry struct {
	digest [2]uint64
	cm     corev1.ConfigMap
	red    int
}

// memoEdge is what of an edge a workload's ConfigMap depends on: its key
// (as the pass hashes it, with the memo's seeds) and how it was judged.
type memoEdge struct {
	key           [2]uint64
	egress        bool
	denied, drops bool
}

// digester sums the hashes of a workload's edges: the order the store
// returns them in does not matter, the multiset does.
type digester struct {
	seeds *[2]maphash.Seed
	sum   [2]uint64
}

func (d *digester) add(e memoEdge) {
	d.sum[0] += maphash.Comparable(d.seeds[0], e)
	d.sum[1] += maphash.Comparable(d.seeds[1], e)
}

// memoNamespace is a namespace a workload's ConfigMap depends on, with
// its fingerprint.
type memoNamespace struct {
	name        string
	fingerprint uint64
}

func (d *digester) addNamespace(n memoNamespace) {
	d.sum[0] += maphash.Comparable(d.seeds[0], n)
	d.sum[1] += maphash.Comparable(d.seeds[1], n)
}

// namespaceMarks adds each namespace to a workload's digest once, however
// many of its edges touch it: namespaces are numbered once per pass, and
// marked with the workload's generation.
type namespaceMarks struct {
	index map[string]int32
	names []memoNamespace
	mark  []uint32
	gen   uint32
}

func newNamespaceMarks(fingerprints map[string]uint64) *namespaceMarks {
	m := &namespaceMarks{index: make(map[string]int32, len(fingerprints))}
	for ns, fp := range fingerprints {
		m.index[ns] = int32(len(m.names))
		m.names = append(m.names, memoNamespace{ns, fp})
	}
	m.mark = make([]uint32, len(m.names))
	return m
}

// next starts a workload.
func (m *namespaceMarks) next() { m.gen++ }

// add adds ns to d unless it is there already. A namespace the inventory
// does not have (yet) adds nothing: once it has, its fingerprint does.
func (m *namespaceMarks) add(d *digester, ns string) { m.addAt(d, m.indexOf(ns)) }

// indexOf is ns's index for addAt: -1 when the inventory lacks it.
func (m *namespaceMarks) indexOf(ns string) int32 {
	if i, ok := m.index[ns]; ok {
		return i
	}
	return -1
}

// addAt is add by index.
func (m *namespaceMarks) addAt(d *digester, i int32) {
	if i < 0 || m.mark[i] == m.gen {
		return
	}
	m.mark[i] = m.gen
	d.addNamespace(m.names[i])
}

// begin starts a pass: a changed context forgets everything. It returns
// the map the pass fills; end makes it the memo.
func (m *Memo) begin(context memoContext) map[string]memoEntry {
	if m.entries == nil || m.context != context {
		if m.entries == nil {
			m.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
		}
		m.entries = map[string]memoEntry{}
		m.context = context
	}
	m.Hits, m.Misses = 0, 0
	return make(map[string]memoEntry, len(m.entries))
}

// end keeps what a successful pass made: workloads gone since are
// forgotten.
func (m *Memo) end(next map[string]memoEntry) { m.entries = next }
