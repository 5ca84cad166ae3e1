package netpol_test

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// The benchmark cluster: 10,000 workloads in 500 namespaces under 5,000
// policies.
const (
	benchNamespaces = 500
	benchWorkloads  = 10_000
	benchPolicies   = 5_000
	benchTuples     = 1 << 16
)

type benchTuple struct {
	src, dst netpol.Endpoint
	proto    corev1.Protocol
	port     int32
}

var benchCluster = sync.OnceValue(func() (c struct {
	nss    []netpol.Namespace
	wls    []*netpol.Workload
	pols   []*networkingv1.NetworkPolicy
	tuples []benchTuple
}) {
	c.nss, c.wls, c.pols = netpoltest.GenerateCluster(1, benchNamespaces, benchWorkloads, benchPolicies)
	r := rand.New(rand.NewPCG(2, 3))
	ports := []int32{53, 80, 443, 5432, 6379, 8080, 8050, 9090, 9187, 50051, 31000}
	endpoint := func() netpol.Endpoint {
		if r.IntN(20) == 0 { // 5% external addresses, some inside the pod range
			return netpol.AddrEndpoint(netip.AddrFrom4([4]byte{byte(1 + r.IntN(12)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))}))
		}
		return netpol.WorkloadEndpoint(c.wls[r.IntN(len(c.wls))])
	}
	c.tuples = make([]benchTuple, benchTuples)
	for i := range c.tuples {
		t := benchTuple{src: endpoint(), dst: endpoint(), proto: tcp, port: ports[r.IntN(len(ports))]}
		switch n := r.IntN(20); {
		case n < 3:
			t.proto = udp
		case n < 4:
			t.proto = sctp
		}
		if r.IntN(10) == 0 {
			t.port = 1 + r.Int32N(65535)
		}
		c.tuples[i] = t
	}
	return c
})

// benchIndex builds the benchmark index and warms its lazily built peer
// caches with one pass over the tuples; it returns the allowed share.
func benchIndex(b *testing.B) (*netpol.Index, float64) {
	b.Helper()
	c := benchCluster()
	ix, err := netpol.NewIndex(c.nss, c.wls, c.pols, netpol.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	allowed := 0
	for _, t := range c.tuples {
		if ix.Verdict(t.src, t.dst, t.proto, t.port) {
			allowed++
		}
	}
	return ix, float64(allowed) / float64(len(c.tuples))
}

// benchWarm is one warmed index shared by the query benchmarks, so that the
// cache-building first pass is neither timed nor profiled with them.
var benchWarm struct {
	once  sync.Once
	ix    *netpol.Index
	share float64
}

func warmIndex(b *testing.B) (*netpol.Index, float64) {
	benchWarm.once.Do(func() { benchWarm.ix, benchWarm.share = benchIndex(b) })
	return benchWarm.ix, benchWarm.share
}

func BenchmarkVerdict(b *testing.B) {
	ix, share := warmIndex(b)
	tuples := benchCluster().tuples
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := range b.N {
		t := &tuples[i&(benchTuples-1)]
		if ix.Verdict(t.src, t.dst, t.proto, t.port) {
			n++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
	b.ReportMetric(share*100, "%allowed")
	benchSink = n
}

func BenchmarkNewIndex(b *testing.B) {
	c := benchCluster()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ix, err := netpol.NewIndex(c.nss, c.wls, c.pols, netpol.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		benchSink = len(ix.Policies())
	}
}

// BenchmarkNewIndexWarm is NewIndex plus the first verdicts, which build
// the peer selector caches: the real cost of a fresh policy set.
func BenchmarkNewIndexWarm(b *testing.B) {
	benchCluster()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		benchIndex(b)
	}
}

func BenchmarkAllowedConns(b *testing.B) {
	ix, _ := warmIndex(b)
	tuples := benchCluster().tuples
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := range b.N {
		t := &tuples[i&(benchTuples-1)]
		if !ix.AllowedConns(t.src, t.dst).IsEmpty() {
			n++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	benchSink = n
}

var benchSink int

// TestVerdictConcurrent: an Index is safe for concurrent use, its lazily
// built caches included: verdicts from many goroutines on a fresh index
// match those of a warmed one.
func TestVerdictConcurrent(t *testing.T) {
	nss, wls, pols := netpoltest.GenerateCluster(5, 40, 800, 400)
	serial, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	tuples := make([]benchTuple, 4000)
	want := make([]bool, len(tuples))
	wantConns := make([]string, len(tuples))
	for i := range tuples {
		tuples[i] = benchTuple{
			src:   netpol.WorkloadEndpoint(wls[r.IntN(len(wls))]),
			dst:   netpol.WorkloadEndpoint(wls[r.IntN(len(wls))]),
			proto: netpol.Protocols[r.IntN(3)],
			port:  []int32{53, 443, 5432, 8080, 8050, 9090, 50051}[r.IntN(7)],
		}
		want[i] = serial.Verdict(tuples[i].src, tuples[i].dst, tuples[i].proto, tuples[i].port)
		wantConns[i] = serial.AllowedConns(tuples[i].src, tuples[i].dst).String()
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range tuples {
				i := (k*7 + g*501) % len(tuples)
				tp := tuples[i]
				if got := fresh.Verdict(tp.src, tp.dst, tp.proto, tp.port); got != want[i] {
					t.Errorf("%s -> %s %s/%d: concurrent %v, serial %v", tp.src, tp.dst, tp.proto, tp.port, got, want[i])
				}
				if g%2 == 0 {
					if got := fresh.AllowedConns(tp.src, tp.dst).String(); got != wantConns[i] {
						t.Errorf("%s -> %s: concurrent AllowedConns %s, serial %s", tp.src, tp.dst, got, wantConns[i])
					}
				}
			}
		})
	}
	wg.Wait()
}
