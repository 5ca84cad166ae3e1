package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// DefaultServiceRefresh is how long changes are batched before what backs
// the Services is recomputed, when WatchOptions leaves it zero.
const DefaultServiceRefresh = 200 * time.Millisecond

// WatchOptions tune a live Cluster.
type WatchOptions struct {
	Options
	// ConfigNamespace is the namespace of the redline-config ConfigMap
	// (Redline's own). The ConfigMap is watched there and its
	// classification replaces Options.Classifier while it exists; empty
	// means no ConfigMap is read.
	ConfigNamespace string
	// ConfigName is the ConfigMap's name; empty means ConfigMapName.
	ConfigName string
	// ServiceRefresh batches changes before what backs the Services is
	// recomputed; zero means DefaultServiceRefresh.
	ServiceRefresh time.Duration
}

// watcher keeps a Cluster up to date from informers.
type watcher struct {
	c             *Cluster
	factory       informers.SharedInformerFactory
	configFactory informers.SharedInformerFactory
	resources     []*watchedResource
	// informers by kind, for snapshots.
	informers map[string]cache.SharedIndexInformer
	configRef string
	refresh   time.Duration
	kick      chan struct{}
	started   atomic.Bool
}

// watchedResource is one informer and what went wrong with it.
type watchedResource struct {
	name     string
	informer cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
	mu       sync.Mutex
	lastErr  error
}

func (r *watchedResource) synced() bool { return r.reg != nil && r.reg.HasSynced() }

func (r *watchedResource) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// NewLiveCluster returns a Cluster kept up to date from the API server
// through client: pods, ReplicaSets, Jobs, CronJobs, Deployments,
// DaemonSets, StatefulSets, Services, EndpointSlices, Namespaces, Nodes and
// NetworkPolicies, all namespaces (list and watch on each; get, list and
// watch on ConfigMaps in ConfigNamespace). It is empty until Start runs;
// Start is a controller-runtime manager.Runnable, so `mgr.Add(cluster)` runs
// it with the manager, and ReadyCheck is its readiness check.
func NewLiveCluster(client kubernetes.Interface, opts WatchOptions) (*Cluster, error) {
	if client == nil {
		return nil, errors.New("inventory: no Kubernetes client given")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.ServiceRefresh < 0 {
		return nil, fmt.Errorf("inventory: service refresh delay %s is negative", opts.ServiceRefresh)
	}
	if opts.ServiceRefresh == 0 {
		opts.ServiceRefresh = DefaultServiceRefresh
	}
	if opts.ConfigName == "" {
		opts.ConfigName = ConfigMapName
	}
	c := newCluster(opts.Options)
	w := &watcher{
		c:         c,
		factory:   informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripForInventory)),
		informers: make(map[string]cache.SharedIndexInformer),
		refresh:   opts.ServiceRefresh,
		kick:      make(chan struct{}, 1),
	}
	c.live = w

	f := w.factory
	type reg struct {
		name, kind string
		inf        cache.SharedIndexInformer
		h          cache.ResourceEventHandler
	}
	regs := []reg{
		{"pods", kindPod, f.Core().V1().Pods().Informer(),
			handler(c, true, (*state).upsertPod, (*state).deletePod)},
		{"replicasets", kindReplicaSet, f.Apps().V1().ReplicaSets().Informer(), templateHandler[*appsv1.ReplicaSet](c, kindReplicaSet)},
		{"jobs", kindJob, f.Batch().V1().Jobs().Informer(), templateHandler[*batchv1.Job](c, kindJob)},
		{"cronjobs", kindCronJob, f.Batch().V1().CronJobs().Informer(), templateHandler[*batchv1.CronJob](c, kindCronJob)},
		{"deployments", kindDeployment, f.Apps().V1().Deployments().Informer(), templateHandler[*appsv1.Deployment](c, kindDeployment)},
		{"daemonsets", kindDaemonSet, f.Apps().V1().DaemonSets().Informer(), templateHandler[*appsv1.DaemonSet](c, kindDaemonSet)},
		{"statefulsets", kindStatefulSet, f.Apps().V1().StatefulSets().Informer(), templateHandler[*appsv1.StatefulSet](c, kindStatefulSet)},
		{"services", kindService, f.Core().V1().Services().Informer(),
			handler(c, true, func(s *state, o *corev1.Service, _ int64) { s.upsertService(o) },
				func(s *state, o *corev1.Service, _ int64) { s.deleteService(o) })},
		{"endpointslices", "", f.Discovery().V1().EndpointSlices().Informer(),
			handler(c, false, func(s *state, o *discoveryv1.EndpointSlice, _ int64) { s.upsertSlice(o) },
				func(s *state, o *discoveryv1.EndpointSlice, _ int64) { s.deleteSlice(o) })},
		{"nodes", "", f.Core().V1().Nodes().Informer(),
			handler(c, false, func(s *state, o *corev1.Node, _ int64) { s.upsertNode(o) },
				func(s *state, o *corev1.Node, _ int64) { s.deleteNode(o) })},
		{"namespaces", kindNamespace, f.Core().V1().Namespaces().Informer(), snapshotOnlyHandler(c)},
		{"networkpolicies", kindNetworkPolicy, f.Networking().V1().NetworkPolicies().Informer(), snapshotOnlyHandler(c)},
	}
	if opts.ConfigNamespace != "" {
		w.configRef = opts.ConfigNamespace + "/" + opts.ConfigName
		w.configFactory = informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(opts.ConfigNamespace),
			informers.WithTransform(stripForInventory),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
				lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.ConfigName).String()
			}))
		regs = append(regs, reg{"configmaps", "", w.configFactory.Core().V1().ConfigMaps().Informer(), w.configHandler()})
	}
	for _, r := range regs {
		res := &watchedResource{name: r.name, informer: r.inf}
		if err := r.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			w.watchError(res, err)
		}); err != nil {
			return nil, fmt.Errorf("inventory: watch %s: %w", r.name, err)
		}
		h, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return nil, fmt.Errorf("inventory: watch %s: %w", r.name, err)
		}
		res.reg = h
		w.resources = append(w.resources, res)
		if r.kind != "" {
			w.informers[r.kind] = r.inf
		}
	}
	return c, nil
}

