package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax marks a line that is not one well-formed JSON value.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError says where a line stops being JSON.
type SyntaxError struct {
	// Offset is the byte offset in the line (0-based).
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset+1, e.Msg)
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

// jsonReader is a small pull tokenizer over one JSON text. It validates
// the whole text (strings, escapes, numbers, literals, nesting) like
// encoding/json, but materialises nothing itself: callers read the members
// they use and skip the rest. After the first error every call is a no-op
// that reports "nothing more", so loops end by themselves; the error is in
// err.
type jsonReader struct {
	data  []byte
	pos   int
	depth int
	err   error
}

func (r *jsonReader) reset(data []byte) {
	r.data, r.pos, r.depth, r.err = data, 0, 0, nil
}

func (r *jsonReader) fail(msg string) {
	if r.err == nil {
		r.err = &SyntaxError{Offset: r.pos, Msg: msg}
	}
	r.pos = len(r.data)
}

func (r *jsonReader) failf(format string, args ...any) {
	if r.err == nil {
		r.fail(fmt.Sprintf(format, args...))
	}
	r.pos = len(r.data)
}

// describe names the byte at the current position for messages.
func (r *jsonReader) describe() string {
	if r.pos >= len(r.data) {
		return "end of line"
	}
	c := r.data[r.pos]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (r *jsonReader) ws() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	if r.pos < len(r.data) {
		if c := r.data[r.pos]; c > ' ' {
			return c // compact JSON: no white space to skip
		}
		r.ws()
		if r.pos < len(r.data) {
			return r.data[r.pos]
		}
	}
	return 0
}

// end checks that only white space follows the value.
func (r *jsonReader) end() {
	r.ws()
	if r.pos < len(r.data) && r.err == nil {
		r.failf("unexpected %s after the JSON value", r.describe())
	}
}

// openObject consumes '{'. It reports false (and fails) on anything else.
func (r *jsonReader) openObject() bool {
	if r.peek() != '{' {
		if r.err == nil {
			r.failf("expected an object, found %s", r.describe())
		}
		return false
	}
	r.depth++
	if r.depth > maxDepth {
		r.fail("nesting too deep")
		return false
	}
	r.pos++
	return true
}

// firstMember is called after openObject: true when a member follows,
// false (with the '}' consumed) for an empty object.
func (r *jsonReader) firstMember() bool {
	switch r.peek() {
	case '"':
		return true
	case '}':
		r.pos++
		r.depth--
		return false
	}
	if r.err == nil {
		r.failf("expected a member name or '}', found %s", r.describe())
	}
	return false
}

// nextMember is called after a member's value: true when another member
// follows, false (with the '}' consumed) at the end of the object.
func (r *jsonReader) nextMember() bool {
	switch r.peek() {
	case ',':
		r.pos++
		if r.peek() == '"' {
			return true
		}
		if r.err == nil {
			r.failf("expected a member name after ',', found %s", r.describe())
		}
		return false
	case '}':
		r.pos++
		r.depth--
		return false
	}
	if r.err == nil {
		r.failf("expected ',' or '}' after a member, found %s", r.describe())
	}
	return false
}

// key reads a member name and the ':' after it. Escaped names are
// decoded into scratch (rare: protojson never writes them).
func (r *jsonReader) key(scratch *[]byte) []byte {
	raw, escaped := r.str()
	if r.err != nil {
		return nil
	}
	if escaped {
		raw = unescapeJSON((*scratch)[:0], raw)
		*scratch = raw
	}
	if r.peek() != ':' {
		if r.err == nil {
			r.failf("expected ':' after a member name, found %s", r.describe())
		}
		return nil
	}
	r.pos++
	return raw
}

// openArray consumes '['.
func (r *jsonReader) openArray() bool {
	if r.peek() != '[' {
		if r.err == nil {
			r.failf("expected an array, found %s", r.describe())
		}
		return false
	}
	r.depth++
	if r.depth > maxDepth {
		r.fail("nesting too deep")
		return false
	}
	r.pos++
	return true
}

// firstElem is called after openArray: true when an element follows.
func (r *jsonReader) firstElem() bool {
	switch r.peek() {
	case ']':
		r.pos++
		r.depth--
		return false
	case 0:
		if r.err == nil && r.pos >= len(r.data) {
			r.fail("unexpected end of line")
		}
		// A NUL byte is not a value: skip reports it.
	}
	return r.err == nil
}

// nextElem is called after an element: true when another one follows.
func (r *jsonReader) nextElem() bool {
	switch r.peek() {
	case ',':
		r.pos++
		return true
	case ']':
		r.pos++
		r.depth--
		return false
	}
	if r.err == nil {
		r.failf("expected ',' or ']' after an array element, found %s", r.describe())
	}
	return false
}

