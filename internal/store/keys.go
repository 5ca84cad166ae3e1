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
const (
	famEgress     byte = 'o' // o | src | hour | dst | proto | port  → edge value (hour bucket)
	famIngress    byte = 'i' // i | dst | hour | src | proto | port  → same value
	famEgressDay  byte = 'O' // O | src | day | dst | proto | port   → edge value (day rollup)
	famIngressDay byte = 'I' // I | dst | day | src | proto | port   → same value
	famRolledUp   byte = 'r' // r | day                              → the day's rollup is complete
	famSnapshot   byte = 'w' // w | endpoint                         → workload snapshot
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

// appendEdgeKey appends the body of an egress key (family byte excluded):
// src | hour | dst | proto | port. It returns the new slice and the length
// of the src encoding, which ingressKey needs.
func appendEdgeKey(b []byte, k *flow.EdgeKey, hour uint32) ([]byte, int) {
	start := len(b)
	b = appendEndpoint(b, k.Src)
	srcLen := len(b) - start
	b = binary.BigEndian.AppendUint32(b, hour)
	b = appendEndpoint(b, k.Dst)
	b = append(b, byte(k.Protocol))
	b = binary.BigEndian.AppendUint16(b, k.Port)
	return b, srcLen
}

// swapToIngress turns an egress key body (src | hour | dst | proto | port,
// with the src encoding srcLen bytes long) into the ingress key body
// dst | hour | src | proto | port, appended to b.
func swapToIngress(b, body []byte, srcLen int) ([]byte, error) {
	if srcLen+4+3 > len(body) {
		return nil, errCorruptKey
	}
	src := body[:srcLen]
	hour := body[srcLen : srcLen+4]
	dst := body[srcLen+4 : len(body)-3]
	b = append(b, dst...)
	b = append(b, hour...)
	b = append(b, src...)
	return append(b, body[len(body)-3:]...), nil
}

// parsedKey is an edge key split into its parts (slices of the key).
type parsedKey struct {
	self  []byte // the endpoint the key is indexed by (src for o, dst for i)
	hour  uint32
	peer  []byte // the other endpoint
	proto flow.Protocol
	port  uint16
	// rest is peer | proto | port: identifies the edge given self.
	rest []byte
}

// parseEdgeKey splits an edge key without its family byte.
func parseEdgeKey(body []byte) (parsedKey, error) {
	n, err := endpointLen(body)
	if err != nil {
		return parsedKey{}, err
	}
	if len(body) < n+4 {
		return parsedKey{}, errCorruptKey
	}
	p := parsedKey{self: body[:n], hour: binary.BigEndian.Uint32(body[n:])}
	rest := body[n+4:]
	m, err := endpointLen(rest)
	if err != nil {
		return parsedKey{}, err
	}
	if len(rest) != m+3 {
		return parsedKey{}, errCorruptKey
	}
	p.peer = rest[:m]
	p.proto = flow.Protocol(rest[m])
	p.port = binary.BigEndian.Uint16(rest[m+1:])
	p.rest = rest
	return p, nil
}

// endpointKeyPrefix is family | endpoint.
func endpointKeyPrefix(fam byte, e flow.Endpoint) []byte {
	return appendEndpoint([]byte{fam}, canonicalEndpoint(e))
}

// withHour appends hour h (big-endian) to a copy of prefix.
func withHour(prefix []byte, h uint32) []byte {
	out := make([]byte, len(prefix), len(prefix)+4)
	copy(out, prefix)
	return binary.BigEndian.AppendUint32(out, h)
}

// afterEndpoint is the smallest key after every key of the endpoint that
// prefix (family | endpoint) names.
func afterEndpoint(prefix []byte) []byte {
	return withHour(prefix, 0xFFFFFFFF)
}

func describeKey(k []byte) string {
	if len(k) > 64 {
		return fmt.Sprintf("%x…", k[:64])
	}
	return fmt.Sprintf("%x", k)
}
