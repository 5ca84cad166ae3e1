package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/store/storetest"
)

// The figures in the issue notes come from these benchmarks, run with
// `make bench` (-cpu 1). The 1,000,000-edge data set is built once per
// run in a temporary directory, removed by TestMain.

func TestMain(m *testing.M) {
	code := m.Run()
	if dataset.dir != "" {
		_ = os.RemoveAll(dataset.dir)
	}
	if passWorld.store != nil {
		_ = passWorld.store.Close()
	}
	if passWorld.dir != "" {
		_ = os.RemoveAll(passWorld.dir)
	}
	os.Exit(code)
}

// benchFlows is a ring of realistic flows (Zipf sources and destinations
// over 10,000 workloads).
var benchFlows = sync.OnceValue(func() []storetest.Flow {
	c := storetest.NewCluster(1, storetest.ClusterSpec{})
	return c.Flows(2, 1<<20)
})

// simClock advances by step per flow: 5 µs is 200,000 flows/s of
// simulated traffic, so long runs cross hour buckets as real ones do.
type simClock struct {
	base int64
	n    atomic.Int64
}

const flowStep = 5 * time.Microsecond

func (c *simClock) at(i int) time.Time { return time.Unix(0, c.base+int64(i)*int64(flowStep)) }
func (c *simClock) Now() time.Time     { return c.at(int(c.n.Load())) }

