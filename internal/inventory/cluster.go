package inventory

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// DefaultGrace is how long a deleted pod's addresses (and name) stay
// resolvable when Options leaves Grace zero.
const DefaultGrace = 5 * time.Minute

// Options tune a Cluster. The zero value is ready to use.
type Options struct {
	// Grace keeps a released pod address resolvable to its last pod (for
	// flow times up to Grace after the release), and a deleted pod's name
	// for Grace; zero means DefaultGrace.
	Grace time.Duration
	// Classifier classifies unresolved addresses; nil is an empty
	// configuration. A live Cluster watching the redline-config ConfigMap
	// uses the ConfigMap's instead while it exists.
	Classifier *Classifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the inventory's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	if o.Grace < 0 {
		return fmt.Errorf("inventory: grace period %s is negative: give a duration such as 5m", o.Grace)
	}
	return nil
}

// Cluster is the view of a cluster the ingest path resolves flow peers
// against: pods, their owners, Services, nodes, with the history of pod
// addresses. It is built from manifests (FromInventory) or kept up to date
// from the API server (NewLiveCluster, Watch). It is safe for concurrent
// use; Resolve is the hot path: it takes a read lock and allocates nothing.
type Cluster struct {
	opts Options
	log  *slog.Logger

	// classifier is swapped whole when the configuration changes.
	classifier     atomic.Pointer[Classifier]
	configWarnings atomic.Pointer[[]string]

	mu sync.RWMutex
	st state

	// gen counts changes, for snapshots.
	gen     atomic.Uint64
	snapMu  sync.Mutex
	snap    *Inventory
	snapGen uint64
	snapAt  time.Time
	// offline is the inventory FromInventory was built from.
	offline *Inventory

	live     *watcher
	synced   atomic.Bool
	syncedCh chan struct{}
}

// state is what Resolve reads, guarded by Cluster.mu.
type state struct {
	grace int64 // ns

	pods        map[nsName]*podRecord
	podsByNS    map[string]map[*podRecord]struct{}
	podsByOwner map[ownerKey]map[*podRecord]struct{}
	ips         map[netip.Addr][]ipInterval

	// replicaSets and jobs link each to its workload owner (zero: none).
	replicaSets map[nsName]ownerLink
	jobs        map[nsName]ownerLink
	// templates are the pod templates of the workload controllers.
	templates map[workloadKey]*podTemplateRecord

	services     map[nsName]*serviceRecord
	servicesByNS map[string]map[*serviceRecord]struct{}
	clusterIPs   map[netip.Addr]*serviceRecord
	slices       map[nsName]*sliceRecord
	slicesBySvc  map[nsName]map[nsName]*sliceRecord
	apiServers   map[netip.Addr]struct{}
	// dirty are the namespaces whose Services' backing may have changed.
	dirty map[string]struct{}

	nodes     map[string]*nodeRecord
	nodeIPs   map[netip.Addr]string
	nodeCIDRs []netip.Prefix
}

// podTemplateRecord is what a workload's pods look like.
type podTemplateRecord struct {
	labels map[string]string
	ports  []netpol.ContainerPort
}

type nodeRecord struct {
	addrs []netip.Addr
	cidrs []netip.Prefix
}

func newState(grace time.Duration) state {
	return state{
		grace:        int64(grace),
		pods:         make(map[nsName]*podRecord),
		podsByNS:     make(map[string]map[*podRecord]struct{}),
		podsByOwner:  make(map[ownerKey]map[*podRecord]struct{}),
		ips:          make(map[netip.Addr][]ipInterval),
		replicaSets:  make(map[nsName]ownerLink),
		jobs:         make(map[nsName]ownerLink),
		templates:    make(map[workloadKey]*podTemplateRecord),
		services:     make(map[nsName]*serviceRecord),
		servicesByNS: make(map[string]map[*serviceRecord]struct{}),
		clusterIPs:   make(map[netip.Addr]*serviceRecord),
		slices:       make(map[nsName]*sliceRecord),
		slicesBySvc:  make(map[nsName]map[nsName]*sliceRecord),
		apiServers:   make(map[netip.Addr]struct{}),
		dirty:        make(map[string]struct{}),
		nodes:        make(map[string]*nodeRecord),
		nodeIPs:      make(map[netip.Addr]string),
	}
}

