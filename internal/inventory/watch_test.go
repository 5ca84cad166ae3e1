package inventory

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/redline-dev/redline/internal/flow"
)

// These tests run the informers against a real kube-apiserver (envtest).
// No controller runs there: ReplicaSets, Jobs, pod statuses and
// EndpointSlices are written by hand, as the controllers would.

// eventuallyTimeout bounds how long the informers may take to deliver.
const eventuallyTimeout = 15 * time.Second

// eventually polls got until it returns want.
func eventually(t *testing.T, what string, want string, got func() string) {
	t.Helper()
	deadline := time.Now().Add(eventuallyTimeout)
	for {
		g := got()
		if g == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %s, want %s (waited %s)", what, g, want, eventuallyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLogger sends logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startLive runs a live Cluster for the test and waits for its sync.
func startLive(t *testing.T, client kubernetes.Interface, opts WatchOptions) *Cluster {
	t.Helper()
	if opts.ServiceRefresh == 0 {
		opts.ServiceRefresh = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c, err := NewLiveCluster(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReadyCheck(nil); !errors.Is(err, ErrNotSynced) || !strings.Contains(err.Error(), "not started") {
		t.Errorf("ReadyCheck before Start = %v, want not started", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadyCheck(nil); err != nil {
		t.Fatalf("ReadyCheck after sync: %v", err)
	}
	if err := c.Start(ctx); err == nil {
		t.Error("a second Start did not fail")
	}
	return c
}

// apiObjects creates objects in the test's namespace, failing the test on
// errors.
type apiObjects struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
	ns     string
}

func newAPIObjects(t *testing.T, client kubernetes.Interface, labels map[string]string) *apiObjects {
	t.Helper()
	ctx := context.Background()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "inventory-", Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return &apiObjects{t: t, ctx: ctx, client: client, ns: ns.Name}
}

func (a *apiObjects) check(what string, err error) {
	a.t.Helper()
	if err != nil {
		a.t.Fatalf("%s: %v", what, err)
	}
}

func controllerOf(kind string, obj metav1.Object) []metav1.OwnerReference {
	api := "apps/v1"
	if kind == kindJob || kind == kindCronJob {
		api = "batch/v1"
	}
	return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true)}}
}

func podSpec(ports ...corev1.ContainerPort) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/c", Ports: ports}}}
}

// jobPodSpec is a pod spec Jobs accept.
func jobPodSpec() corev1.PodSpec {
	s := podSpec()
	s.RestartPolicy = corev1.RestartPolicyNever
	return s
}

// pod creates a pod and sets its status as the kubelet would: running,
// with ips, started at started.
func (a *apiObjects) pod(p *corev1.Pod, started time.Time, ips ...string) *corev1.Pod {
	a.t.Helper()
	p.Namespace = a.ns
	if len(p.Spec.Containers) == 0 {
		p.Spec = podSpec()
	}
	created, err := a.client.CoreV1().Pods(a.ns).Create(a.ctx, p, metav1.CreateOptions{})
	a.check("create pod "+p.Name, err)
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr.To(metav1.NewTime(started))}
	for _, ip := range ips {
		created.Status.PodIPs = append(created.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		created.Status.PodIP = ips[0]
	}
	updated, err := a.client.CoreV1().Pods(a.ns).UpdateStatus(a.ctx, created, metav1.UpdateOptions{})
	a.check("set status of pod "+p.Name, err)
	return updated
}

func (a *apiObjects) service(name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	a.t.Helper()
	svc, err := a.client.CoreV1().Services(a.ns).Create(a.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}, metav1.CreateOptions{})
	a.check("create service "+name, err)
	return svc
}

// slice creates an EndpointSlice of service listing pods.
func (a *apiObjects) slice(service string, pods ...*corev1.Pod) {
	a.t.Helper()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{GenerateName: service + "-", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range pods {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}})
	}
	_, err := a.client.DiscoveryV1().EndpointSlices(a.ns).Create(a.ctx, es, metav1.CreateOptions{})
	a.check("create EndpointSlice of "+service, err)
}