// BenchmarkRecord is the hot path alone: aggregation in memory, no flush.
func BenchmarkRecord(b *testing.B) {
	flows := benchFlows()
	clock := &simClock{base: t0.Add(-10 * time.Minute).UnixNano()}
	s := openStore(b, store.Options{
		Dir: b.TempDir(), FlushInterval: time.Hour, FlushEdges: 1 << 30, MaxResidentEdges: 1 << 30,
		Logger: quietLogger(), Clock: clock.Now,
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := &flows[i&(len(flows)-1)]
		s.Record(f.Key, clock.at(i), f.Verdict, f.Service, f.Names)
	}
}

// BenchmarkIngest is sustained ingest with the default flush settings
// (every second or 50,000 buckets): Records, background flushes into
// Badger and a final flush, all timed.
func BenchmarkIngest(b *testing.B) {
	flows := benchFlows()
	clock := &simClock{base: t0.Add(-3 * time.Second).UnixNano()}
	opts := testOptions(b.TempDir(), newClock(t0))
	opts.FlushInterval = time.Second
	opts.Clock = clock.Now
	s := openStore(b, opts)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	for i := range b.N {
		f := &flows[i&(len(flows)-1)]
		if i&1023 == 0 {
			clock.n.Store(int64(i))
		}
		s.Record(f.Key, clock.at(i), f.Verdict, f.Service, f.Names)
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
	// CPU time of the whole process (Badger's goroutines and the GC
	// included): the figure that holds when other processes share the
	// machine.
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "flows/cpu-s")
	b.ReportMetric(metricValue(b, opts.Registerer, "redline_store_flushes_total"), "flushes")
	b.ReportMetric(metricValue(b, opts.Registerer, "redline_store_edges_written_total")/float64(b.N), "buckets-written/flow")
	if d := metricValue(b, opts.Registerer, "redline_store_dropped_flows_total"); d > 0 {
		b.ReportMetric(d, "dropped")
	}
}

// The data set: 1,000,000 distinct edges of 10,000 workloads (100 each:
// coredns, Zipf-popular services, external addresses), each in one hour
// bucket of 7 days, 1–3 flows each. Plus one steady workload whose 50
// clients and 50 dependencies talk to it every hour of the 7 days (8,400
// buckets each way): the worst case of hourly buckets.
const (
	datasetEdges = 1_000_000
	datasetHours = 7 * 24
)

var (
	datasetStart = t0
	steady       = wl("steady", "api")
)

const steadyPeers = 50

var dataset struct {
	once    sync.Once
	dir     string
	err     error
	took    time.Duration
	cluster *storetest.Cluster
	hottest flow.Endpoint // most ingress edges
	hotIn   int
}

func loadDataset(b *testing.B) string {
	b.Helper()
	dataset.once.Do(func() {
		start := time.Now()
		if dir := os.Getenv("REDLINE_STORE_BENCH_DATASET"); dir != "" {
			// Reuse a data set kept from an earlier run (it is not removed).
			dataset.cluster = storetest.NewCluster(1, storetest.ClusterSpec{})
			if _, err := os.Stat(dir); err == nil {
				return
			}
			dataset.err = buildDataset(dir)
			dataset.took = time.Since(start)
			return
		}
		dataset.dir, dataset.err = os.MkdirTemp("", "redline-store-bench-")
		if dataset.err != nil {
			return
		}
		dataset.err = buildDataset(dataset.dir)
		dataset.took = time.Since(start)
	})
	if dataset.err != nil {
		b.Fatal(dataset.err)
	}
	if dir := os.Getenv("REDLINE_STORE_BENCH_DATASET"); dir != "" {
		return dir
	}
	return dataset.dir
}

func buildDataset(dir string) error {
	c := storetest.NewCluster(1, storetest.ClusterSpec{})
	dataset.cluster = c
	keys := c.DistinctEdges(3, datasetEdges)
	ingress := make(map[flow.Endpoint]int)
	for _, k := range keys {
		ingress[k.Dst]++
	}
	for ep, n := range ingress {
		if ep.Kind == flow.EndpointWorkload && ep != c.DNS && n > dataset.hotIn {
			dataset.hottest, dataset.hotIn = ep, n
		}
	}
	end := datasetStart.Add(datasetHours * time.Hour)
	s, err := store.Open(context.Background(), store.Options{
		Dir: dir, Logger: quietLogger(), FlushInterval: time.Hour, FlushEdges: 100_000,
		Clock: func() time.Time { return end },
	})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(4, 4))
	for h := range datasetHours {
		at := datasetStart.Add(time.Duration(h)*time.Hour + 17*time.Minute)
		for i := range steadyPeers {
			s.Record(tcp(c.Workloads[i], steady, 8080), at, flow.VerdictForwarded, &flow.ServiceRef{Namespace: "steady", Name: "api"}, nil)
			s.Record(tcp(steady, c.Workloads[len(c.Workloads)-1-i], c.Ports[i]), at, flow.VerdictForwarded, nil, nil)
		}
	}
	for _, k := range keys {
		at := datasetStart.Add(time.Duration(r.Int64N(int64(datasetHours * time.Hour))))
		for range 1 + r.IntN(3) {
			v := flow.VerdictForwarded
			if r.IntN(50) == 0 {
				v = flow.VerdictDropped
			}
			s.Record(k, at, v, nil, nil)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		return err
	}
	if _, err := s.RollUp(context.Background(), end); err != nil {
		return err
	}
	return s.Close()
}

func datasetStore(b *testing.B) *store.Store {
	dir := loadDataset(b)
	end := datasetStart.Add(datasetHours * time.Hour)
	return openStore(b, store.Options{Dir: dir, Logger: quietLogger(), Clock: func() time.Time { return end }})
}

// BenchmarkWorkloadEdges7d queries one workload's ingress and egress over
// the 7 days of the data set.
func BenchmarkWorkloadEdges7d(b *testing.B) {
	s := datasetStore(b)
	b.Logf("data set: %d distinct edges in %d hour buckets, built in %s; hottest workload %s has %d ingress edges",
		datasetEdges, datasetHours, dataset.took.Round(time.Millisecond), dataset.hottest, dataset.hotIn)
	ctx := context.Background()
	from, to := datasetStart, datasetStart.Add(datasetHours*time.Hour)
	run := func(b *testing.B, pick func(i int) flow.Endpoint) {
		edges := 0
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := threadCPU()
		for i := range b.N {
			in, out, err := s.WorkloadEdges(ctx, pick(i), from, to)
			if err != nil {
				b.Fatal(err)
			}
			edges += len(in) + len(out)
		}
		reportThreadCPU(b, cpu)
		b.ReportMetric(float64(edges)/float64(b.N), "edges/op")
	}
	b.Run("random", func(b *testing.B) {
		r := rand.New(rand.NewPCG(9, 9))
		ws := dataset.cluster.Workloads
		run(b, func(int) flow.Endpoint { return ws[r.IntN(len(ws))] })
	})
	b.Run("hottest", func(b *testing.B) {
		run(b, func(int) flow.Endpoint { return dataset.hottest })
	})
	b.Run("steady", func(b *testing.B) {
		run(b, func(int) flow.Endpoint { return steady })
	})
	b.Run("coredns", func(b *testing.B) {
		run(b, func(int) flow.Endpoint { return dataset.cluster.DNS })
	})
}

func BenchmarkNamespaceEdges7d(b *testing.B) {
	s := datasetStore(b)
	ctx := context.Background()
	from, to := datasetStart, datasetStart.Add(datasetHours*time.Hour)
	nss := dataset.cluster.Namespaces
	edges := 0
	b.ReportAllocs()
	b.ResetTimer()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for i := range b.N {
		got, err := s.NamespaceEdges(ctx, nss[i%len(nss)], from, to)
		if err != nil {
			b.Fatal(err)
		}
		edges += len(got)
	}
	b.ReportMetric(float64(edges)/float64(b.N), "edges/op")
	reportThreadCPU(b, cpu)
}

// passWorld is a store shaped like the audit benchmark's: 5,000
// workloads in 250 namespaces, 200,000 edges each in one hour bucket of
// the last 7 days, flushed and rolled up but not compacted. Built once
// per run, closed and removed by TestMain.
var passWorld struct {
	once    sync.Once
	dir     string
	store   *store.Store
	cluster *storetest.Cluster
	err     error
}

// passNow is the end of passWorld's 7 days.
var passNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func passStore(b *testing.B) (*store.Store, *storetest.Cluster) {
	b.Helper()
	passWorld.once.Do(func() {
		if passWorld.dir, passWorld.err = os.MkdirTemp("", "redline-store-pass-"); passWorld.err != nil {
			return
		}
		passWorld.store, passWorld.cluster, passWorld.err = buildPassWorld(passWorld.dir)
	})
	if passWorld.err != nil {
		b.Fatal(passWorld.err)
	}
	return passWorld.store, passWorld.cluster
}

func buildPassWorld(dir string) (*store.Store, *storetest.Cluster, error) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLogger(), Clock: func() time.Time { return passNow }})
	if err != nil {
		return nil, nil, err
	}
	c := storetest.NewCluster(7, storetest.ClusterSpec{Namespaces: 250, Workloads: 5000})
	r := rand.New(rand.NewPCG(1, 2))
	ports := []uint16{80, 443, 5432, 6379, 8080, 9090}
	for i := range 200_000 {
		src := c.Workloads[r.IntN(len(c.Workloads))]
		var dst flow.Endpoint
		switch k := r.IntN(20); {
		case k == 0:
			dst = c.Externals[r.IntN(len(c.Externals))]
		case k < 5:
			svc := c.Services[r.IntN(len(c.Services))]
			dst = flow.WorkloadEndpoint(svc.Namespace, "Service", svc.Name)
		default:
			dst = c.Workloads[r.IntN(len(c.Workloads))]
		}
		v := flow.VerdictForwarded
		if i%50 == 0 {
			v = flow.VerdictDropped
		}
		s.Record(tcp(src, dst, ports[r.IntN(len(ports))]), passNow.Add(-time.Duration(r.IntN(7*24))*time.Hour), v, nil, nil)
	}
	err = s.Flush(ctx)
	if err == nil {
		_, err = s.RollUp(ctx, passNow)
	}
	if err != nil {
		_ = s.Close()
		return nil, nil, err
	}
	return s, c, nil
}

