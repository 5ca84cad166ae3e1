package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// Key families: the first byte of every key. See doc.go for the layout.
// Endpoints in edge keys are refs (8 bytes, see dict.go).
const (
	famEgress     byte = 'o' // o | src | hour | dst | proto | port  → edge value (hour bucket)
	famIngress    byte = 'i' // i | dst | hour | src | proto | port  → same value
	famEgressDay  byte = 'O' // O | src | day | dst | proto | port   → edge value (day rollup)
	famIngressDay byte = 'I' // I | dst | day | src | proto | port   → same value
	famRolledUp   byte = 'r' // r | day                              → the day's rollup is complete
	famSnapshot   byte = 'w' // w | endpoint encoding                → workload snapshot
	famDict       byte = 'd' // d | ref                              → endpoint encoding
)

// Address family bytes inside an address endpoint.
const (
	addrNone byte = 0
	addrV4   byte = 4
	addrV6   byte = 6
)

// maxHour is the largest hour stored: 0xFFFFFFFF is kept free so that
// <family|endpoint|FF FF FF FF> sorts after every key of that endpoint
// (the skip-scans seek there to jump to the next endpoint).
const maxHour = 1<<32 - 2

// maxKeyString bounds every string inside a key. Kubernetes names are at
// most 253 bytes; anything longer is cut so keys stay within Badger's
// limits, whatever the input.
const maxKeyString = 1024

var errCorruptKey = errors.New("corrupt key")

// hourOf is the hour bucket (hours since the Unix epoch) holding t,
// clamped to [0, maxHour].
func hourOf(t time.Time) uint32 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	h := u / 3600
	if h > maxHour {
		return maxHour
	}
	return uint32(h)
}

// hourStart is the first instant of hour bucket h.
func hourStart(h uint32) time.Time {
	return time.Unix(int64(h)*3600, 0).UTC()
}

// canonicalEndpoint keeps only the fields an endpoint of its kind is
// identified by, so that two endpoints are equal exactly when their
// encodings are. Address endpoints: Addr (zone dropped), Class, Alias;
// every other kind: Namespace, WorkloadKind, Name.
func canonicalEndpoint(e flow.Endpoint) flow.Endpoint {
	if e.Kind == flow.EndpointAddress {
		return flow.Endpoint{Kind: e.Kind, Addr: e.Addr.WithZone(""), Class: e.Class, Alias: clip(e.Alias)}
	}
	return flow.Endpoint{Kind: e.Kind, Namespace: clip(e.Namespace), WorkloadKind: clip(e.WorkloadKind), Name: clip(e.Name)}
}

func clip(s string) string {
	if len(s) > maxKeyString {
		return s[:maxKeyString]
	}
	return s
}

// appendEndpoint appends the prefix-free encoding of e: no encoding is a
// proper prefix of another, so a family byte plus an endpoint is a prefix
// that selects exactly that endpoint's keys.
//
//	address: 3 | af (0, 4, 6) | 16 bytes (As16, zero when af=0) | class | uvarint len | alias
//	other:   kind | uvarint len | namespace | uvarint len | workload kind | uvarint len | name
func appendEndpoint(b []byte, e flow.Endpoint) []byte {
	b = append(b, byte(e.Kind))
	if e.Kind == flow.EndpointAddress {
		var a [16]byte
		af := addrNone
		switch {
		case e.Addr.Is4():
			af = addrV4
			a = e.Addr.As16()
		case e.Addr.Is6():
			af = addrV6
			a = e.Addr.As16()
		}
		b = append(b, af)
		b = append(b, a[:]...)
		b = append(b, byte(e.Class))
		return appendString(b, e.Alias)
	}
	b = appendString(b, e.Namespace)
	b = appendString(b, e.WorkloadKind)
	return appendString(b, e.Name)
}

// appendNamespacePrefix appends the encoding prefix shared by every
// workload endpoint of namespace ns.
func appendNamespacePrefix(b []byte, ns string) []byte {
	b = append(b, byte(flow.EndpointWorkload))
	return appendString(b, clip(ns))
}

func appendString(b []byte, s string) []byte {
	s = clip(s)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// endpointLen is the length of the endpoint encoding at the start of b.
func endpointLen(b []byte) (int, error) {
	if len(b) < 1 {
		return 0, errCorruptKey
	}
	if flow.EndpointKind(b[0]) == flow.EndpointAddress {
		n := 1 + 1 + 16 + 1
		if len(b) < n || (b[1] != addrNone && b[1] != addrV4 && b[1] != addrV6) {
			return 0, errCorruptKey
		}
		m, err := stringLen(b[n:])
		if err != nil {
			return 0, err
		}
		return n + m, nil
	}
	n := 1
	for range 3 {
		m, err := stringLen(b[n:])
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// stringLen is the encoded length (length prefix included) of the string
// at the start of b.
func stringLen(b []byte) (int, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return 0, errCorruptKey
	}
	return n + int(l), nil
}

// stringBytes is decodeString without the copy.
func stringBytes(b []byte) ([]byte, int, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, 0, errCorruptKey
	}
	return b[n : n+int(l)], n + int(l), nil
}

func (in interner) maybe(b []byte) string {
	if in == nil {
		return string(b)
	}
	return in.str(b)
}

func decodeString(b []byte) (string, int, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", 0, errCorruptKey
	}
	return string(b[n : n+int(l)]), n + int(l), nil
}

// decodeEndpoint decodes the endpoint at the start of b and returns the
// number of bytes it took.
func decodeEndpoint(b []byte) (flow.Endpoint, int, error) { return decodeEndpointInterned(b, nil) }