// node creates a node with an InternalIP and deletes it after the test.
func (a *apiObjects) node(name, ip string) {
	a.t.Helper()
	n, err := a.client.CoreV1().Nodes().Create(a.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	a.check("create node", err)
	a.t.Cleanup(func() { _ = a.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	_, err = a.client.CoreV1().Nodes().UpdateStatus(a.ctx, n, metav1.UpdateOptions{})
	a.check("set node addresses", err)
}

func TestWatchResolves(t *testing.T) {
	client, _ := needAPIServer(t)
	c := startLive(t, client, WatchOptions{})
	api := newAPIObjects(t, client, map[string]string{"team": "shop"})
	ns := api.ns
	ctx := api.ctx
	started := time.Now().Add(-time.Hour)

	// Deployment web → ReplicaSet → two pods.
	webLabels := map[string]string{"app": "web", "tier": "front"}
	dep, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webLabels},
				Spec: podSpec(corev1.ContainerPort{Name: "http", ContainerPort: 8080})},
		},
	}, metav1.CreateOptions{})
	api.check("create deployment", err)
	rsLabels := map[string]string{"app": "web", "tier": "front", "pod-template-hash": "6d4cf56db6"}
	rs, err := client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-6d4cf56db6", OwnerReferences: controllerOf(kindDeployment, dep)},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: rsLabels},
				Spec: podSpec(corev1.ContainerPort{Name: "http", ContainerPort: 8080})},
		},
	}, metav1.CreateOptions{})
	api.check("create replicaset", err)
	webA := api.pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-6d4cf56db6-a", Labels: rsLabels, OwnerReferences: controllerOf(kindReplicaSet, rs),
		Annotations: map[string]string{"big": strings.Repeat("x", 1000)}}}, started, "10.251.1.10")
	webB := api.pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-6d4cf56db6-b", Labels: rsLabels, OwnerReferences: controllerOf(kindReplicaSet, rs)}}, started, "10.251.1.11")

	// CronJob report → Job → pod.
	reportLabels := map[string]string{"app": "report", "tier": "front"}
	cj, err := client.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: reportLabels}, Spec: jobPodSpec()}}}},
	}, metav1.CreateOptions{})
	api.check("create cronjob", err)
	job, err := client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report-29412345", OwnerReferences: controllerOf(kindCronJob, cj)},
		Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: reportLabels}, Spec: jobPodSpec()}},
	}, metav1.CreateOptions{})
	api.check("create job", err)
	report := api.pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "report-29412345-x", Labels: reportLabels, OwnerReferences: controllerOf(kindJob, job)}}, started, "10.251.1.20")

	// A node, and a host-network DaemonSet pod on it.
	nodeName := ns + "-node"
	api.node(nodeName, "172.30.0.10")
	ds, err := client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "registry.example/a"}}}},
		},
	}, metav1.CreateOptions{})
	api.check("create daemonset", err)
	agent := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-x7k2p", Labels: map[string]string{"app": "agent"}, OwnerReferences: controllerOf(kindDaemonSet, ds)},
		Spec: corev1.PodSpec{NodeName: nodeName, HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "registry.example/a"}}}}
	api.pod(agent, started, "172.30.0.10")

	// Services: web (one workload behind it) and front (two).
	web := api.service("web", map[string]string{"app": "web"}, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")})
	front := api.service("front", map[string]string{"tier": "front"}, corev1.ServicePort{Port: 80})
	api.slice("web", webA, webB)
	api.slice("front", webA, report)

	_, err = client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}, metav1.CreateOptions{})
	api.check("create networkpolicy", err)

	cases := []struct{ peer, want string }{
		{ns + "/web-6d4cf56db6-a", ns + "/web[Deployment]"},
		{"10.251.1.10", ns + "/web[Deployment]"},
		{"10.251.1.11", ns + "/web[Deployment]"},
		{ns + "/report-29412345-x", ns + "/report[CronJob]"},
		{"10.251.1.20", ns + "/report[CronJob]"},
		{web.Spec.ClusterIP, ns + "/web[Deployment] via " + ns + "/web"},
		{front.Spec.ClusterIP, ns + "/front[Service] via " + ns + "/front"},
		{"172.30.0.10", nodeName + "[Node]"},
		{ns + "/agent-x7k2p", nodeName + "[Node]"},
		{"10.251.9.9", "10.251.9.9 unknown"},
		{"10.251.9.9 reserved:world", "10.251.9.9 external"},
	}
	for _, tc := range cases {
		eventually(t, "Resolve("+tc.peer+")", tc.want, func() string {
			return resolved(c.Resolve(peer(tc.peer), time.Time{}))
		})
	}

	deploy := flow.WorkloadEndpoint(ns, kindDeployment, "web")
	if l, ok := c.WorkloadLabels(deploy); !ok || labelString(l) != "app=web,tier=front" {
		t.Errorf("WorkloadLabels(%s) = %v %v", deploy, l, ok)
	}
	if p, ok := c.TargetPort(&flow.ServiceRef{Namespace: ns, Name: "web"}, flow.ProtocolTCP, 80, deploy); p != 8080 || !ok {
		t.Errorf("TargetPort(web:80) = %d %v, want 8080", p, ok)
	}

	// The snapshot is what LoadFiles would make of the same objects.
	eventually(t, "snapshot", strings.Join([]string{
		"ns " + ns + " kubernetes.io/metadata.name=" + ns + ",team=shop",
		"wl " + ns + "/report[CronJob] app=report,tier=front ip=10.251.1.20",
		"wl " + ns + "/agent[DaemonSet] app=agent ip=172.30.0.10 hostNetwork node=" + nodeName,
		"wl " + ns + "/web[Deployment] app=web,tier=front http:8080/TCP ip=10.251.1.10 ip=10.251.1.11",
		"svc " + ns + "/front ClusterIP sel=tier=front ip=" + front.Spec.ClusterIP + " :80->80/TCP",
		"svc " + ns + "/web ClusterIP sel=app=web ip=" + web.Spec.ClusterIP + " http:80->http/TCP",
		"np " + ns + "/default-deny",
	}, "\n"), func() string {
		var lines []string
		for _, l := range summary(c.Snapshot()) {
			if strings.Contains(l, " "+ns) {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	})
	if pols := c.Policies(); !slices.ContainsFunc(pols, func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns }) {
		t.Error("Policies() lacks the namespace's policy")
	}

	// The informer transform keeps the caches small.
	for _, item := range c.live.informers[kindPod].GetStore().List() {
		p := item.(*corev1.Pod)
		if len(p.ManagedFields) > 0 || len(p.Annotations) > 0 || (len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image != "") {
			t.Fatalf("pod %s/%s cached unstripped", p.Namespace, p.Name)
		}
	}
}

