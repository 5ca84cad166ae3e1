package flow

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSyntaxParity checks that both decoders call a line invalid JSON
// exactly when encoding/json does (FuzzDecodeHubble/Native check the same
// on random input).
func TestSyntaxParity(t *testing.T) {
	deep := func(n int) string {
		return `{"flow":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	inputs := []string{
		``, ` `, `{}`, "\t{}\r\n", `{}}`, `{`, `}`, `[]`, `null`, `1`, `"x"`, `{"a"}`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1,}`,
		`{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":1e}`, `{"a":1e+}`, `{"a":-}`, `{"a":-0}`, `{"a":01}`, `{"a":1.}`,
		`{"a":.5}`, `{"a":1.5e-7}`, `{"a":-1E+2}`, `{"a":+1}`, `{"a":tru}`, `{"a":true}`, `{"a":nul}`, `{"a":falsey}`,
		`{"a":"\u12"}`, `{"a":"\u12G4"}`, `{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\x"}`, `{"a":"` + "\x00" + `"}`,
		`{"a":"` + "\x1f" + `"}`, `{"a":"` + "\x7f" + `"}`, `{"a":"é"}`, `{"a":"` + "\xff\xfe" + `"}`, `{"a":"unterminated}`,
		`{"a":"x"} `, `{"a":"x"} x`, `{'a':1}`, `{a:1}`, `{"a":1}{"b":2}`, `{"a\"b":1}`, `{"\u0066low":{}}`,
		`{"flow":{"IP":[]}}`, `{"flow":{"IP":{"source":1}}}`, `{"flow":{"l4":{"TCP":{"source_port":true}}}}`,
		`{"src":{"a":[{"b":[{"c":null}]}]}}`, `{"src":"10.0.0.1","dst":"10.0.0.2","port":1,"protocol":"TCP","time":"2026-11-26T10:00:00Z"}`,
		"{\"a\":1}\x00", "\xef\xbb\xbf{}", `{"a":1}` + "\v",
		deep(10000), deep(10001),
	}
	for _, in := range inputs {
		valid := json.Valid([]byte(in))
		for _, format := range []Format{FormatHubble, FormatNative} {
			var f Flow
			err := newDecoder(DecoderOptions{Format: format}).Decode([]byte(in), &f)
			if syntax := errors.Is(err, ErrSyntax); syntax == valid {
				t.Errorf("%s %.60q: json.Valid %v, decoder error %v", format, in, valid, err)
			}
			var se *SyntaxError
			if errors.As(err, &se) && (se.Offset < 0 || se.Offset > len(in)) {
				t.Errorf("%s %.60q: offset %d", format, in, se.Offset)
			}
		}
	}
}

func TestUnescapeJSON(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: "plain", `a\"b\\c\/d`: `a"b\c/d`, `\b\f\n\r\t`: "\b\f\n\r\t", `\u00e9\u20AC`: "é€",
		`\ud83d\ude00`: "😀", `\ud800`: "\uFFFD", `\ud800x`: "\uFFFDx", `\ude00\ud83d`: "\uFFFD\uFFFD", `\ud83d\u0041`: "\uFFFDA",
	} {
		var want2 string
		if err := json.Unmarshal([]byte(`"`+in+`"`), &want2); err != nil || want2 != want {
			t.Fatalf("test case %q: encoding/json gives %q, %v", in, want2, err)
		}
		if got := string(unescapeJSON(nil, []byte(in))); got != want {
			t.Errorf("unescapeJSON(%q) = %q, want %q", in, got, want)
		}
	}
}
