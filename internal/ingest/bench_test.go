package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
)

// benchCluster is a generated cluster: namespaces of Deployments, each
// with a few pods and a Service, plus cluster DNS, and the Hubble
// identities of the pods.
type benchCluster struct {
	inv       *inventory.Inventory
	pods      []*hubblePeer
	podsOf    [][]*hubblePeer // by workload
	ports     []uint16        // by workload
	services  []string        // by workload
	dns       []*hubblePeer
	externals []*hubblePeer
}

func newBenchCluster(r *rand.Rand, namespaces, workloads, pods, externals int) *benchCluster {
	c := &benchCluster{inv: &inventory.Inventory{}, podsOf: make([][]*hubblePeer, workloads)}
	for i := range namespaces {
		ns := fmt.Sprintf("team-%02d", i)
		c.inv.Namespaces = append(c.inv.Namespaces, netpol.Namespace{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}})
	}
	c.inv.Namespaces = append(c.inv.Namespaces, netpol.Namespace{Name: "kube-system", Labels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}})
	servicePorts := []uint16{8080, 8443, 9090, 5432, 6379, 3000, 50051}
	addWorkload := func(ns, name string, port uint16, proto corev1.Protocol) {
		c.inv.Workloads = append(c.inv.Workloads, &netpol.Workload{
			Namespace: ns, Kind: "Deployment", Name: name,
			Labels: map[string]string{"app": name},
			Ports:  []netpol.ContainerPort{{Name: "serve", Port: int32(port), Protocol: proto}},
		})
		n := len(c.inv.Services)
		c.inv.Services = append(c.inv.Services, inventory.Service{
			Namespace: ns, Name: name, Type: corev1.ServiceTypeClusterIP,
			Selector:   map[string]string{"app": name},
			ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(n >> 8), byte(n)})},
			Ports:      []inventory.ServicePort{{Name: "serve", Protocol: proto, Port: 80, TargetPort: intstr.FromString("serve")}},
		})
	}
	for i := range workloads {
		port := servicePorts[r.IntN(len(servicePorts))]
		addWorkload(fmt.Sprintf("team-%02d", i%namespaces), fmt.Sprintf("app-%04d", i), port, corev1.ProtocolTCP)
		c.ports = append(c.ports, port)
		c.services = append(c.services, c.inv.Services[i].Namespace+"/"+c.inv.Services[i].Name)
	}
	addWorkload("kube-system", "coredns", 53, corev1.ProtocolUDP)

	newPod := func(w int, j int) *hubblePeer {
		wl := c.inv.Workloads[w]
		n := len(c.inv.Pods)
		ip := netip.AddrFrom4([4]byte{10, 244, byte(n >> 8), byte(n)})
		name := fmt.Sprintf("%s-%08x-%05d", wl.Name, r.Uint32(), j)
		c.inv.Pods = append(c.inv.Pods, inventory.Pod{Namespace: wl.Namespace, Name: name, WorkloadKind: wl.Kind, WorkloadName: wl.Name,
			IPs: []netip.Addr{ip}, Node: fmt.Sprintf("node-%02d", n%40)})
		return &hubblePeer{IP: ip.String(), ID: 100 + n, Identity: 10000 + w, Namespace: wl.Namespace, Pod: name, Kind: wl.Kind, Name: wl.Name,
			Labels: []string{"app=" + wl.Name, "team=" + wl.Namespace}}
	}
	for j := range pods {
		w := j % workloads
		p := newPod(w, j)
		c.pods = append(c.pods, p)
		c.podsOf[w] = append(c.podsOf[w], p)
	}
	c.dns = []*hubblePeer{newPod(workloads, 0), newPod(workloads, 1)}
	for i := range externals {
		c.externals = append(c.externals, &hubblePeer{IP: fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250), Identity: 2, Labels: []string{"reserved:world"}})
	}
	return c
}