// Pod IPs are reused: a flow resolves against the pod that held the
// address at its time.
func TestWatchPodIPReuse(t *testing.T) {
	client, _ := needAPIServer(t)
	c := startLive(t, client, WatchOptions{})
	api := newAPIObjects(t, client, nil)
	ns := api.ns
	const ip = "10.251.2.7"
	wantA, wantB := ns+"/a[Pod]", ns+"/b[Pod]"

	api.pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, time.Now().Add(-time.Minute), ip)
	eventually(t, "A holds the address", wantA, func() string { return resolved(c.Resolve(peer(ip), time.Time{})) })

	beforeDeletion := time.Now()
	err := client.CoreV1().Pods(ns).Delete(api.ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	api.check("delete pod a", err)
	// Released: past the grace period the address is no one's.
	eventually(t, "A released", ip+" internal", func() string {
		ep, svc := c.Resolve(peer(ip+" reserved:host"), time.Now().Add(DefaultGrace+time.Minute))
		return resolved(ep, svc)
	})

	// B gets the address after the next second (API times are in seconds).
	time.Sleep(time.Until(beforeDeletion.Truncate(time.Second).Add(time.Second)))
	api.pod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, time.Now(), ip)
	eventually(t, "B holds the address", wantB, func() string { return resolved(c.Resolve(peer(ip), time.Time{})) })

	if got := resolved(c.Resolve(peer(ip), beforeDeletion)); got != wantA {
		t.Errorf("before A's deletion: %s, want %s", got, wantA)
	}
	if got := resolved(c.Resolve(peer(ip), time.Now())); got != wantB {
		t.Errorf("after B's start: %s, want %s", got, wantB)
	}
	// A deleted pod still resolves by name for the grace period.
	if got := resolved(c.Resolve(peer(ns+"/a"), time.Time{})); got != wantA {
		t.Errorf("deleted pod by name: %s, want %s", got, wantA)
	}
}

