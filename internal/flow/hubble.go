package flow

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Hubble flow JSON, as `hubble observe -o json` prints it and the Hubble
// exporter writes it: one GetFlowsResponse / ExportEvent a line,
// {"flow":{...},"node_name":"...","time":"..."}, marshalled by protojson
// with the proto field names (snake_case). protojson's default lowerCamel
// names are accepted as well, and so is a bare Flow object. Unknown members
// are skipped: Hubble adds fields. See docs/flow-format.md.

// peerIdentity is what a Hubble Endpoint object says about a peer; it is
// the same for every flow of a pod, so it is cached by the object's bytes.
type peerIdentity struct {
	Namespace    string
	Pod          string
	WorkloadKind string
	WorkloadName string
	Labels       []string
	Reserved     string
}

type l4Kind uint8

const (
	l4None l4Kind = iota
	l4Port        // TCP, UDP, SCTP
	l4ICMP
)

// Hubble FlowType numbers.
const (
	flowTypeL7   = 2
	flowTypeSock = 3
)

type hubbleState struct {
	flow, bare, nativeHint, envelope bool
	event                            IgnoreReason
	envTime                          time.Time
	envTimeErr                       *FieldError
	envNode                          string
	ipSeen                           bool
	l4                               l4Kind
	flowType                         uint64
	l7                               bool
	legacyReply                      bool
	allowed, denied                  [2][]string
}

var errNativeLine = fmt.Errorf("%w: this is a native record (it has \"src\"/\"dst\"), not a Hubble flow: use format native or auto", errFormatMismatch)

func (d *Decoder) decodeHubble(line []byte, f *Flow) error {
	*f = Flow{Source: SourceHubble}
	d.ferr = nil
	r := &d.r
	r.reset(line)
	var st hubbleState
	if r.peek() != '{' {
		return notObject(r)
	}
	if r.openObject() {
		for more := r.firstMember(); more; more = r.nextMember() {
			key := r.key(&d.keyBuf)
			if r.err != nil {
				break
			}
			switch string(key) {
			case "flow":
				if d.objectOf(r, "flow") {
					st.flow = true
					for more := r.firstMember(); more; more = r.nextMember() {
						k := r.key(&d.keyBuf)
						if r.err != nil {
							break
						}
						if !d.hubbleFlowMember(r, k, &st, f) {
							r.skip()
						}
					}
				}
			case "node_name", "nodeName":
				st.envelope = true
				if raw, esc, ok := d.stringOf(r, "node_name"); ok {
					st.envNode = d.intern(d.text(raw, esc))
				}
			case "time":
				st.envelope = true
				if raw, esc, ok := d.stringOf(r, "time"); ok {
					b := d.text(raw, esc)
					if t, ok := d.times.parseTime(b); ok {
						st.envTime, st.envTimeErr = t, nil
					} else {
						st.envTimeErr = fieldErr("time", "%q is not an RFC 3339 time", b)
					}
				}
			case "lost_events", "lostEvents":
				st.event = IgnoreLostEvents
				r.skip()
			case "node_status", "nodeStatus":
				st.event = IgnoreNodeStatus
				r.skip()
			case "agent_event", "agentEvent":
				st.event = IgnoreAgentEvent
				r.skip()
			case "debug_event", "debugEvent":
				st.event = IgnoreDebugEvent
				r.skip()
			case "src", "dst":
				st.nativeHint = true
				r.skip()
			default:
				// A bare Flow (no envelope) has the Flow's members here.
				if d.hubbleFlowMember(r, key, &st, f) {
					st.bare = true
				} else {
					r.skip()
				}
			}
		}
	}
	r.end()
	if r.err != nil {
		return r.err
	}
	switch {
	case st.nativeHint && !st.flow:
		// A bare Flow has no "src" / "dst".
		return errNativeLine
	case st.flow || st.bare:
	case d.ferr != nil:
		return d.ferr
	case st.event != "":
		return ignore(st.event)
	case st.envelope:
		return ignore(IgnoreUnknownEvent)
	default:
		return errors.New(`not a Hubble flow record: no "flow" member`)
	}
	if st.l7 || st.flowType == flowTypeL7 {
		return ignore(IgnoreL7)
	}
	if st.flowType == flowTypeSock {
		return ignore(IgnoreSock)
	}
	if !st.ipSeen {
		if d.ferr != nil {
			return d.ferr
		}
		return &FieldError{Field: "flow.IP", Problem: "missing: the record has no IP addresses"}
	}
	switch st.l4 {
	case l4ICMP:
		return ignore(IgnoreICMP)
	case l4None:
		return ignore(IgnoreNoL4)
	}
	if d.ferr != nil {
		return d.ferr
	}
	if !f.Src.IP.IsValid() {
		return &FieldError{Field: "flow.IP.source", Problem: "missing"}
	}
	if !f.Dst.IP.IsValid() {
		return &FieldError{Field: "flow.IP.destination", Problem: "missing"}
	}
	if f.DstPort == 0 {
		return fieldErr("flow.l4."+f.Protocol.String()+".destination_port", "missing or 0: a %s flow needs a destination port", f.Protocol)
	}
	if f.Time.IsZero() {
		if st.envTimeErr != nil {
			return st.envTimeErr
		}
		if !st.envTime.IsZero() {
			f.Time = st.envTime
		} else if !d.opts.DefaultTime.IsZero() {
			f.Time = d.opts.DefaultTime
		} else {
			return ErrMissingTime
		}
	}
	if f.Observer == "" {
		f.Observer = st.envNode
	}
	if f.Reply == ReplyUnknown && st.legacyReply {
		f.Reply = ReplyYes
	}
	f.AllowedBy = mergeLists(st.allowed)
	f.DeniedBy = mergeLists(st.denied)
	return nil
}

