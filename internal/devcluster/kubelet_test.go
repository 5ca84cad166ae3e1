package devcluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

func createNamespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runningPods waits until ns holds want pods matching app, all running
// with an address, and returns them.
func runningPods(t *testing.T, client kubernetes.Interface, ns, app string, want int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 30*time.Second, func() error {
		list, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		pods = list.Items
		if len(pods) != want {
			return fmt.Errorf("%d pods of %s/%s, want %d", len(pods), ns, app, want)
		}
		for _, p := range pods {
			if !running(&p) {
				return fmt.Errorf("pod %s: phase %s, IP %q, not ready", p.Name, p.Status.Phase, p.Status.PodIP)
			}
		}
		return nil
	})
	return pods
}

func TestKubeletRegistersNodes(t *testing.T) {
	_, client, k := needCluster(t)
	for _, n := range k.Nodes() {
		node, err := client.CoreV1().Nodes().Get(t.Context(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if node.Spec.PodCIDR != n.PodCIDR.String() || !slices.Equal(node.Spec.PodCIDRs, []string{n.PodCIDR.String()}) {
			t.Errorf("node %s: pod CIDR %s %v, want %s", n.Name, node.Spec.PodCIDR, node.Spec.PodCIDRs, n.PodCIDR)
		}
		ready := false
		for _, c := range node.Status.Conditions {
			ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		}
		if !ready {
			t.Errorf("node %s is not Ready: %v", n.Name, node.Status.Conditions)
		}
		if !slices.Contains(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: n.IP.String()}) {
			t.Errorf("node %s: addresses %v lack InternalIP %s", n.Name, node.Status.Addresses, n.IP)
		}
	}
	// Registering again (a restart) changes nothing and fails nothing.
	if err := k.RegisterNodes(t.Context()); err != nil {
		t.Errorf("register the nodes again: %v", err)
	}
}

// TestWorkloadsRun checks each controller kind end to end: the controller
// manager creates the pods, the Kubelet schedules and runs them.
func TestWorkloadsRun(t *testing.T) {
	_, client, k := needCluster(t)
	nodes := k.Nodes()
	t.Run("Deployment", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		createNamespace(t, client, "deploy")
		if _, err := client.AppsV1().Deployments("deploy").Create(ctx, testDeployment("deploy", "web", 4), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := runningPods(t, client, "deploy", "web", 4)
		perNode := map[string]int{}
		var ips []string
		for _, p := range pods {
			perNode[p.Spec.NodeName]++
			ips = append(ips, p.Status.PodIP)
			checkAddresses(t, &p, nodes)
		}
		slices.Sort(ips)
		if len(slices.Compact(ips)) != 4 {
			t.Errorf("pod IPs %v are not distinct", ips)
		}
		for _, n := range nodes {
			if perNode[n.Name] != 2 {
				t.Errorf("%d pods on %s, want 2 (spread evenly): %v", perNode[n.Name], n.Name, perNode)
			}
		}
		// The Deployment controller counts them available: Ready is real.
		eventually(t, 30*time.Second, func() error {
			d, err := client.AppsV1().Deployments("deploy").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 4 {
				return fmt.Errorf("%d available replicas, want 4", d.Status.AvailableReplicas)
			}
			return nil
		})
	})
	t.Run("DaemonSet", func(t *testing.T) {
		t.Parallel()
		createNamespace(t, client, "daemon")
		labels := map[string]string{"app": "agent"}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "daemon", Name: "agent"},
			Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: testTemplate(labels)},
		}
		if _, err := client.AppsV1().DaemonSets("daemon").Create(t.Context(), ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := runningPods(t, client, "daemon", "agent", len(nodes))
		var on []string
		for _, p := range pods {
			pinned, ok := requiredNode(&p)
			if !ok {
				t.Fatalf("DaemonSet pod %s carries no node affinity", p.Name)
			}
			if p.Spec.NodeName != pinned {
				t.Errorf("pod %s runs on %s, its node affinity names %s", p.Name, p.Spec.NodeName, pinned)
			}
			on = append(on, p.Spec.NodeName)
			checkAddresses(t, &p, nodes)
		}
		slices.Sort(on)
		if !slices.Equal(on, []string{nodes[0].Name, nodes[1].Name}) {
			t.Errorf("DaemonSet pods on %v, want one on each node", on)
		}
	})
	t.Run("StatefulSet", func(t *testing.T) {
		t.Parallel()
		createNamespace(t, client, "stateful")
		labels := map[string]string{"app": "db"}
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "stateful", Name: "db"},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To[int32](2), ServiceName: "db",
				Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: testTemplate(labels),
			},
		}
		if _, err := client.AppsV1().StatefulSets("stateful").Create(t.Context(), sts, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// OrderedReady: db-1 only comes once db-0 is Ready.
		pods := runningPods(t, client, "stateful", "db", 2)
		var names []string
		for _, p := range pods {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"db-0", "db-1"}) {
			t.Errorf("StatefulSet pods %v, want db-0 and db-1", names)
		}
	})
	t.Run("CronJob", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		createNamespace(t, client, "cron")
		labels := map[string]string{"app": "report"}
		tmpl := testTemplate(labels)
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "report"},
			Spec: batchv1.CronJobSpec{
				Schedule:          "* * * * *",
				ConcurrencyPolicy: batchv1.ForbidConcurrent,
				JobTemplate:       batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
			},
		}
		created, err := client.BatchV1().CronJobs("cron").Create(ctx, cj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The next minute starts a Job.
		var job batchv1.Job
		eventually(t, 90*time.Second, func() error {
			list, err := client.BatchV1().Jobs("cron").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(list.Items) == 0 {
				return fmt.Errorf("no Job yet")
			}
			job = list.Items[0]
			return ownedBy(job.OwnerReferences, "CronJob", created.Name, created.UID)
		})
		pods := runningPods(t, client, "cron", "report", 1)
		if err := ownedBy(pods[0].OwnerReferences, "Job", job.Name, job.UID); err != nil {
			t.Error(err)
		}
	})
}

