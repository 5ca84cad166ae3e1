package flow

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The example of docs/flow-format.md.
const nativeFull = `{"time":"2026-11-26T10:00:00.25Z","src":"10.0.1.5","src_port":43210,"dst":"10.0.2.7","port":8080,` +
	`"protocol":"TCP","verdict":"dropped","observer":"node-1","direction":"egress","reply":false,"tcp_flags":["SYN"],` +
	`"src_pod":{"namespace":"shop","name":"frontend-7d9c8b6f5-x2kqp","workload":{"kind":"Deployment","name":"frontend"},"labels":{"tier":"web","app":"frontend"}},` +
	`"dst_pod":{"namespace":"shop","name":"cart-5b7f9d8c6-9hzlw"},"service":{"namespace":"shop","name":"cart"},` +
	`"dst_names":["cart.shop.svc.cluster.local"],"drop_reason":"POLICY_DENIED","denied_by":["shop/default-deny"]}`

var wantNativeFull = Flow{
	Time:     time.Date(2026, 11, 26, 10, 0, 0, 250000000, time.UTC),
	Verdict:  VerdictDropped,
	Protocol: ProtocolTCP,
	Src: Peer{IP: netip.MustParseAddr("10.0.1.5"), Namespace: "shop", Pod: "frontend-7d9c8b6f5-x2kqp",
		WorkloadKind: "Deployment", WorkloadName: "frontend", Labels: []string{"app=frontend", "tier=web"}},
	Dst: Peer{IP: netip.MustParseAddr("10.0.2.7"), Namespace: "shop", Pod: "cart-5b7f9d8c6-9hzlw",
		Names: []string{"cart.shop.svc.cluster.local"}},
	SrcPort:    43210,
	DstPort:    8080,
	TCPFlags:   TCPSYN,
	Reply:      ReplyNo,
	Direction:  DirectionEgress,
	Observer:   "node-1",
	Service:    &ServiceRef{Namespace: "shop", Name: "cart"},
	DropReason: "POLICY_DENIED",
	DeniedBy:   []string{"shop/default-deny"},
	Source:     SourceNative,
}

const nativeMin = `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","port":53,"protocol":"udp"}`

