// Package flow holds what Redline knows about observed traffic: flow records
// as traffic sources report them, the endpoints they resolve to, and the
// edges they aggregate into; plus the decoders (Hubble JSON, native NDJSON)
// and the dedupe that turns records into new connections.
package flow

import (
	"net/netip"
	"time"
)

// Verdict is what the datapath did with a flow.
type Verdict uint8

const (
	VerdictUnknown Verdict = iota
	VerdictForwarded
	VerdictDropped
	VerdictAudit
	VerdictError
	VerdictRedirected
	VerdictTraced
	VerdictTranslated
	numVerdicts
)

// NumVerdicts is the number of verdict values, for per-verdict counters.
const NumVerdicts = int(numVerdicts)

var verdictNames = [...]string{"UNKNOWN", "FORWARDED", "DROPPED", "AUDIT", "ERROR", "REDIRECTED", "TRACED", "TRANSLATED"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "UNKNOWN"
}

// MarshalText writes the verdict's name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// ParseVerdict maps Hubble's verdict names (and the native format's
// lower-case ones) to a Verdict; unknown names give VerdictUnknown.
func ParseVerdict(s string) Verdict {
	for i, n := range verdictNames {
		if equalFoldASCII(s, n) {
			return Verdict(i)
		}
	}
	return VerdictUnknown
}

// Protocol is an L4 protocol NetworkPolicies know.
type Protocol uint8

const (
	ProtocolUnknown Protocol = iota
	ProtocolTCP
	ProtocolUDP
	ProtocolSCTP
)

func (p Protocol) String() string {
	switch p {
	case ProtocolTCP:
		return "TCP"
	case ProtocolUDP:
		return "UDP"
	case ProtocolSCTP:
		return "SCTP"
	}
	return "UNKNOWN"
}

// MarshalText writes the protocol's name.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParseProtocol maps "TCP", "udp" ... to a Protocol.
func ParseProtocol(s string) Protocol {
	switch {
	case equalFoldASCII(s, "TCP"):
		return ProtocolTCP
	case equalFoldASCII(s, "UDP"):
		return ProtocolUDP
	case equalFoldASCII(s, "SCTP"):
		return ProtocolSCTP
	}
	return ProtocolUnknown
}

// TCPFlags are the TCP flags of a flow record.
type TCPFlags uint8

const (
	TCPSYN TCPFlags = 1 << iota
	TCPACK
	TCPFIN
	TCPRST
	TCPPSH
)

// Direction is the traffic direction the observer reports.
type Direction uint8

const (
	DirectionUnknown Direction = iota
	DirectionIngress
	DirectionEgress
)

// Reply says whether a record is a reply; Hubble leaves it out when unknown.
type Reply uint8

const (
	ReplyUnknown Reply = iota
	ReplyNo
	ReplyYes
)

// Peer is one side of a flow record as the source reported it: an address
// and whatever Kubernetes identity the source attached.
type Peer struct {
	IP netip.Addr
	// Namespace and Pod are set when the source knew the pod.
	Namespace string
	Pod       string
	// Workload is the owner the source reported (Hubble's workloads[0]).
	WorkloadKind string
	WorkloadName string
	// Labels are the source's labels as "key=value", source prefixes
	// ("k8s:") removed; reserved identities are in Reserved.
	Labels []string
	// Reserved is Hubble's reserved identity ("world", "host",
	// "remote-node", "kube-apiserver", "health" ...), empty for pods.
	Reserved string
	// Names are DNS names seen for the address (source_names /
	// destination_names).
	Names []string
}

// ServiceRef is the Service a flow went through.
type ServiceRef struct {
	Namespace string
	Name      string
}

