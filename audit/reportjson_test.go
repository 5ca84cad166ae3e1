package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// nastyStrings are strings encoding/json escapes in every way it has.
var nastyStrings = []string{
	"", "shop/Deployment/web", "Ingress", "TCP", "included", "24h0m0s", "203.0.113.7",
	"<script>alert(1)</script>", "a&b", "a>b", `"quoted"`, `back\slash`, "/", "'",
	"\b\f\n\r\t", "\x00", "\x01\x1f", "\x7f", "ü", "日本語", "\U0001F600", "\ufffd",
	"\u2028", "\u2029", "a\u2028b\u2029c", "\u2027\u202a",
	"\xff", "\xc3", "a\xc3(b", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "\xe2\x80\xa8\xe2",
}

// TestReportJSONMatchesMarshalIndent fills every field of a Report — found
// by reflection, so a field added to Report and not to appendReportJSON
// fails here — with nil, empty and nasty values.
func TestReportJSONMatchesMarshalIndent(t *testing.T) {
	checkReportJSON(t, nil)
	checkReportJSON(t, &Report{})
	checkReportJSON(t, &Report{Traffic: []TrafficRow{}, Red: []RedConnection{}, StillAllowed: []string{}, Warnings: []string{"<&>"}})
	checkReportJSON(t, benchReport())
	r := rand.New(rand.NewPCG(3, 5))
	g := reportGen{strs: nastyStrings, intn: r.IntN, u64: r.Uint64}
	for range 20000 {
		checkReportJSON(t, g.report(t))
	}
	// Every string of the corpus, alone.
	for _, s := range nastyStrings {
		checkReportJSON(t, &Report{Workload: s, Window: s, Traffic: []TrafficRow{{Peer: s}}, Warnings: []string{s}})
	}
	// Every byte, and every rune around the escaped ones.
	for c := range 256 {
		s := string([]byte{'a', byte(c), 'b'})
		checkReportJSON(t, &Report{Workload: s, Window: string(rune(c)) + string(rune(0x2000+c))})
	}
}

func FuzzReportJSON(f *testing.F) {
	f.Add([]byte{}, "shop/Deployment/web", "<&>", "\u2028")
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, "\xff", "\x00\x1f", "日本語")
	f.Add(bytes.Repeat([]byte{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}, 8), "", `"\`, "\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, data []byte, a, b, c string) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			x := data[0]
			data = data[1:]
			return x
		}
		g := reportGen{
			strs: []string{a, b, c, a + b + c},
			intn: func(n int) int { return int(next()) % n },
			u64: func() uint64 {
				var x [8]byte
				for i := range x {
					x[i] = next()
				}
				return binary.LittleEndian.Uint64(x[:])
			},
		}
		checkReportJSON(t, g.report(t))
	})
}

func checkReportJSON(t *testing.T, r *Report) {
	t.Helper()
	want, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got := appendReportJSON(bytes.Clone(prefix), r)
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("appendReportJSON differs from json.MarshalIndent for %#v:\n--- append\n%s\n--- MarshalIndent\n%s", r, got[len(prefix):], want)
	}
}

// reportGen fills reports from a source of choices: math/rand for the
// equivalence test, the fuzzer's bytes for FuzzReportJSON.
type reportGen struct {
	strs []string
	intn func(n int) int
	u64  func() uint64
}

func (g reportGen) report(t *testing.T) *Report {
	r := new(Report)
	g.fill(t, reflect.ValueOf(r).Elem())
	return r
}

// fill sets v and what it holds: zero values half the time (omitempty),
// slices nil, empty or of up to three elements.
func (g reportGen) fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(g.strs[g.intn(len(g.strs))])
	case reflect.Bool:
		v.SetBool(g.intn(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ints := []int64{0, 0, 0, 1, -1, 40, math.MaxInt64, math.MinInt64, int64(g.u64())}
		v.SetInt(ints[g.intn(len(ints))]) // truncated to the field's size
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		uints := []uint64{0, 0, 1, 53, 8080, math.MaxUint64, g.u64()}
		v.SetUint(uints[g.intn(len(uints))])
	case reflect.Slice:
		switch g.intn(4) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			v.Set(reflect.MakeSlice(v.Type(), 1+g.intn(3), 3))
			for i := range v.Len() {
				g.fill(t, v.Index(i))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			g.fill(t, v.Field(i))
		}
	default:
		t.Fatalf("reportGen cannot fill a %s: teach it, and appendReportJSON, the new field", v.Type())
	}
}

// benchReport is the report of a busy workload: 40 traffic rows and 30 red
// connections.
func benchReport() *Report {
	r := &Report{Workload: "shop/Deployment/checkout", Window: "24h0m0s", Red: []RedConnection{},
		Warnings: []string{"namespace legacy lacks label team: its peers are selected by kubernetes.io/metadata.name"}}
	for i := range 40 {
		dir := "Ingress"
		if i%2 == 1 {
			dir = "Egress"
		}
		r.Traffic = append(r.Traffic, TrafficRow{Direction: dir, Peer: fmt.Sprintf("team-%d/Deployment/service-%d", i%7, i),
			Protocol: "TCP", Port: uint16(8000 + i), Status: "included"})
	}
	for i := range 30 {
		r.Red = append(r.Red, RedConnection{Src: fmt.Sprintf("team-%d/Deployment/service-%d", i%7, i), Dst: "shop/Deployment/checkout",
			Protocol: "TCP", Port: 8080, DeniedByPolicies: i%3 == 0, Dropped: i%2 == 0})
	}
	r.StillAllowed = []string{"Ingress from shop/Deployment/web TCP/8080", "Egress to <any> UDP/53"}
	return r
}

func BenchmarkReportJSON(b *testing.B) {
	r := benchReport()
	b.Run("MarshalIndent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.MarshalIndent(r, "", "  "); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendReportJSON(nil, r)
		}
	})
	b.Run("append-reused", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendReportJSON(buf[:0], r)
		}
	})
}

// jsonSafePrefix, which tests eight bytes at a time, stops where a byte by
// byte look at jsonSafe does: for every byte at every place of strings
// long enough for several words, alone and before another.
func TestJSONSafePrefix(t *testing.T) {
	want := func(s string) int {
		for i := range len(s) {
			if !jsonSafe[s[i]] {
				return i
			}
		}
		return len(s)
	}
	base := []byte("shop/Deployment/web[Deployment]x")
	for c := range 256 {
		for at := range base {
			for _, second := range []byte{'a', 0, '"', 0xff, 0x7f, ' '} {
				s := bytes.Clone(base)
				s[at] = byte(c)
				if at+1 < len(s) {
					s[at+1] = second
				}
				for n := at; n <= len(s); n++ {
					if got, want := jsonSafePrefix(string(s[:n])), want(string(s[:n])); got != want {
						t.Fatalf("jsonSafePrefix(%q) = %d, want %d", s[:n], got, want)
					}
				}
			}
		}
	}
}
