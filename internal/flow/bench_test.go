package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// benchLines returns the committed Hubble corpus lines (realistic
// `hubble observe -o json` records, about 1.3 KB each, with the usual mix
// of TCP/UDP flows, replies, drops, and a few records that are ignored).
func benchLines(b *testing.B, name string) [][]byte {
	b.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if l = bytes.TrimSuffix(l, []byte("\r")); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// manyPods rewrites the corpus so that every line has peers never seen
// before (new endpoint IDs and pod names, as in a cluster with tens of
// thousands of pods): the decoder's caches miss.
func manyPods(b *testing.B, n int) [][]byte {
	base := benchLines(b, "testdata/hubble/observe.jsonl")
	out := make([][]byte, n)
	for i := range out {
		l := base[i%len(base)]
		for _, id := range []string{"1734", "2291", "401", "3120", "977", "2750"} {
			l = bytes.ReplaceAll(l, []byte(`"ID":`+id+`,`), []byte(fmt.Sprintf(`"ID":%d%s,`, i, id)))
		}
		out[i] = bytes.ReplaceAll(l, []byte(`","workloads"`), []byte(fmt.Sprintf(`-%d","workloads"`, i)))
	}
	return out
}

// BenchmarkDecodeHubble decodes the corpus lines round-robin with one
// Decoder (its caches warm, as in a long stream: the same pods talk again
// and again); "cold" gives every line peers never seen before.
func BenchmarkDecodeHubble(b *testing.B) {
	for _, c := range []struct {
		name, file string
		format     Format
	}{
		{"snake", "testdata/hubble/observe.jsonl", FormatHubble},
		{"camel", "testdata/hubble/exporter-camelcase.jsonl", FormatHubble},
		{"auto", "testdata/hubble/observe.jsonl", FormatAuto},
		{"cold", "", FormatHubble},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lines [][]byte
			if c.file == "" {
				lines = manyPods(b, 1<<15)
			} else {
				lines = benchLines(b, c.file)
			}
			d := newDecoder(DecoderOptions{Format: c.format})
			var total int64
			for _, l := range lines {
				total += int64(len(l))
			}
			b.SetBytes(total / int64(len(lines)))
			b.ReportAllocs()
			var f Flow
			b.ResetTimer()
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				_ = d.Decode(lines[i%len(lines)], &f)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			cpu.report(b, b.N)
		})
	}
}

// cpuTime is the process's user+system CPU time. The benchmarks report
// cpu-ns/op beside ns/op: on a shared machine wall time also counts the
// time other processes hold the core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{start: cpuTime()} }

// report adds cpu-ns/op and flows/cpu-s (records per CPU second).
func (m cpuMeter) report(b *testing.B, records int) {
	used := cpuTime() - m.start
	if used <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(records)/used.Seconds(), "flows/cpu-s")
}

