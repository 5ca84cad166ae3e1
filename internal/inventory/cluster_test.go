package inventory

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/redline-dev/redline/internal/flow"
)

// The live state is tested here through the same changes the informers
// make, with a fake clock; watch_test.go runs it against an API server.

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// t0 is the start of the tests' timelines.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// testPod builds a running pod. owner is "Kind/name" or "".
func testPod(ns, name, owner, ip string, started time.Time, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name + "@" + started.String()),
			Labels: labels, CreationTimestamp: metav1.NewTime(started)},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr.To(metav1.NewTime(started))},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{ownerRef(owner)}
	}
	return p
}

// ownerRef builds a controller reference from "Kind/name".
func ownerRef(owner string) metav1.OwnerReference {
	kind, name, _ := strings.Cut(owner, "/")
	api := "apps/v1"
	if kind == kindJob || kind == kindCronJob {
		api = "batch/v1"
	}
	return metav1.OwnerReference{APIVersion: api, Kind: kind, Name: name, UID: types.UID(owner), Controller: ptr.To(true)}
}

func testReplicaSet(ns, name, owner string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if owner != "" {
		rs.OwnerReferences = []metav1.OwnerReference{ownerRef(owner)}
	}
	return rs
}

func testSlice(ns, name, service string, pods map[string]string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for pod, ip := range pods {
		e := discoveryv1.Endpoint{Addresses: []string{ip}}
		if pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod}
		}
		es.Endpoints = append(es.Endpoints, e)
	}
	return es
}

func testService(ns, name, clusterIP string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, Selector: selector, Ports: []corev1.ServicePort{{Port: 80}}},
	}
}

// newTestCluster is a live-state Cluster without informers.
func newTestCluster(clock *fakeClock, grace time.Duration) *Cluster {
	return newCluster(Options{Now: clock.Now, Grace: grace})
}

func TestPodIPReuse(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, 5*time.Minute)
	const ip = "10.244.1.7"

	// Pod A of Deployment a holds the address from t0.
	c.apply(true, func(s *state, now int64) {
		s.upsertTemplate(kindReplicaSet, testReplicaSet("shop", "a-5d8f", "Deployment/a"))
		s.upsertPod(testPod("shop", "a-5d8f-x", "ReplicaSet/a-5d8f", ip, t0, nil), now)
	})
	// Deleted at t0+10m, seen then.
	tDelete := t0.Add(10 * time.Minute)
	clock.Set(tDelete)
	c.apply(true, func(s *state, now int64) {
		s.deletePod(testPod("shop", "a-5d8f-x", "ReplicaSet/a-5d8f", ip, t0, nil), now)
	})
	// Pod B of StatefulSet b gets the address at t0+12m (inside A's grace).
	tB := t0.Add(12 * time.Minute)
	clock.Set(tB.Add(time.Second))
	c.apply(true, func(s *state, now int64) { s.upsertPod(testPod("shop", "b-0", "StatefulSet/b", ip, tB, nil), now) })
	// And releases it when it finishes at t0+20m.
	tBDone := t0.Add(20 * time.Minute)
	clock.Set(tBDone)
	done := testPod("shop", "b-0", "StatefulSet/b", ip, tB, nil)
	done.Status.Phase = corev1.PodSucceeded
	c.apply(true, func(s *state, now int64) { s.upsertPod(done, now) })

	cases := []struct {
		at   time.Duration // after t0
		want string
	}{
		{-time.Second, ip + " unknown"}, // before anyone held it
		{0, "shop/a[Deployment]"},
		{9 * time.Minute, "shop/a[Deployment]"},
		{11 * time.Minute, "shop/a[Deployment]"},  // released, in the grace period
		{12 * time.Minute, "shop/b[StatefulSet]"}, // the new pod wins from its start
		{19 * time.Minute, "shop/b[StatefulSet]"},
		{24 * time.Minute, "shop/b[StatefulSet]"}, // finished, in the grace period
		{26 * time.Minute, ip + " unknown"},       // past the grace period
	}
	check := func(when string) {
		t.Helper()
		for _, tc := range cases {
			if got := resolved(c.Resolve(peer(ip), t0.Add(tc.at))); got != tc.want {
				t.Errorf("%s: at t0%+v: %s, want %s", when, tc.at, got, tc.want)
			}
		}
	}
	check("history")

	// The deleted pod still resolves by name for the grace period.
	if got := resolved(c.Resolve(peer("shop/a-5d8f-x"), tDelete)); got != "shop/a[Deployment]" {
		t.Errorf("deleted pod by name: %s", got)
	}

	// Forgetting at t0+16m drops A (deleted 6m before), keeps B.
	clock.Set(t0.Add(16 * time.Minute))
	c.forget()
	for i := 1; i <= 3; i++ {
		cases[i].want = ip + " unknown"
	}
	check("after forgetting A")
	if got := resolved(c.Resolve(peer("10.0.0.1 shop/a-5d8f-x"), time.Time{})); got != "10.0.0.1 unknown" {
		t.Errorf("forgotten pod by name: %s", got)
	}
}

