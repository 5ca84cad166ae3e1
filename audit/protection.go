package audit

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
)

// protection starts the namespace summaries: per namespace, how many
// workloads (off the host network) no policy isolates for ingress and for
// egress. A policy isolates the pods its podSelector selects in the
// directions of its policyTypes (unset: Ingress, plus Egress when it has
// egress rules), whatever its rules allow.
func protection(inv *inventory.Inventory, optedOut map[string]bool) map[string]*NamespaceSummary {
	out := make(map[string]*NamespaceSummary, len(inv.Namespaces))
	for _, ns := range inv.Namespaces {
		out[ns.Name] = &NamespaceSummary{Namespace: ns.Name, OptedOut: optedOut[ns.Name]}
	}
	type isolator struct {
		sel             labels.Selector
		ingress, egress bool
	}
	byNS := map[string][]isolator{}
	for _, p := range inv.Policies {
		sel, err := netpol.SelectorOf(&p.Spec.PodSelector)
		if err != nil {
			continue // the API server rejects such a policy; it selects nothing
		}
		in, eg := netpol.PolicyTypes(p)
		byNS[p.Namespace] = append(byNS[p.Namespace], isolator{sel, in, eg})
	}
	for _, w := range inv.Workloads {
		s := out[w.Namespace]
		if s == nil || w.HostNetwork {
			continue
		}
		s.Workloads++
		set := labels.Set(w.Labels)
		var in, eg bool
		for _, iso := range byNS[w.Namespace] {
			if (iso.ingress && !in || iso.egress && !eg) && iso.sel.Matches(set) {
				in = in || iso.ingress
				eg = eg || iso.egress
			}
		}
		if !in {
			s.UnprotectedIngress++
		}
		if !eg {
			s.UnprotectedEgress++
		}
	}
	return out
}
