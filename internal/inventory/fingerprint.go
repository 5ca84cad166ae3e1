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
func (inv *Inventory) Fingerprint() uint64 { return inv.fingerprint(true) }

// FingerprintWithoutPolicies is Fingerprint of everything but the
// NetworkPolicies: what a suggestion depends on (a suggestion is made from
// traffic and labels, whatever policies exist).
func (inv *Inventory) FingerprintWithoutPolicies() uint64 { return inv.fingerprint(false) }

func (inv *Inventory) fingerprint(policies bool) uint64 {
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
		if !policies {
			break
		}
		str(p.Namespace + "/" + p.Name)
		if p.ResourceVersion != "" {
			str(p.ResourceVersion)
		} else {
			str(p.Spec.String())
		}
	}
	return h.Sum64()
}