// A pod seen before its ReplicaSet or Job is placed by names, then exactly;
// an owner deleted before its pods does not move them.
func TestPodOwnerFolding(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, time.Minute)
	hash := map[string]string{"pod-template-hash": "7c9d"}
	pods := func() string {
		var out []string
		for _, p := range []string{"shop/web-7c9d-a", "shop/rs-orphan-a", "shop/nightly-123-a", "shop/migrate-a", "shop/static-a"} {
			out = append(out, resolved(c.Resolve(peer(p), time.Time{})))
		}
		return fmt.Sprint(out)
	}
	c.apply(true, func(s *state, now int64) {
		s.upsertPod(testPod("shop", "web-7c9d-a", "ReplicaSet/web-7c9d", "10.244.0.1", t0, hash), now)
		s.upsertPod(testPod("shop", "rs-orphan-a", "ReplicaSet/rs-orphan", "10.244.0.2", t0, nil), now)
		s.upsertPod(testPod("shop", "nightly-123-a", "Job/nightly-123", "10.244.0.3", t0, nil), now)
		s.upsertPod(testPod("shop", "migrate-a", "Job/migrate", "10.244.0.4", t0, nil), now)
		static := testPod("shop", "static-a", "", "10.244.0.5", t0, nil)
		static.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "node-1", Controller: ptr.To(true)}}
		s.upsertPod(static, now)
	})
	if got, want := pods(), "[shop/web[Deployment] shop/rs-orphan[ReplicaSet] shop/nightly-123[Job] shop/migrate[Job] shop/static-a[Pod]]"; got != want {
		t.Errorf("before owners:\n got %s\nwant %s", got, want)
	}
	c.apply(true, func(s *state, now int64) {
		s.upsertTemplate(kindCronJob, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nightly"}})
		s.upsertTemplate(kindReplicaSet, testReplicaSet("shop", "web-7c9d", "Deployment/frontend")) // not the name's
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nightly-123", OwnerReferences: []metav1.OwnerReference{ownerRef("CronJob/nightly")}}}
		s.upsertTemplate(kindJob, job)
		s.upsertTemplate(kindJob, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "migrate"}})
	})
	want := "[shop/frontend[Deployment] shop/rs-orphan[ReplicaSet] shop/nightly[CronJob] shop/migrate[Job] shop/static-a[Pod]]"
	if got := pods(); got != want {
		t.Errorf("with owners:\n got %s\nwant %s", got, want)
	}
	// Owners deleted first (background cascading deletion), then pods updated.
	c.apply(true, func(s *state, now int64) {
		s.deleteTemplate(kindReplicaSet, testReplicaSet("shop", "web-7c9d", ""))
		s.deleteTemplate(kindJob, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nightly-123"}})
		p := testPod("shop", "web-7c9d-a", "ReplicaSet/web-7c9d", "10.244.0.1", t0, hash)
		p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
		s.upsertPod(p, now)
	})
	if got := pods(); got != want {
		t.Errorf("owners deleted:\n got %s\nwant %s", got, want)
	}
	// Workload labels come from the templates; bare pods from the pod.
	c.apply(true, func(s *state, now int64) {
		s.upsertTemplate(kindDeployment, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "frontend"},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "frontend"}}}}})
		s.upsertPod(testPod("shop", "debug", "", "", t0, map[string]string{"run": "debug"}), now)
	})
	for ep, want := range map[flow.Endpoint]string{
		flow.WorkloadEndpoint("shop", kindDeployment, "frontend"): "app=frontend",
		flow.WorkloadEndpoint("shop", kindPod, "debug"):           "run=debug",
	} {
		if l, ok := c.WorkloadLabels(ep); !ok || labelString(l) != want {
			t.Errorf("WorkloadLabels(%s) = %v %v, want %s", ep, l, ok, want)
		}
	}
}

