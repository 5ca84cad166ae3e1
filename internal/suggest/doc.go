// Package suggest generates a least-privilege NetworkPolicy for one workload
// (Deployment, DaemonSet, StatefulSet, CronJob, Job, orphaned ReplicaSet,
// bare Pod) or one Service view, from the connections observed over a
// window and the user's choices, with the semantics of the seed's "Manage
// Ingress and Egress" tables.
//
// It is pure: Suggest takes plain values (the inventory, the edges, the
// time) and returns plain values. No clients, no clocks.
//
// # Tables and rows
//
// Every observed edge of the subject is a Row: direction, peer (workload,
// Service, node or address), protocol and destination port, as the store
// reports it. Rows are included by default, except rows whose peer is an
// address (unresolved IPs are left out unless Choices.IncludeAddresses
// names them) and rows that cannot be expressed (Unselectable): a node, a
// host-network workload, a workload or Service Redline does not know, a peer
// without stable labels, a namespace lacking the namespace label key
// (reported in NeedsLabel, seed use case 5), ICMP and other protocols.
//
// # Policy shape
//
//   - Name redline-<kind>-<name> (kind lower-cased), in the subject's
//     namespace; policyTypes always [Ingress, Egress].
//   - podSelector: the workload's pod labels without volatile ones
//     (VolatileLabels); a Job keeps its job-name labels, which are stable for
//     a Job without a CronJob parent. A Service view selects by the Service's
//     selector.
//   - Peers in the same namespace: podSelector; in another namespace:
//     namespaceSelector on the namespace label key (default
//     kubernetes.io/metadata.name) plus podSelector. A Service peer is
//     selected by the Service's own selector (exactly its backing pods), on
//     its target ports. With NamedPorts, a port becomes the container port
//     name when every destination workload declares that number and protocol
//     under the same name (a Service's named targetPort stays a name).
//   - Rows sharing a peer merge into one rule with several ports; rules,
//     peers and ports are sorted, so the output is deterministic.
//   - Annotations: redline.io/window, redline.io/generated-at (Input.Now)
//     and redline.io/source.
//
// # Global rules
//
// Per direction: RuleObserved (the default: the included rows),
// RuleBlockAll (no rule), RuleAllowNamespace (podSelector {} : every pod of
// the subject's namespace) and RuleAllowAll (one empty rule: everything,
// addresses included). Under a global rule other than observed, row choices
// of that direction do not matter; rows are reported Included or Excluded by
// what the engine says the policy does to them. Manual CIDR rules
// (AllowEgressCIDRs, AllowIngressCIDRs) are added under every rule.
//
// # DNS
//
// Whenever egress is restricted (every egress rule but allow-all, block-all
// included: a pod that cannot resolve names is broken, and the seed's use
// case 4 keeps DNS) egress to the cluster DNS is added: the pods of Service
// kube-system/kube-dns (by its selector, on its target ports; TCP and UDP 53
// when the Service is unknown, with k8s-app=kube-dns), plus an ipBlock for
// the NodeLocal DNSCache address (169.254.20.10/32 unless
// Input.NodeLocalDNSAddr says otherwise) on TCP and UDP 53 when a workload
// labelled k8s-app=node-local-dns exists. When kube-system lacks a custom
// namespace label key, the DNS rule falls back to kubernetes.io/metadata.name,
// which the API server sets on every namespace, and says so in Warnings.
//
// # Excluded rows that stay allowed
//
// NetworkPolicies select by labels: excluding a row does not deny it when an
// included rule's selector also picks the excluded peer (same labels, a
// shared custom namespace label value, DNS, a global rule). Suggest asks the
// engine (internal/netpol) for every excluded row against the generated
// policy alone and lists the ones still allowed in StillAllowed, with a
// warning.
//
// # The defining property
//
// With every workload's suggestion applied (and no other policy), a
// connection S→D observed as the egress row of S and the ingress row of D is
// allowed when it is included at both sides, and denied when a side excludes
// it, unless that side lists it in StillAllowed or another suggestion's
// selector also picks that side's pods. property_test.go checks it over
// generated clusters twice: as stated, and with a label unique to every
// workload, where each side's verdict is predicted from the test's own
// choices alone (no StillAllowed escape): allowed iff an included,
// expressible row stands for the same peer, protocol and destination port,
// or it is DNS.
package suggest
