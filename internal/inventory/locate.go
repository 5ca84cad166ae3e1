package inventory

import (
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Messages about a field name the line the field is on. The JSON decoder
// knows field paths, not lines, so the document text is parsed again (only
// when a message needs it) and the path looked up in the parsed nodes. When
// the path cannot be followed, the nearest line known is used: the
// enclosing field's, the List item's or the document's.

// pathStep is one step of a field path: a mapping key or a list index.
type pathStep struct {
	key   string
	index int // -1 for a key
}

// parsePath splits "spec.ingress[0].from" into its steps. Keys are taken
// as written: the decoder's paths name struct fields, which have no dots.
func parsePath(path string) []pathStep {
	var steps []pathStep
	for part := range strings.SplitSeq(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			steps = append(steps, pathStep{key: key, index: -1})
		}
		for rest != "" {
			n, after, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(n)
			if !ok || err != nil || i < 0 {
				break
			}
			steps = append(steps, pathStep{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps
}

// root parses the document text once; nil when it does not parse.
func (d *document) root() *yamlv3.Node {
	if !d.nodeTried {
		d.nodeTried = true
		var doc yamlv3.Node
		if err := yamlv3.Unmarshal(d.text, &doc); err == nil && doc.Kind == yamlv3.DocumentNode && len(doc.Content) == 1 {
			d.node = doc.Content[0]
		}
	}
	return d.node
}

// fileLine turns a line of the document text into a line of the file.
func (d *document) fileLine(n *yamlv3.Node) int { return d.base + n.Line - 1 }

// deref follows aliases (a bounded number of times: they cannot loop in a
// parsed document, but the bound costs nothing).
func deref(n *yamlv3.Node) *yamlv3.Node {
	for i := 0; n != nil && n.Kind == yamlv3.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// child returns the key and value nodes of one step from n, or nils.
func child(n *yamlv3.Node, s pathStep) (key, value *yamlv3.Node) {
	n = deref(n)
	if n == nil {
		return nil, nil
	}
	if s.index >= 0 {
		if n.Kind == yamlv3.SequenceNode && s.index < len(n.Content) {
			return nil, n.Content[s.index]
		}
		return nil, nil
	}
	if n.Kind != yamlv3.MappingNode {
		return nil, nil
	}
	// The last of duplicate keys wins, as in the decoder.
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		if k := n.Content[i]; k.Kind == yamlv3.ScalarNode && k.Value == s.key {
			return k, n.Content[i+1]
		}
	}
	return nil, nil
}

// walk follows path as far as it can and returns the deepest node reached
// (the key node when the path ends on a key and key is set).
func (d *document) walk(path string, key bool) (*yamlv3.Node, bool) {
	n := d.root()
	if n == nil {
		return nil, false
	}
	steps := parsePath(path)
	for i, s := range steps {
		k, v := child(n, s)
		if v == nil {
			return n, false
		}
		if key && i == len(steps)-1 && k != nil {
			return k, true
		}
		n = v
	}
	return n, true
}

// lineOf is the line where the value at path starts (the document's first
// line of content for "").
func (d *document) lineOf(path string) int {
	if path == "" {
		return d.line
	}
	if n, _ := d.walk(path, false); n != nil && n.Line > 0 {
		return d.fileLine(n)
	}
	return d.line
}

// lineOfKey is the line of the field at path (its key), or of the nearest
// enclosing value found.
func (d *document) lineOfKey(path string) int {
	if path == "" {
		return d.line
	}
	if n, _ := d.walk(path, true); n != nil && n.Line > 0 && n != d.root() {
		return d.fileLine(n)
	}
	return d.line
}

// lineOfValue finds a value of the given JSON kind ("array", "object",
// "string", "number ...", "bool", as the decoder names them) at a path whose
// list indexes are left out (spec.ingress.ports.port), the way type errors
// name fields. It returns the line of the first such value in the document,
// or 0.
func (d *document) lineOfValue(path, jsonValue string) int {
	root := d.root()
	if root == nil {
		return 0
	}
	found := []*yamlv3.Node{root}
	for _, s := range parsePath(path) {
		var next []*yamlv3.Node
		for _, n := range found {
			next = appendChildren(next, n, s, 0)
		}
		if len(next) == 0 {
			break
		}
		found = next
	}
	for _, n := range found {
		if valueIs(n, jsonValue) {
			return d.fileLine(n)
		}
	}
	// A wrong value inside a map or list the path ends at.
	for _, n := range found {
		if n = deref(n); n.Kind != yamlv3.MappingNode && n.Kind != yamlv3.SequenceNode {
			continue
		}
		for i, c := range n.Content {
			if n.Kind == yamlv3.MappingNode && i%2 == 0 {
				continue
			}
			if valueIs(c, jsonValue) {
				return d.fileLine(c)
			}
		}
	}
	if found[0] != root {
		return d.fileLine(found[0])
	}
	return 0
}

// appendChildren appends what step s reaches from n, looking through lists
// (whose indexes the path leaves out).
func appendChildren(out []*yamlv3.Node, n *yamlv3.Node, s pathStep, depth int) []*yamlv3.Node {
	n = deref(n)
	if n == nil || depth > 4 {
		return out
	}
	if n.Kind == yamlv3.SequenceNode && s.index < 0 {
		for _, c := range n.Content {
			out = appendChildren(out, c, s, depth+1)
		}
		return out
	}
	if _, v := child(n, s); v != nil {
		out = append(out, v)
	}
	return out
}

// valueIs reports whether a node holds a JSON value of the kind named.
func valueIs(n *yamlv3.Node, jsonValue string) bool {
	n = deref(n)
	if n == nil {
		return false
	}
	kind, _, _ := strings.Cut(jsonValue, " ")
	switch kind {
	case "array":
		return n.Kind == yamlv3.SequenceNode
	case "object":
		return n.Kind == yamlv3.MappingNode
	case "string":
		return n.Kind == yamlv3.ScalarNode && n.Tag == "!!str"
	case "number":
		return n.Kind == yamlv3.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float")
	case "bool":
		return n.Kind == yamlv3.ScalarNode && n.Tag == "!!bool"
	}
	return false
}
