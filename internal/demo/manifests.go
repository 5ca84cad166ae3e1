package demo

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed manifests/*.yaml
var manifestFS embed.FS

// Manifests returns the demo's manifests as one multi-document YAML stream,
// in apply order (namespaces first): what `kubectl apply -f -` takes.
func Manifests() []byte {
	var out bytes.Buffer
	for i, name := range manifestFiles() {
		b, err := manifestFS.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("demo: embedded manifest %s: %v", name, err)) // embedded at build time
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes()
}

func manifestFiles() []string {
	names, err := fs.Glob(manifestFS, "manifests/*.yaml")
	if err != nil {
		panic(err) // the pattern is valid
	}
	slices.Sort(names)
	return names
}

// Objects parses Manifests into objects, in apply order.
func Objects() ([]*unstructured.Unstructured, error) {
	return parseObjects(Manifests())
}

func parseObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("demo manifests: document %d: %w", len(out)+1, err)
		}
		if len(m) == 0 {
			continue // a comment-only document
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("demo manifests: document %d has no kind or name", len(out)+1)
		}
		out = append(out, u)
	}
}
