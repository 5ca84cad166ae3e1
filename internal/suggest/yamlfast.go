package suggest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// fastYAML renders the generic JSON tree of a policy exactly as
// sigs.k8s.io/yaml (yaml.v2) would — keys sorted in yaml.v2's order
// (sortKeys), lists unindented under their key, two spaces per level —
// about twenty times faster, because the audit renders a policy for every
// workload of the cluster on every pass. It covers what policies hold
// (maps, lists of maps or scalars, strings, integers, booleans); for
// anything else, for a string whose YAML form it cannot be sure of, and
// for keys yaml.v2 has no one order for, it reports false and the caller
// takes the slow path. TestFastYAMLMatchesSigsYAML holds it to that.
func fastYAML(obj map[string]any) ([]byte, bool) {
	return treeWriter{}.write(obj)
}

// stableYAML is fastYAML but for keys yaml.v2 has no one order for, which
// it writes in byte order. sigs.k8s.io/yaml writes those in an order that
// changes from run to run (it depends on map iteration), and the audit
// would rewrite the ConfigMap on every pass.
func stableYAML(obj map[string]any) ([]byte, bool) {
	return treeWriter{byteOrderWhenAmbiguous: true}.write(obj)
}

type treeWriter struct{ byteOrderWhenAmbiguous bool }

func (t treeWriter) write(obj map[string]any) ([]byte, bool) {
	var b bytes.Buffer
	b.Grow(4096)
	if len(obj) == 0 || !t.writeMap(&b, obj, 0, false) {
		return nil, false
	}
	return b.Bytes(), true
}

func (t treeWriter) writeMap(b *bytes.Buffer, m map[string]any, indent int, inline bool) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if !sortKeys(keys) {
		if !t.byteOrderWhenAmbiguous {
			return false
		}
		slices.Sort(keys)
	}
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
			if !t.writeMap(b, v, indent+2, false) {
				return false
			}
		case []any:
			if len(v) == 0 {
				b.WriteString(" []\n")
				continue
			}
			b.WriteByte('\n')
			if !t.writeList(b, v, indent) {
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

func (t treeWriter) writeList(b *bytes.Buffer, l []any, indent int) bool {
	for _, item := range l {
		writeIndent(b, indent)
		b.WriteString("- ")
		switch v := item.(type) {
		case map[string]any:
			if len(v) == 0 {
				b.WriteString("{}\n")
				continue
			}
			if !t.writeMap(b, v, indent+2, true) {
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

// sortKeys orders a map's keys as yaml.v2 writes them, which is not byte
// order: yaml.v2 (keyList.Less in its sorter.go) sorts string keys in a
// "natural" order, so labels a9 and a10 come out a9 first. It reports
// false when yaml.v2 has no one order for the keys, for its comparison is
// not transitive: a9 < a10 (9 < 10), a10 < a1b (a digit before a letter),
// a1b < a9 (1 < 9). For such keys sort.Sort's result, and so what
// sigs.k8s.io/yaml writes, depends on the order map iteration hands them
// over; the caller takes the slow path.
func sortKeys(keys []string) bool {
	if len(keys) < 2 {
		return true
	}
	slices.SortFunc(keys, yamlKeyCompare)
	// Without digits, and without runes beyond ASCII (among which other
	// digits, and U+FFFD for any invalid byte), the order is lexicographic
	// over a total order of bytes: nothing to check.
	plainBytes := true
	for _, k := range keys {
		for i := 0; i < len(k) && plainBytes; i++ {
			plainBytes = (k[i] < '0' || k[i] > '9') && k[i] < utf8.RuneSelf
		}
	}
	if plainBytes {
		return true
	}
	// The comparison is total but for ties, so the sorted keys are
	// yaml.v2's one order exactly when every pair of them is in order
	// (otherwise there is a cycle, or a tie). Label maps are small: the
	// quadratic check costs little.
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if yamlKeyCompare(a, b) >= 0 {
				return false
			}
		}
	}
	return true
}

// yamlKeyCompare is yaml.v2's keyList.Less for two string keys, as a
// comparison: -1 when Less(a, b), 1 when Less(b, a), 0 when neither
// (distinct strings tie only when invalid bytes make them the same runes).
// It walks the runes of the two strings (invalid bytes read as U+FFFD, as
// []rune has it) and at the first rune that differs:
//   - two letters (unicode.IsLetter) compare as code points: Z before a;
//   - a non-letter comes before a letter: 9, _ and ~ before A;
//   - else it reads the run of digits (unicode.IsDigit) that starts there
//     in each string, as a decimal number in an int64 that wraps, each
//     digit worth its code point minus '0' (so a non-ASCII digit is worth
//     thousands). When either rune is '0' and the equal runes before end
//     in digits not all '0', a 1 is put in front of both runs, so that
//     a100 comes after a19. A non-digit reads as an empty run (0, or 1):
//     punctuation comes before digits, ':' before '0' too. The smaller
//     number comes first; on equal numbers the shorter run (a1 before
//     a01); on equal runs the smaller code point.
//
// A string that is a prefix of the other comes first.
func yamlKeyCompare(a, b string) int {
	// nonZero: the equal runes so far end in digits, not all '0'.
	nonZero := false
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ra, wa := decodeRune(a[i:])
		rb, wb := decodeRune(b[j:])
		if ra == rb {
			if unicode.IsDigit(ra) {
				nonZero = nonZero || ra != '0'
			} else {
				nonZero = false
			}
			i, j = i+wa, j+wb
			continue
		}
		al, bl := unicode.IsLetter(ra), unicode.IsLetter(rb)
		switch {
		case al && bl:
			return compareInts(ra, rb)
		case al:
			return 1
		case bl:
			return -1
		}
		var an, bn int64
		if (ra == '0' || rb == '0') && nonZero {
			an, bn = 1, 1
		}
		an, alen := digitRun(a[i:], an)
		bn, blen := digitRun(b[j:], bn)
		if c := compareInts(an, bn); c != 0 {
			return c
		}
		if c := compareInts(alen, blen); c != 0 {
			return c
		}
		return compareInts(ra, rb)
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

// digitRun reads the digits s starts with into n as keyList.Less does, and
// returns it with the number of digits.
func digitRun(s string, n int64) (int64, int) {
	count := 0
	for len(s) > 0 {
		r, w := decodeRune(s)
		if !unicode.IsDigit(r) {
			break
		}
		n = n*10 + int64(r-'0')
		count++
		s = s[w:]
	}
	return n, count
}

func decodeRune(s string) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	return utf8.DecodeRuneInString(s)
}

func compareInts[T int | int64 | rune](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
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