// Watch starts a live Cluster (NewLiveCluster) that runs until ctx is
// done, and returns it once its caches are synced. It fails when ctx ends
// first, saying which resources could not be listed and why.
func Watch(ctx context.Context, client kubernetes.Interface, opts WatchOptions) (*Cluster, error) {
	c, err := NewLiveCluster(client, opts)
	if err != nil {
		return nil, err
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Start(run); err != nil {
			c.log.Error("inventory stopped", "error", err)
		}
	}()
	if err := c.WaitForSync(ctx); err != nil {
		stop()
		<-done
		return nil, err
	}
	context.AfterFunc(ctx, stop)
	return c, nil
}

// NeedLeaderElection tells a controller-runtime manager that every replica
// runs its own inventory.
func (c *Cluster) NeedLeaderElection() bool { return false }

// Start runs the informers until ctx is done (a controller-runtime
// manager.Runnable). It returns nil when ctx ends; a Cluster runs once. For a
// Cluster from FromInventory it only waits for ctx.
func (c *Cluster) Start(ctx context.Context) error {
	w := c.live
	if w == nil {
		<-ctx.Done()
		return nil
	}
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("inventory: Start called twice: a live Cluster runs once")
	}
	begin := time.Now()
	w.factory.Start(ctx.Done())
	if w.configFactory != nil {
		w.configFactory.Start(ctx.Done())
	}
	defer func() {
		w.factory.Shutdown()
		if w.configFactory != nil {
			w.configFactory.Shutdown()
		}
	}()

	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		fns := make([]cache.InformerSynced, 0, len(w.resources))
		for _, r := range w.resources {
			fns = append(fns, r.synced)
		}
		if !cache.WaitForCacheSync(ctx.Done(), fns...) {
			return
		}
		c.refreshServices()
		c.gen.Add(1)
		c.synced.Store(true)
		close(c.syncedCh)
		c.mu.RLock()
		pods, services, nodes := len(c.st.pods), len(c.st.services), len(c.st.nodes)
		c.mu.RUnlock()
		c.log.Info("inventory synced", "pods", pods, "services", services, "nodes", nodes, "duration", time.Since(begin).Round(time.Millisecond))
	}()

	forgetEvery := min(max(c.opts.Grace/4, time.Second), time.Minute)
	forget := time.NewTicker(forgetEvery)
	defer forget.Stop()
	refresh := time.NewTimer(w.refresh)
	refresh.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			<-syncDone
			return nil
		case <-w.kick:
			if !pending {
				pending = true
				refresh.Reset(w.refresh)
			}
		case <-refresh.C:
			pending = false
			c.refreshServices()
		case <-forget.C:
			c.forget()
		}
	}
}

// WaitForSync blocks until the Cluster is synced or ctx is done.
func (c *Cluster) WaitForSync(ctx context.Context) error {
	select {
	case <-c.syncedCh:
		return nil
	case <-ctx.Done():
		if c.Synced() {
			return nil
		}
		return fmt.Errorf("%w (%w)", c.notSyncedError(), ctx.Err())
	}
}

