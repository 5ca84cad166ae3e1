package flow

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readCorpus decodes a corpus file and calls fn with every flow.
func readCorpus(t *testing.T, file string, fn func(*Flow)) ReadStats {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := ReadFlows(context.Background(), fh, ReadOptions{Format: FormatHubble}, func(f *Flow) error {
		fn(f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestHubbleCorpus decodes every line of the committed corpus: hand-written
// records in the shape `hubble observe -o json` and the Hubble exporter
// print (see docs/flow-format.md for the sources).
func TestHubbleCorpus(t *testing.T) {
	want := map[string]struct {
		lines, flows, errors int
		ignored              map[IgnoreReason]int
	}{
		"observe.jsonl":            {38, 30, 0, map[IgnoreReason]int{IgnoreAgentEvent: 1, IgnoreICMP: 2, IgnoreL7: 2, IgnoreLostEvents: 1, IgnoreNodeStatus: 1, IgnoreSock: 1}},
		"exporter-camelcase.jsonl": {38, 30, 0, map[IgnoreReason]int{IgnoreAgentEvent: 1, IgnoreICMP: 2, IgnoreL7: 2, IgnoreLostEvents: 1, IgnoreNodeStatus: 1, IgnoreSock: 1}},
		"malformed.jsonl":          {12, 1, 11, map[IgnoreReason]int{}},
	}
	files, err := filepath.Glob("testdata/hubble/*.jsonl")
	if err != nil || len(files) != len(want) {
		t.Fatalf("corpus files %v (%v), want %d", files, err, len(want))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			w := want[filepath.Base(file)]
			st := readCorpus(t, file, func(f *Flow) { checkFlowInvariants(t, f) })
			if st.Lines != w.lines || st.Flows != w.flows || st.Errors != w.errors || !reflect.DeepEqual(st.Ignored, w.ignored) {
				t.Fatalf("stats %+v, want %+v", st, w)
			}
			for _, e := range st.FirstErrors {
				if e.Line < 1 || e.Line > 14 {
					t.Errorf("error line %d", e.Line)
				}
			}
		})
	}
	t.Run("every line decodes alike with cold and warm caches", func(t *testing.T) {
		warm := newDecoder(DecoderOptions{Format: FormatHubble})
		for _, file := range files {
			lines := corpusLines(t, file)
			for pass := 0; pass < 2; pass++ {
				for i, l := range lines {
					var a, b Flow
					errA := newDecoder(DecoderOptions{Format: FormatHubble}).Decode(l, &a)
					errB := warm.Decode(l, &b)
					if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() || !reflect.DeepEqual(a, b) {
						t.Fatalf("%s:%d pass %d: cold %v %+v\nwarm %v %+v", file, i+1, pass, errA, a, errB, b)
					}
				}
			}
		}
	})
	t.Run("snake_case and camelCase files hold the same flows", func(t *testing.T) {
		snake := corpusLines(t, "testdata/hubble/observe.jsonl")
		camel := corpusLines(t, "testdata/hubble/exporter-camelcase.jsonl")
		if len(snake) != len(camel) {
			t.Fatal("line counts differ")
		}
		for i := range snake {
			var a, b Flow
			errA := DecodeHubble(snake[i], &a)
			errB := DecodeHubble(camel[i], &b)
			if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
				t.Fatalf("line %d: %v %+v\n%v %+v", i+1, errA, a, errB, b)
			}
		}
	})
}

func corpusLines(t testing.TB, file string) [][]byte {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(strings.TrimSpace(string(l))) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}