// The classification follows the redline-config ConfigMap: created,
// changed, deleted.
func TestWatchConfigReload(t *testing.T) {
	client, _ := needAPIServer(t)
	api := newAPIObjects(t, client, nil)
	base, _ := ParseConfig(map[string]string{ConfigKeyAliases: "base: 8.8.8.0/24"})
	c := startLive(t, client, WatchOptions{Options: Options{Classifier: base}, ConfigNamespace: api.ns})
	classify := func(addr string) func() string {
		return func() string { return resolved(c.Resolve(peer(addr), time.Time{})) }
	}
	eventually(t, "before the ConfigMap", "8.8.8.8 aliased base", classify("8.8.8.8"))

	cms := client.CoreV1().ConfigMaps(api.ns)
	cm, err := cms.Create(api.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName}, Data: map[string]string{
		ConfigKeyClusterCIDRs: "10.0.0.0/8, 300.0.0.0/8",
		ConfigKeyAliases:      "partner: [8.8.8.0/24]\ndns: 8.8.8.8",
	}}, metav1.CreateOptions{})
	api.check("create ConfigMap", err)
	// Another ConfigMap in the namespace is not read.
	_, err = cms.Create(api.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Data: map[string]string{ConfigKeyAliases: "other: 1.1.1.1"}}, metav1.CreateOptions{})
	api.check("create other ConfigMap", err)

	eventually(t, "created", "8.8.8.8 aliased dns", classify("8.8.8.8"))
	for addr, want := range map[string]string{"8.8.8.9": "8.8.8.9 aliased partner", "1.1.1.1": "1.1.1.1 external", "10.1.2.3": "10.1.2.3 internal"} {
		if got := classify(addr)(); got != want {
			t.Errorf("Resolve(%s) = %s, want %s", addr, got, want)
		}
	}
	wantWarn := []string{`ConfigMap ` + api.ns + `/redline-config: clusterCIDRs: "300.0.0.0/8" is not a CIDR (write 10.0.0.0/8 or fd00::/48): skipped`}
	diffLines(t, "config warnings", c.ConfigWarnings(), wantWarn)

	cm.Data = map[string]string{ConfigKeyClusterCIDRs: "10.0.0.0/8"}
	_, err = cms.Update(api.ctx, cm, metav1.UpdateOptions{})
	api.check("update ConfigMap", err)
	eventually(t, "updated", "8.8.8.8 external", classify("8.8.8.8"))
	diffLines(t, "config warnings", c.ConfigWarnings(), nil)

	api.check("delete ConfigMap", cms.Delete(api.ctx, ConfigMapName, metav1.DeleteOptions{}))
	eventually(t, "deleted", "8.8.8.8 aliased base", classify("8.8.8.8"))
	if got := classify("1.1.1.1")(); got != "1.1.1.1 unknown" {
		t.Errorf("after deletion: %s, want unknown", got)
	}
}

// Watch fails, saying what to do, when Redline may not list what it needs.
func TestWatchForbidden(t *testing.T) {
	_, env := needAPIServer(t)
	user, err := env.AddUser(envtest.User{Name: "redline-without-rbac"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = Watch(ctx, client, WatchOptions{Options: Options{Logger: testLogger(t)}})
	if err == nil {
		t.Fatal("Watch without permissions succeeded")
	}
	for _, want := range []string{"inventory not synced: waiting to list pods", "forbidden",
		"give Redline's service account list and watch on pods", context.DeadlineExceeded.Error()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, ErrNotSynced) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not ErrNotSynced and DeadlineExceeded", err)
	}
}

// Watch returns a synced Cluster.
func TestWatch(t *testing.T) {
	client, _ := needAPIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Watch(ctx, client, WatchOptions{Options: Options{Logger: testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Synced() {
		t.Fatal("Watch returned an unsynced cluster")
	}
	// The API server's own address is the kube-apiserver alias.
	var apiServer netip.Addr
	eventually(t, "API server address", "found", func() string {
		c.mu.RLock()
		defer c.mu.RUnlock()
		for a := range c.st.apiServers {
			apiServer = a
			return "found"
		}
		return "none"
	})
	if got := resolved(c.Resolve(flow.Peer{IP: apiServer}, time.Time{})); got != apiServer.String()+" aliased kube-apiserver" {
		t.Errorf("API server address resolves to %s", got)
	}
}
