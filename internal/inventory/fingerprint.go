package inventory

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
)

var fingerprintSeed = maphash.MakeSeed()

// Fingerprint hashes what policy decisions depend on: namespaces and
// their labels, workloads with their labels, ports and host networking,
// Services (selectors, ports) and NetworkPolicies (resourceVersion, or the
// spec when read from files). Pods coming and going or changing address do
// not change it, so a consumer can keep what it derived from an inventory
// (the audit's last pass, the webhook's compiled policies) across the many
// snapshots pod churn makes. Equal within one process only.
func (inv *Inventory) Fingerprint() uint64 {
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	str := func(s string) { h.WriteString(s); h.WriteByte(0) }
	labels := func(m map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			str(k)
			str(m[k])
		}
		h.WriteByte(1)
	}
	for _, ns := range inv.Namespaces {
		str(ns.Name)
		labels(ns.Labels)
	}
	for _, w := range inv.Workloads {
		str(w.Key())
		labels(w.Labels)
		fmt.Fprint(&h, w.HostNetwork, w.Ports)
	}
	for _, s := range inv.Services {
		str(s.Namespace + "/" + s.Name)
		labels(s.Selector)
		fmt.Fprint(&h, s.Ports)
	}
	for _, p := range inv.Policies {
		str(p.Namespace + "/" + p.Name)
		if p.ResourceVersion != "" {
			str(p.ResourceVersion)
		} else {
			str(p.Spec.String())
		}
	}
	return h.Sum64()
}

// NamespaceFingerprints hashes, per namespace, what Fingerprint hashes but
// the policies: the namespace's labels, its workloads with their labels,
// ports and host networking, its Services. What a suggestion is made of
// lies in the namespaces its traffic touches, so a consumer (the audit's
// memo) can tell which suggestions a change can reach. A namespace that
// holds nothing and does not exist is absent (zero).
func (inv *Inventory) NamespaceFingerprints() map[string]uint64 {
	hs := map[string]*maphash.Hash{}
	hash := func(ns string) *maphash.Hash {
		h := hs[ns]
		if h == nil {
			h = &maphash.Hash{}
			h.SetSeed(fingerprintSeed)
			h.WriteString(ns)
			hs[ns] = h
		}
		return h
	}
	str := func(h *maphash.Hash, s string) { h.WriteString(s); h.WriteByte(0) }
	labels := func(h *maphash.Hash, m map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			str(h, k)
			str(h, m[k])
		}
		h.WriteByte(1)
	}
	for _, ns := range inv.Namespaces {
		h := hash(ns.Name)
		h.WriteByte('n')
		labels(h, ns.Labels)
	}
	for _, w := range inv.Workloads {
		h := hash(w.Namespace)
		h.WriteByte('w')
		str(h, w.Key())
		labels(h, w.Labels)
		fmt.Fprint(h, w.HostNetwork, w.Ports)
	}
	for _, s := range inv.Services {
		h := hash(s.Namespace)
		h.WriteByte('s')
		str(h, s.Name)
		labels(h, s.Selector)
		fmt.Fprint(h, s.Ports)
	}
	out := make(map[string]uint64, len(hs))
	for ns, h := range hs {
		out[ns] = h.Sum64()
	}
	return out
}
