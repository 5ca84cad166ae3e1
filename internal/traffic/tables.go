// Package traffic turns stored edges into the tables people read: a
// workload's ingress and egress (peer, kind, namespace, port, protocol,
// connections, last seen, verdict) and the unresolved addresses it talked
// with. The CLI and the HTTP API show the same rows.
package traffic

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// Row is one line of an ingress or egress table.
type Row struct {
	// Peer is the other side: a workload name, a node, or an address.
	Peer      string `json:"peer"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	// Class and Alias describe an unresolved address peer.
	Class       string    `json:"class,omitempty"`
	Alias       string    `json:"alias,omitempty"`
	Port        uint16    `json:"port"`
	Protocol    string    `json:"protocol"`
	Connections uint64    `json:"connections"`
	FirstSeen   time.Time `json:"firstSeen"`
	LastSeen    time.Time `json:"lastSeen"`
	// Verdict is the worst verdict observed: DROPPED when the datapath
	// already denied some of these connections (red), else FORWARDED (or
	// AUDIT, UNKNOWN ...).
	Verdict string `json:"verdict"`
	Dropped uint64 `json:"dropped,omitempty"`
	// Service is the Service the connections went through, if any.
	Service string   `json:"service,omitempty"`
	Names   []string `json:"names,omitempty"`
}

// Tables is a workload's traffic over a window.
type Tables struct {
	Workload string `json:"workload"`
	Ingress  []Row  `json:"ingress"`
	Egress   []Row  `json:"egress"`
}

// WorkloadTables builds the tables from a store's WorkloadEdges answer.
func WorkloadTables(ep flow.Endpoint, ingress, egress []flow.Edge) Tables {
	t := Tables{Workload: ep.String(), Ingress: []Row{}, Egress: []Row{}}
	for _, e := range ingress {
		t.Ingress = append(t.Ingress, rowOf(e.Src, e))
	}
	for _, e := range egress {
		t.Egress = append(t.Egress, rowOf(e.Dst, e))
	}
	sortRows(t.Ingress)
	sortRows(t.Egress)
	return t
}

// EdgeRow describes a whole edge (both ends), for namespace views.
type EdgeRow struct {
	Src string `json:"src"`
	Row
}

// NamespaceRows lists a namespace's edges, source first.
func NamespaceRows(edges []flow.Edge) []EdgeRow {
	out := make([]EdgeRow, 0, len(edges))
	for _, e := range edges {
		out = append(out, EdgeRow{Src: e.Src.String(), Row: rowOf(e.Dst, e)})
	}
	slices.SortFunc(out, func(a, b EdgeRow) int {
		return cmp.Or(cmp.Compare(a.Src, b.Src), CompareRows(a.Row, b.Row))
	})
	return out
}

func rowOf(peer flow.Endpoint, e flow.Edge) Row {
	r := Row{
		Port:        e.Port,
		Protocol:    e.Protocol.String(),
		Connections: e.Count,
		FirstSeen:   e.FirstSeen,
		LastSeen:    e.LastSeen,
		Verdict:     worstVerdict(e.Verdicts),
		Dropped:     e.Verdicts[flow.VerdictDropped],
		Names:       e.Names,
	}
	if e.Service != nil {
		r.Service = e.Service.Namespace + "/" + e.Service.Name
	}
	switch peer.Kind {
	case flow.EndpointWorkload:
		r.Peer, r.Kind, r.Namespace = peer.Name, peer.WorkloadKind, peer.Namespace
	case flow.EndpointNode:
		r.Peer, r.Kind = peer.Name, "Node"
	default:
		r.Peer, r.Kind = peer.Addr.String(), "Address"
		r.Class, r.Alias = peer.Class.String(), peer.Alias
	}
	return r
}

// worstVerdict names the most severe verdict with a count.
func worstVerdict(v [flow.NumVerdicts]uint64) string {
	for _, w := range []flow.Verdict{flow.VerdictDropped, flow.VerdictError, flow.VerdictAudit, flow.VerdictForwarded, flow.VerdictRedirected, flow.VerdictTranslated, flow.VerdictTraced} {
		if v[w] > 0 {
			return w.String()
		}
	}
	return flow.VerdictUnknown.String()
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, CompareRows)
}

// CompareRows orders workloads before nodes before addresses, then by
// namespace, peer, protocol and port: the order of the tables.
func CompareRows(a, b Row) int {
	rank := func(r Row) int {
		switch r.Kind {
		case "Node":
			return 1
		case "Address":
			return 2
		}
		return 0
	}
	return cmp.Or(
		cmp.Compare(rank(a), rank(b)),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Peer, b.Peer),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
	)
}

// ParseWindow parses Go durations plus a day suffix ("7d", "1d12h").
func ParseWindow(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		// A positive number of days that a Duration holds (292 years).
		if err != nil || n <= 0 || int64(n) > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q: want a duration like 90m, 12h or 7d", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d+days <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration like 90m, 12h or 7d", s)
	}
	return d + days, nil
}

// Ago renders how long before now t was, as kubectl renders ages: 45s,
// 12m, 3h, 5d.
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Count renders a connection count compactly: 950, 1.2k, 3.4M.
func Count(n uint64) string {
	switch {
	case n < 1000:
		return fmt.Sprint(n)
	case n < 1_000_000:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e3), ".0") + "k"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e6), ".0") + "M"
}