func mergeLists(l [2][]string) []string {
	switch {
	case len(l[1]) == 0:
		return l[0]
	case len(l[0]) == 0:
		return l[1]
	}
	out := make([]string, 0, min(len(l[0])+len(l[1]), MaxPolicies))
	out = append(out, l[0]...)
	for _, s := range l[1] {
		if len(out) < MaxPolicies {
			out = append(out, s)
		}
	}
	return out
}

// hubbleFlowMember reads one member of a Flow object; false when the
// member is not one Redline uses (the caller skips it).
func (d *Decoder) hubbleFlowMember(r *jsonReader, key []byte, st *hubbleState, f *Flow) bool {
	switch string(key) {
	case "time":
		if raw, esc, ok := d.stringOf(r, "flow.time"); ok {
			b := d.text(raw, esc)
			if t, ok := d.times.parseTime(b); ok {
				f.Time = t
			} else {
				d.setErr(fieldErr("flow.time", "%q is not an RFC 3339 time", b))
			}
		}
	case "verdict":
		if name, num, ok := d.enumOf(r, "flow.verdict"); ok {
			f.Verdict = hubbleVerdict(name, num)
		}
	case "IP":
		d.hubbleIP(r, st, f)
	case "l4":
		d.hubbleL4(r, st, f)
	case "source":
		if id, ok := d.hubblePeer(r, &sourceFields); ok {
			setIdentity(&f.Src, id)
		}
	case "destination":
		if id, ok := d.hubblePeer(r, &destinationFields); ok {
			setIdentity(&f.Dst, id)
		}
	case "Type":
		if name, num, ok := d.enumOf(r, "flow.Type"); ok {
			st.flowType = hubbleFlowType(name, num)
		}
	case "node_name", "nodeName":
		if raw, esc, ok := d.stringOf(r, "flow.node_name"); ok {
			f.Observer = d.intern(d.text(raw, esc))
		}
	case "source_names", "sourceNames":
		f.Src.Names = d.hubbleNames(r, "flow.source_names")
	case "destination_names", "destinationNames":
		f.Dst.Names = d.hubbleNames(r, "flow.destination_names")
	case "l7":
		if r.isNull() {
			return true
		}
		st.l7 = true
		r.skip()
	case "is_reply", "isReply":
		if v, set := d.boolOf(r, "flow.is_reply"); set {
			f.Reply = ReplyNo
			if v {
				f.Reply = ReplyYes
			}
		}
	case "reply":
		st.legacyReply, _ = d.boolOf(r, "flow.reply")
	case "destination_service", "destinationService":
		f.Service = d.hubbleService(r, "flow.destination_service")
	case "traffic_direction", "trafficDirection":
		if name, num, ok := d.enumOf(r, "flow.traffic_direction"); ok {
			f.Direction = hubbleDirection(name, num)
		}
	case "drop_reason_desc", "dropReasonDesc":
		if name, num, ok := d.enumOf(r, "flow.drop_reason_desc"); ok {
			f.DropReason = d.dropReason(name, num)
		}
	case "drop_reason", "dropReason":
		// Deprecated number; drop_reason_desc wins when both are there.
		if n, ok := d.uintOf(r, "flow.drop_reason"); ok && f.DropReason == "" && n != 0 {
			f.DropReason = d.dropReason(nil, n)
		}
	case "egress_allowed_by", "egressAllowedBy":
		st.allowed[0] = d.hubblePolicies(r, "flow.egress_allowed_by")
	case "ingress_allowed_by", "ingressAllowedBy":
		st.allowed[1] = d.hubblePolicies(r, "flow.ingress_allowed_by")
	case "egress_denied_by", "egressDeniedBy":
		st.denied[0] = d.hubblePolicies(r, "flow.egress_denied_by")
	case "ingress_denied_by", "ingressDeniedBy":
		st.denied[1] = d.hubblePolicies(r, "flow.ingress_denied_by")
	default:
		return false
	}
	return true
}