// decodeEndpointInterned is decodeEndpoint sharing namespace, kind and
// alias strings through in (if not nil).
func decodeEndpointInterned(b []byte, in interner) (flow.Endpoint, int, error) {
	if len(b) < 1 {
		return flow.Endpoint{}, 0, errCorruptKey
	}
	e := flow.Endpoint{Kind: flow.EndpointKind(b[0])}
	if e.Kind == flow.EndpointAddress {
		if len(b) < 19 {
			return flow.Endpoint{}, 0, errCorruptKey
		}
		a := [16]byte(b[2:18])
		switch b[1] {
		case addrV4:
			e.Addr = netip.AddrFrom16(a).Unmap()
		case addrV6:
			e.Addr = netip.AddrFrom16(a)
		case addrNone:
		default:
			return flow.Endpoint{}, 0, errCorruptKey
		}
		e.Class = flow.AddrClass(b[18])
		alias, n, err := stringBytes(b[19:])
		if err != nil {
			return flow.Endpoint{}, 0, err
		}
		e.Alias = in.maybe(alias)
		return e, 19 + n, nil
	}
	n := 1
	for i, dst := range [3]*string{&e.Namespace, &e.WorkloadKind, &e.Name} {
		s, m, err := stringBytes(b[n:])
		if err != nil {
			return flow.Endpoint{}, 0, err
		}
		if i < 2 {
			*dst = in.maybe(s)
		} else {
			*dst = string(s)
		}
		n += m
	}
	return e, n, nil
}

// An edge key names its endpoints by ref (see dict.go): 8 bytes, so that
// every edge key has the same layout and length:
//
//	family(1) | self ref(8) | bucket(4) | peer ref(8) | proto(1) | port(2)
const (
	refLen      = 8
	edgeBodyLen = refLen + 4 + refLen + 3 // key without its family byte
	edgeKeyLen  = 1 + edgeBodyLen
	restLen     = refLen + 3 // peer | proto | port
)

// edgeBody is an egress key without its family byte:
// src | hour | dst | proto | port.
type edgeBody [edgeBodyLen]byte

// restKey is peer | proto | port: an edge given one of its endpoints.
type restKey [restLen]byte

func makeEdgeBody(src ref, bucket uint32, dst ref, proto flow.Protocol, port uint16) edgeBody {
	var b edgeBody
	binary.BigEndian.PutUint64(b[0:], uint64(src))
	binary.BigEndian.PutUint32(b[refLen:], bucket)
	binary.BigEndian.PutUint64(b[refLen+4:], uint64(dst))
	b[2*refLen+4] = byte(proto)
	binary.BigEndian.PutUint16(b[2*refLen+5:], port)
	return b
}

// bodyWithBucket is self | bucket | rest.
func bodyWithBucket(self ref, bucket uint32, rest *restKey) edgeBody {
	var b edgeBody
	binary.BigEndian.PutUint64(b[0:], uint64(self))
	binary.BigEndian.PutUint32(b[refLen:], bucket)
	copy(b[refLen+4:], rest[:])
	return b
}

// swapped turns an egress body (src | hour | dst | proto | port) into the
// ingress one (dst | hour | src | proto | port), and back.
func (b *edgeBody) swapped() edgeBody {
	var o edgeBody
	copy(o[0:refLen], b[refLen+4:2*refLen+4])
	copy(o[refLen:refLen+4], b[refLen:refLen+4])
	copy(o[refLen+4:2*refLen+4], b[0:refLen])
	copy(o[2*refLen+4:], b[2*refLen+4:])
	return o
}

// appendKey appends family | body.
func (b *edgeBody) appendKey(dst []byte, fam byte) []byte {
	return append(append(dst, fam), b[:]...)
}

// parsedKey is an edge key split into its parts.
type parsedKey struct {
	self  ref // the endpoint the key is indexed by (src for o, dst for i)
	hour  uint32
	peer  ref // the other endpoint
	proto flow.Protocol
	port  uint16
	// rest is peer | proto | port: identifies the edge given self.
	rest restKey
}

// parseEdgeKey splits an edge key without its family byte.
func parseEdgeKey(body []byte) (parsedKey, error) {
	if len(body) != edgeBodyLen {
		return parsedKey{}, errCorruptKey
	}
	return parsedKey{
		self:  refAt(body),
		hour:  binary.BigEndian.Uint32(body[refLen:]),
		peer:  refAt(body[refLen+4:]),
		proto: flow.Protocol(body[2*refLen+4]),
		port:  binary.BigEndian.Uint16(body[2*refLen+5:]),
		rest:  restKey(body[refLen+4:]),
	}, nil
}

// endpointKeyPrefix is family | endpoint encoding (snapshot keys).
func endpointKeyPrefix(fam byte, e flow.Endpoint) []byte {
	return appendEndpoint([]byte{fam}, canonicalEndpoint(e))
}

// refKeyPrefix is family | ref: the prefix of the endpoint's edge keys.
func refKeyPrefix(fam byte, r ref) []byte {
	return appendRef([]byte{fam}, r)
}

// groupKeyPrefix is family | group: the prefix of the edge keys of every
// endpoint of the group (a namespace's workloads, all addresses).
func groupKeyPrefix(fam byte, g uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{fam}, g)
}

// withHour appends hour h (big-endian) to a copy of prefix.
func withHour(prefix []byte, h uint32) []byte {
	out := make([]byte, len(prefix), len(prefix)+4)
	copy(out, prefix)
	return binary.BigEndian.AppendUint32(out, h)
}

// afterEndpoint is the smallest key after every key of the endpoint that
// prefix (family | ref) names.
func afterEndpoint(prefix []byte) []byte {
	return withHour(prefix, 0xFFFFFFFF)
}

func describeKey(k []byte) string {
	if len(k) > 64 {
		return fmt.Sprintf("%x…", k[:64])
	}
	return fmt.Sprintf("%x", k)
}
