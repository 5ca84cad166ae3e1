package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// valueVersion is the first byte of every edge value.
const valueVersion byte = 1

// MaxNames bounds the FQDNs kept per edge (per hour bucket and in query
// results); further names are dropped.
const MaxNames = 16

// maxNameLen drops names longer than a DNS name can be.
const maxNameLen = 253

var errCorruptValue = errors.New("corrupt value")

// bucketStats is what one (edge, hour) bucket accumulates. Times are Unix
// nanoseconds.
type bucketStats struct {
	count    uint64
	first    int64
	last     int64
	verdicts [flow.NumVerdicts]uint64
	svc      flow.ServiceRef
	hasSvc   bool
	names    []string
}

// merge adds o into b. b's Service wins unless b has none: callers merge
// older data into newer.
func (b *bucketStats) merge(o *bucketStats) {
	if o.empty() {
		return
	}
	if b.empty() {
		b.first, b.last = o.first, o.last
	} else {
		b.first = min(b.first, o.first)
		b.last = max(b.last, o.last)
	}
	b.count = satAdd(b.count, o.count)
	for i := range b.verdicts {
		b.verdicts[i] = satAdd(b.verdicts[i], o.verdicts[i])
	}
	if !b.hasSvc && o.hasSvc {
		b.svc, b.hasSvc = o.svc, true
	}
	for _, n := range o.names {
		b.addName(n)
	}
}

// empty reports whether nothing was recorded in b: no connection and no
// verdict (a bucket written by RecordVerdict alone has a zero count but
// verdicts, first and last seen).
func (b *bucketStats) empty() bool {
	return b.count == 0 && b.verdicts == [flow.NumVerdicts]uint64{}
}

// addName adds n to the bounded name set; it reports whether it did.
func (b *bucketStats) addName(n string) bool {
	if n == "" || len(n) > maxNameLen || len(b.names) >= MaxNames || slices.Contains(b.names, n) {
		return false
	}
	b.names = append(b.names, strings.Clone(n))
	return true
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// appendValue appends the encoding of st:
//
//	version(1) | uvarint count | varint first | uvarint last-first |
//	uvarint verdict bitmap | uvarint count per set bit |
//	flags (bit 0: service) | [string svc ns | string svc name] |
//	uvarint n | n × string name
//
// where string is uvarint length + bytes.
func appendValue(b []byte, st *bucketStats) []byte {
	b = append(b, valueVersion)
	b = binary.AppendUvarint(b, st.count)
	b = binary.AppendVarint(b, st.first)
	span := uint64(0)
	if st.last > st.first {
		span = uint64(st.last - st.first)
	}
	b = binary.AppendUvarint(b, span)
	var mask uint64
	for i, c := range st.verdicts {
		if c != 0 {
			mask |= 1 << i
		}
	}
	b = binary.AppendUvarint(b, mask)
	for _, c := range st.verdicts {
		if c != 0 {
			b = binary.AppendUvarint(b, c)
		}
	}
	if st.hasSvc {
		b = append(b, 1)
		b = appendString(b, st.svc.Namespace)
		b = appendString(b, st.svc.Name)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(st.names)))
	for _, n := range st.names {
		b = appendString(b, n)
	}
	return b
}

// valueView is a decoded edge value whose strings still point into the
// encoded bytes: queries aggregate without allocating per row.
type valueView struct {
	count    uint64
	first    int64
	last     int64
	verdicts [flow.NumVerdicts]uint64
	hasSvc   bool
	svcNS    []byte
	svcName  []byte
	names    [][]byte
}

// empty is bucketStats.empty.
func (v *valueView) empty() bool {
	return v.count == 0 && v.verdicts == [flow.NumVerdicts]uint64{}
}

// parseValue decodes v into vv (reusing vv.names); vv's byte slices
// alias v.
func parseValue(v []byte, vv *valueView) error {
	if len(v) < 1 {
		return errCorruptValue
	}
	if v[0] != valueVersion {
		return fmt.Errorf("%w: value version %d, want %d", errCorruptValue, v[0], valueVersion)
	}
	r := reader{b: v[1:]}
	vv.count = r.uvarint()
	vv.first = r.varint()
	span := r.uvarint()
	switch {
	case span > math.MaxInt64:
		return fmt.Errorf("%w: time span %d", errCorruptValue, span)
	case vv.first > 0 && int64(span) > math.MaxInt64-vv.first:
		vv.last = math.MaxInt64
	default:
		vv.last = vv.first + int64(span)
	}
	mask := r.uvarint()
	if mask>>flow.NumVerdicts != 0 {
		return fmt.Errorf("%w: verdict bitmap %#x", errCorruptValue, mask)
	}
	for i := range vv.verdicts {
		vv.verdicts[i] = 0
		if mask&(1<<i) != 0 {
			vv.verdicts[i] = r.uvarint()
		}
	}
	flags := r.byte()
	vv.hasSvc = flags&1 != 0
	vv.svcNS, vv.svcName = nil, nil
	if vv.hasSvc {
		vv.svcNS = r.bytes()
		vv.svcName = r.bytes()
	}
	n := r.uvarint()
	vv.names = vv.names[:0]
	if n > MaxNames {
		return fmt.Errorf("%w: %d names", errCorruptValue, n)
	}
	for range n {
		vv.names = append(vv.names, r.bytes())
	}
	if r.err != nil || len(r.b) != 0 {
		return errCorruptValue
	}
	return nil
}

// decodeValue decodes an edge value into st (overwriting it).
func decodeValue(v []byte, st *bucketStats) error {
	var vv valueView
	if err := parseValue(v, &vv); err != nil {
		return err
	}
	st.count, st.first, st.last, st.verdicts = vv.count, vv.first, vv.last, vv.verdicts
	st.hasSvc, st.svc = vv.hasSvc, flow.ServiceRef{}
	if vv.hasSvc {
		st.svc = flow.ServiceRef{Namespace: string(vv.svcNS), Name: string(vv.svcName)}
	}
	st.names = st.names[:0]
	for _, n := range vv.names {
		st.names = append(st.names, string(n))
	}
	return nil
}

// reader decodes varints and strings, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorruptValue
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorruptValue
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errCorruptValue
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)-n) {
		r.err = errCorruptValue
		return nil
	}
	b := r.b[n : n+int(l)]
	r.b = r.b[n+int(l):]
	return b
}

func (r *reader) string() string {
	if r.err != nil {
		return ""
	}
	s, n, err := decodeString(r.b)
	if err != nil {
		r.err = errCorruptValue
		return ""
	}
	r.b = r.b[n:]
	return s
}

// unixNanos clamps t to the range UnixNano can represent.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func fromNanos(n int64) time.Time {
	return time.Unix(0, n).UTC()
}
