package flow

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A `hubble observe -o json` line (proto field names), trimmed of members
// Redline does not read but otherwise as the CLI prints it.
const hubbleSYN = `{"flow":{"time":"2026-11-26T10:00:00.104822311Z","uuid":"0f6a1c2e-4c1e-4f0a-9b7d-1a2b3c4d5e6f","verdict":"FORWARDED",` +
	`"ethernet":{"source":"aa:0e:3f:21:7c:01","destination":"f2:3b:9c:44:0d:a7"},` +
	`"IP":{"source":"10.244.1.23","destination":"10.244.2.41","ipVersion":"IPv4"},` +
	`"l4":{"TCP":{"source_port":43512,"destination_port":8080,"flags":{"SYN":true}}},` +
	`"source":{"ID":1734,"identity":31245,"namespace":"shop","labels":["k8s:app=frontend","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"frontend-7d9c8b6f5-x2kqp","workloads":[{"name":"frontend","kind":"Deployment"}]},` +
	`"destination":{"ID":2291,"identity":18211,"namespace":"shop","labels":["k8s:app=cart","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"cart-5b7f9d8c6-9hzlw","workloads":[{"name":"cart","kind":"Deployment"}]},` +
	`"Type":"L3_L4","node_name":"kind-kind/kind-worker","event_type":{"type":4},"destination_service":{"name":"cart","namespace":"shop"},` +
	`"traffic_direction":"EGRESS","trace_observation_point":"TO_OVERLAY","is_reply":false,"Summary":"TCP Flags: SYN",` +
	`"egress_allowed_by":[{"name":"frontend-egress","namespace":"shop","labels":["k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy"],"revision":"9"}]},` +
	`"node_name":"kind-kind/kind-worker","time":"2026-11-26T10:00:00.104822311Z"}`

// The same record as protojson writes it by default (lowerCamelCase JSON
// names), as some exporters and collectors re-encode it.
const hubbleSYNCamel = `{"flow":{"time":"2026-11-26T10:00:00.104822311Z","verdict":"FORWARDED",` +
	`"IP":{"source":"10.244.1.23","destination":"10.244.2.41","ipVersion":"IPv4"},` +
	`"l4":{"TCP":{"sourcePort":43512,"destinationPort":8080,"flags":{"SYN":true}}},` +
	`"source":{"ID":1734,"identity":31245,"namespace":"shop","labels":["k8s:app=frontend","k8s:io.kubernetes.pod.namespace=shop"],"podName":"frontend-7d9c8b6f5-x2kqp","workloads":[{"name":"frontend","kind":"Deployment"}]},` +
	`"destination":{"ID":2291,"identity":18211,"namespace":"shop","labels":["k8s:app=cart","k8s:io.kubernetes.pod.namespace=shop"],"podName":"cart-5b7f9d8c6-9hzlw","workloads":[{"name":"cart","kind":"Deployment"}]},` +
	`"Type":"L3_L4","nodeName":"kind-kind/kind-worker","eventType":{"type":4},"destinationService":{"name":"cart","namespace":"shop"},` +
	`"trafficDirection":"EGRESS","traceObservationPoint":"TO_OVERLAY","isReply":false,"Summary":"TCP Flags: SYN",` +
	`"egressAllowedBy":[{"name":"frontend-egress","namespace":"shop","labels":["k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy"],"revision":"9"}]},` +
	`"nodeName":"kind-kind/kind-worker","time":"2026-11-26T10:00:00.104822311Z"}`

var wantSYN = Flow{
	Time:     time.Date(2026, 11, 26, 10, 0, 0, 104822311, time.UTC),
	Verdict:  VerdictForwarded,
	Protocol: ProtocolTCP,
	Src: Peer{
		IP: netip.MustParseAddr("10.244.1.23"), Namespace: "shop", Pod: "frontend-7d9c8b6f5-x2kqp",
		WorkloadKind: "Deployment", WorkloadName: "frontend",
		Labels: []string{"app=frontend", "io.kubernetes.pod.namespace=shop"},
	},
	Dst: Peer{
		IP: netip.MustParseAddr("10.244.2.41"), Namespace: "shop", Pod: "cart-5b7f9d8c6-9hzlw",
		WorkloadKind: "Deployment", WorkloadName: "cart",
		Labels: []string{"app=cart", "io.kubernetes.pod.namespace=shop"},
	},
	SrcPort:   43512,
	DstPort:   8080,
	TCPFlags:  TCPSYN,
	Reply:     ReplyNo,
	Direction: DirectionEgress,
	Observer:  "kind-kind/kind-worker",
	Service:   &ServiceRef{Namespace: "shop", Name: "cart"},
	AllowedBy: []string{"shop/frontend-egress"},
	Source:    SourceHubble,
}

