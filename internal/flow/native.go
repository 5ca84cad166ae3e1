package flow

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The native format is Redline's own NDJSON for any traffic source that is
// not Hubble: one object a line, strict (unknown or repeated members are
// errors). docs/flow-format.md is the reference; AppendNative writes it.

// native member bits, for "missing" and "repeated" checks.
const (
	nTime = 1 << iota
	nSrc
	nDst
	nSrcPort
	nPort
	nProtocol
	nVerdict
	nObserver
	nDirection
	nReply
	nTCPFlags
	nSrcPod
	nDstPod
	nService
	nSrcNames
	nDstNames
	nDropReason
	nAllowedBy
	nDeniedBy
)

var nativeMembers = map[string]uint32{
	"time": nTime, "src": nSrc, "dst": nDst, "src_port": nSrcPort, "port": nPort,
	"protocol": nProtocol, "verdict": nVerdict, "observer": nObserver, "direction": nDirection,
	"reply": nReply, "tcp_flags": nTCPFlags, "src_pod": nSrcPod, "dst_pod": nDstPod,
	"service": nService, "src_names": nSrcNames, "dst_names": nDstNames,
	"drop_reason": nDropReason, "allowed_by": nAllowedBy, "denied_by": nDeniedBy,
}

// hubbleTopLevel are members that mark a Hubble line (auto mode).
var hubbleTopLevel = map[string]bool{
	"flow": true, "node_name": true, "nodeName": true, "lost_events": true, "lostEvents": true,
	"node_status": true, "nodeStatus": true, "agent_event": true, "agentEvent": true,
	"debug_event": true, "debugEvent": true, "IP": true, "l4": true, "Type": true,
}

