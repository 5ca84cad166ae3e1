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
	dst = append(dst, "{\n  \"workload\": "...)
	dst = appendJSONString(dst, r.Workload)
	dst = append(dst, ",\n  \"window\": "...)
	dst = appendJSONString(dst, r.Window)
	dst = append(dst, ",\n  \"traffic\": "...)
	switch {
	case r.Traffic == nil:
		dst = append(dst, "null"...)
	case len(r.Traffic) == 0:
		dst = append(dst, "[]"...)
	default:
		dst = append(dst, '[')
		for i := range r.Traffic {
			t := &r.Traffic[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n    {\n      \"direction\": "...)
			dst = appendJSONString(dst, t.Direction)
			dst = append(dst, ",\n      \"peer\": "...)
			dst = appendJSONString(dst, t.Peer)
			dst = append(dst, ",\n      \"protocol\": "...)
			dst = appendJSONString(dst, t.Protocol)
			dst = append(dst, ",\n      \"port\": "...)
			dst = strconv.AppendUint(dst, uint64(t.Port), 10)
			dst = append(dst, ",\n      \"status\": "...)
			dst = appendJSONString(dst, t.Status)
			dst = append(dst, "\n    }"...)
		}
		dst = append(dst, "\n  ]"...)
	}
	dst = append(dst, ",\n  \"red\": "...)
	switch {
	case r.Red == nil:
		dst = append(dst, "null"...)
	case len(r.Red) == 0:
		dst = append(dst, "[]"...)
	default:
		dst = append(dst, '[')
		for i := range r.Red {
			c := &r.Red[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n    {\n      \"src\": "...)
			dst = appendJSONString(dst, c.Src)
			dst = append(dst, ",\n      \"dst\": "...)
			dst = appendJSONString(dst, c.Dst)
			dst = append(dst, ",\n      \"protocol\": "...)
			dst = appendJSONString(dst, c.Protocol)
			dst = append(dst, ",\n      \"port\": "...)
			dst = strconv.AppendUint(dst, uint64(c.Port), 10)
			dst = append(dst, ",\n      \"deniedByPolicies\": "...)
			dst = strconv.AppendBool(dst, c.DeniedByPolicies)
			dst = append(dst, ",\n      \"dropped\": "...)
			dst = strconv.AppendBool(dst, c.Dropped)
			dst = append(dst, "\n    }"...)
		}
		dst = append(dst, "\n  ]"...)
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

// jsonSafe are the ASCII bytes encoding/json writes as they are: it
// escapes control characters, the quote and the backslash, and (for HTML)
// <, > and &.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		safe[c] = true
	}
	for _, c := range `"\<>&` {
		safe[c] = false
	}
	return safe
}()

// appendJSONString appends s quoted as encoding/json quotes it: invalid
// UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped, and so are the
// bytes jsonSafe leaves out.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
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
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