// BenchmarkDecodeHubbleStdlib is the baseline the hand-written decoder is
// measured against: encoding/json into structs holding only the members
// Redline reads (no validation, no conversion to Flow).
func BenchmarkDecodeHubbleStdlib(b *testing.B) {
	type endpoint struct {
		Identity  uint32   `json:"identity"`
		Namespace string   `json:"namespace"`
		Labels    []string `json:"labels"`
		PodName   string   `json:"pod_name"`
		Workloads []struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"workloads"`
	}
	type ports struct {
		SourcePort      uint32          `json:"source_port"`
		DestinationPort uint32          `json:"destination_port"`
		Flags           map[string]bool `json:"flags"`
	}
	type policy struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	type hubbleFlow struct {
		Time    string `json:"time"`
		Verdict string `json:"verdict"`
		IP      struct {
			Source      string `json:"source"`
			Destination string `json:"destination"`
		} `json:"IP"`
		L4 struct {
			TCP, UDP, SCTP *ports
			ICMPv4, ICMPv6 json.RawMessage
		} `json:"l4"`
		Source             endpoint        `json:"source"`
		Destination        endpoint        `json:"destination"`
		Type               string          `json:"Type"`
		NodeName           string          `json:"node_name"`
		SourceNames        []string        `json:"source_names"`
		DestinationNames   []string        `json:"destination_names"`
		L7                 json.RawMessage `json:"l7"`
		IsReply            *bool           `json:"is_reply"`
		DestinationService *policy         `json:"destination_service"`
		TrafficDirection   string          `json:"traffic_direction"`
		DropReasonDesc     string          `json:"drop_reason_desc"`
		EgressAllowedBy    []policy        `json:"egress_allowed_by"`
		IngressAllowedBy   []policy        `json:"ingress_allowed_by"`
		EgressDeniedBy     []policy        `json:"egress_denied_by"`
		IngressDeniedBy    []policy        `json:"ingress_denied_by"`
	}
	type envelope struct {
		Flow     *hubbleFlow `json:"flow"`
		NodeName string      `json:"node_name"`
		Time     string      `json:"time"`
	}
	lines := benchLines(b, "testdata/hubble/observe.jsonl")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		var e envelope
		_ = json.Unmarshal(lines[i%len(lines)], &e)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	cpu.report(b, b.N)
}

func BenchmarkDecodeNative(b *testing.B) {
	lines := [][]byte{[]byte(nativeFull), []byte(nativeMin)}
	d := newDecoder(DecoderOptions{Format: FormatNative})
	var f Flow
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(lines[i&1], &f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	cpu.report(b, b.N)
}

// dedupeStream builds records of n connections as Hubble reports them:
// each connection's SYN at both ends, the SYN-ACK at both ends (replies),
// an ACK at both ends and a FIN each way: 8 records, 100µs apart, with a
// mix of pods, ports and protocols.
func dedupeStream(n int) []Flow {
	out := make([]Flow, 0, 8*n)
	at := t0
	for c := 0; c < n; c++ {
		src := netip.AddrFrom4([4]byte{10, 244, byte(c % 7), byte(c % 251)})
		dst := netip.AddrFrom4([4]byte{10, 244, byte(7 + c%5), byte(c % 13)})
		sport, dport := uint16(32768+c%28000), uint16([]int{80, 443, 5432, 8080, 53}[c%5])
		proto := ProtocolTCP
		fwd := func(flags TCPFlags, dir Direction) Flow {
			at = at.Add(100 * time.Microsecond)
			return Flow{Time: at, Protocol: proto, Verdict: VerdictForwarded, Src: Peer{IP: src}, Dst: Peer{IP: dst},
				SrcPort: sport, DstPort: dport, TCPFlags: flags, Reply: ReplyNo, Direction: dir}
		}
		rev := func(flags TCPFlags, dir Direction) Flow {
			f := fwd(flags, dir)
			f.Src, f.Dst, f.SrcPort, f.DstPort, f.Reply = f.Dst, f.Src, f.DstPort, f.SrcPort, ReplyYes
			return f
		}
		out = append(out, fwd(TCPSYN, DirectionEgress), fwd(TCPSYN, DirectionIngress),
			rev(TCPSYN|TCPACK, DirectionIngress), rev(TCPSYN|TCPACK, DirectionEgress),
			fwd(TCPACK, DirectionEgress), fwd(TCPACK, DirectionIngress),
			fwd(TCPFIN|TCPACK, DirectionEgress), rev(TCPFIN|TCPACK, DirectionIngress))
	}
	return out
}

// BenchmarkDedupe classifies a stream of 8 records per connection; each
// lap over the prepared records shifts time and source ports so that the
// connections are new again (the maps rotate as in a long stream).
func BenchmarkDedupe(b *testing.B) {
	stream := dedupeStream(1 << 13)
	span := stream[len(stream)-1].Time.Sub(stream[0].Time) + time.Millisecond
	d := NewDeduper(DedupeOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	news := 0
	for i := 0; i < b.N; i++ {
		lap := i / len(stream)
		f := stream[i%len(stream)]
		f.Time = f.Time.Add(time.Duration(lap) * span)
		f.SrcPort += uint16(lap * 7)
		if f.Reply == ReplyYes {
			f.SrcPort -= uint16(lap * 7)
			f.DstPort += uint16(lap * 7)
		}
		if d.Observe(&f) == SeenNew {
			news++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	cpu.report(b, b.N)
	if b.N >= len(stream) && news < b.N/8 {
		b.Fatalf("%d new of %d records", news, b.N)
	}
}

// BenchmarkDecodeDedupe is this package's share of ingest: decode the
// corpus lines and dedupe the flows.
func BenchmarkDecodeDedupe(b *testing.B) {
	lines := benchLines(b, "testdata/hubble/observe.jsonl")
	d := newDecoder(DecoderOptions{Format: FormatHubble})
	dd := NewDeduper(DedupeOptions{})
	var f Flow
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		if d.Decode(lines[i%len(lines)], &f) == nil {
			dd.Observe(&f)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	cpu.report(b, b.N)
}