// checkAddresses checks that a running pod's addresses are its node's.
func checkAddresses(t *testing.T, p *corev1.Pod, nodes []Node) {
	t.Helper()
	var node *Node
	for i := range nodes {
		if nodes[i].Name == p.Spec.NodeName {
			node = &nodes[i]
		}
	}
	if node == nil {
		t.Fatalf("pod %s on unknown node %q", p.Name, p.Spec.NodeName)
	}
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || !node.PodCIDR.Contains(ip) {
		t.Errorf("pod %s on %s has IP %q, outside %s", p.Name, node.Name, p.Status.PodIP, node.PodCIDR)
	}
	if len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
		t.Errorf("pod %s: podIPs %v do not match podIP %s", p.Name, p.Status.PodIPs, p.Status.PodIP)
	}
	if p.Status.HostIP != node.IP.String() {
		t.Errorf("pod %s: host IP %s, want %s", p.Name, p.Status.HostIP, node.IP)
	}
	for _, want := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReady, corev1.ContainersReady} {
		ok := false
		for _, c := range p.Status.Conditions {
			ok = ok || c.Type == want && c.Status == corev1.ConditionTrue
		}
		if !ok {
			t.Errorf("pod %s lacks condition %s=True: %v", p.Name, want, p.Status.Conditions)
		}
	}
}

func barePod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec:       testTemplate(map[string]string{"app": name}).Spec,
	}
}