func TestDecodeNative(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		want  *Flow
		check func(*Flow) string
		err   string
		is    error
		def   time.Time
	}{
		{name: "full", line: nativeFull, want: &wantNativeFull},
		{name: "minimal", line: nativeMin, want: &Flow{
			Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Protocol: ProtocolUDP, DstPort: 53,
			Src: Peer{IP: netip.MustParseAddr("10.0.1.5")}, Dst: Peer{IP: netip.MustParseAddr("10.0.2.7")}, Source: SourceNative,
		}},
		{name: "null members are absent", line: strings.Replace(nativeMin, `"port"`, `"verdict":null,"src_pod":null,"reply":null,"port"`, 1),
			check: func(f *Flow) string { return diff("Reply", f.Reply, ReplyUnknown) }},
		{name: "IPv6 and mapped IPv4", line: `{"time":"2026-11-26T10:00:00Z","src":"::ffff:10.0.1.5","dst":"fd00::7","port":443,"protocol":"TCP","src_port":0}`,
			check: func(f *Flow) string {
				return diff("Src", f.Src.IP, netip.MustParseAddr("10.0.1.5")) + diff("Dst", f.Dst.IP, netip.MustParseAddr("fd00::7"))
			}},
		{name: "reply and ingress", line: `{"time":"2026-11-26T10:00:00Z","src":"10.0.2.7","dst":"10.0.1.5","src_port":8080,"port":43210,"protocol":"TCP","reply":true,"direction":"INGRESS","tcp_flags":["syn","ack"]}`,
			check: func(f *Flow) string {
				return diff("Reply", f.Reply, ReplyYes) + diff("Direction", f.Direction, DirectionIngress) + diff("Flags", f.TCPFlags, TCPSYN|TCPACK)
			}},
		{name: "all verdicts by name", line: strings.Replace(nativeMin, `"port"`, `"verdict":"AUDIT","port"`, 1),
			check: func(f *Flow) string { return diff("Verdict", f.Verdict, VerdictAudit) }},
		{name: "verdict unknown", line: strings.Replace(nativeMin, `"port"`, `"verdict":"unknown","port"`, 1),
			check: func(f *Flow) string { return diff("Verdict", f.Verdict, VerdictUnknown) }},
		{name: "default time", line: `{"src":"10.0.1.5","dst":"10.0.2.7","port":53,"protocol":"UDP"}`, def: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			check: func(f *Flow) string { return diff("Time", f.Time, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }},
		{name: "labels are bounded", line: strings.Replace(nativeMin, `"port"`, `"src_pod":{"namespace":"a","labels":{`+repeatJSON(`"k%03d":"v"`, 80)+`}},"port"`, 1),
			check: func(f *Flow) string { return diff("labels", len(f.Src.Labels), MaxLabels) }},

		{name: "ICMP is ignored", line: `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","protocol":"ICMP"}`, is: ignore(IgnoreICMP)},
		{name: "ICMPv6 is ignored", line: `{"time":"2026-11-26T10:00:00Z","src":"fd00::1","dst":"fd00::2","protocol":"icmpv6"}`, is: ignore(IgnoreICMP)},

		{name: "missing time", line: `{"src":"10.0.1.5","dst":"10.0.2.7","port":53,"protocol":"UDP"}`, err: "time: missing"},
		{name: "missing src", line: `{"time":"2026-11-26T10:00:00Z","dst":"10.0.2.7","port":53,"protocol":"UDP"}`, err: "src: missing"},
		{name: "missing port", line: `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","protocol":"UDP"}`, err: "port: missing"},
		{name: "missing protocol", line: `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","port":1}`, err: "protocol: missing"},
		{name: "port 0", line: strings.Replace(nativeMin, `"port":53`, `"port":0`, 1), err: "port: 0 is not a destination port"},
		{name: "port too big", line: strings.Replace(nativeMin, `"port":53`, `"port":65536`, 1), err: "port: 65536 is out of range"},
		{name: "port as text", line: strings.Replace(nativeMin, `"port":53`, `"port":"http"`, 1), err: `port: "http" is not a non-negative integer`},
		{name: "unknown field", line: strings.Replace(nativeMin, `"port"`, `"count":3,"port"`, 1), err: `count: unknown field`},
		{name: "unknown nested field", line: strings.Replace(nativeMin, `"port"`, `"src_pod":{"namespace":"a","uid":"x"},"port"`, 1), err: `src_pod.uid: unknown field`},
		{name: "repeated field", line: strings.Replace(nativeMin, `"port":53`, `"port":53,"port":54`, 1), err: `port: repeated`},
		{name: "repeated after null", line: strings.Replace(nativeMin, `"port":53`, `"port":null,"port":53`, 1), err: `port: repeated`},
		{name: "null required member", line: strings.Replace(nativeMin, `"port":53`, `"port":null`, 1), err: `port: missing`},
		{name: "repeated nested field", line: strings.Replace(nativeMin, `"port"`, `"service":{"namespace":"a","name":"b","name":"c"},"port"`, 1), err: `service.name: repeated`},
		{name: "wrong type", line: strings.Replace(nativeMin, `"protocol":"udp"`, `"protocol":17`, 1), err: "protocol: expected a string, found a number"},
		{name: "bad protocol", line: strings.Replace(nativeMin, `"udp"`, `"GRE"`, 1), err: `protocol: "GRE" is not TCP, UDP or SCTP`},
		{name: "bad verdict", line: strings.Replace(nativeMin, `"port"`, `"verdict":"allowed","port"`, 1), err: `verdict: "allowed" is not one of`},
		{name: "bad direction", line: strings.Replace(nativeMin, `"port"`, `"direction":"both","port"`, 1), err: `direction: "both"`},
		{name: "bad address", line: strings.Replace(nativeMin, `10.0.1.5`, `10.0.1`, 1), err: `src: "10.0.1" is not an IP address`},
		{name: "bad time", line: strings.Replace(nativeMin, `2026-11-26T10:00:00Z`, `1764151200`, 1), err: `time: "1764151200" is not an RFC 3339 time`},
		{name: "pod without namespace", line: strings.Replace(nativeMin, `"port"`, `"dst_pod":{"name":"x"},"port"`, 1), err: "dst_pod.namespace: missing"},
		{name: "service without name", line: strings.Replace(nativeMin, `"port"`, `"service":{"namespace":"x"},"port"`, 1), err: "service: needs both"},
		{name: "flags on UDP", line: strings.Replace(nativeMin, `"port"`, `"tcp_flags":["SYN"],"port"`, 1), err: "tcp_flags: only TCP"},
		{name: "unknown flag", line: strings.Replace(nativeFull, `["SYN"]`, `["SYN","XMAS"]`, 1), err: `"XMAS" is not a TCP flag`},
		{name: "empty label key", line: strings.Replace(nativeMin, `"port"`, `"src_pod":{"namespace":"a","labels":{"":"x"}},"port"`, 1), err: `src_pod.labels: "" is not a label key`},
		{name: "label key with =", line: strings.Replace(nativeMin, `"port"`, `"src_pod":{"namespace":"a","labels":{"a=b":"x"}},"port"`, 1), err: `"a=b" is not a label key`},
		{name: "label value not a string", line: strings.Replace(nativeMin, `"port"`, `"src_pod":{"namespace":"a","labels":{"app":1}},"port"`, 1), err: "src_pod.labels.app: expected a string"},
		{name: "Hubble line", line: hubbleSYN, err: "Hubble record"},
		{name: "not JSON", line: `src=10.0.1.5 dst=10.0.2.7`, is: ErrSyntax},
		{name: "truncated", line: nativeFull[:100], is: ErrSyntax},
		{name: "array", line: `[1]`, err: "must be a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDecoder(DecoderOptions{Format: FormatNative, DefaultTime: tc.def})
			if err != nil {
				t.Fatal(err)
			}
			var f Flow
			err = d.Decode([]byte(tc.line), &f)
			switch {
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrIgnored) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if tc.want != nil && !reflect.DeepEqual(f, *tc.want) {
					t.Fatalf("\ngot  %+v\nwant %+v", f, *tc.want)
				}
				if tc.check != nil {
					if msg := tc.check(&f); msg != "" {
						t.Fatal(msg)
					}
				}
				checkFlowInvariants(t, &f)
			}
		})
	}
}