func newCluster(opts Options) *Cluster {
	opts = opts.withDefaults()
	c := &Cluster{opts: opts, log: opts.Logger.With("component", "inventory"), st: newState(opts.Grace), syncedCh: make(chan struct{})}
	c.classifier.Store(opts.Classifier)
	return c
}

// Resolve says what a flow peer is at time at (the flow's time; zero means
// now), in this order:
//
//  1. the peer names a pod (Namespace, Pod) the cluster knows, live or
//     deleted within the grace period: the pod's top owner workload
//     (Deployment via its ReplicaSet, CronJob via its Job, DaemonSet,
//     StatefulSet, Job, orphan ReplicaSet, bare Pod); its node for a
//     host-network pod;
//  2. the peer names a workload (WorkloadKind, WorkloadName and Namespace,
//     as Hubble reports it) of a known kind: that workload, a ReplicaSet
//     folded into its Deployment and a Job into its CronJob when the
//     cluster (or the pod-template-hash label) says so;
//  3. by address at time at: the pod that held it (see the pod IP history
//     in pods.go) → its workload; a Service ClusterIP → what backs the
//     Service (see services.go), with the Service; a node address → the
//     node;
//  4. else an address endpoint, classified (see Classifier).
//
// Hubble's reserved identities (Peer.Reserved) do not skip step 3: Cilium
// forgets a deleted pod's address at once and calls it world, where the
// history still knows the pod; a host or remote-node peer on a node
// address is that node. They matter to the classification: world is
// external, host, remote-node, health and ingress internal, kube-apiserver
// the built-in alias "kube-apiserver" (unless a user alias matches).
//
// The ServiceRef is shared: callers must not modify it. A peer with no
// valid address and nothing else resolves to an unknown address endpoint.
func (c *Cluster) Resolve(p flow.Peer, at time.Time) (flow.Endpoint, *flow.ServiceRef) {
	var t int64
	if at.IsZero() {
		t = c.opts.Now().UnixNano()
	} else {
		t = at.UnixNano()
	}
	a := p.IP.Unmap()
	var in AddrFacts
	c.mu.RLock()
	ep, svc, ok := c.st.resolve(&p, a, t)
	if !ok && a.IsValid() {
		in = c.st.classification(a)
	}
	c.mu.RUnlock()
	if ok {
		return ep, svc
	}
	in.Reserved = p.Reserved
	class, alias := c.classifier.Load().Classify(a, in)
	return flow.Endpoint{Kind: flow.EndpointAddress, Addr: a, Class: class, Alias: alias}, nil
}

// resolve is Resolve's steps 1 to 3.
func (s *state) resolve(p *flow.Peer, a netip.Addr, t int64) (flow.Endpoint, *flow.ServiceRef, bool) {
	if p.Namespace != "" && p.Pod != "" {
		if r := s.pods[nsName{p.Namespace, p.Pod}]; r != nil && r.endpoint.Kind != 0 {
			return r.endpoint, nil, true
		}
	}
	if p.Namespace != "" && p.WorkloadName != "" {
		if ep, ok := s.sourceWorkload(p); ok {
			return ep, nil, true
		}
	}
	if !a.IsValid() {
		return flow.Endpoint{}, nil, false
	}
	if r := s.podAt(a, t); r != nil && r.endpoint.Kind != 0 {
		return r.endpoint, nil, true
	}
	if r := s.clusterIPs[a]; r != nil {
		return r.endpoint, r.ref, true
	}
	if n, ok := s.nodeIPs[a]; ok {
		return nodeEndpoint(n), nil, true
	}
	return flow.Endpoint{}, nil, false
}