func (d *Decoder) decodeNative(line []byte, f *Flow) error {
	*f = Flow{Source: SourceNative}
	d.ferr = nil
	r := &d.r
	r.reset(line)
	var seen, set uint32 // members written; members with a value
	var hubbleHint bool
	var icmp bool
	if r.peek() != '{' {
		return notObject(r)
	}
	if r.openObject() {
		for more := r.firstMember(); more; more = r.nextMember() {
			key := r.key(&d.keyBuf)
			if r.err != nil {
				break
			}
			bit, known := nativeMembers[string(key)]
			if !known {
				if hubbleTopLevel[string(key)] {
					hubbleHint = true
				}
				d.setErr(fieldErr(string(key), "unknown field (see docs/flow-format.md for the native format)"))
				r.skip()
				continue
			}
			if seen&bit != 0 {
				d.setErr(fieldErr(string(key), "repeated"))
				r.skip()
				continue
			}
			seen |= bit
			if r.isNull() {
				continue // null is absent
			}
			set |= bit
			switch bit {
			case nTime:
				if b, ok := d.textOf(r, "time"); ok {
					if t, ok := d.times.parseTime(b); ok {
						f.Time = t
					} else {
						d.setErr(fieldErr("time", "%q is not an RFC 3339 time such as 2026-11-26T10:00:00Z", b))
					}
				}
			case nSrc:
				d.nativeAddr(r, "src", &f.Src)
			case nDst:
				d.nativeAddr(r, "dst", &f.Dst)
			case nSrcPort:
				f.SrcPort = d.portOf(r, "src_port")
			case nPort:
				f.DstPort = d.portOf(r, "port")
			case nProtocol:
				if b, ok := d.textOf(r, "protocol"); ok {
					f.Protocol = ParseProtocol(string(b))
					if f.Protocol == ProtocolUnknown {
						if isICMP(b) {
							icmp = true
						} else {
							d.setErr(fieldErr("protocol", "%q is not TCP, UDP or SCTP", b))
						}
					}
				}
			case nVerdict:
				if b, ok := d.textOf(r, "verdict"); ok {
					f.Verdict = ParseVerdict(string(b))
					if f.Verdict == VerdictUnknown && !equalFoldASCII(string(b), "unknown") {
						d.setErr(fieldErr("verdict", "%q is not one of forwarded, dropped, audit, error, redirected, traced, translated, unknown", b))
					}
				}
			case nObserver:
				if b, ok := d.textOf(r, "observer"); ok {
					f.Observer = d.intern(b)
				}
			case nDirection:
				if b, ok := d.textOf(r, "direction"); ok {
					switch {
					case equalFoldASCII(string(b), "ingress"):
						f.Direction = DirectionIngress
					case equalFoldASCII(string(b), "egress"):
						f.Direction = DirectionEgress
					default:
						d.setErr(fieldErr("direction", "%q is not ingress or egress", b))
					}
				}
			case nReply:
				if v, set := d.boolOf(r, "reply"); set {
					f.Reply = ReplyNo
					if v {
						f.Reply = ReplyYes
					}
				}
			case nTCPFlags:
				f.TCPFlags = d.nativeFlags(r)
			case nSrcPod:
				d.nativePod(r, "src_pod", &f.Src)
			case nDstPod:
				d.nativePod(r, "dst_pod", &f.Dst)
			case nService:
				f.Service = d.nativeService(r)
			case nSrcNames:
				f.Src.Names = d.nativeStrings(r, "src_names", MaxNames)
			case nDstNames:
				f.Dst.Names = d.nativeStrings(r, "dst_names", MaxNames)
			case nDropReason:
				if b, ok := d.textOf(r, "drop_reason"); ok {
					f.DropReason = d.intern(b)
				}
			case nAllowedBy:
				f.AllowedBy = d.nativeStrings(r, "allowed_by", MaxPolicies)
			case nDeniedBy:
				f.DeniedBy = d.nativeStrings(r, "denied_by", MaxPolicies)
			}
		}
	}
	r.end()
	if r.err != nil {
		return r.err
	}
	if set&(nSrc|nDst) == 0 && hubbleHint {
		return errHubbleLine
	}
	if icmp && d.ferr == nil {
		return ignore(IgnoreICMP)
	}
	if d.ferr != nil {
		return d.ferr
	}
	for _, m := range [...]struct {
		bit  uint32
		name string
	}{{nSrc, "src"}, {nDst, "dst"}, {nProtocol, "protocol"}, {nPort, "port"}} {
		if set&m.bit == 0 {
			return fieldErr(m.name, "missing (required)")
		}
	}
	if f.DstPort == 0 {
		return fieldErr("port", "0 is not a destination port: use 1-65535")
	}
	if f.TCPFlags != 0 && f.Protocol != ProtocolTCP {
		return fieldErr("tcp_flags", "only TCP records have flags")
	}
	if f.Time.IsZero() {
		if d.opts.DefaultTime.IsZero() {
			return &FieldError{Field: "time", Problem: "missing (required): " + ErrMissingTime.Error()}
		}
		f.Time = d.opts.DefaultTime
	}
	return nil
}

var errHubbleLine = fmt.Errorf("%w: this looks like a Hubble record, not a native one (no \"src\"/\"dst\"): use format hubble or auto", errFormatMismatch)

func isICMP(b []byte) bool {
	s := strings.ToUpper(string(b))
	return s == "ICMP" || s == "ICMPV4" || s == "ICMPV6" || s == "ICMP6"
}

func (d *Decoder) nativeAddr(r *jsonReader, field string, p *Peer) {
	b, ok := d.textOf(r, field)
	if !ok {
		return
	}
	a, ok := parseAddr(b)
	if !ok {
		d.setErr(fieldErr(field, "%q is not an IP address", b))
		return
	}
	p.IP = a
}

