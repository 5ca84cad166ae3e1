package suggest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fastYAML renders the generic JSON tree of a policy exactly as
// sigs.k8s.io/yaml (yaml.v2) would — keys sorted, lists unindented under
// their key, two spaces per level — about twenty times faster, because the
// audit renders a policy for every workload of the cluster on every pass.
// It covers what policies hold (maps, lists of maps or scalars, strings,
// integers, booleans); for anything else, and for a string whose YAML form
// it cannot be sure of, it reports false and the caller takes the slow
// path. TestFastYAMLMatchesSigsYAML holds it to that.
func fastYAML(obj map[string]any) ([]byte, bool) {
	var b bytes.Buffer
	b.Grow(4096)
	if len(obj) == 0 || !writeMap(&b, obj, 0, false) {
		return nil, false
	}
	return b.Bytes(), true
}

func writeMap(b *bytes.Buffer, m map[string]any, indent int, inline bool) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for i, k := range keys {
		if i > 0 || !inline {
			writeIndent(b, indent)
		}
		if !writeScalar(b, k) {
			return false
		}
		b.WriteByte(':')
		switch v := m[k].(type) {
		case map[string]any:
			if len(v) == 0 {
				b.WriteString(" {}\n")
				continue
			}
			b.WriteByte('\n')
			if !writeMap(b, v, indent+2, false) {
				return false
			}
		case []any:
			if len(v) == 0 {
				b.WriteString(" []\n")
				continue
			}
			b.WriteByte('\n')
			if !writeList(b, v, indent) {
				return false
			}
		default:
			b.WriteByte(' ')
			if !writeScalar(b, v) {
				return false
			}
			b.WriteByte('\n')
		}
	}
	return true
}

func writeList(b *bytes.Buffer, l []any, indent int) bool {
	for _, item := range l {
		writeIndent(b, indent)
		b.WriteString("- ")
		switch v := item.(type) {
		case map[string]any:
			if len(v) == 0 {
				b.WriteString("{}\n")
				continue
			}
			if !writeMap(b, v, indent+2, true) {
				return false
			}
		case []any:
			return false
		default:
			if !writeScalar(b, v) {
				return false
			}
			b.WriteByte('\n')
		}
	}
	return true
}

// sortKeys orders a map's keys as fastYAML (and typedPolicyYAML) writes
// them: in byte order. yaml.v2 orders runs of digits by value (a9 before
// a10), so for a map with such keys the two disagree; byte order is kept,
// as what YAML renders for a policy must not change under the audit.
func sortKeys(keys []string) {
	slices.Sort(keys)
}

func writeIndent(b *bytes.Buffer, n int) {
	for range n {
		b.WriteByte(' ')
	}
}

func writeScalar(b *bytes.Buffer, v any) bool {
	switch v := v.(type) {
	case string:
		switch stringStyle(v, b.Bytes()) {
		case plain:
			b.WriteString(v)
		case quoted:
			b.WriteByte('"')
			b.WriteString(v)
			b.WriteByte('"')
		default:
			return false
		}
	case float64: // encoding/json's numbers; policies hold integers
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return false
		}
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	default:
		return false
	}
	return true
}

// stringStyle is how s is written when the output so far is out: plain,
// quoted, or unsure (take the slow path).
func stringStyle(s string, out []byte) scalarStyle {
	style := plainString(s)
	if style == unsure {
		style = plainWithSpaces(s, column(out))
	}
	return style
}

type scalarStyle int

const (
	unsure scalarStyle = iota
	plain
	quoted // double quotes, nothing inside to escape
)

// plainString decides how yaml.v2 writes s, for the strings policies are
// made of: names, label keys and values, CIDRs, durations. A string of
// letters, digits and . _ / - that starts with a letter or digit has
// nothing to escape; yaml.v2 quotes it when it would read back as
// something else than a string (a boolean, null, a number, a timestamp).
func plainString(s string) scalarStyle {
	if s == "" {
		return quoted
	}
	if len(s) > 128 {
		return unsure // a key that long is written "? key" (and values fold)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '/' && c != '-') {
			// A timestamp starts with the digits of its year; asking
			// time.Parse about anything else costs an error value.
			if s[0] < '0' || s[0] > '9' {
				return unsure
			}
			if _, err := time.Parse(time.RFC3339, s); err == nil {
				return quoted // a timestamp (generation times): nothing to escape
			}
			return unsure
		}
	}
	if isYAML11Keyword(s) {
		return quoted
	}
	if s[0] < '0' || s[0] > '9' {
		return plain // starts with a letter and is not a keyword
	}
	// Starts with a digit: a number (decimal, 0x, 0o, 0b, float, exponent)
	// or a date unless a slash, a second dot, or a letter no number has
	// makes it a string.
	if strings.Contains(s, "/") || strings.Count(s, ".") > 1 {
		return plain
	}
	if strings.Trim(s, "0123456789") == "" {
		return quoted // an integer (a leading 0 reads as octal: still a number)
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case for letters
		if c >= 'g' && c <= 'z' && c != 'o' && c != 't' && c != 'x' {
			return plain
		}
	}
	return unsure
}

// plainWithSpaces accepts words of letters and digits separated by single
// spaces (e.g. the source annotation "redline audit") when the line stays
// within yaml.v2's 80 columns: beyond, it would fold the string.
func plainWithSpaces(s string, col int) scalarStyle {
	if col+len(s) > 80 || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return unsure
	}
	for word := range strings.SplitSeq(s, " ") {
		if plainString(word) != plain || word[0] < 'A' {
			return unsure // a word that is not plain on its own, or a number
		}
	}
	return plain
}

// column is where the next byte appended to out goes on its line.
func column(out []byte) int {
	return len(out) - 1 - bytes.LastIndexByte(out, '\n')
}

// isYAML11Keyword: the words yaml.v2 reads as booleans or null.
func isYAML11Keyword(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL":
		return true
	}
	return false
}