// sourceWorkload normalises the workload a traffic source attached to a
// peer whose pod is not known.
func (s *state) sourceWorkload(p *flow.Peer) (flow.Endpoint, bool) {
	ns, name := p.Namespace, p.WorkloadName
	switch kind := canonicalKind(p.WorkloadKind); kind {
	case kindDeployment, kindDaemonSet, kindStatefulSet, kindCronJob, kindPod:
		return flow.WorkloadEndpoint(ns, kind, name), true
	case kindReplicaSet:
		if link, ok := s.replicaSets[nsName{ns, name}]; ok {
			if link.kind == kindDeployment {
				return flow.WorkloadEndpoint(ns, kindDeployment, link.name), true
			}
			return flow.WorkloadEndpoint(ns, kindReplicaSet, name), true
		}
		if d, ok := s.deploymentOfReplicaSet(ns, name, peerLabel(p.Labels, "pod-template-hash")); ok {
			return flow.WorkloadEndpoint(ns, kindDeployment, d), true
		}
		return flow.WorkloadEndpoint(ns, kindReplicaSet, name), true
	case kindJob:
		if link, ok := s.jobs[nsName{ns, name}]; ok {
			if link.kind == kindCronJob {
				return flow.WorkloadEndpoint(ns, kindCronJob, link.name), true
			}
			return flow.WorkloadEndpoint(ns, kindJob, name), true
		}
		if cj, ok := s.cronJobOfJob(ns, name); ok {
			return flow.WorkloadEndpoint(ns, kindCronJob, cj), true
		}
		return flow.WorkloadEndpoint(ns, kindJob, name), true
	}
	return flow.Endpoint{}, false
}