func (d *Decoder) nativeFlags(r *jsonReader) TCPFlags {
	var fl TCPFlags
	if !d.arrayOf(r, "tcp_flags") {
		return 0
	}
	for more := r.firstElem(); more; more = r.nextElem() {
		b, ok := d.textOf(r, "tcp_flags[]")
		if !ok {
			continue
		}
		switch strings.ToUpper(string(b)) {
		case "SYN":
			fl |= TCPSYN
		case "ACK":
			fl |= TCPACK
		case "FIN":
			fl |= TCPFIN
		case "RST":
			fl |= TCPRST
		case "PSH":
			fl |= TCPPSH
		case "URG", "ECE", "CWR", "NS":
		default:
			d.setErr(fieldErr("tcp_flags", "%q is not a TCP flag (SYN, ACK, FIN, RST, PSH, URG, ECE, CWR, NS)", b))
		}
	}
	return fl
}

// nativeObject iterates over a strict object: fn reads each known member
// and reports false for an unknown one.
func (d *Decoder) nativeObject(r *jsonReader, field string, fn func(key []byte) bool) {
	if !d.objectOf(r, field) {
		return
	}
	var seen []string
	for more := r.firstMember(); more; more = r.nextMember() {
		k := r.key(&d.keyBuf)
		if r.err != nil {
			return
		}
		if slices.Contains(seen, string(k)) {
			d.setErr(fieldErr(field+"."+string(k), "repeated"))
			r.skip()
			continue
		}
		seen = append(seen, string(k))
		if r.isNull() {
			continue
		}
		if !fn(k) {
			d.setErr(fieldErr(field+"."+string(k), "unknown field"))
			r.skip()
		}
	}
}

func (d *Decoder) nativePod(r *jsonReader, field string, p *Peer) {
	d.nativeObject(r, field, func(k []byte) bool {
		switch string(k) {
		case "namespace":
			if b, ok := d.textOf(r, field+".namespace"); ok {
				p.Namespace = d.intern(b)
			}
		case "name":
			if b, ok := d.textOf(r, field+".name"); ok {
				p.Pod = d.intern(b)
			}
		case "workload":
			d.nativeObject(r, field+".workload", func(k []byte) bool {
				switch string(k) {
				case "kind":
					if b, ok := d.textOf(r, field+".workload.kind"); ok {
						p.WorkloadKind = d.intern(b)
					}
				case "name":
					if b, ok := d.textOf(r, field+".workload.name"); ok {
						p.WorkloadName = d.intern(b)
					}
				default:
					return false
				}
				return true
			})
		case "labels":
			var labels []string
			d.nativeObject(r, field+".labels", func(k []byte) bool {
				key := validString(k)
				if key == "" || strings.Contains(key, "=") {
					d.setErr(fieldErr(field+".labels", "%q is not a label key", key))
				}
				if b, ok := d.textOf(r, field+".labels."+key); ok && len(labels) < MaxLabels {
					labels = append(labels, key+"="+validString(b))
				}
				return true
			})
			slices.Sort(labels)
			p.Labels = labels
		default:
			return false
		}
		return true
	})
	if p.Namespace == "" && d.ferr == nil {
		d.setErr(fieldErr(field+".namespace", "missing (required when %s is given)", field))
	}
}

func (d *Decoder) nativeService(r *jsonReader) *ServiceRef {
	var svc ServiceRef
	d.nativeObject(r, "service", func(k []byte) bool {
		switch string(k) {
		case "namespace":
			if b, ok := d.textOf(r, "service.namespace"); ok {
				svc.Namespace = d.intern(b)
			}
		case "name":
			if b, ok := d.textOf(r, "service.name"); ok {
				svc.Name = d.intern(b)
			}
		default:
			return false
		}
		return true
	})
	if (svc.Name == "" || svc.Namespace == "") && d.ferr == nil {
		d.setErr(fieldErr("service", "needs both namespace and name"))
	}
	if svc.Name == "" {
		return nil
	}
	return &svc
}

func (d *Decoder) nativeStrings(r *jsonReader, field string, limit int) []string {
	if !d.arrayOf(r, field) {
		return nil
	}
	var out []string
	for more := r.firstElem(); more; more = r.nextElem() {
		if b, ok := d.textOf(r, field+"[]"); ok && len(b) > 0 && len(out) < limit {
			out = append(out, d.intern(b))
		}
	}
	return out
}

