package audit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Two replicas, each a controller-runtime manager with leader election and
// an audit loop: only the leader's loop runs; when it stops, the other
// takes over.
func TestLeaderElectionOneWriter(t *testing.T) {
	needPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createNamespace(t, "le-redline", nil)
	createNamespace(t, "le-shop", nil)
	if err := plane.client.Create(ctx, deployment("le-shop", "api")); err != nil {
		t.Fatal(err)
	}
	world := newLiveWorld(ctx, t)

	type replica struct {
		passes atomic.Int64
		cancel context.CancelFunc
		done   chan struct{}
	}
	leaseDuration, renew, retry := 2*time.Second, 1500*time.Millisecond, 200*time.Millisecond
	start := func(name string) *replica {
		r := &replica{done: make(chan struct{})}
		mgr, err := manager.New(plane.cfg, manager.Options{
			Metrics:                       metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress:        "0",
			LeaderElection:                true,
			LeaderElectionID:              "redline-leader",
			LeaderElectionNamespace:       "le-redline",
			LeaderElectionReleaseOnCancel: true,
			LeaseDuration:                 &leaseDuration,
			RenewDeadline:                 &renew,
			RetryPeriod:                   &retry,
		})
		if err != nil {
			t.Fatal(err)
		}
		loop, err := NewLoop(world.cluster, world.store, plane.client, LoopOptions{
			Interval: 300 * time.Millisecond, Debounce: 100 * time.Millisecond, Namespace: "le-redline",
			Registerer: prometheus.NewRegistry(), Logger: testLogger(),
			OnPass: func(o Outcome) {
				if o.Err == nil {
					r.passes.Add(1)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Add(loop); err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(ctx)
		r.cancel = mcancel
		go func() {
			defer close(r.done)
			if err := mgr.Start(mctx); err != nil {
				t.Errorf("manager %s: %v", name, err)
			}
		}()
		return r
	}
	a, b := start("a"), start("b")
	eventually(t, 30*time.Second, "a leader's first pass", func() error {
		if a.passes.Load()+b.passes.Load() == 0 {
			return errNoPass
		}
		return nil
	})
	// Several intervals later, still only one has run.
	time.Sleep(2 * time.Second)
	leader, follower := a, b
	if b.passes.Load() > 0 {
		leader, follower = b, a
	}
	if leader.passes.Load() < 2 || follower.passes.Load() != 0 {
		t.Fatalf("passes: leader %d, follower %d; want several and none", leader.passes.Load(), follower.passes.Load())
	}
	// The leader stops and releases the lease: the other one takes over.
	leader.cancel()
	<-leader.done
	eventually(t, 30*time.Second, "the new leader's first pass", func() error {
		if follower.passes.Load() == 0 {
			return errNoPass
		}
		return nil
	})
	follower.cancel()
	<-follower.done
}

var errNoPass = errorString("no audit pass yet")

type errorString string

func (e errorString) Error() string { return string(e) }