// hubbleStream generates about n Hubble records as a cluster's nodes
// report them, over the ten minutes before end. Each pod talks with a few
// dependencies (other workloads' pods, through their Service), looks up
// names at cluster DNS, and calls a few external addresses; a few
// connections are dropped by policy; some connections started before the
// stream (records without SYN). Every connection is reported packet by
// packet, by both nodes when both ends are pods.
func (c *benchCluster) hubbleStream(r *rand.Rand, n int, end time.Time) (stream []byte, lines int) {
	deps := make([][]int, len(c.podsOf))
	for w := range deps {
		for range 4 {
			deps[w] = append(deps[w], r.IntN(len(c.podsOf)))
		}
	}
	start := end.Add(-10 * time.Minute)
	step := 10 * time.Minute / time.Duration(n/7+1)
	at := start
	var recs []hubbleRecord
	var buf []byte
	emit := func() {
		for i := range recs {
			buf = appendHubble(buf, &recs[i])
			buf = append(buf, '\n')
		}
		lines += len(recs)
		recs = recs[:0]
	}
	for lines < n {
		at = at.Add(step)
		src := c.pods[r.IntN(len(c.pods))]
		sw := (src.ID - 100) % len(c.podsOf)
		sport := uint16(32768 + r.IntN(28000))
		switch k := r.IntN(100); {
		case k < 55: // a TCP connection to a dependency, both ends reporting
			w := deps[sw][r.IntN(len(deps[sw]))]
			dst := c.podsOf[w][r.IntN(len(c.podsOf[w]))]
			recs = append(recs, tcpConnection(src, dst, sport, c.ports[w], at, c.services[w])...)
		case k < 80: // a DNS lookup: query and answer, at both ends
			dns := c.dns[r.IntN(len(c.dns))]
			q := hubbleRecord{Time: at, Verdict: "FORWARDED", Src: src, Dst: dns, Proto: "UDP", SPort: sport, DPort: 53,
				Node: "node-a", Direction: "EGRESS", Reply: "false", Service: "kube-system/coredns"}
			a := hubbleRecord{Time: at.Add(300 * time.Microsecond), Verdict: "FORWARDED", Src: dns, Dst: src, Proto: "UDP", SPort: 53, DPort: sport,
				Node: "node-b", Direction: "EGRESS", Reply: "true"}
			q2, a2 := q, a
			q2.Node, q2.Direction, q2.Time = "node-b", "INGRESS", q.Time.Add(80*time.Microsecond)
			a2.Node, a2.Direction, a2.Time = "node-a", "INGRESS", a.Time.Add(80*time.Microsecond)
			recs = append(recs, q, q2, a, a2)
		case k < 92: // an external call: only the source node sees it
			ext := c.externals[r.IntN(len(c.externals))]
			for i, f := range []string{"SYN", "SYN,ACK", "ACK", "ACK,FIN", "ACK,FIN"} {
				rec := hubbleRecord{Time: at.Add(time.Duration(i) * 2 * time.Millisecond), Verdict: "FORWARDED", Src: src, Dst: ext, Proto: "TCP",
					SPort: sport, DPort: 443, Flags: f, Node: "node-a", Direction: "EGRESS", Reply: "false", DstNames: []string{"api.example.com"}}
				if i == 1 || i == 4 {
					rec.Src, rec.Dst, rec.SPort, rec.DPort, rec.Direction, rec.Reply, rec.DstNames = ext, src, 443, sport, "INGRESS", "true", nil
				}
				recs = append(recs, rec)
			}
		case k < 95: // dropped by policy, retransmitted
			w := r.IntN(len(c.podsOf))
			dst := c.podsOf[w][0]
			for i := range 2 {
				recs = append(recs, hubbleRecord{Time: at.Add(time.Duration(i) * time.Second), Verdict: "DROPPED", DropReason: "POLICY_DENIED",
					Src: src, Dst: dst, Proto: "TCP", SPort: sport, DPort: c.ports[w], Flags: "SYN", Node: "node-a", Direction: "EGRESS"})
			}
		default: // a connection older than the stream: data packets only
			w := deps[sw][0]
			dst := c.podsOf[w][0]
			for i := range 2 {
				rec := hubbleRecord{Time: at.Add(time.Duration(i) * time.Millisecond), Verdict: "FORWARDED", Src: src, Dst: dst, Proto: "TCP",
					SPort: sport, DPort: c.ports[w], Flags: "ACK,PSH", Node: "node-a", Direction: "EGRESS", Reply: "false", Service: c.services[w]}
				if i == 1 {
					rec.Node, rec.Direction = "node-b", "INGRESS"
				}
				recs = append(recs, rec)
			}
		}
		emit()
	}
	return buf, lines
}

// BenchmarkIngestHubble is the target: decode + dedupe + resolve +
// aggregate Hubble JSON, at least 300,000 flows/s on one core (run with
// -cpu 1). The stream is 200,000 generated records of a cluster of 300
// Deployments with 1,000 pods in 20 namespaces (FromInventory), into a
// real store; each iteration ingests the whole stream through a new
// Pipeline (fresh dedupe memory) and flushes the store.
func BenchmarkIngestHubble(b *testing.B) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	c := newBenchCluster(r, 20, 300, 1000, 200)
	cluster := inventory.FromInventory(c.inv, inventory.Options{})
	stream, lines := c.hubbleStream(r, 200_000, time.Now().Add(-time.Minute))
	st := openStore(b)

	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := cpuTime()
	var res ingest.Result
	for b.Loop() {
		pipe := ingest.New(ingest.Options{Resolver: cluster, Recorder: st})
		var err error
		res, err = pipe.Ingest(ctx, bytes.NewReader(stream), ingest.StreamOptions{Format: flow.FormatHubble})
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 || res.Lines != lines {
			b.Fatalf("result = %+v, want %d good lines", res, lines)
		}
		if err := st.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpuStart
	flows := float64(lines) * float64(b.N)
	b.ReportMetric(flows/b.Elapsed().Seconds(), "flows/s")
	if cpu > 0 {
		b.ReportMetric(flows/cpu.Seconds(), "flows/cpu-s")
	}
	b.ReportMetric(float64(len(stream))/float64(lines), "B/flow")
	b.ReportMetric(float64(res.Recorded), "conns/op")
}

// cpuTime is the process's user+system CPU time: on a shared machine, wall
// time also counts the time other processes hold the core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