func TestServiceBacking(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, time.Minute)
	app := func(a string) map[string]string { return map[string]string{"app": a} }
	c.apply(true, func(s *state, now int64) {
		s.upsertPod(testPod("shop", "api-1", "StatefulSet/api", "10.244.0.1", t0, app("api")), now)
		s.upsertPod(testPod("shop", "api-2", "StatefulSet/api", "10.244.0.2", t0, app("api")), now)
		s.upsertPod(testPod("shop", "canary", "", "10.244.0.3", t0, app("api")), now)
		s.upsertPod(testPod("shop", "db-0", "StatefulSet/db", "10.244.0.4", t0, app("db")), now)
		s.upsertService(testService("shop", "api", "10.96.0.1", app("api")))
		s.upsertService(testService("shop", "api-stable", "10.96.0.2", app("api")))
		s.upsertService(testService("shop", "db", "10.96.0.3", app("db")))
		s.upsertService(testService("shop", "external", "10.96.0.4", nil))
		s.upsertService(testService("default", "kubernetes", "10.96.0.5", nil))
		// api: the canary too; api-stable: only the StatefulSet's pods, one
		// by address only; db: no slice, by selector; external: addresses.
		s.upsertSlice(testSlice("shop", "api-x1", "api", map[string]string{"api-1": "10.244.0.1", "canary": "10.244.0.3"}))
		s.upsertSlice(testSlice("shop", "api-stable-x1", "api-stable", map[string]string{"api-1": "10.244.0.1", "": "10.244.0.2"}))
		s.upsertSlice(testSlice("shop", "external-x1", "external", map[string]string{"": "203.0.113.5"}))
		s.upsertSlice(testSlice("default", "kubernetes", "kubernetes", map[string]string{"": "172.18.0.2"}))
		s.upsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
			Spec:   corev1.NodeSpec{PodCIDRs: []string{"10.244.0.0/24"}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.3"}, {Type: corev1.NodeHostName, Address: "node-1"}}}})
	})
	c.refreshServices()
	cases := []struct{ peer, want string }{
		{"10.96.0.1", "shop/api[Service] via shop/api"},
		{"10.96.0.2", "shop/api[StatefulSet] via shop/api-stable"},
		{"10.96.0.3", "shop/db[StatefulSet] via shop/db"},
		{"10.96.0.4", "shop/external[Service] via shop/external"},
		{"10.96.0.5", "default/kubernetes[Service] via default/kubernetes"},
		{"172.18.0.2", "172.18.0.2 aliased kube-apiserver"},
		{"172.18.0.3", "node-1[Node]"},
		{"172.18.0.3 reserved:remote-node", "node-1[Node]"},
		{"10.244.0.200", "10.244.0.200 internal"}, // the node's pod CIDR
		{"8.8.8.8", "8.8.8.8 external"},           // pod CIDRs known: public is external
		{"192.168.0.1", "192.168.0.1 unknown"},
	}
	for _, tc := range cases {
		if got := resolved(c.Resolve(peer(tc.peer), time.Time{})); got != tc.want {
			t.Errorf("Resolve(%s) = %s, want %s", tc.peer, got, tc.want)
		}
	}

	// The canary leaves the api slice: api has one backing workload.
	c.apply(true, func(s *state, now int64) {
		s.upsertSlice(testSlice("shop", "api-x1", "api", map[string]string{"api-1": "10.244.0.1", "api-2": "10.244.0.2"}))
	})
	c.refreshServices()
	if got := resolved(c.Resolve(peer("10.96.0.1"), time.Time{})); got != "shop/api[StatefulSet] via shop/api" {
		t.Errorf("after the canary left: %s", got)
	}
	// Deleting the Service frees its ClusterIP.
	c.apply(true, func(s *state, now int64) { s.deleteService(testService("shop", "api", "10.96.0.1", nil)) })
	if got := resolved(c.Resolve(peer("10.96.0.1"), time.Time{})); got != "10.96.0.1 unknown" {
		t.Errorf("deleted Service: %s", got)
	}
}

