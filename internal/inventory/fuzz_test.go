package inventory

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/redline-dev/redline/internal/netpol"
)

// FuzzLoad feeds arbitrary bytes to the loader as one stream (stdin). It
// must never panic; what loads must load the same way twice and hold the
// Inventory's promises; errors must name a line of the input. It also checks
// that the YAML stream is cut into documents exactly where the YAML parser
// cuts it, so that no document can hide inside another.
//
// The committed corpus (testdata/fuzz/FuzzLoad) runs with every `go test`;
// `make fuzz` explores further.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		nsShop + "---\n" + deployWeb + "---\n" + policyDeny,
		podJSON + podJSON,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n",
		docs(foldCronJob, foldJob, foldJobPod, foldRS, pod("a", "n1", "10.0.0.1")),
		"a: &x {b: *x}\n",
		"--- |\n  text\n...\n%YAML 1.2\n---\n{kind: Pod}\n",
		"\ufeff{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"x\",}}",
		"apiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: x}\r---\rkind: Pod",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		load := func() (*Inventory, error) {
			return LoadFiles(context.Background(), []string{"-"}, LoadOptions{Stdin: bytes.NewReader(data)})
		}
		first, err1 := load()
		second, err2 := load()
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("two loads disagree: %v / %v", err1, err2)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("two loads give different inventories")
		}
		if err1 != nil {
			checkError(t, data, err1)
		} else {
			checkInventory(t, first)
		}
		checkChunks(t, data)
	})
}

func checkError(t *testing.T, data []byte, err error) {
	t.Helper()
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %q is not a ManifestError", err)
	}
	lines := 1 + countBreaks(data)
	if me.Source != stdinName || me.Line < 0 || me.Line > lines {
		t.Fatalf("error %q: line %d not in the %d lines of the input", err, me.Line, lines)
	}
}

func checkInventory(t *testing.T, inv *Inventory) {
	t.Helper()
	names := make([]string, 0, len(inv.Namespaces))
	for _, ns := range inv.Namespaces {
		if ns.Labels[netpol.NamespaceNameLabel] != ns.Name {
			t.Fatalf("namespace %q without its name label: %v", ns.Name, ns.Labels)
		}
		names = append(names, ns.Name)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("namespaces not sorted and unique: %q", names)
	}
	exists := func(what, ns string) {
		if _, ok := slices.BinarySearch(names, ns); !ok {
			t.Fatalf("%s is in namespace %q, which is not in the inventory", what, ns)
		}
	}
	var keys []string
	for _, w := range inv.Workloads {
		exists(w.Key(), w.Namespace)
		if w.Labels == nil || w.Name == "" || w.Kind == "" {
			t.Fatalf("incomplete workload %+v", w)
		}
		keys = append(keys, w.Namespace+"\x00"+w.Kind+"\x00"+w.Name)
	}
	if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Fatalf("workloads not sorted and unique")
	}
	for _, s := range inv.Services {
		exists("service "+s.Name, s.Namespace)
	}
	for _, p := range inv.Policies {
		exists("policy "+p.Name, p.Namespace)
	}
	for _, w := range inv.Warnings {
		if !strings.HasPrefix(w, stdinName+": ") || strings.Contains(w, "\n") {
			t.Fatalf("warning %q: not one line about stdin", w)
		}
	}
}

// checkChunks compares the documents chunkYAML cuts with the YAML parser's
// own reading of each piece: a piece with content holds at most one
// document, a piece without holds none (or only empty ones).
func checkChunks(t *testing.T, data []byte) {
	t.Helper()
	for _, c := range chunkYAML(data) {
		text := data[c.start:c.end]
		dec := yamlv2.NewDecoder(bytes.NewReader(text))
		n := 0
		for n < 3 {
			var v any
			err := dec.Decode(&v)
			if err == io.EOF {
				break
			}
			if err != nil {
				return // the loader rejects the piece: nothing can hide
			}
			if c.content == 0 && v != nil {
				t.Fatalf("piece %q was taken for empty, the YAML parser reads %v", text, v)
			}
			n++
		}
		if c.content != 0 && n > 1 {
			t.Fatalf("piece %q holds %d YAML documents", text, n)
		}
	}
}