func setIdentity(p *Peer, id peerIdentity) {
	p.Namespace = id.Namespace
	p.Pod = id.Pod
	p.WorkloadKind = id.WorkloadKind
	p.WorkloadName = id.WorkloadName
	p.Labels = id.Labels
	p.Reserved = id.Reserved
}

// Hubble's Verdict enum numbers differ from ours.
var hubbleVerdicts = [...]Verdict{VerdictUnknown, VerdictForwarded, VerdictDropped, VerdictError,
	VerdictAudit, VerdictRedirected, VerdictTraced, VerdictTranslated}

func hubbleVerdict(name []byte, num uint64) Verdict {
	if name == nil {
		if num < uint64(len(hubbleVerdicts)) {
			return hubbleVerdicts[num]
		}
		return VerdictUnknown
	}
	switch string(name) {
	case "FORWARDED":
		return VerdictForwarded
	case "DROPPED":
		return VerdictDropped
	case "AUDIT":
		return VerdictAudit
	case "ERROR":
		return VerdictError
	case "REDIRECTED":
		return VerdictRedirected
	case "TRACED":
		return VerdictTraced
	case "TRANSLATED":
		return VerdictTranslated
	}
	return VerdictUnknown
}

func hubbleFlowType(name []byte, num uint64) uint64 {
	if name == nil {
		return num
	}
	switch string(name) {
	case "L3_L4":
		return 1
	case "L7":
		return flowTypeL7
	case "SOCK":
		return flowTypeSock
	}
	return 0
}

func hubbleDirection(name []byte, num uint64) Direction {
	if name == nil {
		switch num {
		case 1:
			return DirectionIngress
		case 2:
			return DirectionEgress
		}
		return DirectionUnknown
	}
	switch string(name) {
	case "INGRESS":
		return DirectionIngress
	case "EGRESS":
		return DirectionEgress
	}
	return DirectionUnknown
}

// dropReasonNames names the drop reasons a policy tool cares about when
// only the deprecated number is given.
var dropReasonNames = map[uint64]string{
	133: "POLICY_DENIED",
	181: "POLICY_DENY",
	189: "AUTH_REQUIRED",
}

func (d *Decoder) dropReason(name []byte, num uint64) string {
	if name != nil {
		return d.intern(name)
	}
	if n, ok := dropReasonNames[num]; ok {
		return n
	}
	if num == 0 {
		return ""
	}
	return strconv.FormatUint(num, 10)
}

func (d *Decoder) hubbleIP(r *jsonReader, st *hubbleState, f *Flow) {
	if !d.objectOf(r, "flow.IP") {
		return
	}
	st.ipSeen = true
	for more := r.firstMember(); more; more = r.nextMember() {
		k := r.key(&d.keyBuf)
		if r.err != nil {
			return
		}
		switch string(k) {
		case "source":
			d.addrOf(r, "flow.IP.source", &f.Src)
		case "destination":
			d.addrOf(r, "flow.IP.destination", &f.Dst)
		default:
			r.skip()
		}
	}
}

