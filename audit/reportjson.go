package audit

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendReportJSON appends r as json.MarshalIndent(r, "", "  ") writes it,
// byte for byte, without reflection: the audit writes a report for every
// workload on every pass. Keep it in step with Report, TrafficRow and
// RedConnection; TestReportJSONMatchesMarshalIndent fills every field of
// them and fails when a field is missing here.
func appendReportJSON(dst []byte, r *Report) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = slices.Grow(dst, reportJSONSize(r))
	// The quotes around a string value go with the constant text beside it,
	// which appendJSONBody leaves them to: one append fewer per field.
	dst = append(dst, "{\n  \"workload\": \""...)
	dst = appendJSONBody(dst, r.Workload)
	dst = append(dst, "\",\n  \"window\": \""...)
	dst = appendJSONBody(dst, r.Window)
	dst = append(dst, "\",\n  \"traffic\": "...)
	switch {
	case r.Traffic == nil:
		dst = append(dst, "null"...)
	case len(r.Traffic) == 0:
		dst = append(dst, "[]"...)
	default:
		for i := range r.Traffic {
			t := &r.Traffic[i]
			if i == 0 {
				dst = append(dst, "[\n    {\n      \"direction\": \""...)
			} else {
				dst = append(dst, "\"\n    },\n    {\n      \"direction\": \""...)
			}
			dst = appendJSONBody(dst, t.Direction)
			dst = append(dst, "\",\n      \"peer\": \""...)
			dst = appendJSONBody(dst, t.Peer)
			dst = append(dst, "\",\n      \"protocol\": \""...)
			dst = appendJSONBody(dst, t.Protocol)
			dst = append(dst, "\",\n      \"port\": "...)
			dst = strconv.AppendUint(dst, uint64(t.Port), 10)
			dst = append(dst, ",\n      \"status\": \""...)
			dst = appendJSONBody(dst, t.Status)
		}
		dst = append(dst, "\"\n    }\n  ]"...)
	}
	dst = append(dst, ",\n  \"red\": "...)
	switch {
	case r.Red == nil:
		dst = append(dst, "null"...)
	case len(r.Red) == 0:
		dst = append(dst, "[]"...)
	default:
		for i := range r.Red {
			c := &r.Red[i]
			if i == 0 {
				dst = append(dst, "[\n    {\n      \"src\": \""...)
			} else {
				dst = append(dst, "\n    },\n    {\n      \"src\": \""...)
			}
			dst = appendJSONBody(dst, c.Src)
			dst = append(dst, "\",\n      \"dst\": \""...)
			dst = appendJSONBody(dst, c.Dst)
			dst = append(dst, "\",\n      \"protocol\": \""...)
			dst = appendJSONBody(dst, c.Protocol)
			dst = append(dst, "\",\n      \"port\": "...)
			dst = strconv.AppendUint(dst, uint64(c.Port), 10)
			dst = append(dst, ",\n      \"deniedByPolicies\": "...)
			dst = strconv.AppendBool(dst, c.DeniedByPolicies)
			dst = append(dst, ",\n      \"dropped\": "...)
			dst = strconv.AppendBool(dst, c.Dropped)
		}
		dst = append(dst, "\n    }\n  ]"...)
	}
	dst = appendJSONStrings(dst, "stillAllowed", r.StillAllowed)
	dst = appendJSONStrings(dst, "needsLabel", r.NeedsLabel)
	dst = appendJSONStrings(dst, "warnings", r.Warnings)
	if r.Truncated {
		dst = append(dst, ",\n  \"truncated\": true"...)
	}
	if r.TrafficTotal != 0 {
		dst = append(dst, ",\n  \"trafficTotal\": "...)
		dst = strconv.AppendInt(dst, int64(r.TrafficTotal), 10)
	}
	if r.RedTotal != 0 {
		dst = append(dst, ",\n  \"redTotal\": "...)
		dst = strconv.AppendInt(dst, int64(r.RedTotal), 10)
	}
	return append(dst, "\n}"...)
}

// reportJSONSize is about the length of r's JSON, exact when no string
// needs escaping, so that appending it grows dst at most once.
func reportJSONSize(r *Report) int {
	const (
		row    = 116 // a traffic row's keys, indentation and punctuation, a five-digit port
		redRow = 146 // a red connection's, with "false" twice
	)
	n := 128 + len(r.Workload) + len(r.Window)
	for i := range r.Traffic {
		t := &r.Traffic[i]
		n += row + len(t.Direction) + len(t.Peer) + len(t.Protocol) + len(t.Status)
	}
	for i := range r.Red {
		c := &r.Red[i]
		n += redRow + len(c.Src) + len(c.Dst) + len(c.Protocol)
	}
	for _, l := range [][]string{r.StillAllowed, r.NeedsLabel, r.Warnings} {
		n += 24
		for _, s := range l {
			n += 8 + len(s)
		}
	}
	return n
}

// appendJSONStrings appends an omitempty list of strings, a field of the
// report's top level.
func appendJSONStrings(dst []byte, name string, l []string) []byte {
	if len(l) == 0 {
		return dst
	}
	dst = append(dst, ",\n  \""...)
	dst = append(dst, name...)
	dst = append(dst, "\": ["...)
	for i, s := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, "\n    "...)
		dst = appendJSONString(dst, s)
	}
	return append(dst, "\n  ]"...)
}

// jsonSafe are the bytes encoding/json writes as they are, on their own:
// ASCII but control characters, the quote and the backslash, and (for
// HTML) <, > and &. Bytes beyond ASCII are safe only as part of a valid
// rune other than U+2028 and U+2029, which appendJSONBody decodes.
var jsonSafe = func() (safe [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		safe[c] = true
	}
	for _, c := range `"\<>&` {
		safe[c] = false
	}
	return safe
}()

// appendJSONString appends s quoted as encoding/json quotes it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	return append(appendJSONBody(dst, s), '"')
}

// appendJSONBody appends s as encoding/json writes it between quotes:
// invalid UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped, and so are
// the ASCII bytes jsonSafe leaves out.
func appendJSONBody(dst []byte, s string) []byte {
	// Most strings (names, protocols, statuses) hold nothing to escape:
	// they are copied at once.
	i := jsonSafePrefix(s)
	if i == len(s) {
		return append(dst, s...)
	}
	return appendJSONEscaped(dst, s, i)
}

// jsonSafePrefix is the length of the jsonSafe bytes s starts with. It
// tests eight bytes at a time while it can (peers are names of some forty
// bytes): a word holds a byte that is not safe exactly when a high bit is
// set in x (a byte beyond ASCII), in x - 0x20 each byte (one below ' '
// borrows), or in (y-1) &^ y for y the word xor'ed so that the bytes
// sought are zero (only a zero byte borrows into a clear high bit). A
// borrow from one byte into the next comes from a byte that is not safe.
func jsonSafePrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		quoteAmp := (x | 0x04*ones) ^ 0x26*ones // zero bytes for " and &
		angle := (x | 0x02*ones) ^ 0x3E*ones    // for < and >
		backslash := x ^ 0x5C*ones
		bad := x | (x - 0x20*ones) |
			(quoteAmp-ones)&^quoteAmp | (angle-ones)&^angle | (backslash-ones)&^backslash
		if bad&highs != 0 {
			break
		}
	}
	for i < len(s) && jsonSafe[s[i]] {
		i++
	}
	return i
}

// appendJSONEscaped is appendJSONBody from s[i], the first byte that is
// not jsonSafe.
func appendJSONEscaped(dst []byte, s string, i int) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, s[:i]...)
	start := i
	for i < len(s) {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
