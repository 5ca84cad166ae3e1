package audit

import (
	"hash/maphash"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/redline-dev/redline/internal/flow"
)

// Memo carries, from one pass to the next, each workload's ConfigMap and a
// digest of everything it was made from, so that a pass over an unchanged
// cluster — the usual one, every interval — renders nothing again. A
// workload's suggestion and report depend on the inventory (its
// fingerprint: labels, ports, Services, policies), the pass's settings,
// and the keys of the workload's edges with how each was judged; counts and
// timestamps are not in the ConfigMap, so new connections on known edges
// change nothing. A Memo is not safe for concurrent passes (the Loop runs
// one at a time); the zero value is ready to use.
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
	inventory        uint64 // inventory.FingerprintWithoutPolicies
	window           time.Duration
	source, labelKey string
}

type memoEntry struct {
	digest [2]uint64
	cm     corev1.ConfigMap
	red    int
}

// memoEdge is what of an edge a workload's ConfigMap depends on.
type memoEdge struct {
	key           flow.EdgeKey
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
