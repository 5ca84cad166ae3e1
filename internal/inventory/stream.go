package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// document is one document of a stream, converted to JSON.
type document struct {
	source string
	// line is where the document's content starts (1-based), for messages.
	line int
	// base is the file line of text's first line.
	base int
	// text is the document as written (YAML, or one JSON value); it is
	// parsed again, only when a message needs a line inside the document.
	text []byte
	// json is the document as JSON: "null" when empty.
	json []byte

	node      *yamlv3.Node // parsed text, see locate
	nodeTried bool
}

// Byte order marks and document markers.
const (
	utf8BOM     = "\xEF\xBB\xBF"
	docStartMrk = "---"
	docEndMrk   = "..."
)

// isUTF16 reports whether text starts with a UTF-16 byte order mark, which
// would make the YAML parser read it as UTF-16.
func isUTF16(text []byte) bool {
	return bytes.HasPrefix(text, []byte{0xFE, 0xFF}) || bytes.HasPrefix(text, []byte{0xFF, 0xFE})
}

// splitStream cuts a stream into documents. A stream whose first character
// is '{' is read as JSON values (one object or a stream of them), anything
// else as YAML documents. Outside *.json files, JSON that does not parse is
// given to the YAML parser before it is declared bad: YAML flow style starts
// with '{' too.
func splitStream(name string, data []byte, maxDoc int64) ([]*document, error) {
	if isUTF16(data) {
		return nil, &ManifestError{Source: name, Line: 1, Problem: "UTF-16 text is not supported: convert the file to UTF-8"}
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte(utf8BOM)), " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		docs, syntax, err := splitJSON(name, data, maxDoc)
		if err == nil || !syntax || strings.EqualFold(filepath.Ext(name), ".json") {
			return docs, err
		}
		if docs, yamlErr := splitYAML(name, data, maxDoc); yamlErr == nil {
			return docs, nil
		}
		return nil, err
	}
	return splitYAML(name, data, maxDoc)
}

// splitJSON reads a stream of JSON values; syntax reports whether an error
// is a JSON syntax error.
func splitJSON(name string, data []byte, maxDoc int64) (docs []*document, syntax bool, err error) {
	body := bytes.TrimPrefix(data, []byte(utf8BOM))
	skipped := len(data) - len(body)
	lineAt := func(off int) int { return 1 + countBreaks(data[:skipped+off]) }

	dec := json.NewDecoder(bytes.NewReader(body))
	counted, line := 0, 1
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return docs, false, nil
		}
		if err != nil {
			off := len(body)
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				off = int(syn.Offset)
			}
			msg := strings.TrimPrefix(err.Error(), "json: ")
			if errors.Is(err, io.ErrUnexpectedEOF) {
				msg = "unexpected end of input: an object or list is not closed"
			}
			return nil, true, &ManifestError{
				Source: name, Line: lineAt(min(max(off, 0), len(body))), Problem: "invalid JSON: " + msg}
		}
		end := int(dec.InputOffset())
		start := end - len(raw)
		line += countBreaks(body[counted:start])
		counted = start
		if int64(len(raw)) > maxDoc {
			return nil, false, documentTooBig(name, line, int64(len(raw)), maxDoc)
		}
		docs = append(docs, &document{source: name, line: line, base: line, text: raw, json: raw})
	}
}

func documentTooBig(name string, line int, size, limit int64) error {
	return &ManifestError{Source: name, Line: line, Problem: fmt.Sprintf(
		"document is %s, over the %s limit for one object: no Kubernetes object is that large; check what generated it",
		formatSize(size), formatSize(limit))}
}

// yamlChunk is one YAML document's text in a stream.
type yamlChunk struct {
	start, end int // byte offsets
	base       int // line of the first byte
	content    int // first line with content; 0 for an empty document
}

// nextLine returns the line starting at off, without its line break, and
// the offset of the next line. Line breaks are YAML's (and libyaml's): LF,
// CR LF, CR, NEL, LS and PS, so that documents are cut exactly where the
// YAML parser would cut them and line numbers agree with its messages.
func nextLine(data []byte, off int) (line []byte, next int) {
	for i := off; i < len(data); i++ {
		switch data[i] {
		case '\n':
			return data[off:i], i + 1
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				return data[off:i], i + 2
			}
			return data[off:i], i + 1
		case 0xC2: // NEL U+0085
			if i+1 < len(data) && data[i+1] == 0x85 {
				return data[off:i], i + 2
			}
		case 0xE2: // LS U+2028, PS U+2029
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
				return data[off:i], i + 3
			}
		}
	}
	return data[off:], len(data)
}

// countBreaks counts the line breaks in b, as nextLine sees them.
func countBreaks(b []byte) int {
	n := 0
	for off := 0; off < len(b); {
		line, next := nextLine(b, off)
		if off+len(line) < next {
			n++
		}
		off = next
	}
	return n
}

// marker reports whether line is the document marker m ("---" or "...")
// followed by nothing or a blank, and returns what follows it.
func marker(line []byte, m string) (rest []byte, ok bool) {
	if !bytes.HasPrefix(line, []byte(m)) {
		return nil, false
	}
	rest = line[len(m):]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return nil, false
	}
	return rest, true
}