// BenchmarkNamespaceEdgesPass is the audit pass's read: NamespaceEdges of
// each of passWorld's namespaces over 7 days. One op is the 250 queries.
func BenchmarkNamespaceEdgesPass(b *testing.B) {
	s, c := passStore(b)
	ctx := context.Background()
	from := passNow.Add(-7 * 24 * time.Hour)
	edges := 0
	b.ReportAllocs()
	b.ResetTimer()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu, procCPU := threadCPU(), cpuTime()
	for range b.N {
		for _, ns := range c.Namespaces {
			got, err := s.NamespaceEdges(ctx, ns, from, passNow)
			if err != nil {
				b.Fatal(err)
			}
			edges += len(got)
		}
	}
	b.ReportMetric(float64(edges)/float64(b.N), "edges/op")
	reportThreadCPU(b, cpu)
	// The whole process's, the garbage collector's included: the figure
	// the audit benchmark's cpu-s/op adds up.
	b.ReportMetric(float64(cpuTime()-procCPU)/float64(b.N), "process-cpu-ns/op")
}

func BenchmarkUnresolvedAddresses7d(b *testing.B) {
	s := datasetStore(b)
	ctx := context.Background()
	from, to := datasetStart, datasetStart.Add(datasetHours*time.Hour)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for range b.N {
		got, err := s.UnresolvedAddresses(ctx, from, to)
		if err != nil {
			b.Fatal(err)
		}
		n = len(got)
	}
	b.ReportMetric(float64(n), "addresses")
	reportThreadCPU(b, cpu)
}