func TestKubeletBarePods(t *testing.T) {
	_, client, k := needCluster(t)
	nodes := k.Nodes()
	ctx := t.Context()
	createNamespace(t, client, "bare")
	pods := client.CoreV1().Pods("bare")

	host := barePod("bare", "host-agent")
	host.Spec.HostNetwork = true
	host.Spec.NodeSelector = map[string]string{corev1.LabelHostname: nodes[1].Name}
	if _, err := pods.Create(ctx, host, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := runningPods(t, client, "bare", "host-agent", 1)[0]
	if got.Spec.NodeName != nodes[1].Name || got.Status.PodIP != nodes[1].IP.String() {
		t.Errorf("host-network pod on %s with IP %s, want %s with the node's IP %s", got.Spec.NodeName, got.Status.PodIP, nodes[1].Name, nodes[1].IP)
	}

	// A pod pinned to a node the cluster lacks stays pending.
	lost := barePod("bare", "lost")
	lost.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "no-such-node"}
	if _, err := pods.Create(ctx, lost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := pods.Get(ctx, "lost", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
		t.Errorf("pod pinned to a missing node: node %q, phase %s, error %v; want pending", p.Spec.NodeName, p.Status.Phase, err)
	}

	// Deleting a running pod gracefully completes: the Kubelet confirms it.
	if err := pods.Delete(ctx, "host-agent", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := pods.Get(ctx, "host-agent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pod still there (error %v)", err)
	})
}

func TestKubeletValidatesNodes(t *testing.T) {
	cidr := netip.MustParsePrefix("10.244.1.0/24")
	ip := netip.MustParseAddr("172.18.0.2")
	for _, tc := range []struct {
		name  string
		nodes []Node
	}{
		{"empty", []Node{}},
		{"no name", []Node{{IP: ip, PodCIDR: cidr}}},
		{"twice", []Node{{Name: "a", IP: ip, PodCIDR: cidr}, {Name: "a", IP: ip, PodCIDR: cidr}}},
		{"no IP", []Node{{Name: "a", PodCIDR: cidr}}},
		{"host bits", []Node{{Name: "a", IP: ip, PodCIDR: netip.MustParsePrefix("10.244.1.7/24")}}},
		{"too small", []Node{{Name: "a", IP: ip, PodCIDR: netip.MustParsePrefix("10.244.1.0/30")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKubelet(fakeClient{}, KubeletOptions{Nodes: tc.nodes}); err == nil {
				t.Error("NewKubelet accepted the nodes")
			}
		})
	}
}

// fakeClient is a client never called.
type fakeClient struct{ kubernetes.Interface }

func TestPodAddress(t *testing.T) {
	cidr := netip.MustParsePrefix("10.244.1.0/24")
	a, ok := PodAddress(cidr, "shop/cart-0", nil)
	b, _ := PodAddress(cidr, "shop/cart-0", nil)
	if !ok || a != b || !cidr.Contains(a) {
		t.Fatalf("PodAddress = %s, %s (%v): want one stable address in %s", a, b, ok, cidr)
	}
	next, _ := PodAddress(cidr, "shop/cart-0", func(ip netip.Addr) bool { return ip == a })
	if next == a || !cidr.Contains(next) {
		t.Errorf("taken address %s given again (%s)", a, next)
	}
	// Every usable address, then none: never .0, .1 or .255.
	used := map[netip.Addr]bool{}
	for i := range 260 {
		ip, ok := PodAddress(cidr, fmt.Sprint("pod-", i), func(ip netip.Addr) bool { return used[ip] })
		if !ok {
			if len(used) != 253 {
				t.Fatalf("ran out after %d addresses, want 253", len(used))
			}
			return
		}
		if last := ip.As4()[3]; last < 2 || last == 255 {
			t.Fatalf("gave %s", ip)
		}
		used[ip] = true
	}
	t.Fatal("never ran out of a /24")
}

func TestSyncReportsFailures(t *testing.T) {
	_, client, _ := needCluster(t)
	// A Kubelet whose only node has a /29: 5 addresses for 6 pods.
	small := []Node{{Name: "tiny", IP: netip.MustParseAddr("172.18.0.9"), PodCIDR: netip.MustParsePrefix("10.244.9.0/29")}}
	k, err := NewKubelet(client, KubeletOptions{Nodes: small, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := k.RegisterNodes(ctx); err != nil {
		t.Fatal(err)
	}
	createNamespace(t, client, "tiny")
	for i := range 6 {
		p := barePod("tiny", fmt.Sprint("p", i))
		p.Spec.NodeName = "tiny"
		if _, err := client.CoreV1().Pods("tiny").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err = k.Sync(ctx)
	if err == nil {
		t.Fatal("Sync with no address left reported nothing")
	}
	t.Log(err)
}
