// Package analyze computes the allowed connectivity of a cluster snapshot:
// for every ordered pair of workloads, and between workloads and the address
// ranges outside the cluster, the connections the NetworkPolicies allow.
package analyze

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/netpol"
)

// Input is a cluster snapshot.
type Input struct {
	Namespaces []netpol.Namespace
	Workloads  []*netpol.Workload
	Policies   []*networkingv1.NetworkPolicy
	Options    netpol.Options
}

// Options select what to report.
type Options struct {
	// Focus limits the report to pairs that involve workloads matching it:
	// "ns/name", "ns/Kind/name" or "ns/name[Kind]".
	Focus string
	// Explain adds the reasons for every pair, allowed and denied.
	Explain bool
}

// Connection is one line of the report.
type Connection struct {
	Src         string              `json:"src"`
	Dst         string              `json:"dst"`
	Conn        string              `json:"conn"`
	Explanation *netpol.Explanation `json:"explanation,omitempty"`
}

// ErrFocusNotFound is returned when the focus matches no workload.
var ErrFocusNotFound = errors.New("focus workload not found")

// Run validates the policies, builds the index and computes the report.
// Pairs with no allowed connection are left out unless Explain is set.
func Run(in Input, opts Options) ([]Connection, error) {
	var errs []error
	for _, p := range in.Policies {
		if fe := netpol.Validate(p); len(fe) > 0 {
			errs = append(errs, netpol.ValidationError(p, fe))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ix, err := netpol.NewIndex(in.Namespaces, in.Workloads, in.Policies, in.Options)
	if err != nil {
		return nil, err
	}
	workloads := slices.Clone(in.Workloads)
	slices.SortFunc(workloads, func(a, b *netpol.Workload) int { return cmp.Compare(a.Key(), b.Key()) })

	focused := func(*netpol.Workload) bool { return true }
	if opts.Focus != "" {
		match, err := focusMatcher(opts.Focus)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(workloads, match) {
			return nil, fmt.Errorf("%w: %q (known workloads are written ns/name[Kind] in the output)", ErrFocusNotFound, opts.Focus)
		}
		focused = match
	}

	var out []Connection
	add := func(src, dst netpol.Endpoint, srcName, dstName string) {
		conns := ix.AllowedConns(src, dst)
		if conns.IsEmpty() && !opts.Explain {
			return
		}
		c := Connection{Src: srcName, Dst: dstName, Conn: conns.String()}
		if opts.Explain {
			ex := ix.ExplainPair(src, dst)
			// Addresses stand for their whole range in the report.
			ex.Src, ex.Dst = srcName, dstName
			if src.Workload == nil {
				ex.Egress.Endpoint = srcName
			}
			if dst.Workload == nil {
				ex.Ingress.Endpoint = dstName
			}
			c.Explanation = &ex
		}
		out = append(out, c)
	}

	for _, src := range workloads {
		for _, dst := range workloads {
			if src == dst || !(focused(src) || focused(dst)) {
				continue
			}
			add(netpol.WorkloadEndpoint(src), netpol.WorkloadEndpoint(dst), src.Key(), dst.Key())
		}
	}

	ranges := ix.ExternalRanges()
	for _, w := range workloads {
		if !focused(w) {
			continue
		}
		we := netpol.WorkloadEndpoint(w)
		for _, r := range mergeRanges(ranges, func(a netpol.Endpoint) netpol.ConnSet { return ix.AllowedConns(we, a) }) {
			add(we, netpol.AddrEndpoint(r.From), w.Key(), externalName(r))
		}
	}
	for _, w := range workloads {
		if !focused(w) {
			continue
		}
		we := netpol.WorkloadEndpoint(w)
		for _, r := range mergeRanges(ranges, func(a netpol.Endpoint) netpol.ConnSet { return ix.AllowedConns(a, we) }) {
			add(netpol.AddrEndpoint(r.From), we, externalName(r), w.Key())
		}
	}
	sortConnections(out)
	return out, nil
}

func externalName(r netpol.AddrRange) string { return r.String() + "[External]" }

// mergeRanges joins adjacent ranges that get the same connections, so that
// the report shows each distinct treatment once.
func mergeRanges(ranges []netpol.AddrRange, conns func(netpol.Endpoint) netpol.ConnSet) []netpol.AddrRange {
	var out []netpol.AddrRange
	var last netpol.ConnSet
	for _, r := range ranges {
		c := conns(netpol.AddrEndpoint(r.From))
		if n := len(out); n > 0 && out[n-1].To.Next() == r.From && c.Equal(last) {
			out[n-1].To = r.To
			continue
		}
		out = append(out, r)
		last = c
	}
	return out
}

// sortConnections orders lines by source then destination, workloads before
// external ranges, which stay in address order.
func sortConnections(cs []Connection) {
	slices.SortStableFunc(cs, func(a, b Connection) int {
		return cmp.Or(compareEndpointName(a.Src, b.Src), compareEndpointName(a.Dst, b.Dst))
	})
}

func compareEndpointName(a, b string) int {
	ae, be := strings.HasSuffix(a, "[External]"), strings.HasSuffix(b, "[External]")
	switch {
	case ae && !be:
		return 1
	case !ae && be:
		return -1
	case ae && be:
		return 0 // keep address order from generation
	}
	return cmp.Compare(a, b)
}

// focusMatcher parses "ns/name", "ns/Kind/name" or "ns/name[Kind]".
func focusMatcher(focus string) (func(*netpol.Workload) bool, error) {
	parts := strings.Split(focus, "/")
	var ns, kind, name string
	switch len(parts) {
	case 2:
		ns, name = parts[0], parts[1]
		if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
			name, kind = name[:i], name[i+1:len(name)-1]
		}
	case 3:
		ns, kind, name = parts[0], parts[1], parts[2]
	}
	if ns == "" || name == "" {
		return nil, fmt.Errorf("invalid --focus-workload %q: want namespace/name, namespace/Kind/name or namespace/name[Kind]", focus)
	}
	return func(w *netpol.Workload) bool {
		return w.Namespace == ns && w.Name == name && (kind == "" || strings.EqualFold(w.Kind, kind))
	}, nil
}
