package devcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// DefaultResync is how often the Kubelet passes over every pod besides
// reacting to pod events, when KubeletOptions leaves Resync zero.
const DefaultResync = 2 * time.Second

// KubeletVersion is what the fake nodes report as their kubelet.
const KubeletVersion = "v1.37.2-redline-fake"

// KubeletOptions configure a Kubelet.
type KubeletOptions struct {
	// Nodes to register; nil means DefaultNodes().
	Nodes []Node
	// Resync is the period of full passes; zero means DefaultResync.
	Resync time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Kubelet plays the scheduler and the kubelets of a cluster whose nodes
// run nothing: it registers Nodes (Ready, with addresses and a pod CIDR),
// binds pending pods to a node through the pods/binding subresource (a
// DaemonSet pod to the node its node affinity names, a pod with a
// kubernetes.io/hostname node selector to that node, others to the node
// with the fewest pods), and reports bound pods running through the status
// subresource: phase Running, Ready and ContainersReady, a pod IP from the
// node's pod CIDR (deterministic: a hash of the pod's namespace and name,
// probing past addresses taken), the node's IP for host-network pods. It
// also completes graceful deletions, as a kubelet does once containers
// stop.
type Kubelet struct {
	client kubernetes.Interface
	nodes  []Node
	resync time.Duration
	log    *slog.Logger
	mu     sync.Mutex // one pass at a time
}

// NewKubelet returns a Kubelet for the API server of client.
func NewKubelet(client kubernetes.Interface, opts KubeletOptions) (*Kubelet, error) {
	if client == nil {
		return nil, errors.New("fake kubelet: no Kubernetes client given")
	}
	nodes := opts.Nodes
	if nodes == nil {
		nodes = DefaultNodes()
	}
	if len(nodes) == 0 {
		return nil, errors.New("fake kubelet: no nodes: give at least one")
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		switch {
		case n.Name == "":
			return nil, errors.New("fake kubelet: a node has no name")
		case seen[n.Name]:
			return nil, fmt.Errorf("fake kubelet: node %s given twice", n.Name)
		case !n.IP.IsValid():
			return nil, fmt.Errorf("fake kubelet: node %s has no IP", n.Name)
		case !n.PodCIDR.IsValid() || n.PodCIDR.Masked() != n.PodCIDR || n.PodCIDR.Bits() > n.PodCIDR.Addr().BitLen()-3:
			return nil, fmt.Errorf("fake kubelet: node %s: pod CIDR %s must be a network of at least 8 addresses, such as 10.244.1.0/24", n.Name, n.PodCIDR)
		}
		seen[n.Name] = true
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Kubelet{client: client, nodes: slices.Clone(nodes), resync: opts.Resync, log: opts.Logger.With("component", "fake-kubelet")}, nil
}

// Nodes returns the nodes the Kubelet plays.
func (k *Kubelet) Nodes() []Node { return slices.Clone(k.nodes) }

// Start registers the nodes, then keeps pods scheduled and running until
// ctx ends (a controller-runtime manager.Runnable). It returns nil when ctx
// ends; an error only when the nodes cannot be registered.
func (k *Kubelet) Start(ctx context.Context) error {
	if err := k.RegisterNodes(ctx); err != nil {
		return err
	}
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	factory := informers.NewSharedInformerFactory(k.client, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		return fmt.Errorf("fake kubelet: watch pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	tick := time.NewTicker(k.resync)
	defer tick.Stop()
	for {
		if err := k.Sync(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("pass over pods failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			// Let a burst of events (a ReplicaSet creating its pods) settle.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		case <-tick.C:
		}
	}
}

// NeedLeaderElection tells a controller-runtime manager that the Kubelet
// runs without leader election.
func (k *Kubelet) NeedLeaderElection() bool { return false }

// RegisterNodes creates the nodes, or brings existing ones back to their
// spec, and reports them Ready.
func (k *Kubelet) RegisterNodes(ctx context.Context) error {
	for _, n := range k.nodes {
		if err := k.registerNode(ctx, n); err != nil {
			return fmt.Errorf("fake kubelet: register node %s: %w", n.Name, err)
		}
	}
	return nil
}

func (k *Kubelet) registerNode(ctx context.Context, n Node) error {
	nodes := k.client.CoreV1().Nodes()
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				corev1.LabelHostname:   n.Name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.PodCIDR.String(), PodCIDRs: []string{n.PodCIDR.String()}},
	}
	if _, err := nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The controller manager annotates new nodes at once: read, then write
	// on the latest version.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node.Spec.PodCIDR != "" && node.Spec.PodCIDR != want.Spec.PodCIDR {
			return fmt.Errorf("it exists with pod CIDR %s, not %s: delete it (kubectl delete node %s)", node.Spec.PodCIDR, want.Spec.PodCIDR, n.Name)
		}
		// The API server taints a new node not-ready (admission plugin
		// TaintNodesByCondition); the node lifecycle controller, which
		// does not run here, lifts the taint once the node is Ready.
		taints := slices.DeleteFunc(slices.Clone(node.Spec.Taints), func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
		})
		if node.Spec.PodCIDR == "" || len(taints) != len(node.Spec.Taints) {
			node.Spec.PodCIDR, node.Spec.PodCIDRs, node.Spec.Taints = want.Spec.PodCIDR, want.Spec.PodCIDRs, taints
			if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		node.Status = nodeStatus(n)
		_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// nodeStatus is what a healthy kubelet reports.
func nodeStatus(n Node) corev1.NodeStatus {
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			nodeCondition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status (fake)", now),
			nodeCondition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
			nodeCondition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
			nodeCondition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.IP.String()},
			{Type: corev1.NodeHostName, Address: n.Name},
		},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
			ContainerRuntimeVersion: "fake://1.0",
			OSImage:                 "Redline dev cluster (no containers run)",
		},
	}
}