// hubbleLine builds a line from a flow object body.
func hubbleLine(flowBody string) string {
	return `{"flow":{` + flowBody + `},"node_name":"kind-kind/kind-worker","time":"2026-11-26T10:00:01Z"}`
}

const (
	ipv4Pair = `"IP":{"source":"10.244.1.23","destination":"10.244.2.41","ipVersion":"IPv4"}`
	tcp8080  = `"l4":{"TCP":{"source_port":43512,"destination_port":8080,"flags":{"SYN":true}}}`
)

func TestDecodeHubble(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return tm.UTC()
	}
	tests := []struct {
		name  string
		line  string
		want  *Flow                 // the whole flow, when given
		check func(*Flow) string    // or some fields
		err   string                // substring of the error
		is    error                 // errors.Is target
		opts  func(*DecoderOptions) // decoder options
	}{
		{name: "observe snake_case", line: hubbleSYN, want: &wantSYN},
		{name: "protojson lowerCamelCase", line: hubbleSYNCamel, want: &wantSYN},
		{name: "bare Flow without envelope", line: hubbleSYN[len(`{"flow":`):strings.Index(hubbleSYN, `,"node_name":"kind-kind/kind-worker","time"`)], want: &wantSYN},
		{name: "pretty-printed on one line", line: strings.NewReplacer(`":`, `" : `, `,"`, ` , "`, `{`, "{ \t", `}`, " }").Replace(hubbleSYN), want: &wantSYN},
		{
			name: "DROPPED by policy at egress",
			line: hubbleLine(`"time":"2026-11-26T10:00:02.250017733Z","verdict":"DROPPED","drop_reason":133,` + ipv4Pair + `,` + tcp8080 +
				`,"Type":"L3_L4","event_type":{"type":1,"sub_type":133},"traffic_direction":"EGRESS","drop_reason_desc":"POLICY_DENIED","Summary":"TCP Flags: SYN",` +
				`"egress_denied_by":[{"name":"default-deny-egress","namespace":"batch","labels":["k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy"],"revision":"3"}],` +
				`"ingress_denied_by":[{"name":"cluster-deny","labels":["k8s:io.cilium.k8s.policy.derived-from=CiliumClusterwideNetworkPolicy"]}]`),
			check: func(f *Flow) string {
				if f.Verdict != VerdictDropped || f.DropReason != "POLICY_DENIED" || f.Reply != ReplyUnknown ||
					!reflect.DeepEqual(f.DeniedBy, []string{"batch/default-deny-egress", "cluster-deny"}) || f.AllowedBy != nil {
					return fmt.Sprintf("verdict %v reason %q reply %v denied %q allowed %q", f.Verdict, f.DropReason, f.Reply, f.DeniedBy, f.AllowedBy)
				}
				return ""
			},
		},
		{
			name: "deprecated drop_reason number only",
			line: hubbleLine(`"verdict":"DROPPED","drop_reason":133,` + ipv4Pair + `,` + tcp8080),
			check: func(f *Flow) string {
				return diff("DropReason", f.DropReason, "POLICY_DENIED")
			},
		},
		{
			name: "enum numbers instead of names",
			line: hubbleLine(`"verdict":2,"drop_reason_desc":181,"traffic_direction":1,"Type":1,` + ipv4Pair + `,` + tcp8080),
			check: func(f *Flow) string {
				if f.Verdict != VerdictDropped || f.Direction != DirectionIngress || f.DropReason != "POLICY_DENY" {
					return fmt.Sprintf("verdict %v direction %v reason %q", f.Verdict, f.Direction, f.DropReason)
				}
				return ""
			},
		},
		{
			name:  "AUDIT verdict and unknown future verdict",
			line:  hubbleLine(`"verdict":"AUDIT",` + ipv4Pair + `,` + tcp8080),
			check: func(f *Flow) string { return diff("Verdict", f.Verdict, VerdictAudit) },
		},
		{
			name:  "verdict this version does not know",
			line:  hubbleLine(`"verdict":"QUARANTINED",` + ipv4Pair + `,` + tcp8080),
			check: func(f *Flow) string { return diff("Verdict", f.Verdict, VerdictUnknown) },
		},
		{
			name: "reply",
			line: hubbleLine(`"verdict":"FORWARDED","IP":{"source":"10.244.2.41","destination":"10.244.1.23"},"l4":{"TCP":{"source_port":8080,"destination_port":43512,"flags":{"SYN":true,"ACK":true}}},"traffic_direction":"INGRESS","is_reply":true`),
			check: func(f *Flow) string {
				if f.Reply != ReplyYes || f.TCPFlags != TCPSYN|TCPACK || f.SrcPort != 8080 || f.DstPort != 43512 {
					return fmt.Sprintf("reply %v flags %b ports %d->%d", f.Reply, f.TCPFlags, f.SrcPort, f.DstPort)
				}
				return ""
			},
		},
		{
			name:  "deprecated reply bool when is_reply is absent",
			line:  hubbleLine(ipv4Pair + `,` + tcp8080 + `,"reply":true`),
			check: func(f *Flow) string { return diff("Reply", f.Reply, ReplyYes) },
		},
		{
			name:  "is_reply null is unknown",
			line:  hubbleLine(ipv4Pair + `,` + tcp8080 + `,"is_reply":null`),
			check: func(f *Flow) string { return diff("Reply", f.Reply, ReplyUnknown) },
		},
		{
			name: "all TCP flags",
			line: hubbleLine(ipv4Pair + `,"l4":{"TCP":{"source_port":1,"destination_port":2,"flags":{"FIN":true,"SYN":false,"RST":true,"PSH":true,"ACK":true,"URG":true,"ECE":true,"CWR":true,"NS":true}}}`),
			check: func(f *Flow) string {
				return diff("TCPFlags", f.TCPFlags, TCPFIN|TCPRST|TCPPSH|TCPACK)
			},
		},
		{
			name: "world source with an external address and names",
			line: hubbleLine(`"verdict":"FORWARDED","IP":{"source":"203.0.113.10","destination":"10.244.1.23"},"l4":{"TCP":{"source_port":443,"destination_port":38822}},` +
				`"source":{"identity":2,"labels":["reserved:world"]},"destination":{"namespace":"shop","pod_name":"frontend-1"},"source_names":["api.example.com","api-eu.example.com"],"traffic_direction":"INGRESS"`),
			check: func(f *Flow) string {
				if f.Src.Reserved != "world" || f.Src.Labels != nil || f.Src.Namespace != "" ||
					!reflect.DeepEqual(f.Src.Names, []string{"api.example.com", "api-eu.example.com"}) || f.Src.IP != netip.MustParseAddr("203.0.113.10") {
					return fmt.Sprintf("src %+v", f.Src)
				}
				return ""
			},
		},
		{
			name: "IPv6 pods and the dual-stack world identity",
			line: hubbleLine(`"IP":{"source":"fd00:10:244:1::17","destination":"2001:db8:4006:812::200e","ipVersion":"IPv6"},"l4":{"TCP":{"source_port":52200,"destination_port":443}},` +
				`"destination":{"identity":10,"labels":["reserved:world-ipv6"]},"destination_names":["cdn.example.net"]`),
			check: func(f *Flow) string {
				if f.Src.IP != netip.MustParseAddr("fd00:10:244:1::17") || f.Dst.IP != netip.MustParseAddr("2001:db8:4006:812::200e") ||
					f.Dst.Reserved != "world" || !reflect.DeepEqual(f.Dst.Names, []string{"cdn.example.net"}) {
					return fmt.Sprintf("src %v dst %+v", f.Src.IP, f.Dst)
				}
				return ""
			},
		},
		{
			name: "IPv4-mapped IPv6 addresses become IPv4",
			line: hubbleLine(`"IP":{"source":"::ffff:10.244.1.23","destination":"::FFFF:10.244.2.41"},` + tcp8080),
			check: func(f *Flow) string {
				if f.Src.IP != netip.MustParseAddr("10.244.1.23") || f.Dst.IP != netip.MustParseAddr("10.244.2.41") {
					return fmt.Sprintf("src %v dst %v", f.Src.IP, f.Dst.IP)
				}
				return ""
			},
		},
		{
			name: "host and kube-apiserver: host wins; labels without source or value",
			line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":{"identity":1,"labels":["reserved:host","reserved:kube-apiserver"]},` +
				`"destination":{"namespace":"shop","labels":["k8s:app=cart","cidr:10.0.0.0/8","container:io.docker=x","k8s:canary","plain=yes","unspec:team=a"]}`),
			check: func(f *Flow) string {
				if f.Src.Reserved != "host" || !reflect.DeepEqual(f.Dst.Labels, []string{"app=cart", "canary=", "plain=yes", "team=a"}) || f.Dst.Reserved != "" {
					return fmt.Sprintf("src reserved %q dst labels %q reserved %q", f.Src.Reserved, f.Dst.Labels, f.Dst.Reserved)
				}
				return ""
			},
		},
		{
			name: "reserved identity number when labels are masked out",
			line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":{"identity":6},"destination":{"identity":31245,"namespace":"shop"}`),
			check: func(f *Flow) string {
				if f.Src.Reserved != "remote-node" || f.Dst.Reserved != "" {
					return fmt.Sprintf("src %q dst %q", f.Src.Reserved, f.Dst.Reserved)
				}
				return ""
			},
		},
		{
			name: "escaped strings",
			line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":{"namespace":"sh\u006fp","pod_name":"web\"1\\2","labels":["k8s:app=caf\u00e9"]},"node_name":"n\/1"`),
			check: func(f *Flow) string {
				if f.Src.Namespace != "shop" || f.Src.Pod != `web"1\2` || f.Src.Labels[0] != "app=café" || f.Observer != "n/1" {
					return fmt.Sprintf("%+v observer %q", f.Src, f.Observer)
				}
				return ""
			},
		},
		{
			name: "UDP and SCTP",
			line: hubbleLine(ipv4Pair + `,"l4":{"UDP":{"source_port":51913,"destination_port":53}}`),
			check: func(f *Flow) string {
				if f.Protocol != ProtocolUDP || f.SrcPort != 51913 || f.DstPort != 53 || f.TCPFlags != 0 {
					return fmt.Sprintf("%v %d %d %b", f.Protocol, f.SrcPort, f.DstPort, f.TCPFlags)
				}
				return ""
			},
		},
		{
			name:  "SCTP",
			line:  hubbleLine(ipv4Pair + `,"l4":{"SCTP":{"source_port":2905,"destination_port":2905}}`),
			check: func(f *Flow) string { return diff("Protocol", f.Protocol, ProtocolSCTP) },
		},
		{
			name:  "ports as protojson strings",
			line:  hubbleLine(ipv4Pair + `,"l4":{"TCP":{"source_port":"43512","destination_port":"8080"}}`),
			check: func(f *Flow) string { return diff("DstPort", f.DstPort, uint16(8080)) },
		},
		{
			name: "unknown members of every shape are skipped",
			line: `{"flow":{"future":{"a":[1,2.5e-3,{"b":null}],"c":true},` + ipv4Pair + `,"uuid":"x","extensions":{"@type":"type.googleapis.com/x","v":[[],{}]},` + tcp8080 +
				`,"interface":{"index":12,"name":"lxc1"},"trace_context":{"parent":{"trace_id":"abc"}},"socket_cookie":"20518","l7":null},"future_top":[false],"node_name":"n1","time":"2026-11-26T10:00:01Z"}`,
			check: func(f *Flow) string { return diff("Observer", f.Observer, "n1") },
		},
		{
			name: "flow time wins over the envelope's, flow node_name over the envelope's",
			line: `{"flow":{"time":"2026-11-26T10:00:00.5+01:00","node_name":"cluster/node-a",` + ipv4Pair + `,` + tcp8080 + `},"node_name":"cluster/node-b","time":"2026-11-26T10:00:09Z"}`,
			check: func(f *Flow) string {
				if !f.Time.Equal(at("2026-11-26T09:00:00.5Z")) || f.Observer != "cluster/node-a" {
					return fmt.Sprintf("time %v observer %q", f.Time, f.Observer)
				}
				return ""
			},
		},
		{
			name:  "envelope time when the flow has none",
			line:  hubbleLine(ipv4Pair + `,` + tcp8080),
			check: func(f *Flow) string { return diff("Time", f.Time, at("2026-11-26T10:00:01Z")) },
		},
		{
			name: "no time at all",
			line: `{"flow":{` + ipv4Pair + `,` + tcp8080 + `}}`,
			is:   ErrMissingTime,
		},
		{
			name:  "no time, default given",
			line:  `{"flow":{` + ipv4Pair + `,` + tcp8080 + `}}`,
			opts:  func(o *DecoderOptions) { o.DefaultTime = at("2026-01-02T03:04:05Z") },
			check: func(f *Flow) string { return diff("Time", f.Time, at("2026-01-02T03:04:05Z")) },
		},
		{
			name: "labels and names are bounded",
			line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":{"namespace":"x","labels":[` + repeatJSON(`"k8s:l%d=v"`, 100) + `]},"destination_names":[` + repeatJSON(`"n%d.example.com"`, 50) + `]`),
			check: func(f *Flow) string {
				if len(f.Src.Labels) != MaxLabels || len(f.Dst.Names) != MaxNames || f.Src.Labels[0] != "l0=v" {
					return fmt.Sprintf("%d labels, %d names", len(f.Src.Labels), len(f.Dst.Names))
				}
				return ""
			},
		},

		// Records to skip.
		{name: "ICMPv4", line: hubbleLine(ipv4Pair + `,"l4":{"ICMPv4":{"type":8}}`), is: ignore(IgnoreICMP)},
		{name: "ICMPv6 router solicitation (Cilium docs sample)", line: `{"flow":{"time":"2023-08-21T12:12:13.517394084Z","verdict":"DROPPED","IP":{"source":"fe80::64d8:8aff:fe72:fc14","destination":"ff02::2","ipVersion":"IPv6"},"l4":{"ICMPv6":{"type":133}},"source":{},"destination":{},"node_name":"kind-kind/kind-worker","drop_reason_desc":"INVALID_SOURCE_IP"},"node_name":"kind-kind/kind-worker","time":"2023-08-21T12:12:13.517394084Z"}`, is: ignore(IgnoreICMP)},
		{name: "L7 DNS record", line: hubbleLine(ipv4Pair + `,"l4":{"UDP":{"source_port":51913,"destination_port":53}},"Type":"L7","l7":{"type":"REQUEST","dns":{"query":"api.example.com.","qtypes":["A"]}}`), is: ignore(IgnoreL7)},
		{name: "L7 record without l4", line: hubbleLine(ipv4Pair + `,"Type":"L7","l7":{"type":"RESPONSE","http":{"code":200}}`), is: ignore(IgnoreL7)},
		{name: "L7 by type number", line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"Type":2`), is: ignore(IgnoreL7)},
		{name: "socket trace", line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"Type":"SOCK","sock_xlate_point":"SOCK_XLATE_POINT_PRE_DIRECTION_FWD"`), is: ignore(IgnoreSock)},
		{name: "IP without a port protocol", line: hubbleLine(ipv4Pair + `,"l4":{}`), is: ignore(IgnoreNoL4)},
		{name: "IP without l4", line: hubbleLine(ipv4Pair), is: ignore(IgnoreNoL4)},
		{name: "lost events", line: `{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1024","cpu":{}},"node_name":"n1","time":"2026-11-26T10:00:08Z"}`, is: ignore(IgnoreLostEvents)},
		{name: "lost events camelCase", line: `{"lostEvents":{"source":"PERF_EVENT_RING_BUFFER","numEventsLost":"3"}}`, is: ignore(IgnoreLostEvents)},
		{name: "node status", line: `{"node_status":{"state_change":"NODE_CONNECTED","node_names":["a","b"]},"time":"2026-11-26T10:00:00Z"}`, is: ignore(IgnoreNodeStatus)},
		{name: "agent event", line: `{"agent_event":{"type":"POLICY_UPDATED"},"node_name":"n1"}`, is: ignore(IgnoreAgentEvent)},
		{name: "debug event", line: `{"debug_event":{"type":"DBG_CT_LOOKUP4"},"node_name":"n1"}`, is: ignore(IgnoreDebugEvent)},
		{name: "envelope around a payload this version does not know", line: `{"future_event":{"x":1},"node_name":"n1","time":"2026-11-26T10:00:00Z"}`, is: ignore(IgnoreUnknownEvent)},
		{name: "flow null", line: `{"flow":null,"node_name":"n1"}`, is: ignore(IgnoreUnknownEvent)},

		// Bad lines.
		{name: "not JSON", line: `Nov 26 10:00:00.104 frontend -> cart FORWARDED`, is: ErrSyntax},
		{name: "truncated", line: hubbleSYN[:len(hubbleSYN)/2], is: ErrSyntax},
		{name: "trailing garbage", line: hubbleSYN + `x`, is: ErrSyntax},
		{name: "two values", line: hubbleSYN + ` {}`, is: ErrSyntax},
		{name: "raw control character in a string", line: strings.Replace(hubbleSYN, "shop", "sh\x01p", 1), is: ErrSyntax},
		{name: "bad escape", line: strings.Replace(hubbleSYN, "shop", `sh\qp`, 1), is: ErrSyntax},
		{name: "single quotes", line: `{'flow':{}}`, is: ErrSyntax},
		{name: "trailing comma", line: `{"flow":{"IP":{"source":"10.0.0.1",}}}`, is: ErrSyntax},
		{name: "leading zero number", line: hubbleLine(ipv4Pair + `,"l4":{"TCP":{"destination_port":080}}`), is: ErrSyntax},
		{name: "empty line", line: ``, is: ErrSyntax},
		{name: "array", line: `[` + hubbleSYN + `]`, err: "must be a JSON object"},
		{name: "empty object", line: `{}`, err: `no "flow" member`},
		{name: "no IP section", line: hubbleLine(tcp8080), err: "flow.IP: missing"},
		{name: "no destination address", line: hubbleLine(`"IP":{"source":"10.0.0.1"},` + tcp8080), err: "flow.IP.destination: missing"},
		{name: "bad address", line: hubbleLine(`"IP":{"source":"10.244.1.256","destination":"10.0.0.1"},` + tcp8080), err: `flow.IP.source: "10.244.1.256" is not an IP address`},
		{name: "address with leading zero", line: hubbleLine(`"IP":{"source":"10.244.01.2","destination":"10.0.0.1"},` + tcp8080), err: "not an IP address"},
		{name: "port out of range", line: hubbleLine(ipv4Pair + `,"l4":{"UDP":{"source_port":51913,"destination_port":70000}}`), err: "flow.l4.UDP.destination_port: 70000 is out of range"},
		{name: "negative port", line: hubbleLine(ipv4Pair + `,"l4":{"TCP":{"source_port":-1,"destination_port":80}}`), err: "flow.l4.TCP.source_port"},
		{name: "fractional port", line: hubbleLine(ipv4Pair + `,"l4":{"TCP":{"destination_port":80.5}}`), err: "not a non-negative integer"},
		{name: "destination port 0", line: hubbleLine(ipv4Pair + `,"l4":{"TCP":{"source_port":43512}}`), err: "destination_port: missing or 0"},
		{name: "bad time", line: hubbleLine(`"time":"yesterday",` + ipv4Pair + `,` + tcp8080), err: `flow.time: "yesterday" is not an RFC 3339 time`},
		{name: "flow of the wrong type", line: `{"flow":"FORWARDED","node_name":"n1"}`, err: "flow: expected an object, found a string"},
		{name: "labels of the wrong type", line: hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":{"labels":"k8s:app=x"}`), err: "flow.source.labels: expected an array"},
		{name: "native line in hubble mode", line: `{"time":"2026-11-26T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","port":8080,"protocol":"TCP"}`, err: "native record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := DecoderOptions{Format: FormatHubble}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			d, err := NewDecoder(opts)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second decode takes the cached paths.
			for pass := 0; pass < 2; pass++ {
				var f Flow
				err := d.Decode([]byte(tc.line), &f)
				switch {
				case tc.is != nil:
					if !errors.Is(err, tc.is) {
						t.Fatalf("pass %d: err = %v, want %v", pass, err, tc.is)
					}
					if errors.Is(tc.is, ErrIgnored) && err != tc.is {
						t.Fatalf("pass %d: ignored for %v, want %v", pass, err, tc.is)
					}
				case tc.err != "":
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("pass %d: err = %v, want one containing %q", pass, err, tc.err)
					}
					if errors.Is(err, ErrIgnored) {
						t.Fatalf("pass %d: a bad line must not be ignored: %v", pass, err)
					}
				default:
					if err != nil {
						t.Fatalf("pass %d: %v", pass, err)
					}
					if tc.want != nil && !reflect.DeepEqual(f, *tc.want) {
						t.Fatalf("pass %d:\ngot  %+v\nwant %+v", pass, f, *tc.want)
					}
					if tc.check != nil {
						if msg := tc.check(&f); msg != "" {
							t.Fatalf("pass %d: %s", pass, msg)
						}
					}
					checkFlowInvariants(t, &f)
				}
			}
		})
	}
}