// canonicalKind spells a workload kind as the API does ("deployment" →
// "Deployment"); "" for kinds that are not workload kinds.
func canonicalKind(kind string) string {
	for _, k := range [...]string{kindDeployment, kindDaemonSet, kindStatefulSet, kindCronJob, kindJob, kindReplicaSet, kindPod} {
		if len(k) == len(kind) && equalFoldASCII(k, kind) {
			return k
		}
	}
	return ""
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// peerLabel returns the value of a "key=value" label of a peer.
func peerLabel(labels []string, key string) string {
	for _, l := range labels {
		if len(l) > len(key) && l[len(key)] == '=' && l[:len(key)] == key {
			return l[len(key)+1:]
		}
	}
	return ""
}

// classification is what the cluster knows of an unresolved address.
func (s *state) classification(a netip.Addr) AddrFacts {
	in := AddrFacts{ClusterCIDRsKnown: len(s.nodeCIDRs) > 0}
	for _, p := range s.nodeCIDRs {
		if p.Contains(a) {
			in.InCluster = true
			break
		}
	}
	_, in.APIServer = s.apiServers[a]
	return in
}

// WorkloadLabels returns the pod template labels of a workload endpoint
// (a bare Pod's own labels), as Workloads has them; the map is shared:
// callers must not modify it. found is false for other endpoints and
// workloads the cluster does not know (any more).
func (c *Cluster) WorkloadLabels(ep flow.Endpoint) (labels map[string]string, found bool) {
	if ep.Kind != flow.EndpointWorkload || ep.WorkloadKind == ServiceEndpointKind {
		return nil, false
	}
	c.mu.RLock()
	if t := c.st.templates[workloadKey{ep.Namespace, ep.WorkloadKind, ep.Name}]; t != nil {
		labels, found = t.labels, true
	} else if ep.WorkloadKind == kindPod {
		if r := c.st.pods[nsName{ep.Namespace, ep.Name}]; r != nil && r.deleted == 0 {
			labels, found = r.labels, true
		}
	}
	c.mu.RUnlock()
	if found {
		if labels == nil {
			labels = map[string]string{}
		}
		return labels, true
	}
	// The controller itself is not known (yet, or any more): what its
	// ReplicaSets, Jobs or pods show, from a recent snapshot (rebuilding
	// one for every such call would cost O(cluster) each).
	if w := findWorkload(c.recentSnapshot(fallbackSnapshotAge).Workloads, ep); w != nil {
		return w.Labels, true
	}
	return nil, false
}

// TargetPort maps the port of a connection to a Service's ClusterIP to the
// port its backend receives it on: the Service port's targetPort, a named
// one looked up in the backend workload's container ports. ok is false
// (and port is returned as is) when the Service, the port or the name is
// not known.
func (c *Cluster) TargetPort(svc *flow.ServiceRef, proto flow.Protocol, port uint16, backend flow.Endpoint) (uint16, bool) {
	if svc == nil {
		return port, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.targetPort(svc, proto, port, backend)
}

// workloadPorts returns the container ports of a workload endpoint.
func (s *state) workloadPorts(ep flow.Endpoint) []netpol.ContainerPort {
	if ep.Kind != flow.EndpointWorkload {
		return nil
	}
	if t := s.templates[workloadKey{ep.Namespace, ep.WorkloadKind, ep.Name}]; t != nil {
		return t.ports
	}
	if ep.WorkloadKind == kindPod {
		if r := s.pods[nsName{ep.Namespace, ep.Name}]; r != nil {
			return r.ports
		}
	}
	return nil
}

func findWorkload(ws []*netpol.Workload, ep flow.Endpoint) *netpol.Workload {
	i, ok := slices.BinarySearchFunc(ws, ep, func(w *netpol.Workload, ep flow.Endpoint) int {
		return cmp.Or(cmp.Compare(w.Namespace, ep.Namespace), cmp.Compare(w.Kind, ep.WorkloadKind), cmp.Compare(w.Name, ep.Name))
	})
	if !ok {
		return nil
	}
	return ws[i]
}

// Snapshot returns the cluster as an Inventory (namespaces, workloads,
// services, pods and policies), built by the same rules as LoadFiles. It
// is rebuilt when the cluster changed since the last call, and shared:
// callers must not modify it.
func (c *Cluster) Snapshot() *Inventory {
	if c.offline != nil {
		return c.offline
	}
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	gen := c.gen.Load()
	if c.snap != nil && c.snapGen == gen {
		return c.snap
	}
	c.snap, c.snapGen, c.snapAt = c.live.inventory(), gen, c.opts.Now()
	return c.snap
}

// fallbackSnapshotAge is how old a snapshot WorkloadLabels may use.
const fallbackSnapshotAge = 10 * time.Second

// recentSnapshot returns the last snapshot if it is younger than age,
// else a fresh one.
func (c *Cluster) recentSnapshot(age time.Duration) *Inventory {
	if c.offline != nil {
		return c.offline
	}
	c.snapMu.Lock()
	snap, at := c.snap, c.snapAt
	c.snapMu.Unlock()
	if snap != nil && c.opts.Now().Sub(at) < age {
		return snap
	}
	return c.Snapshot()
}

// Namespaces returns the namespaces, sorted by name (see Snapshot).
func (c *Cluster) Namespaces() []netpol.Namespace { return c.Snapshot().Namespaces }

// Workloads returns the workloads, sorted (see Snapshot).
func (c *Cluster) Workloads() []*netpol.Workload { return c.Snapshot().Workloads }

// Services returns the Services, sorted (see Snapshot).
func (c *Cluster) Services() []Service { return c.Snapshot().Services }

// Policies returns the NetworkPolicies, sorted (see Snapshot).
func (c *Cluster) Policies() []*networkingv1.NetworkPolicy { return c.Snapshot().Policies }

// Classifier returns the classifier in use.
func (c *Cluster) Classifier() *Classifier { return c.classifier.Load() }

// ConfigWarnings returns the problems found in the configuration in use
// (the redline-config ConfigMap), one line each.
func (c *Cluster) ConfigWarnings() []string {
	if w := c.configWarnings.Load(); w != nil {
		return slices.Clone(*w)
	}
	return nil
}

// setClassifier swaps the configuration.
func (c *Cluster) setClassifier(cl *Classifier, warnings []string) {
	c.classifier.Store(cl)
	c.configWarnings.Store(&warnings)
}

// Synced reports whether the cluster view is complete: every watched
// resource listed and handled. A Cluster from FromInventory is.
func (c *Cluster) Synced() bool { return c.synced.Load() }

// ErrNotSynced is wrapped by ReadyCheck and WaitForSync while the caches
// are not synced.
var ErrNotSynced = errors.New("inventory not synced")

// ReadyCheck is a healthz.Checker: nil once Synced, else what is missing.
func (c *Cluster) ReadyCheck(_ *http.Request) error {
	if c.Synced() {
		return nil
	}
	return c.notSyncedError()
}

// apply runs a change under the write lock; snapshot says it changes
// what Snapshot shows.
func (c *Cluster) apply(snapshot bool, change func(s *state, now int64)) {
	now := c.opts.Now().UnixNano()
	c.mu.Lock()
	change(&c.st, now)
	c.mu.Unlock()
	if snapshot {
		c.gen.Add(1)
	}
	if c.live != nil {
		c.live.kickRefresh()
	}
}

// refreshServices recomputes what backs the Services that may have changed.
func (c *Cluster) refreshServices() {
	now := c.opts.Now().UnixNano()
	c.mu.Lock()
	c.st.refreshServices(now)
	c.mu.Unlock()
}

// forget drops the history older than the grace period.
func (c *Cluster) forget() {
	now := c.opts.Now().UnixNano()
	c.mu.Lock()
	c.st.forget(now)
	c.mu.Unlock()
}

// Workload controllers: owner links and pod templates.

func (s *state) upsertTemplate(kind string, obj metav1.Object) {
	labels, spec := podTemplate(obj)
	t := &podTemplateRecord{labels: labels}
	if spec != nil {
		t.ports = podPorts(spec, nil)
	}
	s.templates[workloadKey{obj.GetNamespace(), kind, obj.GetName()}] = t
	key := nsName{obj.GetNamespace(), obj.GetName()}
	switch kind {
	case kindReplicaSet:
		s.replicaSets[key] = controllerLink(obj, kindDeployment)
		s.refreshOwned(kindReplicaSet, key)
	case kindJob:
		s.jobs[key] = controllerLink(obj, kindCronJob)
		s.refreshOwned(kindJob, key)
	}
	s.dirty[key.namespace] = struct{}{}
}

func (s *state) deleteTemplate(kind string, obj metav1.Object) {
	delete(s.templates, workloadKey{obj.GetNamespace(), kind, obj.GetName()})
	key := nsName{obj.GetNamespace(), obj.GetName()}
	switch kind {
	case kindReplicaSet:
		delete(s.replicaSets, key)
	case kindJob:
		delete(s.jobs, key)
	}
}

// controllerLink returns obj's owner of kind parent (a ReplicaSet's
// Deployment, a Job's CronJob), or none.
func controllerLink(obj metav1.Object, parent string) ownerLink {
	if ref := workloadOwner(obj); ref != nil && isWorkloadRef(ref) && ref.Kind == parent {
		return ownerLink{ref.Kind, ref.Name}
	}
	return ownerLink{}
}

// Nodes.

func (s *state) upsertNode(n *corev1.Node) {
	r := &nodeRecord{}
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Zone() == "" && !slices.Contains(r.addrs, ip.Unmap()) {
			r.addrs = append(r.addrs, ip.Unmap())
		}
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, raw := range cidrs {
		if p, err := netip.ParsePrefix(raw); err == nil {
			r.cidrs = append(r.cidrs, p.Masked())
		}
	}
	old := s.nodes[n.Name]
	if old != nil && slices.Equal(old.addrs, r.addrs) && slices.Equal(old.cidrs, r.cidrs) {
		return
	}
	s.removeNode(n.Name)
	s.nodes[n.Name] = r
	for _, a := range r.addrs {
		s.nodeIPs[a] = n.Name
	}
	s.collectNodeCIDRs()
}

func (s *state) deleteNode(n *corev1.Node) {
	s.removeNode(n.Name)
	s.collectNodeCIDRs()
}

func (s *state) removeNode(name string) {
	old := s.nodes[name]
	if old == nil {
		return
	}
	for _, a := range old.addrs {
		if s.nodeIPs[a] == name {
			delete(s.nodeIPs, a)
		}
	}
	delete(s.nodes, name)
}

func (s *state) collectNodeCIDRs() {
	s.nodeCIDRs = s.nodeCIDRs[:0]
	for _, n := range s.nodes {
		for _, p := range n.cidrs {
			if !slices.Contains(s.nodeCIDRs, p) {
				s.nodeCIDRs = append(s.nodeCIDRs, p)
			}
		}
	}
}
