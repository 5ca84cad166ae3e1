package inventory

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/flow"
)

// The figures in the issue notes come from these benchmarks (`make bench`,
// -cpu 1): Resolve over a 10,000-pod live cluster.

// benchPods is the size of the benchmark cluster.
const benchPods = 10_000

// benchCluster is a live-state cluster of benchPods pods: 100 namespaces of
// 20 Deployments (ReplicaSet, 5 pods, a Service with an EndpointSlice),
// with a history of 2,000 pod addresses reused once, 50 nodes and an alias
// configuration; plus peers to resolve, in a shuffled order.
type benchSet struct {
	c                                     *Cluster
	byIP, byName, byClusterIP, unresolved []flow.Peer
	at                                    time.Time
}

// benchData is the shared benchmark cluster, built once.
var benchData = sync.OnceValue(newBenchSet)

func newBenchSet() *benchSet {
	r := rand.New(rand.NewPCG(1, 2))
	clock := &fakeClock{t: t0}
	cfg, warn := ParseConfig(map[string]string{
		ConfigKeyClusterCIDRs: "10.0.0.0/8",
		ConfigKeyAliases:      "partner: [203.0.113.0/24]\nvpn: [198.51.100.0/24, 198.51.100.7]\ndns: 8.8.8.8",
	})
	if len(warn) > 0 {
		panic(warn)
	}
	c := newCluster(Options{Now: clock.Now, Classifier: cfg})
	b := &benchSet{c: c, at: t0.Add(time.Hour)}
	podIP := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff) }
	for n := range 50 {
		c.apply(false, func(s *state, _ int64) {
			s.upsertNode(testNode(fmt.Sprintf("node-%d", n), fmt.Sprintf("172.20.0.%d", n+1)))
		})
	}
	pod := 0
	for ns := range 100 {
		namespace := fmt.Sprintf("team-%02d", ns)
		for d := range 20 {
			name := fmt.Sprintf("app-%02d", d)
			rs := name + "-5d8f7c9b4"
			labels := map[string]string{"app": name, "pod-template-hash": "5d8f7c9b4"}
			var pods = map[string]string{}
			c.apply(true, func(s *state, now int64) {
				s.upsertTemplate(kindReplicaSet, testReplicaSet(namespace, rs, "Deployment/"+name))
				for p := range benchPods / 2000 {
					podName := fmt.Sprintf("%s-%05d", rs, p)
					ip := podIP(pod)
					pod++
					s.upsertPod(testPod(namespace, podName, "ReplicaSet/"+rs, ip, t0, labels), now)
					pods[podName] = ip
					b.byIP = append(b.byIP, flow.Peer{IP: netip.MustParseAddr(ip)})
					b.byName = append(b.byName, flow.Peer{IP: netip.MustParseAddr(ip), Namespace: namespace, Pod: podName})
				}
				clusterIP := fmt.Sprintf("10.96.%d.%d", ns, d)
				s.upsertService(testService(namespace, name, clusterIP, map[string]string{"app": name}))
				s.upsertSlice(testSlice(namespace, name+"-x", name, pods))
				b.byClusterIP = append(b.byClusterIP, flow.Peer{IP: netip.MustParseAddr(clusterIP)})
			})
		}
	}
	// Reuse: 2,000 addresses change hands at t0+30m.
	clock.Set(t0.Add(30 * time.Minute))
	for i := range 2000 {
		old := b.byName[i]
		c.apply(true, func(s *state, now int64) {
			s.deletePod(testPod(old.Namespace, old.Pod, "", "", t0, nil), now)
			s.upsertPod(testPod(old.Namespace, old.Pod+"-new", "", podIP(i), t0.Add(30*time.Minute), nil), now)
		})
	}
	c.refreshServices()
	for i := range 1000 {
		b.unresolved = append(b.unresolved, flow.Peer{IP: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})},
			flow.Peer{IP: netip.AddrFrom4([4]byte{93, 184, byte(i >> 8), byte(i)})},
			flow.Peer{IP: netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)})})
	}
	for _, ps := range [][]flow.Peer{b.byIP, b.byName, b.byClusterIP, b.unresolved} {
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	}
	return b
}

func testNode(name, ip string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

func benchResolve(b *testing.B, peers func(*benchSet) []flow.Peer, want flow.EndpointKind) {
	set := benchData()
	ps := peers(set)
	if ep, _ := set.c.Resolve(ps[0], set.at); ep.Kind != want {
		b.Fatalf("%+v resolves to %s, want kind %d", ps[0], ep, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		set.c.Resolve(ps[i], set.at)
		if i++; i == len(ps) {
			i = 0
		}
	}
}

func BenchmarkResolveByIP(b *testing.B) {
	benchResolve(b, func(s *benchSet) []flow.Peer { return s.byIP }, flow.EndpointWorkload)
}

func BenchmarkResolveByPodName(b *testing.B) {
	benchResolve(b, func(s *benchSet) []flow.Peer { return s.byName }, flow.EndpointWorkload)
}

func BenchmarkResolveClusterIP(b *testing.B) {
	benchResolve(b, func(s *benchSet) []flow.Peer { return s.byClusterIP }, flow.EndpointWorkload)
}

func BenchmarkResolveUnresolved(b *testing.B) {
	benchResolve(b, func(s *benchSet) []flow.Peer { return s.unresolved }, flow.EndpointAddress)
}

// BenchmarkResolveByIPParallel shows the read lock under concurrent
// readers (run with -cpu 1,4,8).
func BenchmarkResolveByIPParallel(b *testing.B) {
	set := benchData()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(set.byIP))
		for pb.Next() {
			set.c.Resolve(set.byIP[i], set.at)
			if i++; i == len(set.byIP) {
				i = 0
			}
		}
	})
}

// BenchmarkResolveByIPWithChurn resolves while pods change (a pod update
// every 100 resolutions), the write lock contending with the reader.
func BenchmarkResolveByIPWithChurn(b *testing.B) {
	set := newBenchSet() // changed here: not the shared one
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var updates int
	wg.Go(func() {
		ticker := time.NewTicker(100 * time.Microsecond)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				p := set.byName[updates%len(set.byName)]
				pod := testPod(p.Namespace, p.Pod, "ReplicaSet/x-5d8f7c9b4", p.IP.String(), t0, nil)
				set.c.apply(true, func(s *state, now int64) { s.upsertPod(pod, now) })
				updates++
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		set.c.Resolve(set.byIP[i], set.at)
		if i++; i == len(set.byIP) {
			i = 0
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(updates)/b.Elapsed().Seconds(), "updates/s")
}
