package flow

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Format names a flow record format.
type Format string

const (
	// FormatAuto detects the format line by line: a Hubble record has a
	// "flow" member (or is a bare Hubble Flow), a native record has "src"
	// and "dst".
	FormatAuto Format = "auto"
	// FormatHubble is Hubble's flow JSON: `hubble observe -o json`, the
	// Hubble exporter's files, or bare Flow objects.
	FormatHubble Format = "hubble"
	// FormatNative is Redline's own NDJSON (docs/flow-format.md).
	FormatNative Format = "native"
)

// Formats lists the formats, for flag help.
var Formats = []Format{FormatAuto, FormatHubble, FormatNative}

// ParseFormat maps a flag value to a Format; "" means auto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatAuto, nil
	case FormatAuto, FormatHubble, FormatNative:
		return f, nil
	}
	return "", fmt.Errorf("unknown flow format %q: use one of auto, hubble, native", s)
}

// Source names for Flow.Source.
const (
	SourceHubble = "hubble"
	SourceNative = "native"
)

// ErrIgnored marks a well-formed record that carries no connection Redline
// counts (an L7 or ICMP record, a lost-events notice ...). Callers skip it
// and count it by reason; errors.As gives the *IgnoredError.
var ErrIgnored = errors.New("record ignored")

// IgnoreReason is a stable, metric-friendly reason for skipping a record.
type IgnoreReason string

const (
	// IgnoreL7: a Hubble L7 record (HTTP, DNS, Kafka); its connection has
	// L3/L4 records of its own.
	IgnoreL7 IgnoreReason = "l7"
	// IgnoreSock: a Hubble socket-trace record (Type SOCK, service
	// translation at connect()); the packets have L3/L4 records.
	IgnoreSock IgnoreReason = "sock"
	// IgnoreICMP: ICMPv4 / ICMPv6; NetworkPolicy has no ports for them.
	IgnoreICMP IgnoreReason = "icmp"
	// IgnoreNoL4: an IP record without TCP, UDP or SCTP (another L4
	// protocol, or a field mask that dropped l4).
	IgnoreNoL4 IgnoreReason = "no_l4"
	// IgnoreLostEvents, IgnoreNodeStatus, IgnoreAgentEvent,
	// IgnoreDebugEvent: Hubble stream notices that are not flows.
	IgnoreLostEvents IgnoreReason = "lost_events"
	IgnoreNodeStatus IgnoreReason = "node_status"
	IgnoreAgentEvent IgnoreReason = "agent_event"
	IgnoreDebugEvent IgnoreReason = "debug_event"
	// IgnoreUnknownEvent: a Hubble envelope (node_name, time) around a
	// payload this version does not know.
	IgnoreUnknownEvent IgnoreReason = "unknown_event"
)

// IgnoredError is returned for records to skip.
type IgnoredError struct {
	Reason IgnoreReason
}

func (e *IgnoredError) Error() string { return "record ignored: " + string(e.Reason) }

// Is makes errors.Is(err, ErrIgnored) true.
func (e *IgnoredError) Is(target error) bool { return target == ErrIgnored }

var ignored = map[IgnoreReason]*IgnoredError{}

func init() {
	for _, r := range []IgnoreReason{IgnoreL7, IgnoreSock, IgnoreICMP, IgnoreNoL4, IgnoreLostEvents,
		IgnoreNodeStatus, IgnoreAgentEvent, IgnoreDebugEvent, IgnoreUnknownEvent} {
		ignored[r] = &IgnoredError{Reason: r}
	}
}

// ignore returns the shared error value for a reason (no allocation).
func ignore(r IgnoreReason) error { return ignored[r] }

// IgnoredReason returns the reason when err says the record is ignored.
func IgnoredReason(err error) (IgnoreReason, bool) {
	var ie *IgnoredError
	if errors.As(err, &ie) {
		return ie.Reason, true
	}
	return "", false
}

// ErrMissingTime is returned for a record without a time when the decoder
// has no DefaultTime.
var ErrMissingTime = errors.New("record has no time")

// errFormatMismatch says a line belongs to the other format (auto mode).
var errFormatMismatch = errors.New("format mismatch")

// Limits on what one record may carry; longer lists are cut (the first
// entries are kept). They bound the memory a hostile line can pin.
const (
	// MaxLabels is the most labels kept per peer.
	MaxLabels = 64
	// MaxNames is the most DNS names kept per peer.
	MaxNames = 32
	// MaxPolicies is the most policy names kept in AllowedBy / DeniedBy.
	MaxPolicies = 32
)

// DecoderOptions configure a Decoder.
type DecoderOptions struct {
	// Format of the lines; "" is FormatAuto.
	Format Format
	// DefaultTime stamps records that carry no time. When zero, such a
	// record is an error (ErrMissingTime): the decoder reads no clock.
	DefaultTime time.Time
}