// hasContent reports whether a piece of a line holds more than blanks and a
// comment.
func hasContent(s []byte) bool {
	s = bytes.TrimLeft(s, " \t")
	return len(s) > 0 && s[0] != '#'
}

// chunkYAML cuts a YAML stream into its documents' texts. A document starts
// at a "---" line (kept in the document, so the parser sees exactly what
// was written) unless only blanks, comments and directives precede it, and
// ends after a "..." line or where the next one starts.
func chunkYAML(data []byte) []yamlChunk {
	var chunks []yamlChunk
	cur := yamlChunk{base: 1}
	started := false // cur has a "---" line
	lineNo := 1
	for off := 0; off < len(data); lineNo++ {
		line, next := nextLine(data, off)
		if off == 0 {
			line = bytes.TrimPrefix(line, []byte(utf8BOM))
		}
		if rest, ok := marker(line, docStartMrk); ok {
			if cur.content != 0 || started {
				cur.end = off
				chunks = append(chunks, cur)
				cur = yamlChunk{start: off, base: lineNo}
			}
			started = true
			if hasContent(rest) {
				cur.content = lineNo
			}
		} else if _, ok := marker(line, docEndMrk); ok {
			cur.end = next
			chunks = append(chunks, cur)
			cur = yamlChunk{start: next, base: lineNo + 1}
			started = false
		} else if cur.content == 0 && hasContent(line) && (started || line[0] != '%') {
			cur.content = lineNo
		}
		off = next
	}
	cur.end = len(data)
	if cur.end > cur.start {
		chunks = append(chunks, cur)
	}
	return chunks
}

// splitYAML converts every non-empty document of a YAML stream to JSON.
func splitYAML(name string, data []byte, maxDoc int64) ([]*document, error) {
	var docs []*document
	for _, c := range chunkYAML(data) {
		if c.content == 0 {
			continue
		}
		text := data[c.start:c.end]
		if int64(len(text)) > maxDoc {
			return nil, documentTooBig(name, c.content, int64(len(text)), maxDoc)
		}
		if isUTF16(text) {
			return nil, &ManifestError{Source: name, Line: c.content, Problem: "UTF-16 text is not supported: convert the file to UTF-8"}
		}
		j, err := yaml.YAMLToJSONStrict(text)
		if err != nil && strings.Contains(err.Error(), "already set in map") {
			// The strict parser also rejects keys that override a merge
			// (<<: *anchor), which YAML allows and kubectl accepts: look
			// for keys repeated as written.
			switch dup, merges := findDuplicateKey(text); {
			case dup != nil:
				return nil, &ManifestError{Source: name, Line: c.base + dup.Line - 1,
					Problem: fmt.Sprintf("invalid YAML: duplicate key %q: each key may appear once in a mapping", dup.Value)}
			case merges:
				j, err = yaml.YAMLToJSON(text)
			}
		}
		if err != nil {
			rel, msg := yamlProblem(err)
			line := c.content
			if rel > 0 {
				// At the end of the input the parser names the line after
				// the last one: name the last line written instead.
				last := c.base + countBreaks(bytes.TrimRight(text, " \t\r\n"))
				line = min(c.base+rel-1, last)
			}
			return nil, &ManifestError{Source: name, Line: line, Problem: "invalid YAML: " + msg}
		}
		docs = append(docs, &document{source: name, line: c.content, base: c.base, text: text, json: j})
	}
	return docs, nil
}

// yamlProblem turns a YAML parser error into the line it names (relative to
// the document, 0 if none) and a message for people.
func yamlProblem(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	more := 0
	if rest, ok := strings.CutPrefix(msg, "unmarshal errors:\n"); ok {
		lines := strings.Split(strings.TrimSpace(rest), "\n")
		msg = strings.TrimSpace(lines[0])
		more = len(lines) - 1
	}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				line, msg = v, after
			}
		}
	}
	if k, ok := strings.CutPrefix(msg, "key "); ok {
		if k, ok := strings.CutSuffix(k, " already set in map"); ok {
			msg = "duplicate key " + k + ": each key may appear once in a mapping"
		}
	}
	if strings.HasPrefix(msg, "json: unsupported value") {
		msg = "value " + strings.TrimPrefix(msg, "json: unsupported value: ") + " cannot be represented in JSON (.inf and .nan are not allowed)"
	}
	if more > 0 {
		msg += fmt.Sprintf(" (and %d more)", more)
	}
	return line, msg
}

// findDuplicateKey returns the first key written twice in a mapping of a
// YAML document, and whether the document uses merge keys; nil and false
// when the document does not parse.
func findDuplicateKey(text []byte) (dup *yamlv3.Node, merges bool) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(text, &doc); err != nil {
		return nil, false
	}
	var walk func(n *yamlv3.Node) *yamlv3.Node
	walk = func(n *yamlv3.Node) *yamlv3.Node {
		if n.Kind == yamlv3.MappingNode {
			seen := make(map[string]bool, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yamlv3.ScalarNode {
					continue
				}
				if k.Tag == "!!merge" {
					merges = true
					continue
				}
				if seen[k.Value] {
					return k
				}
				seen[k.Value] = true
			}
		}
		for _, c := range n.Content { // aliases have no Content: each anchor is walked once
			if d := walk(c); d != nil {
				return d
			}
		}
		return nil
	}
	return walk(&doc), merges
}