// AppendNative appends f as one native NDJSON line (with its newline).
// Decoding the line gives f back, except what the native format does not
// carry (Peer.Reserved) and label order (sorted).
func AppendNative(dst []byte, f *Flow) []byte {
	dst = append(dst, `{"time":`...)
	dst = appendJSONString(dst, f.Time.UTC().Format(time.RFC3339Nano))
	dst = append(dst, `,"src":`...)
	dst = appendJSONString(dst, f.Src.IP.String())
	if f.SrcPort != 0 {
		dst = fmt.Appendf(dst, `,"src_port":%d`, f.SrcPort)
	}
	dst = append(dst, `,"dst":`...)
	dst = appendJSONString(dst, f.Dst.IP.String())
	dst = fmt.Appendf(dst, `,"port":%d,"protocol":`, f.DstPort)
	dst = appendJSONString(dst, f.Protocol.String())
	if f.Verdict != VerdictUnknown {
		dst = append(dst, `,"verdict":`...)
		dst = appendJSONString(dst, strings.ToLower(f.Verdict.String()))
	}
	if f.Observer != "" {
		dst = append(dst, `,"observer":`...)
		dst = appendJSONString(dst, f.Observer)
	}
	switch f.Direction {
	case DirectionIngress:
		dst = append(dst, `,"direction":"ingress"`...)
	case DirectionEgress:
		dst = append(dst, `,"direction":"egress"`...)
	}
	switch f.Reply {
	case ReplyYes:
		dst = append(dst, `,"reply":true`...)
	case ReplyNo:
		dst = append(dst, `,"reply":false`...)
	}
	if f.TCPFlags != 0 {
		dst = append(dst, `,"tcp_flags":[`...)
		sep := ""
		for _, fl := range [...]struct {
			bit  TCPFlags
			name string
		}{{TCPSYN, "SYN"}, {TCPACK, "ACK"}, {TCPFIN, "FIN"}, {TCPRST, "RST"}, {TCPPSH, "PSH"}} {
			if f.TCPFlags&fl.bit != 0 {
				dst = append(dst, sep...)
				dst = appendJSONString(dst, fl.name)
				sep = ","
			}
		}
		dst = append(dst, ']')
	}
	dst = appendNativePod(dst, "src_pod", &f.Src)
	dst = appendNativePod(dst, "dst_pod", &f.Dst)
	if f.Service != nil {
		dst = append(dst, `,"service":{"namespace":`...)
		dst = appendJSONString(dst, f.Service.Namespace)
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, f.Service.Name)
		dst = append(dst, '}')
	}
	dst = appendStringList(dst, "src_names", f.Src.Names)
	dst = appendStringList(dst, "dst_names", f.Dst.Names)
	if f.DropReason != "" {
		dst = append(dst, `,"drop_reason":`...)
		dst = appendJSONString(dst, f.DropReason)
	}
	dst = appendStringList(dst, "allowed_by", f.AllowedBy)
	dst = appendStringList(dst, "denied_by", f.DeniedBy)
	return append(dst, "}\n"...)
}

func appendNativePod(dst []byte, name string, p *Peer) []byte {
	if p.Namespace == "" {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":{"namespace":`...)
	dst = appendJSONString(dst, p.Namespace)
	if p.Pod != "" {
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, p.Pod)
	}
	if p.WorkloadKind != "" || p.WorkloadName != "" {
		dst = append(dst, `,"workload":{"kind":`...)
		dst = appendJSONString(dst, p.WorkloadKind)
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, p.WorkloadName)
		dst = append(dst, '}')
	}
	if len(p.Labels) > 0 {
		dst = append(dst, `,"labels":{`...)
		for i, l := range p.Labels {
			if i > 0 {
				dst = append(dst, ',')
			}
			k, v, _ := strings.Cut(l, "=")
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendStringList(dst []byte, name string, list []string) []byte {
	if len(list) == 0 {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":[`...)
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