// Decoder decodes flow records one line at a time. It keeps small bounded
// caches of what repeats from line to line (peer identities, label sets,
// names, services, node names), so slices and pointers in decoded Flows may
// be shared between Flows: treat them as read-only. A Decoder is not safe
// for concurrent use; use one per goroutine.
type Decoder struct {
	opts DecoderOptions
	// last is the format auto mode tries first.
	last Format
	r    jsonReader

	scratch []byte
	keyBuf  []byte
	// ferr is the current line's first field error; nerr counts them all
	// (a value is cached only when its parse added none).
	ferr *FieldError
	nerr int

	peers      spanCache[peerIdentity]
	shortPeers cache[peerIdentity]
	addrs      cache[netip.Addr]
	names      cache[[]string]
	policies   cache[[]string]
	services   cache[*ServiceRef]
	strs       cache[string]

	times timeCache
}

// Cache bounds: entries and bytes per generation (each cache keeps two),
// and the largest raw value cached. At most about 40 MB in all.
const (
	cacheEntries  = 16384
	cacheBytes    = 2 << 20
	peerBytes     = 8 << 20
	cacheMaxBytes = 8192
)

// NewDecoder returns a Decoder for opts.
func NewDecoder(opts DecoderOptions) (*Decoder, error) {
	f, err := ParseFormat(string(opts.Format))
	if err != nil {
		return nil, err
	}
	opts.Format = f
	return newDecoder(opts), nil
}

func newDecoder(opts DecoderOptions) *Decoder {
	if opts.Format == "" {
		opts.Format = FormatAuto
	}
	d := &Decoder{opts: opts, last: FormatHubble}
	if opts.Format == FormatNative {
		d.last = FormatNative
	}
	d.peers.init(cacheEntries, peerBytes, 4)
	d.shortPeers.init(cacheEntries/4, cacheBytes)
	d.addrs.init(cacheEntries, cacheBytes)
	d.names.init(cacheEntries, cacheBytes)
	d.policies.init(cacheEntries/4, cacheBytes)
	d.services.init(cacheEntries, cacheBytes)
	d.strs.init(cacheEntries, cacheBytes)
	return d
}

// Format returns the format of the last line decoded (for FormatAuto, the
// one detected).
func (d *Decoder) Format() Format { return d.last }

// Decode decodes one line (without its newline) into f, overwriting all of
// f. It returns an *IgnoredError (errors.Is(err, ErrIgnored)) for records
// to skip, and another error for a bad line; f is then unspecified.
func (d *Decoder) Decode(line []byte, f *Flow) error {
	if d.opts.Format != FormatAuto {
		return d.decodeAs(d.opts.Format, line, f)
	}
	first, second := FormatHubble, FormatNative
	if d.last == FormatNative {
		first, second = second, first
	}
	err := d.decodeAs(first, line, f)
	if !errors.Is(err, errFormatMismatch) {
		d.last = first
		return err
	}
	err = d.decodeAs(second, line, f)
	if errors.Is(err, errFormatMismatch) { // cannot happen: kept for safety
		return errors.New("neither a Hubble flow record (no \"flow\" member) nor a native flow record (no \"src\"/\"dst\")")
	}
	d.last = second
	return err
}

func (d *Decoder) decodeAs(format Format, line []byte, f *Flow) error {
	if format == FormatNative {
		return d.decodeNative(line, f)
	}
	return d.decodeHubble(line, f)
}

// SetDefaultTime changes the time given to records without one.
func (d *Decoder) SetDefaultTime(t time.Time) { d.opts.DefaultTime = t }

var decoderPools = map[Format]*sync.Pool{}

func init() {
	for _, f := range Formats {
		decoderPools[f] = &sync.Pool{New: func() any { return newDecoder(DecoderOptions{Format: f}) }}
	}
}

// DecodeLine decodes one line in the given format with a pooled Decoder;
// see Decoder.Decode. Records without time are errors.
func DecodeLine(format Format, line []byte, f *Flow) error {
	if format == "" {
		format = FormatAuto
	}
	pool, ok := decoderPools[format]
	if !ok {
		_, err := ParseFormat(string(format))
		return err
	}
	d := pool.Get().(*Decoder)
	err := d.Decode(line, f)
	pool.Put(d)
	return err
}

// DecodeHubble decodes one Hubble JSON line; see Decoder.Decode.
func DecodeHubble(line []byte, f *Flow) error { return DecodeLine(FormatHubble, line, f) }

// DecodeNative decodes one native NDJSON line; see Decoder.Decode.
func DecodeNative(line []byte, f *Flow) error { return DecodeLine(FormatNative, line, f) }

// cache maps raw bytes to what they decode to. It is bounded by two
// generations: when the current one holds max entries it becomes the old
// one and the older entries go; a hit in the old generation moves the
// entry back to the current one. No per-entry eviction cost.
type cache[V any] struct {
	cur, old        map[string]cacheEntry[V]
	max             int // entries in a generation
	bytes, maxBytes int // key bytes in the current generation, and their bound
}