func (d *Decoder) addrOf(r *jsonReader, field string, p *Peer) {
	b, ok := d.textOf(r, field)
	if !ok || len(b) == 0 {
		return
	}
	a, ok := d.addr(b)
	if !ok {
		d.setErr(fieldErr(field, "%q is not an IP address", b))
		return
	}
	p.IP = a
}

// addr parses an address; IPv6 ones (whose parse allocates) are cached.
func (d *Decoder) addr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if a, ok := d.addrs.get(b); ok {
		return a, true
	}
	a, ok := parseAddr(b)
	if ok {
		d.addrs.put(b, a)
	}
	return a, ok
}

func (d *Decoder) hubbleL4(r *jsonReader, st *hubbleState, f *Flow) {
	if !d.objectOf(r, "flow.l4") {
		return
	}
	for more := r.firstMember(); more; more = r.nextMember() {
		k := r.key(&d.keyBuf)
		if r.err != nil {
			return
		}
		var proto Protocol
		switch string(k) {
		case "TCP":
			proto = ProtocolTCP
		case "UDP":
			proto = ProtocolUDP
		case "SCTP":
			proto = ProtocolSCTP
		case "ICMPv4", "ICMPv6":
			if !r.isNull() {
				st.l4 = l4ICMP
				r.skip()
			}
			continue
		default:
			r.skip()
			continue
		}
		field := &l4Fields[proto]
		if !d.objectOf(r, field.obj) {
			continue
		}
		st.l4 = l4Port
		f.Protocol = proto
		f.SrcPort, f.DstPort, f.TCPFlags = 0, 0, 0
		for more := r.firstMember(); more; more = r.nextMember() {
			k := r.key(&d.keyBuf)
			if r.err != nil {
				return
			}
			switch string(k) {
			case "source_port", "sourcePort":
				f.SrcPort = d.portOf(r, field.src)
			case "destination_port", "destinationPort":
				f.DstPort = d.portOf(r, field.dst)
			case "flags":
				if proto == ProtocolTCP {
					f.TCPFlags = d.tcpFlags(r)
				} else {
					r.skip()
				}
			default:
				r.skip()
			}
		}
	}
}

func (d *Decoder) portOf(r *jsonReader, field string) uint16 {
	v, ok := d.uintOf(r, field)
	if !ok {
		return 0
	}
	if v > 65535 {
		d.setErr(fieldErr(field, "%d is out of range 0-65535", v))
		return 0
	}
	return uint16(v)
}

// l4Fields names the fields of each protocol's section, for messages.
var l4Fields = [...]struct{ obj, src, dst string }{
	ProtocolTCP:  {"flow.l4.TCP", "flow.l4.TCP.source_port", "flow.l4.TCP.destination_port"},
	ProtocolUDP:  {"flow.l4.UDP", "flow.l4.UDP.source_port", "flow.l4.UDP.destination_port"},
	ProtocolSCTP: {"flow.l4.SCTP", "flow.l4.SCTP.source_port", "flow.l4.SCTP.destination_port"},
}

func (d *Decoder) tcpFlags(r *jsonReader) TCPFlags {
	var fl TCPFlags
	if !d.objectOf(r, "flow.l4.TCP.flags") {
		return 0
	}
	for more := r.firstMember(); more; more = r.nextMember() {
		k := r.key(&d.keyBuf)
		if r.err != nil {
			return 0
		}
		var bit TCPFlags
		switch string(k) {
		case "SYN":
			bit = TCPSYN
		case "ACK":
			bit = TCPACK
		case "FIN":
			bit = TCPFIN
		case "RST":
			bit = TCPRST
		case "PSH":
			bit = TCPPSH
		default:
			r.skip()
			continue
		}
		if v, _ := d.boolOf(r, "flow.l4.TCP.flags"); v {
			fl |= bit
		}
	}
	return fl
}