// notSyncedError says what the Cluster waits for.
func (c *Cluster) notSyncedError() error {
	w := c.live
	if w == nil {
		return nil
	}
	if !w.started.Load() {
		return fmt.Errorf("%w: not started (run Cluster.Start, or add it to the manager)", ErrNotSynced)
	}
	var waiting, problems []string
	for _, r := range w.resources {
		if r.synced() {
			continue
		}
		waiting = append(waiting, r.name)
		if err := r.err(); err != nil {
			problems = append(problems, r.name+": "+err.Error())
		}
	}
	if len(waiting) == 0 {
		return fmt.Errorf("%w: computing what backs the Services", ErrNotSynced)
	}
	msg := "waiting to list " + strings.Join(waiting, ", ")
	if len(problems) > 0 {
		msg += "; " + strings.Join(problems, "; ")
	}
	return fmt.Errorf("%w: %s", ErrNotSynced, msg)
}

// watchError records and logs why a list or watch failed.
func (w *watcher) watchError(r *watchedResource, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return // the watch ends and is restarted
	}
	what := err.Error()
	switch {
	case apierrors.IsForbidden(err):
		what += ": give Redline's service account list and watch on " + r.name + " (the chart's ClusterRole does)"
		if r.name == "configmaps" {
			what = err.Error() + ": give Redline's service account get, list and watch on ConfigMaps in its namespace (the chart's Role does)"
		}
	case apierrors.IsNotFound(err):
		what += ": the API server does not serve " + r.name + " at the version Redline reads"
	}
	r.mu.Lock()
	repeated := r.lastErr != nil && r.lastErr.Error() == what
	r.lastErr = errors.New(what)
	r.mu.Unlock()
	if repeated {
		w.c.log.Debug("list or watch failed again; retrying", "resource", r.name, "error", what)
		return
	}
	w.c.log.Warn("list or watch failed; retrying", "resource", r.name, "error", what)
}

func (w *watcher) kickRefresh() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// handler turns informer events of type T into state changes.
// snapshot says the kind is part of Snapshot.
func handler[T metav1.Object](c *Cluster, snapshot bool, upsert, remove func(*state, T, int64)) cache.ResourceEventHandler {
	on := func(obj any, f func(*state, T, int64)) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, ok := obj.(T)
		if !ok {
			return
		}
		c.apply(snapshot, func(s *state, now int64) { f(s, o, now) })
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { on(obj, upsert) },
		UpdateFunc: func(_, obj any) { on(obj, upsert) },
		DeleteFunc: func(obj any) { on(obj, remove) },
	}
}

func templateHandler[T metav1.Object](c *Cluster, kind string) cache.ResourceEventHandler {
	return handler(c, true,
		func(s *state, o T, _ int64) { s.upsertTemplate(kind, o) },
		func(s *state, o T, _ int64) { s.deleteTemplate(kind, o) })
}

// snapshotOnlyHandler marks the snapshot stale: Resolve does not read the
// kind (namespaces, NetworkPolicies).
func snapshotOnlyHandler(c *Cluster) cache.ResourceEventHandler {
	bump := func(any) { c.gen.Add(1) }
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    bump,
		UpdateFunc: func(_, obj any) { bump(obj) },
		DeleteFunc: bump,
	}
}

// configHandler swaps the classifier when the ConfigMap changes.
func (w *watcher) configHandler() cache.ResourceEventHandler {
	c := w.c
	set := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return
		}
		cl, warnings := ParseConfig(cm.Data)
		for i := range warnings {
			warnings[i] = "ConfigMap " + w.configRef + ": " + warnings[i]
		}
		c.setClassifier(cl, warnings)
		for _, msg := range warnings {
			c.log.Warn("configuration entry skipped", "configmap", w.configRef, "problem", msg)
		}
		c.log.Info("configuration loaded", "configmap", w.configRef, "clusterCIDRs", len(cl.clusterCIDRs),
			"aliases", len(cl.aliasNames), "allowed", len(cl.allowed), "skipped", len(warnings))
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(any) {
			c.setClassifier(c.opts.Classifier, nil)
			c.log.Info("configuration deleted: back to the default classification", "configmap", w.configRef)
		},
	}
}

// inventory builds a snapshot from the informers' caches with the rules of
// LoadFiles.
func (w *watcher) inventory() *Inventory {
	l := newLoader(LoadOptions{DefaultNamespace: DefaultNamespace})
	doc := &document{source: "cluster"}
	kinds := make([]string, 0, len(w.informers))
	for k := range w.informers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		for _, item := range w.informers[kind].GetStore().List() {
			m, ok := item.(metav1.Object)
			if !ok {
				continue
			}
			if np, ok := m.(*networkingv1.NetworkPolicy); ok {
				m = np.DeepCopy() // handed out: the cache's copy must stay intact
			}
			key := objectKey{kind, m.GetNamespace(), m.GetName()}
			o := &object{doc: doc, key: key, obj: m}
			l.seen[key] = o
			l.objects = append(l.objects, o)
		}
	}
	return l.build()
}