// A host-network pod is its node, by name; its address is the node's.
func TestHostNetworkPod(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, time.Minute)
	p := testPod("kube-system", "agent-x", "DaemonSet/agent", "172.18.0.3", t0, nil)
	p.Spec.HostNetwork = true
	c.apply(true, func(s *state, now int64) { s.upsertPod(p, now) })
	if got := resolved(c.Resolve(peer("172.18.0.3 kube-system/agent-x"), time.Time{})); got != "172.18.0.3 unknown" {
		t.Errorf("unscheduled host-network pod: %s", got)
	}
	p = p.DeepCopy()
	p.Spec.NodeName = "node-1"
	c.apply(true, func(s *state, now int64) { s.upsertPod(p, now) })
	if got := resolved(c.Resolve(peer("kube-system/agent-x"), time.Time{})); got != "node-1[Node]" {
		t.Errorf("host-network pod: %s", got)
	}
	if got := resolved(c.Resolve(peer("172.18.0.3"), time.Time{})); got != "172.18.0.3 unknown" {
		t.Errorf("a host-network pod's address is not a pod address: %s", got)
	}
}

// A StatefulSet pod recreated under the same name replaces the old one.
func TestPodRecreated(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, time.Minute)
	c.apply(true, func(s *state, now int64) {
		s.upsertPod(testPod("shop", "db-0", "StatefulSet/db", "10.244.0.1", t0, nil), now)
	})
	t1 := t0.Add(time.Hour)
	clock.Set(t1)
	c.apply(true, func(s *state, now int64) {
		s.upsertPod(testPod("shop", "db-0", "StatefulSet/db", "10.244.0.9", t1, nil), now)
	})
	for _, tc := range []struct {
		peer string
		at   time.Time
		want string
	}{
		{"10.244.0.1", t0.Add(time.Minute), "shop/db[StatefulSet]"},
		{"10.244.0.1", t1.Add(2 * time.Minute), "10.244.0.1 unknown"},
		{"10.244.0.9", t1.Add(2 * time.Minute), "shop/db[StatefulSet]"},
	} {
		if got := resolved(c.Resolve(peer(tc.peer), tc.at)); got != tc.want {
			t.Errorf("Resolve(%s, %s) = %s, want %s", tc.peer, tc.at, got, tc.want)
		}
	}
}

// Resolve runs concurrently with changes (go test -race).
func TestResolveConcurrent(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newTestCluster(clock, time.Minute)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					c.Resolve(peer("10.244.0.1"), time.Time{})
					c.Resolve(peer("shop/p-1"), time.Time{})
				}
			}
		})
	}
	for i := range 200 {
		p := testPod("shop", fmt.Sprintf("p-%d", i%10), "", fmt.Sprintf("10.244.0.%d", i%10), t0, nil)
		c.apply(true, func(s *state, now int64) { s.upsertPod(p, now) })
		if i%3 == 0 {
			c.apply(true, func(s *state, now int64) { s.deletePod(p, now) })
		}
	}
	close(stop)
	wg.Wait()
}
