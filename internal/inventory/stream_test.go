package inventory

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestChunkYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want: one "base:content:text" per chunk
		want []string
	}{
		{"one document", "a: 1\nb: 2\n", []string{"1:1:a: 1\nb: 2\n"}},
		{"leading comments and directives stay with the first document", "# c\n%YAML 1.1\n---\na: 1\n---\nb: 2",
			[]string{"1:4:# c\n%YAML 1.1\n---\na: 1\n", "5:6:---\nb: 2"}},
		{"empty documents", "---\n---\n# only a comment\n---\n\n", []string{"1:0:---\n", "2:0:---\n# only a comment\n", "4:0:---\n\n"}},
		{"content on the marker line", "--- {a: 1}\n--- # comment\nb: 2\n", []string{"1:1:--- {a: 1}\n", "2:3:--- # comment\nb: 2\n"}},
		{"document end marker", "a: 1\n...\nb: 2\n... # end\n", []string{"1:1:a: 1\n...\n", "3:3:b: 2\n... # end\n"}},
		{"not markers", "a: |\n  ---\nb: ----\n---x: 1\n", []string{"1:1:a: |\n  ---\nb: ----\n---x: 1\n"}},
		{"CR LF, CR, NEL, LS and PS are line breaks", "a: 1\r\n---\rb: 2\u0085---\u2028c: 3\u2029---\nd: 4",
			[]string{"1:1:a: 1\r\n", "2:3:---\rb: 2\u0085", "4:5:---\u2028c: 3\u2029", "6:7:---\nd: 4"}},
		{"byte order mark", "\ufeff---\na: 1\n", []string{"1:2:\ufeff---\na: 1\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range chunkYAML([]byte(tc.in)) {
				got = append(got, fmt.Sprintf("%d:%d:%s", c.base, c.content, tc.in[c.start:c.end]))
			}
			diffLines(t, "chunks", got, tc.want)
		})
	}
}

func TestCountBreaks(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 0, "a\n": 1, "a\r\nb\rc\u0085d\u2028e\u2029": 5, "\n\n": 2, "\xc2": 0, "\xe2\x80": 0} {
		if got := countBreaks([]byte(in)); got != want {
			t.Errorf("countBreaks(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestYAMLProblem(t *testing.T) {
	tests := []struct {
		err  string
		line int
		msg  string
	}{
		{"yaml: line 3: mapping values are not allowed in this context", 3, "mapping values are not allowed in this context"},
		{"yaml: unmarshal errors:\n  line 4: key \"name\" already set in map\n  line 9: key \"a\" already set in map", 4,
			"duplicate key \"name\": each key may appear once in a mapping (and 1 more)"},
		{"yaml: control characters are not allowed", 0, "control characters are not allowed"},
		{"yaml: line x: odd", 0, "line x: odd"},
	}
	for _, tc := range tests {
		line, msg := yamlProblem(errors.New(tc.err))
		if line != tc.line || msg != tc.msg {
			t.Errorf("yamlProblem(%q) = %d, %q; want %d, %q", tc.err, line, msg, tc.line, tc.msg)
		}
	}
}

func TestParsePath(t *testing.T) {
	got := fmt.Sprint(parsePath("items[3].spec.ingress[0][1].from"))
	want := "[{items -1} { 3} {spec -1} {ingress -1} { 0} { 1} {from -1}]"
	if got != want {
		t.Fatalf("parsePath = %s, want %s", got, want)
	}
	for _, p := range []string{"", ".", "a[", "a[x]", "a[-1]", "]]", "[[0]"} {
		_ = parsePath(p) // never panics
	}
}

// Line numbers in messages count every YAML line break, as the YAML parser
// does, so they agree with the parser's own.
func TestLinesWithOtherBreaks(t *testing.T) {
	stream := strings.ReplaceAll(nsShop, "\n", "\r") + "---\r" + "apiVersion: v1\rkind: Namespace\rmetadata:\r  name: a\r   bad: b\r"
	_, err := loadString(t, stream)
	if err == nil || !strings.Contains(err.Error(), "stdin: line 12: invalid YAML:") {
		t.Fatalf("error %v, want one at line 12", err)
	}
}