// isNull consumes a null literal if one is next.
func (r *jsonReader) isNull() bool {
	if r.peek() == 'n' {
		r.literal("null")
		return r.err == nil
	}
	return false
}

func (r *jsonReader) literal(lit string) {
	if len(r.data)-r.pos >= len(lit) && string(r.data[r.pos:r.pos+len(lit)]) == lit {
		r.pos += len(lit)
		return
	}
	r.failf("invalid literal starting with %s", r.describe())
}

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// str reads a string; it returns the raw bytes between the quotes and
// whether they hold escapes (then unescapeJSON gives the value).
func (r *jsonReader) str() (raw []byte, escaped bool) {
	if r.peek() != '"' {
		if r.err == nil {
			r.failf("expected a string, found %s", r.describe())
		}
		return nil, false
	}
	data := r.data
	start := r.pos + 1
	i := start
	for {
		// Eight bytes at a time: stop at '"', '\\' or a control byte.
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			q := x ^ (swarOnes * '"')
			b := x ^ (swarOnes * '\\')
			t := ((q - swarOnes) &^ q) | ((b - swarOnes) &^ b) | ((x - swarOnes*0x20) &^ x)
			if t &= swarHigh; t != 0 {
				i += bits.TrailingZeros64(t) >> 3
				goto special
			}
			i += 8
		}
		for i < len(data) {
			if c := data[i]; c == '"' || c == '\\' || c < 0x20 {
				goto special
			}
			i++
		}
		r.pos = i
		r.fail("unterminated string")
		return nil, false
	special:
		switch c := data[i]; {
		case c == '"':
			r.pos = i + 1
			return data[start:i], escaped
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				r.pos = i
				r.fail("unterminated string")
				return nil, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex4(data[i+2:i+6]) {
					r.pos = i
					r.fail(`invalid \u escape in string`)
					return nil, false
				}
				i += 6
			default:
				r.pos = i
				r.fail("invalid escape in string")
				return nil, false
			}
		default:
			r.pos = i
			r.fail("control character in string")
			return nil, false
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a JSON number and returns its text.
func (r *jsonReader) number() []byte {
	r.ws()
	data := r.data
	start, i := r.pos, r.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		r.pos = i
		r.failf("invalid number: expected a digit, found %s", r.describe())
		return nil
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			r.pos = i
			r.fail("invalid number: expected a digit after '.'")
			return nil
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			r.pos = i
			r.fail("invalid number: expected a digit in the exponent")
			return nil
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	r.pos = i
	return data[start:i]
}

// skip reads and discards one value of any kind.
func (r *jsonReader) skip() {
	switch r.peek() {
	case '"':
		r.str()
	case '{':
		if !r.openObject() {
			return
		}
		for more := r.firstMember(); more; more = r.nextMember() {
			if r.str(); r.err != nil {
				return
			}
			if r.peek() != ':' {
				if r.err == nil {
					r.failf("expected ':' after a member name, found %s", r.describe())
				}
				return
			}
			r.pos++
			r.skip()
		}
	case '[':
		if !r.openArray() {
			return
		}
		for more := r.firstElem(); more; more = r.nextElem() {
			r.skip()
		}
	case 't':
		r.literal("true")
	case 'f':
		r.literal("false")
	case 'n':
		r.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		r.number()
	case 0:
		if r.err == nil {
			if r.pos >= len(r.data) {
				r.fail("unexpected end of line")
			} else {
				r.failf("unexpected %s", r.describe())
			}
		}
	default:
		if r.err == nil {
			r.failf("unexpected %s", r.describe())
		}
	}
}

// rawValue skips one value and returns its bytes as written.
func (r *jsonReader) rawValue() []byte {
	r.ws()
	start := r.pos
	r.skip()
	if r.err != nil {
		return nil
	}
	return r.data[start:r.pos]
}

// boolean reads true, false or null (reported as set=false).
func (r *jsonReader) boolean() (v, set bool) {
	switch r.peek() {
	case 't':
		r.literal("true")
		return true, r.err == nil
	case 'f':
		r.literal("false")
		return false, r.err == nil
	case 'n':
		r.literal("null")
		return false, false
	}
	r.skip()
	return false, false
}

// unescapeJSON appends the decoded value of a raw string body (already
// validated by str) to dst. Lone surrogates become U+FFFD, as in
// encoding/json.
func unescapeJSON(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1 := rune(hex4(raw[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r1) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 := rune(hex4(raw[i+2 : i+6]))
					if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r1 = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r1)
			continue
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		v = v<<4 | uint16(c)
	}
	return v
}
