package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// t0 is the tests' reference time: the start of an hour bucket.
var t0 = time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)

// testClock is a settable clock.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}
func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testOptions are options for a store in dir with a quiet logger, a fresh
// registry, a clock at now and no background flush getting in the way.
func testOptions(dir string, clock *testClock) store.Options {
	return store.Options{
		Dir:           dir,
		FlushInterval: time.Hour,
		Logger:        quietLogger(),
		Registerer:    prometheus.NewRegistry(),
		Clock:         clock.Now,
	}
}

func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func flush(t testing.TB, s *store.Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func wl(ns, name string) flow.Endpoint { return flow.WorkloadEndpoint(ns, "Deployment", name) }

func addr(s string, class flow.AddrClass, alias string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr(s), Class: class, Alias: alias}
}

func tcp(src, dst flow.Endpoint, port uint16) flow.EdgeKey {
	return flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}
}

// sumCounts adds the counts of edges.
func sumCounts(edges []flow.Edge) uint64 {
	var n uint64
	for _, e := range edges {
		n += e.Count
	}
	return n
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