func diff[T comparable](name string, got, want T) string {
	if got != want {
		return fmt.Sprintf("%s = %v, want %v", name, got, want)
	}
	return ""
}

func repeatJSON(format string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(parts, ",")
}

// checkFlowInvariants holds for every decoded flow, whatever its input.
func checkFlowInvariants(t testing.TB, f *Flow) {
	t.Helper()
	for _, p := range []*Peer{&f.Src, &f.Dst} {
		if !p.IP.IsValid() || p.IP.Is4In6() || p.IP.Zone() != "" {
			t.Fatalf("bad address %v", p.IP)
		}
		if len(p.Labels) > MaxLabels || len(p.Names) > MaxNames {
			t.Fatalf("unbounded lists: %d labels, %d names", len(p.Labels), len(p.Names))
		}
		for _, l := range p.Labels {
			if !strings.Contains(l, "=") {
				t.Fatalf("label %q is not key=value", l)
			}
		}
	}
	switch f.Protocol {
	case ProtocolTCP, ProtocolUDP, ProtocolSCTP:
	default:
		t.Fatalf("protocol %v", f.Protocol)
	}
	if f.DstPort == 0 {
		t.Fatal("destination port 0")
	}
	if f.Protocol != ProtocolTCP && f.TCPFlags != 0 {
		t.Fatalf("%v record with TCP flags", f.Protocol)
	}
	if f.Time.IsZero() {
		t.Fatal("zero time")
	}
	if int(f.Verdict) >= NumVerdicts {
		t.Fatalf("verdict %d", f.Verdict)
	}
	if len(f.AllowedBy) > MaxPolicies || len(f.DeniedBy) > MaxPolicies {
		t.Fatal("unbounded policy lists")
	}
	if f.Source != SourceHubble && f.Source != SourceNative {
		t.Fatalf("source %q", f.Source)
	}
	if f.Service != nil && f.Service.Name == "" {
		t.Fatal("service without a name")
	}
	strs := []string{f.Observer, f.DropReason, f.Src.Namespace, f.Src.Pod, f.Src.WorkloadKind, f.Src.WorkloadName, f.Src.Reserved,
		f.Dst.Namespace, f.Dst.Pod, f.Dst.WorkloadKind, f.Dst.WorkloadName, f.Dst.Reserved}
	strs = append(append(append(append(append(append(strs, f.Src.Labels...), f.Dst.Labels...), f.Src.Names...), f.Dst.Names...), f.AllowedBy...), f.DeniedBy...)
	if f.Service != nil {
		strs = append(strs, f.Service.Namespace, f.Service.Name)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			t.Fatalf("%q is not UTF-8", s)
		}
	}
}