func BenchmarkNamespaceSummaries7d(b *testing.B) {
	s := datasetStore(b)
	ctx := context.Background()
	from, to := datasetStart, datasetStart.Add(datasetHours*time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for range b.N {
		if _, err := s.NamespaceSummaries(ctx, from, to); err != nil {
			b.Fatal(err)
		}
	}
	reportThreadCPU(b, cpu)
}

// BenchmarkServingRSS measures the resident memory of a serving process:
// a child opens the 1,000,000-edge store, ingests realistic flows at
// 200,000 flows/s (flushing every second) while it answers workload,
// namespace, unresolved-address and summary queries for 10 s, then
// reports VmRSS and VmHWM.
func BenchmarkServingRSS(b *testing.B) {
	dir := loadDataset(b)
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), serveDirEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("serving child: %v\n%s\n%s", err, out, stderr.String())
		}
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "metric" {
				v, _ := strconv.ParseFloat(f[2], 64)
				b.ReportMetric(v, f[1])
			}
		}
	}
}

const serveDirEnv = "REDLINE_STORE_SERVE_DIR"

func TestHelperServeChild(t *testing.T) {
	dir := os.Getenv(serveDirEnv)
	if dir == "" {
		t.Skip("helper process of BenchmarkServingRSS")
	}
	ctx := context.Background()
	end := datasetStart.Add(datasetHours * time.Hour)
	clock := &simClock{base: end.UnixNano()}
	s, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLogger(), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := storetest.NewCluster(1, storetest.ClusterSpec{})
	next := c.FlowSource(2)
	done := make(chan struct{})
	var ingested atomic.Int64
	go func() { // 200,000 flows/s in steps of 2,000 every 10 ms
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for range 2000 {
				f := next()
				s.Record(f.Key, clock.at(i), f.Verdict, f.Service, f.Names)
				i++
			}
			clock.n.Store(int64(i))
			ingested.Store(int64(i))
		}
	}()
	from, to := datasetStart, end
	var queries int
	var worst time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		start := time.Now()
		if _, _, err := s.WorkloadEdges(ctx, c.Workloads[i*7919%len(c.Workloads)], from, to); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		queries++
		if i%500 == 0 {
			if _, err := s.NamespaceEdges(ctx, c.Namespaces[i/500%len(c.Namespaces)], from, to); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UnresolvedAddresses(ctx, from, to); err != nil {
				t.Fatal(err)
			}
			if _, err := s.NamespaceSummaries(ctx, from, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	anon, file := procStatus("RssAnon"), procStatus("RssFile")
	if p := os.Getenv("REDLINE_STORE_HEAP_PROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("metric rss-MB %.1f\n", rss/1024)
	fmt.Printf("metric peak-rss-MB %.1f\n", hwm/1024)
	fmt.Printf("metric rss-anon-MB %.1f\n", anon/1024)
	fmt.Printf("metric rss-file-MB %.1f\n", file/1024)
	fmt.Printf("metric go-heap-MB %.1f\n", float64(ms.HeapInuse)/(1<<20))
	fmt.Printf("metric ingested-flows %d\n", ingested.Load())
	fmt.Printf("metric workload-queries %d\n", queries)
	fmt.Printf("metric worst-workload-query-ms %.2f\n", float64(worst)/1e6)
}

// threadCPU is the CPU time of the calling thread: with the benchmark
// goroutine locked to its thread, the time the query itself ran, whatever
// else competes for the machine.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportThreadCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n
		}
	}
	return -1
}