func nodeCondition(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string, now metav1.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
}

// Sync makes one pass over every pod: completes graceful deletions of
// bound pods, binds pending pods and reports bound pods running. Errors
// on single pods are joined; the pass goes on.
func (k *Kubelet) Sync(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	list, err := k.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("fake kubelet: list pods: %w", err)
	}
	pods := list.Items
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	alloc := newAllocator(k.nodes)
	for i := range pods {
		alloc.hold(&pods[i])
	}

	var errs []error
	for i := range pods {
		p := &pods[i]
		var err error
		switch {
		case p.DeletionTimestamp != nil:
			if p.Spec.NodeName != "" {
				err = k.finishDeletion(ctx, p)
			}
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
			// Finished: nothing runs.
		case p.Spec.NodeName == "":
			err = k.bind(ctx, p, alloc)
		case alloc.node(p.Spec.NodeName) != nil && !running(p):
			err = k.run(ctx, p, alloc)
		}
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// finishDeletion deletes a terminating pod for good, as its kubelet does
// once the containers stopped.
func (k *Kubelet) finishDeletion(ctx context.Context, p *corev1.Pod) error {
	uid := p.UID
	return k.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
}

// bind schedules a pending pod.
func (k *Kubelet) bind(ctx context.Context, p *corev1.Pod, alloc *allocator) error {
	name, ok := requiredNode(p)
	if ok {
		if alloc.node(name) == nil {
			k.log.Debug("pod asks for a node the dev cluster lacks; left pending", "pod", p.Namespace+"/"+p.Name, "node", name)
			return nil
		}
	} else {
		name = alloc.leastLoaded()
	}
	err := k.client.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: name},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind to %s: %w", name, err)
	}
	p.Spec.NodeName = name
	alloc.bound(name)
	return k.run(ctx, p, alloc)
}

// requiredNode is the node a pod must run on: the metadata.name field of
// a required node affinity term (how the DaemonSet controller pins its
// pods), or a kubernetes.io/hostname node selector.
func requiredNode(p *corev1.Pod) (string, bool) {
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range term.MatchFields {
				if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) > 0 {
					return f.Values[0], true
				}
			}
			for _, e := range term.MatchExpressions {
				if e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) > 0 {
					return e.Values[0], true
				}
			}
		}
	}
	if name, ok := p.Spec.NodeSelector[corev1.LabelHostname]; ok {
		return name, true
	}
	return "", false
}

// running reports whether a pod already looks the way run leaves it.
func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.Status.HostIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// run reports a bound pod running, with its addresses.
func (k *Kubelet) run(ctx context.Context, p *corev1.Pod, alloc *allocator) error {
	n := alloc.node(p.Spec.NodeName)
	if n == nil {
		return nil // bound to a node another kubelet plays
	}
	ip := n.IP
	if !p.Spec.HostNetwork {
		var ok bool
		if ip, ok = alloc.podIP(p); !ok {
			return fmt.Errorf("node %s has no free address left in %s", n.Name, n.PodCIDR)
		}
	}
	now := metav1.Now()
	st := p.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = n.IP.String(), []corev1.HostIP{{IP: n.IP.String()}}
	st.PodIP, st.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		setCondition(st, t, now)
	}
	st.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(p, c.Name), Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
		})
	}
	st.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		started := true
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(p, c.Name),
			Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	upd := p.DeepCopy()
	upd.Status = *st
	if _, err := k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("report running on %s: %w", n.Name, err)
	}
	alloc.take(n.Name, ip)
	return nil
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != corev1.ConditionTrue {
				st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = corev1.ConditionTrue, now
				st.Conditions[i].Reason, st.Conditions[i].Message = "", ""
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
}

// allocator knows which node holds how many pods and which addresses.
type allocator struct {
	nodes []Node
	pods  map[string]int                     // bound pods per node
	taken map[string]map[netip.Addr]struct{} // pod IPs in use per node
}

func newAllocator(nodes []Node) *allocator {
	a := &allocator{nodes: nodes, pods: map[string]int{}, taken: map[string]map[netip.Addr]struct{}{}}
	for _, n := range nodes {
		a.taken[n.Name] = map[netip.Addr]struct{}{}
	}
	return a
}

func (a *allocator) node(name string) *Node {
	for i := range a.nodes {
		if a.nodes[i].Name == name {
			return &a.nodes[i]
		}
	}
	return nil
}

// hold records what an existing pod occupies.
func (a *allocator) hold(p *corev1.Pod) {
	if p.Spec.NodeName == "" {
		return
	}
	a.pods[p.Spec.NodeName]++
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		a.take(p.Spec.NodeName, ip)
	}
}

func (a *allocator) take(node string, ip netip.Addr) {
	if m := a.taken[node]; m != nil {
		m[ip] = struct{}{}
	}
}

func (a *allocator) bound(node string) { a.pods[node]++ }

// leastLoaded is the node with the fewest pods, the first of them in the
// order the nodes were given.
func (a *allocator) leastLoaded() string {
	best := a.nodes[0].Name
	for _, n := range a.nodes[1:] {
		if a.pods[n.Name] < a.pods[best] {
			best = n.Name
		}
	}
	return best
}

// podIP returns the pod's address: the one it holds if it is in its node's
// CIDR, else a free one, starting from a hash of its namespace and name.
func (a *allocator) podIP(p *corev1.Pod) (netip.Addr, bool) {
	n := a.node(p.Spec.NodeName)
	if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil && n.PodCIDR.Contains(ip) {
		return ip, true
	}
	return PodAddress(n.PodCIDR, p.Namespace+"/"+p.Name, func(ip netip.Addr) bool {
		_, used := a.taken[n.Name][ip]
		return used
	})
}