func TestDecodeHubbleFunctions(t *testing.T) {
	var f Flow
	if err := DecodeHubble([]byte(hubbleSYN), &f); err != nil || !reflect.DeepEqual(f, wantSYN) {
		t.Fatalf("DecodeHubble: %v\n%+v", err, f)
	}
	if err := DecodeLine(FormatAuto, []byte(hubbleSYNCamel), &f); err != nil || !reflect.DeepEqual(f, wantSYN) {
		t.Fatalf("DecodeLine auto: %v\n%+v", err, f)
	}
	if err := DecodeLine("yaml", []byte(hubbleSYN), &f); err == nil || !strings.Contains(err.Error(), "unknown flow format") {
		t.Fatalf("bad format: %v", err)
	}
	if r, ok := IgnoredReason(DecodeHubble([]byte(`{"lost_events":{}}`), &f)); !ok || r != IgnoreLostEvents {
		t.Fatalf("IgnoredReason = %q, %v", r, ok)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatAuto, "auto": FormatAuto, "Hubble": FormatHubble, " native ": FormatNative} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("ParseFormat(json) should fail")
	}
	if _, err := NewDecoder(DecoderOptions{Format: "csv"}); err == nil {
		t.Error("NewDecoder(csv) should fail")
	}
}

func TestParseTime(t *testing.T) {
	var c timeCache
	for _, s := range []string{
		"2026-11-26T10:00:00Z", "2026-11-26T10:00:00.1Z", "2026-11-26T10:00:00.123456789Z",
		"2024-02-29T23:59:59.999999999Z", "2026-11-26T10:00:00-07:30", "2026-11-26T10:00:00.5+14:00",
		"1970-01-01T00:00:00Z", "0001-01-01T00:00:01Z", "9999-12-31T23:59:59Z", "1600-03-01T00:00:00Z",
		"2026-11-26T10:00:00.1234567891Z", // ten digits: time.Parse's call
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		got, ok := c.parseTime([]byte(s))
		if err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; time.Parse: %v, %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "2026-11-26", "2026-02-30T10:00:00Z", "2023-02-29T10:00:00Z", "2026-11-26T24:00:00Z",
		"2026-11-26T10:00:00", "2026-11-26T10:00:00.Z", "2026-11-26 10:00:00Z", "2026-13-01T00:00:00Z", "2026-11-26T10:00:00+2400"} {
		if got, ok := c.parseTime([]byte(s)); ok {
			t.Errorf("parseTime(%q) = %v, want an error", s, got)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1": "10.0.0.1", "0.0.0.0": "0.0.0.0", "255.255.255.255": "255.255.255.255",
		"::ffff:10.0.0.1": "10.0.0.1", "fe80::1%eth0": "fe80::1", "2001:DB8::1": "2001:db8::1", "::": "::",
	} {
		got, ok := parseAddr([]byte(in))
		if !ok || got.String() != want {
			t.Errorf("parseAddr(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "10.0.0", "10.0.0.1.2", "10.0.0.256", "010.0.0.1", "10..0.1", "1.2.3.4 ", "x", "10.0.0.1/32", ":::"} {
		if got, ok := parseAddr([]byte(in)); ok {
			t.Errorf("parseAddr(%q) = %v, want failure", in, got)
		}
	}
}

// TestDecoderCaches checks that cached paths stay exact when peers share
// the first bytes the span cache keys on, and that caches stay bounded.
func TestDecoderCaches(t *testing.T) {
	d := newDecoder(DecoderOptions{Format: FormatHubble})
	// Same ID, identity, namespace and first labels: the span key (64
	// bytes) is the same, the objects are not.
	peer := func(i int) string {
		return fmt.Sprintf(`{"ID":1734,"identity":31245,"namespace":"shop","labels":["k8s:app=frontend","k8s:pod-template-hash=%d"],"pod_name":"frontend-%d"}`, i%7, i)
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 3*cacheEntries; i++ {
			line := hubbleLine(ipv4Pair + `,` + tcp8080 + `,"source":` + peer(i) + `,"destination":` + peer(i+1) + `,"destination_names":["n` + fmt.Sprint(i) + `.example.com"]`)
			var f Flow
			if err := d.Decode([]byte(line), &f); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("frontend-%d", i); f.Src.Pod != want || f.Dst.Pod != fmt.Sprintf("frontend-%d", i+1) ||
				f.Src.Labels[1] != fmt.Sprintf("pod-template-hash=%d", i%7) || f.Dst.Names[0] != fmt.Sprintf("n%d.example.com", i) {
				t.Fatalf("round %d line %d: %+v %+v", round, i, f.Src, f.Dst)
			}
		}
	}
	if n := len(d.peers.cur) + len(d.peers.old); n > 2*cacheEntries || d.peers.bytes > peerBytes+cacheMaxBytes {
		t.Fatalf("peer cache: %d keys, %d bytes", n, d.peers.bytes)
	}
	if n := len(d.names.cur) + len(d.names.old); n > 2*cacheEntries {
		t.Fatalf("names cache: %d", n)
	}
	// A small cache rotates and still answers right.
	var c cache[int]
	c.init(4, 1<<20)
	for i := 0; i < 100; i++ {
		c.put([]byte(fmt.Sprint(i)), i)
		if v, ok := c.get([]byte(fmt.Sprint(i))); !ok || v != i {
			t.Fatalf("get(%d) = %d, %v", i, v, ok)
		}
		if len(c.cur)+len(c.old) > 8 {
			t.Fatalf("%d entries", len(c.cur)+len(c.old))
		}
	}
	if _, ok := c.get([]byte("0")); ok {
		t.Fatal("an old entry survived")
	}
}