type cacheEntry[V any] struct {
	key string
	v   V
}

func (c *cache[V]) init(max, maxBytes int) {
	c.cur, c.old = make(map[string]cacheEntry[V]), make(map[string]cacheEntry[V])
	c.max, c.maxBytes = max, maxBytes
}

func (c *cache[V]) get(raw []byte) (V, bool) {
	if e, ok := c.cur[string(raw)]; ok {
		return e.v, true
	}
	if e, ok := c.old[string(raw)]; ok {
		c.add(e)
		return e.v, true
	}
	var zero V
	return zero, false
}

func (c *cache[V]) put(raw []byte, v V) {
	if len(raw) > cacheMaxBytes {
		return
	}
	k := string(raw)
	c.add(cacheEntry[V]{key: k, v: v})
}

func (c *cache[V]) add(e cacheEntry[V]) {
	if len(c.cur) >= c.max || c.bytes >= c.maxBytes {
		clear(c.old)
		c.old, c.cur = c.cur, c.old
		c.bytes = 0
	}
	c.cur[e.key] = e
	c.bytes += len(e.key)
}

// spanCache recognises a value by its bytes without scanning it: it maps
// the first spanKeyBytes bytes of a value to the few complete values seen
// with that start. When the line holds one of them byte for byte at the
// current position, that value is there (a JSON object is self-delimiting)
// and it was validated when it was first parsed, so the reader can jump
// over it. Bounded by two generations, like cache.
type spanCache[V any] struct {
	cur, old        map[string][]spanCand[V]
	n, max          int // candidates in cur; most candidates in a generation
	bytes, maxBytes int // their bytes, and the bound
	perKey          int
}

type spanCand[V any] struct {
	raw string
	v   V
}

const spanKeyBytes = 64

func (c *spanCache[V]) init(max, maxBytes, perKey int) {
	c.cur, c.old = make(map[string][]spanCand[V]), make(map[string][]spanCand[V])
	c.max, c.maxBytes, c.perKey = max, maxBytes, perKey
}

// match looks for a cached value at the start of rest; n is its length.
// Only values of spanKeyBytes or more are cached.
func (c *spanCache[V]) match(rest []byte) (v V, n int, ok bool) {
	if len(rest) < spanKeyBytes {
		return v, 0, false
	}
	key := rest[:spanKeyBytes]
	for _, cand := range c.cur[string(key)] {
		if len(cand.raw) <= len(rest) && string(rest[:len(cand.raw)]) == cand.raw {
			return cand.v, len(cand.raw), true
		}
	}
	for _, cand := range c.old[string(key)] {
		if len(cand.raw) <= len(rest) && string(rest[:len(cand.raw)]) == cand.raw {
			c.add(cand)
			return cand.v, len(cand.raw), true
		}
	}
	return v, 0, false
}

func (c *spanCache[V]) put(raw []byte, v V) {
	if len(raw) > cacheMaxBytes || len(raw) < spanKeyBytes {
		return
	}
	c.add(spanCand[V]{raw: string(raw), v: v})
}

func (c *spanCache[V]) add(cand spanCand[V]) {
	if c.n >= c.max || c.bytes >= c.maxBytes {
		clear(c.old)
		c.old, c.cur = c.cur, c.old
		c.n, c.bytes = 0, 0
	}
	key := cand.raw[:spanKeyBytes]
	l := c.cur[key]
	if len(l) >= c.perKey {
		c.bytes -= len(l[0].raw)
		l = l[1:]
		c.n--
	}
	c.cur[key] = append(l, cand)
	c.n++
	c.bytes += len(cand.raw)
}

// intern returns b as a string, shared with earlier equal strings.
func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.strs.get(b); ok {
		return s
	}
	s := validString(b)
	d.strs.put(b, s)
	return s
}

// validString converts b to a string, replacing each byte that is not
// valid UTF-8 with U+FFFD as encoding/json does, so that what Redline
// stores and prints is always UTF-8.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return string(out)
}

// text returns the value of a raw string body, decoding escapes into the
// decoder's scratch buffer (valid until the next call).
func (d *Decoder) text(raw []byte, escaped bool) []byte {
	if !escaped {
		return raw
	}
	d.scratch = unescapeJSON(d.scratch[:0], raw)
	return d.scratch
}

// FieldError says which field of a record is wrong.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// errNotObject is returned for a line that is JSON but not an object.
var errNotObject = errors.New("a flow record must be a JSON object")

// notObject reports a line that does not start with '{': a syntax error
// if it is not JSON at all.
func notObject(r *jsonReader) error {
	r.skip()
	r.end()
	if r.err != nil {
		return r.err
	}
	return errNotObject
}