// Flow is one normalised flow record.
type Flow struct {
	Time      time.Time
	Verdict   Verdict
	Protocol  Protocol
	Src, Dst  Peer
	SrcPort   uint16
	DstPort   uint16
	TCPFlags  TCPFlags
	Reply     Reply
	Direction Direction
	// Observer is the node (or agent) that reported the record.
	Observer string
	Service  *ServiceRef
	// DropReason is the datapath's reason for a drop, as Hubble names it
	// in drop_reason_desc ("POLICY_DENIED").
	DropReason string
	// AllowedBy and DeniedBy name the policies the datapath applied.
	AllowedBy []string
	DeniedBy  []string
	// Source names the format the record came in ("hubble", "native").
	Source string
}

// EndpointKind says what an endpoint is.
type EndpointKind uint8

const (
	// EndpointWorkload is a pod owner: Deployment, DaemonSet, StatefulSet,
	// CronJob, Job, ReplicaSet or a bare Pod.
	EndpointWorkload EndpointKind = iota + 1
	// EndpointNode is a node (host-network pods, node addresses).
	EndpointNode
	// EndpointAddress is an address that resolved to nothing in the
	// cluster; its Class says what is known about it.
	EndpointAddress
)

func (k EndpointKind) String() string {
	switch k {
	case EndpointWorkload:
		return "workload"
	case EndpointNode:
		return "node"
	case EndpointAddress:
		return "address"
	}
	return "unknown"
}

// MarshalText writes the kind's name.
func (k EndpointKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// AddrClass classifies an unresolved address.
type AddrClass uint8

const (
	ClassUnknown AddrClass = iota
	// ClassInternal: inside the cluster CIDRs or a node address.
	ClassInternal
	// ClassExternal: outside the cluster.
	ClassExternal
	// ClassAliased: a user alias or named CIDR matches.
	ClassAliased
)

var classNames = [...]string{"unknown", "internal", "external", "aliased"}

func (c AddrClass) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// MarshalText writes the class's name.
func (c AddrClass) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ParseAddrClass maps "internal", "external", "aliased", "unknown".
func ParseAddrClass(s string) (AddrClass, bool) {
	for i, n := range classNames {
		if s == n {
			return AddrClass(i), true
		}
	}
	return ClassUnknown, false
}

// Endpoint is what a peer resolved to: the aggregation unit.
type Endpoint struct {
	Kind EndpointKind `json:"kind"`
	// Workload (and Node: Name only).
	Namespace    string `json:"namespace,omitempty"`
	WorkloadKind string `json:"workloadKind,omitempty"`
	Name         string `json:"name,omitempty"`
	// Address endpoints.
	Addr  netip.Addr `json:"addr,omitzero"`
	Class AddrClass  `json:"class,omitzero"`
	Alias string     `json:"alias,omitempty"`
}

// WorkloadEndpoint builds a workload endpoint.
func WorkloadEndpoint(namespace, kind, name string) Endpoint {
	return Endpoint{Kind: EndpointWorkload, Namespace: namespace, WorkloadKind: kind, Name: name}
}

// String renders "ns/name[Kind]", "node/name[Node]" or the address.
func (e Endpoint) String() string {
	switch e.Kind {
	case EndpointWorkload:
		return e.Namespace + "/" + e.Name + "[" + e.WorkloadKind + "]"
	case EndpointNode:
		return e.Name + "[Node]"
	case EndpointAddress:
		return e.Addr.String()
	}
	return "?"
}

// EdgeKey identifies an edge: who talked to whom on which destination
// port. Hour buckets are the store's business.
type EdgeKey struct {
	Src, Dst Endpoint
	Protocol Protocol
	Port     uint16
}

// EdgeStats is what an edge accumulates over a time bucket.
type EdgeStats struct {
	Count     uint64
	FirstSeen time.Time
	LastSeen  time.Time
	// Verdicts counts connections per Verdict.
	Verdicts [NumVerdicts]uint64
	// Service is the Service the connection went through, if any.
	Service *ServiceRef
	// Names are FQDNs seen for the destination (bounded).
	Names []string
}

// Edge is an edge with its stats over a window.
type Edge struct {
	EdgeKey
	EdgeStats
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