// hubblePeer reads an Endpoint object, from the cache when its bytes were
// seen before.
func (d *Decoder) hubblePeer(r *jsonReader, field *peerFields) (peerIdentity, bool) {
	if r.peek() != '{' {
		d.objectOf(r, field.obj) // null, or a type error
		return peerIdentity{}, false
	}
	if id, n, ok := d.peers.match(r.data[r.pos:]); ok {
		r.pos += n
		return id, true
	}
	raw := r.rawValue()
	if r.err != nil {
		return peerIdentity{}, false
	}
	short := len(raw) < spanKeyBytes
	if short {
		// Too short for a span key (world, host ...): cheap to scan.
		if id, ok := d.shortPeers.get(raw); ok {
			return id, true
		}
	}
	nerr := d.nerr
	id := d.parsePeer(raw, field)
	if d.nerr == nerr {
		if short {
			d.shortPeers.put(raw, id)
		} else {
			d.peers.put(raw, id)
		}
	}
	return id, true
}

// Numeric identities Cilium reserves (pkg/identity), for endpoints whose
// labels were masked out.
var reservedIdentities = map[uint64]string{
	1: "host", 2: "world", 3: "unmanaged", 4: "health", 5: "init",
	6: "remote-node", 7: "kube-apiserver", 8: "ingress", 9: "world", 10: "world",
}

// peerFields names an Endpoint's fields, for messages.
type peerFields struct {
	obj, namespace, pod, identity, labels, label, workloads, workload, workloadName, workloadKind string
}

var sourceFields, destinationFields = newPeerFields("flow.source"), newPeerFields("flow.destination")

func newPeerFields(p string) peerFields {
	return peerFields{p, p + ".namespace", p + ".pod_name", p + ".identity", p + ".labels", p + ".labels[]",
		p + ".workloads", p + ".workloads[]", p + ".workloads[].name", p + ".workloads[].kind"}
}

func (d *Decoder) parsePeer(raw []byte, field *peerFields) peerIdentity {
	var id peerIdentity
	var sub jsonReader
	sub.reset(raw)
	r := &sub
	var identity uint64
	reservedRank := len(reservedOrder) + 1
	r.openObject()
	for more := r.firstMember(); more; more = r.nextMember() {
		k := r.key(&d.keyBuf)
		if r.err != nil {
			break
		}
		switch string(k) {
		case "namespace":
			if b, ok := d.textOf(r, field.namespace); ok {
				id.Namespace = d.intern(b)
			}
		case "pod_name", "podName":
			if b, ok := d.textOf(r, field.pod); ok {
				id.Pod = validString(b) // nearly unique: not worth interning
			}
		case "identity":
			identity, _ = d.uintOf(r, field.identity)
		case "labels":
			if !d.arrayOf(r, field.labels) {
				continue
			}
			for more := r.firstElem(); more; more = r.nextElem() {
				b, ok := d.textOf(r, field.label)
				if !ok {
					continue
				}
				source, label := splitLabelSource(b)
				switch string(source) {
				case "reserved":
					name := normaliseReserved(label)
					if rank := reservedRankOf(name); rank < reservedRank {
						reservedRank, id.Reserved = rank, name
					}
				case "k8s", "unspec", "any", "":
					if len(id.Labels) < MaxLabels {
						id.Labels = append(id.Labels, labelString(label))
					}
				}
			}
		case "workloads":
			if !d.arrayOf(r, field.workloads) {
				continue
			}
			first := true
			for more := r.firstElem(); more; more = r.nextElem() {
				if !d.objectOf(r, field.workload) {
					continue
				}
				for more := r.firstMember(); more; more = r.nextMember() {
					k := r.key(&d.keyBuf)
					if r.err != nil {
						break
					}
					switch {
					case first && string(k) == "name":
						if b, ok := d.textOf(r, field.workloadName); ok {
							id.WorkloadName = d.intern(b)
						}
					case first && string(k) == "kind":
						if b, ok := d.textOf(r, field.workloadKind); ok {
							id.WorkloadKind = d.intern(b)
						}
					default:
						r.skip()
					}
				}
				first = false
			}
		default:
			r.skip()
		}
	}
	if id.Reserved == "" && identity > 0 && identity < 256 {
		id.Reserved = reservedIdentities[identity]
	}
	return id
}

// splitLabelSource splits Cilium's "source:key=value" at the colon that
// comes before any '='.
func splitLabelSource(b []byte) (source, label []byte) {
	for i, c := range b {
		switch c {
		case ':':
			return b[:i], b[i+1:]
		case '=':
			return nil, b
		}
	}
	return nil, b
}

