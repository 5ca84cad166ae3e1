package flow

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// warm is a decoder whose caches hold what earlier inputs left, so that a
// fuzz input can meet cached spans of other lines (fuzz functions run one
// at a time in a worker; the lock is for safety).
var warm = struct {
	sync.Mutex
	hubble, native *Decoder
}{hubble: newDecoder(DecoderOptions{Format: FormatHubble}), native: newDecoder(DecoderOptions{Format: FormatNative})}

// FuzzDecodeHubble feeds arbitrary lines to the Hubble decoder. It must
// never panic; it must reject exactly the lines encoding/json rejects (as
// syntax errors); a decoded flow must hold the invariants; and a decoder
// with warm caches must decode exactly like a fresh one.
//
// Seeds: every line of testdata/hubble/*.jsonl and testdata/fuzz/.
func FuzzDecodeHubble(f *testing.F) {
	addCorpusSeeds(f)
	for _, s := range []string{hubbleSYN, hubbleSYNCamel, `{"flow":{}}`, `{"flow":{"IP":{"source":"::ffff:1.2.3.4","destination":"fe80::1%eth0"},"l4":{"TCP":{"destination_port":"1"}}},"time":"2026-01-01T00:00:00+01:00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fuzzDecode(t, FormatHubble, line, warm.hubble)
	})
}

// FuzzDecodeNative does the same for the native decoder, and also checks
// that a decoded record written back by AppendNative decodes to the same
// flow.
func FuzzDecodeNative(f *testing.F) {
	for _, s := range []string{nativeFull, nativeMin, `{"time":"2026-11-26T10:00:00Z","src":"fd00::1","dst":"::ffff:10.0.0.1","port":1,"protocol":"sctp","src_pod":{"namespace":"a","labels":{"k":"v","a.b/c":"d=e"}}}`,
		`{"src":"10.0.1.5","dst":"10.0.2.7","protocol":"ICMP"}`, `{"src":1}`, `[]`, `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","port":8080,"protocol":"TCP","tcp_flags":["SYN","URG"],"reply":true,"src_names":["a\u0000b",""]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fl := fuzzDecode(t, FormatNative, line, warm.native)
		if fl == nil {
			return
		}
		out := AppendNative(nil, fl)
		var back Flow
		if err := DecodeNative(out[:len(out)-1], &back); err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, out)
		}
		if !sameFlow(*fl, back) {
			t.Fatalf("round trip changed the flow\nin  %+v\nout %+v\n%s", *fl, back, out)
		}
	})
}

func addCorpusSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/hubble/*.jsonl")
	for _, file := range files {
		for _, l := range corpusLines(f, file) {
			f.Add(l)
		}
	}
}

// fuzzDecode decodes line with a fresh and with a warm decoder and checks
// what must hold; it returns the flow when the line decoded.
func fuzzDecode(t *testing.T, format Format, line []byte, w *Decoder) *Flow {
	var got Flow
	err := newDecoder(DecoderOptions{Format: format}).Decode(line, &got)

	valid := json.Valid(line)
	switch {
	case !valid && !errors.Is(err, ErrSyntax):
		t.Fatalf("invalid JSON not reported as such: %v", err)
	case valid && errors.Is(err, ErrSyntax):
		t.Fatalf("valid JSON reported as invalid: %v", err)
	}

	warm.Lock()
	var again Flow
	errAgain := w.Decode(line, &again)
	var third Flow
	errThird := w.Decode(line, &third)
	warm.Unlock()
	for i, e := range []error{errAgain, errThird} {
		if (err == nil) != (e == nil) || err != nil && err.Error() != e.Error() {
			t.Fatalf("warm decoder %d disagrees: %v / %v", i, err, e)
		}
	}
	if err != nil {
		if r, ok := IgnoredReason(err); ok && r == "" {
			t.Fatal("ignored without a reason")
		}
		return nil
	}
	if !reflect.DeepEqual(got, again) || !reflect.DeepEqual(got, third) {
		t.Fatalf("warm decoder decodes differently\nfresh %+v\nwarm  %+v\nthird %+v", got, again, third)
	}
	checkFlowInvariants(t, &got)
	return &got
}

// sameFlow compares flows, times by instant.
func sameFlow(a, b Flow) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// TestMutatedRecords complements the byte-level fuzzers: it parses the
// corpus records, changes their values at random (other types, null,
// missing members, odd strings and numbers), writes them back as valid
// JSON and checks what fuzzDecode checks. Deterministic (seeded).
func TestMutatedRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var records []any
	files, _ := filepath.Glob("testdata/hubble/*.jsonl")
	for _, file := range files {
		for _, l := range corpusLines(t, file) {
			var v any
			if json.Unmarshal(l, &v) == nil {
				records = append(records, v)
			}
		}
	}
	for _, l := range []string{nativeFull, nativeMin} {
		var v any
		_ = json.Unmarshal([]byte(l), &v)
		records = append(records, v)
	}
	odd := []any{nil, true, false, 0, -1, 65535, 65536, 1.5, 1e300, "", "x", "10.0.0.1", "::ffff:1.2.3.4", "2026-11-26T10:00:00Z",
		"reserved:world", "k8s:a=b", "TCP", "DROPPED", "\u00e9\x01", []any{}, []any{"a", 1}, map[string]any{}, map[string]any{"name": "x"}}
	var mutate func(v any, depth int) any
	mutate = func(v any, depth int) any {
		if rng.IntN(12) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if rng.IntN(15) == 0 {
					continue // drop the member
				}
				out[k] = mutate(e, depth+1)
			}
			return out
		case []any:
			out := []any{}
			for _, e := range x {
				if rng.IntN(10) != 0 {
					out = append(out, mutate(e, depth+1))
				}
			}
			return out
		}
		return v
	}
	for i := 0; i < 20000; i++ {
		line, err := json.Marshal(mutate(records[rng.IntN(len(records))], 0))
		if err != nil {
			t.Fatal(err)
		}
		format := FormatHubble
		w := warm.hubble
		if i%3 == 0 {
			format, w = FormatNative, warm.native
		}
		fuzzDecode(t, format, line, w)
	}
}
