package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// scanAll returns "n:text" for each line and "n:!" for each line error.
func scanAll(t *testing.T, r io.Reader, max int) ([]string, error) {
	t.Helper()
	sc := NewLineScanner(r, max)
	var out []string
	for sc.Scan() {
		if err := sc.LineErr(); err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line != sc.Line() || !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("line error %v", err)
			}
			out = append(out, fmt.Sprintf("%d:!", sc.Line()))
			continue
		}
		out = append(out, fmt.Sprintf("%d:%s", sc.Line(), sc.Bytes()))
	}
	return out, sc.Err()
}

func TestLineScanner(t *testing.T) {
	long := strings.Repeat("x", 100)
	huge := strings.Repeat("y", 300<<10) // longer than the read buffer
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty input", "", 0, nil},
		{"only a newline", "\n", 0, nil},
		{"line numbers count blank lines", "a\n\nb\n  \t\nc\n", 0, []string{"1:a", "3:b", "5:c"}},
		{"CRLF", "a\r\nb\r\n\r\nc", 0, []string{"1:a", "2:b", "4:c"}},
		{"no trailing newline", "a\nb", 0, []string{"1:a", "2:b"}},
		{"lone CR stays in the line", "a\rb\n", 0, []string{"1:a\rb"}},
		{"byte order mark", "\xEF\xBB\xBFa\nb\n", 0, []string{"1:a", "2:b"}},
		{"too long in the middle, reading goes on", "a\n" + long + "\nb\n", 50, []string{"1:a", "2:!", "3:b"}},
		{"exactly the limit", strings.Repeat("z", 50) + "\r\n", 50, []string{"1:" + strings.Repeat("z", 50)}},
		{"one over the limit", strings.Repeat("z", 51) + "\n" + "ok", 50, []string{"1:!", "2:ok"}},
		{"too long at the end without newline", "a\n" + long, 50, []string{"1:a", "2:!"}},
		{"longer than the read buffer, under the limit", huge + "\nb\n", 0, []string{"1:" + huge, "2:b"}},
		{"longer than the read buffer and the limit", "a\n" + huge + "\nb", 200 << 10, []string{"1:a", "2:!", "3:b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []struct {
				name string
				r    func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				{"byte by byte", iotest.OneByteReader},
				{"half reads", iotest.HalfReader},
			} {
				got, err := scanAll(t, wrap.r(strings.NewReader(tc.in)), tc.max)
				if err != nil {
					t.Fatalf("%s: %v", wrap.name, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("%s:\ngot  %.200q\nwant %.200q", wrap.name, got, tc.want)
				}
			}
		})
	}
}

func TestLineScannerReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom))
	got, err := scanAll(t, r, 0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "read line 2") {
		t.Fatalf("err = %v", err)
	}
	if fmt.Sprint(got) != "[1:a]" {
		t.Fatalf("lines %q", got)
	}
}

func TestReadFlows(t *testing.T) {
	in := hubbleSYN + "\n\n" + `{"lost_events":{}}` + "\r\n" + "garbage\n" + nativeFull + "\n" + strings.Repeat(" ", 100) + "x\n" + hubbleSYNCamel
	var got []string
	st, err := ReadFlows(context.Background(), strings.NewReader(in), ReadOptions{MaxLineBytes: 2000, KeepErrors: 1}, func(f *Flow) error {
		got = append(got, f.Source+" "+f.Src.Pod)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hubble frontend-7d9c8b6f5-x2kqp", "native frontend-7d9c8b6f5-x2kqp", "hubble frontend-7d9c8b6f5-x2kqp"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("flows %q", got)
	}
	if st.Lines != 6 || st.Flows != 3 || st.Errors != 2 || st.IgnoredTotal() != 1 || len(st.FirstErrors) != 1 || st.FirstErrors[0].Line != 4 {
		t.Fatalf("stats %+v", st)
	}

	stop := errors.New("enough")
	_, err = ReadFlows(context.Background(), strings.NewReader(in), ReadOptions{}, func(*Flow) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("fn error: %v", err)
	}
	if _, err := ReadFlows(context.Background(), strings.NewReader(in), ReadOptions{Format: "xml"}, nil); err == nil {
		t.Fatal("bad format accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	many := strings.Repeat(nativeMin+"\n", 5000)
	if _, err := ReadFlows(ctx, strings.NewReader(many), ReadOptions{}, func(*Flow) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