// labelString returns "key=value"; a label without a value is "key=".
func labelString(b []byte) string {
	for _, c := range b {
		if c == '=' {
			return validString(b)
		}
	}
	return validString(b) + "="
}

// reservedOrder ranks reserved identities when a peer has several (a node
// running the API server is host or remote-node and kube-apiserver).
var reservedOrder = []string{"world", "host", "remote-node", "kube-apiserver", "ingress", "health", "init", "unmanaged"}

func reservedRankOf(name string) int {
	for i, n := range reservedOrder {
		if n == name {
			return i
		}
	}
	return len(reservedOrder)
}

// normaliseReserved folds world-ipv4 / world-ipv6 (dual-stack clusters)
// into world.
func normaliseReserved(b []byte) string {
	s := validString(b)
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if s == "world-ipv4" || s == "world-ipv6" {
		return "world"
	}
	for _, n := range reservedOrder {
		if n == s {
			return n
		}
	}
	return s
}

func (d *Decoder) hubbleNames(r *jsonReader, field string) []string {
	if r.peek() != '[' {
		d.arrayOf(r, field)
		return nil
	}
	raw := r.rawValue()
	if r.err != nil {
		return nil
	}
	if names, ok := d.names.get(raw); ok {
		return names
	}
	var sub jsonReader
	sub.reset(raw)
	var names []string
	nerr := d.nerr
	sub.openArray()
	for more := sub.firstElem(); more; more = sub.nextElem() {
		if b, ok := d.textOf(&sub, field+"[]"); ok && len(b) > 0 && len(names) < MaxNames {
			names = append(names, d.intern(b))
		}
	}
	if d.nerr == nerr {
		d.names.put(raw, names)
	}
	return names
}

func (d *Decoder) hubbleService(r *jsonReader, field string) *ServiceRef {
	if r.peek() != '{' {
		d.objectOf(r, field)
		return nil
	}
	raw := r.rawValue()
	if r.err != nil {
		return nil
	}
	if svc, ok := d.services.get(raw); ok {
		return svc
	}
	var sub jsonReader
	sub.reset(raw)
	var svc ServiceRef
	nerr := d.nerr
	sub.openObject()
	for more := sub.firstMember(); more; more = sub.nextMember() {
		k := sub.key(&d.keyBuf)
		if sub.err != nil {
			break
		}
		switch string(k) {
		case "name":
			if b, ok := d.textOf(&sub, field+".name"); ok {
				svc.Name = d.intern(b)
			}
		case "namespace":
			if b, ok := d.textOf(&sub, field+".namespace"); ok {
				svc.Namespace = d.intern(b)
			}
		default:
			sub.skip()
		}
	}
	var out *ServiceRef
	if svc.Name != "" {
		out = &svc
	}
	if d.nerr == nerr {
		d.services.put(raw, out)
	}
	return out
}

// hubblePolicies reads a list of Policy objects as "namespace/name" (or
// "name" for cluster-wide policies).
func (d *Decoder) hubblePolicies(r *jsonReader, field string) []string {
	if r.peek() != '[' {
		d.arrayOf(r, field)
		return nil
	}
	raw := r.rawValue()
	if r.err != nil {
		return nil
	}
	if p, ok := d.policies.get(raw); ok {
		return p
	}
	var sub jsonReader
	sub.reset(raw)
	var out []string
	nerr := d.nerr
	sub.openArray()
	for more := sub.firstElem(); more; more = sub.nextElem() {
		if !d.objectOf(&sub, field+"[]") {
			continue
		}
		var name, ns string
		for more := sub.firstMember(); more; more = sub.nextMember() {
			k := sub.key(&d.keyBuf)
			if sub.err != nil {
				break
			}
			switch string(k) {
			case "name":
				if b, ok := d.textOf(&sub, field+"[].name"); ok {
					name = validString(b)
				}
			case "namespace":
				if b, ok := d.textOf(&sub, field+"[].namespace"); ok {
					ns = validString(b)
				}
			default:
				sub.skip()
			}
		}
		if name == "" || len(out) >= MaxPolicies {
			continue
		}
		if ns != "" {
			name = ns + "/" + name
		}
		out = append(out, name)
	}
	if d.nerr == nerr {
		d.policies.put(raw, out)
	}
	return out
}