func TestAppendNativeRoundTrip(t *testing.T) {
	flows := []Flow{wantNativeFull, wantSYN}
	// Hubble-only detail the native format does not carry.
	flows[1].Src.Reserved = ""
	odd := wantNativeFull
	odd.Src.Pod = "weird\"name\\\n\x01é"
	odd.Time = time.Date(2026, 11, 26, 10, 0, 0, 1, time.UTC)
	odd.Verdict, odd.Reply, odd.Direction, odd.TCPFlags = VerdictTranslated, ReplyYes, DirectionIngress, TCPFIN|TCPRST|TCPPSH|TCPACK
	odd.AllowedBy = []string{"a/b"}
	flows = append(flows, odd)
	for i, in := range flows {
		line := AppendNative(nil, &in)
		if line[len(line)-1] != '\n' {
			t.Fatalf("%d: no newline", i)
		}
		var out Flow
		if err := DecodeNative(line[:len(line)-1], &out); err != nil {
			t.Fatalf("%d: %v\n%s", i, err, line)
		}
		in.Source = SourceNative
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%d: round trip\nin  %+v\nout %+v\n%s", i, in, out, line)
		}
	}
}

// TestAutoFormat mixes both formats in one stream.
func TestAutoFormat(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		line   string
		format Format
		err    string
	}{
		{hubbleSYN, FormatHubble, ""},
		{nativeFull, FormatNative, ""},
		{nativeMin, FormatNative, ""},
		{hubbleSYNCamel, FormatHubble, ""},
		{`{"lost_events":{}}`, FormatHubble, "ignored"},
		{nativeFull, FormatNative, ""},
		{`{"src":"10.0.0.1","dst":"10.0.0.2","port":1,"protocol":"TCP","flow":{}}`, FormatNative, "unknown field"},
		// Neither format: the error is that of the format detected last.
		{`{}`, FormatNative, `src: missing`},
		{hubbleSYN, FormatHubble, ""},
		{`{}`, FormatHubble, `no "flow" member`},
	} {
		var f Flow
		err := d.Decode([]byte(c.line), &f)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Fatalf("%d: err = %v, want %q", i, err, c.err)
		}
		if err == nil && (d.Format() != c.format || f.Source != string(c.format)) {
			t.Fatalf("%d: format %q source %q, want %q", i, d.Format(), f.Source, c.format)
		}
	}
}

func ExampleAppendNative() {
	f := wantNativeFull
	fmt.Print(string(AppendNative(nil, &f)))
	// Output:
	// {"time":"2026-11-26T10:00:00.25Z","src":"10.0.1.5","src_port":43210,"dst":"10.0.2.7","port":8080,"protocol":"TCP","verdict":"dropped","observer":"node-1","direction":"egress","reply":false,"tcp_flags":["SYN"],"src_pod":{"namespace":"shop","name":"frontend-7d9c8b6f5-x2kqp","workload":{"kind":"Deployment","name":"frontend"},"labels":{"app":"frontend","tier":"web"}},"dst_pod":{"namespace":"shop","name":"cart-5b7f9d8c6-9hzlw"},"service":{"namespace":"shop","name":"cart"},"dst_names":["cart.shop.svc.cluster.local"],"drop_reason":"POLICY_DENIED","denied_by":["shop/default-deny"]}
}
