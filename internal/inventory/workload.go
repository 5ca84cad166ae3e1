package inventory

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/netpol"
)

// Workloads: every Deployment, DaemonSet, StatefulSet, CronJob, Job,
// ReplicaSet and Pod read is folded into its top owner, following the
// controller ownerReference (or, when no reference is marked controller, the
// first one naming a workload kind):
//
//   - A ReplicaSet owned by a Deployment becomes (part of) that Deployment;
//     any other ReplicaSet stays a ReplicaSet (an orphan).
//   - A Job owned by a CronJob becomes (part of) that CronJob; any other Job
//     stays a Job.
//   - A Pod goes to its owner, resolved as above when the owner is in the
//     files. When it is not:
//   - a ReplicaSet owner named "<name>-<pod-template-hash label>" is taken
//     for Deployment <name> (what the Deployment controller names them);
//     otherwise the pod makes a ReplicaSet workload of the owner's name;
//   - a Job owner named "<cronjob>-<digits>" goes to that CronJob when the
//     CronJob is in the files; otherwise the pod makes a Job workload;
//   - a Deployment, DaemonSet, StatefulSet or CronJob owner makes (or joins)
//     that workload;
//   - any other owner (a Node for static pods, a custom resource) leaves
//     the Pod a bare Pod.
//   - A Pod without owner is a bare Pod workload.
//
// A workload is seen through the best view of its pods the files hold:
// its own manifest (its pod template; a bare Pod's own labels and spec),
// else the templates of its ReplicaSets or Jobs, else its pods. Only the
// best view counts for labels, ports and hostNetwork; a workload built from
// several views of the same rank gets the labels they all carry, every port
// any declares, and hostNetwork if any uses it.
//
// Why a template wins over its pods: policies select pods by the labels the
// template gives them; pods add labels the controller varies per revision,
// per run or per pod (pod-template-hash, controller-revision-hash, job-name,
// statefulset.kubernetes.io/pod-name ...), which no policy should rely on
// and which would differ between pods of one workload. For the same reason
// those labels are removed from workloads built from ReplicaSets, Jobs or
// pods (see perRevisionLabel).
//
// Pods always contribute their addresses (status.podIPs, else status.podIP;
// not for pods that have finished, whose addresses are reused) and their
// node: a workload whose pods all run on one node gets that node.

// How a workload is known, better views ranking higher.
const (
	fromPods     = 1 + iota // only its pods are in the files
	fromChildren            // the templates of its ReplicaSets or Jobs are
	fromManifest            // its own manifest is
)

// workloadBuild accumulates what is known of one workload.
type workloadBuild struct {
	w     *netpol.Workload
	rank  int
	ips   map[netip.Addr]bool
	nodes map[string]bool
}

// see adds one view of the workload's pods.
func (b *workloadBuild) see(rank int, labels map[string]string, spec *corev1.PodSpec) {
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if rank < fromManifest {
		maps.DeleteFunc(labels, func(k, _ string) bool { return perRevisionLabel(b.w.Kind, k) })
	}
	if spec.NodeName != "" {
		b.nodes[spec.NodeName] = true
	}
	switch {
	case rank > b.rank:
		b.rank = rank
		b.w.Labels = labels
		b.w.Ports = podPorts(spec, nil)
		b.w.HostNetwork = spec.HostNetwork
	case rank == b.rank:
		maps.DeleteFunc(b.w.Labels, func(k, v string) bool {
			other, ok := labels[k]
			return !ok || other != v
		})
		b.w.Ports = podPorts(spec, b.w.Ports)
		b.w.HostNetwork = b.w.HostNetwork || spec.HostNetwork
	}
}

// perRevisionLabel reports whether controllers of kind put the label on
// their pods per revision, per run or per pod, rather than once for the
// workload.
func perRevisionLabel(kind, key string) bool {
	switch key {
	case "pod-template-hash":
		return kind == kindDeployment
	case "controller-revision-hash":
		return kind == kindDaemonSet || kind == kindStatefulSet
	case "pod-template-generation":
		return kind == kindDaemonSet
	case "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index":
		return kind == kindStatefulSet
	case "controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name":
		return kind == kindCronJob
	case "batch.kubernetes.io/job-completion-index":
		return kind == kindJob || kind == kindCronJob
	}
	return false
}

// podPorts appends the ports a pod serves on, not already in ports: those
// of its containers and of its sidecars (init containers with restartPolicy
// Always, which keep running); other init containers finish before the pod
// serves. A missing protocol is TCP.
func podPorts(spec *corev1.PodSpec, ports []netpol.ContainerPort) []netpol.ContainerPort {
	add := func(cs []corev1.Container, sidecarsOnly bool) {
		for _, c := range cs {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				cp := netpol.ContainerPort{Name: p.Name, Port: p.ContainerPort, Protocol: p.Protocol}
				if cp.Protocol == "" {
					cp.Protocol = corev1.ProtocolTCP
				}
				if !slices.Contains(ports, cp) {
					ports = append(ports, cp)
				}
			}
		}
	}
	add(spec.Containers, false)
	add(spec.InitContainers, true)
	return ports
}

// podTemplate returns the labels and spec pods of obj get.
func podTemplate(obj metav1.Object) (map[string]string, *corev1.PodSpec) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o.Labels, &o.Spec
	case *appsv1.Deployment:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *appsv1.ReplicaSet:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *batchv1.Job:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template.Labels, &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil, nil
}

// workloadOwner returns the owner reference that counts: the controller,
// else the first reference to a workload kind; nil if none.
func workloadOwner(obj metav1.Object) *metav1.OwnerReference {
	refs := obj.GetOwnerReferences()
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller && refs[i].Name != "" {
			return &refs[i]
		}
	}
	for i := range refs {
		if refs[i].Name != "" && isWorkloadRef(&refs[i]) {
			return &refs[i]
		}
	}
	return nil
}

// isWorkloadRef reports whether a reference names one of the workload kinds
// in its API group.
func isWorkloadRef(ref *metav1.OwnerReference) bool {
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	if !strings.Contains(ref.APIVersion, "/") {
		group = ""
	}
	switch ref.Kind {
	case kindDeployment, kindReplicaSet, kindDaemonSet, kindStatefulSet:
		return group == "apps"
	case kindJob, kindCronJob:
		return group == "batch"
	}
	return false
}

// workloadKey identifies a workload.
type workloadKey struct{ namespace, kind, name string }

// folder resolves objects to the workloads they belong to.
type folder struct {
	objects map[objectKey]*object
}

// ownerKey resolves a ReplicaSet or Job in the files (or any other
// controller, which is its own workload) to its workload, and says how
// the object's template ranks for that workload.
func (f *folder) ownerKey(o *object) (workloadKey, int) {
	own := workloadKey{o.key.namespace, o.key.kind, o.key.name}
	ref := workloadOwner(o.obj)
	if ref == nil || !isWorkloadRef(ref) {
		return own, fromManifest
	}
	switch {
	case o.key.kind == kindReplicaSet && ref.Kind == kindDeployment,
		o.key.kind == kindJob && ref.Kind == kindCronJob:
		return workloadKey{o.key.namespace, ref.Kind, ref.Name}, fromChildren
	}
	return own, fromManifest
}

// podKey resolves a Pod to its workload, and says how the pod ranks as a
// view of it.
func (f *folder) podKey(pod *corev1.Pod) (workloadKey, int) {
	ns := pod.Namespace
	bare := workloadKey{ns, kindPod, pod.Name}
	ref := workloadOwner(pod)
	if ref == nil || !isWorkloadRef(ref) {
		return bare, fromManifest
	}
	if owner, ok := f.objects[objectKey{ref.Kind, ns, ref.Name}]; ok {
		key, _ := f.ownerKey(owner)
		return key, fromPods
	}
	switch ref.Kind {
	case kindReplicaSet:
		hash := pod.Labels["pod-template-hash"]
		if name, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && hash != "" && name != "" {
			return workloadKey{ns, kindDeployment, name}, fromPods
		}
	case kindJob:
		i := strings.LastIndexByte(ref.Name, '-')
		if i > 0 && i < len(ref.Name)-1 && strings.Trim(ref.Name[i+1:], "0123456789") == "" {
			if _, ok := f.objects[objectKey{kindCronJob, ns, ref.Name[:i]}]; ok {
				return workloadKey{ns, kindCronJob, ref.Name[:i]}, fromPods
			}
		}
	}
	return workloadKey{ns, ref.Kind, ref.Name}, fromPods
}

// podAddrs returns the addresses of a running pod, and those that do not
// parse.
func podAddrs(pod *corev1.Pod) (addrs []netip.Addr, bad []string) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil, nil
	}
	var raw []string
	for _, ip := range pod.Status.PodIPs {
		raw = append(raw, ip.IP)
	}
	if len(raw) == 0 && pod.Status.PodIP != "" {
		raw = []string{pod.Status.PodIP}
	}
	for _, s := range raw {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" {
			bad = append(bad, s)
			continue
		}
		addrs = append(addrs, a.Unmap())
	}
	return addrs, bad
}

// buildWorkloads folds the pod controllers and pods read into workloads.
// objects must be sorted; the result is sorted by namespace, kind and name.
func (l *loader) buildWorkloads(objects []*object) []*netpol.Workload {
	f := &folder{objects: l.seen}
	builds := make(map[workloadKey]*workloadBuild)
	get := func(k workloadKey) *workloadBuild {
		b, ok := builds[k]
		if !ok {
			b = &workloadBuild{
				w:     &netpol.Workload{Namespace: k.namespace, Kind: k.kind, Name: k.name, Labels: map[string]string{}},
				ips:   make(map[netip.Addr]bool),
				nodes: make(map[string]bool),
			}
			builds[k] = b
		}
		return b
	}
	for _, o := range objects {
		labels, spec := podTemplate(o.obj)
		if spec == nil {
			continue
		}
		var key workloadKey
		var rank int
		pod, isPod := o.obj.(*corev1.Pod)
		if isPod {
			key, rank = f.podKey(pod)
		} else {
			key, rank = f.ownerKey(o)
		}
		b := get(key)
		b.see(rank, labels, spec)
		if !isPod {
			continue
		}
		addrs, bad := podAddrs(pod)
		for _, a := range addrs {
			b.ips[a] = true
		}
		l.pods = append(l.pods, Pod{Namespace: pod.Namespace, Name: pod.Name, WorkloadKind: key.kind, WorkloadName: key.name,
			IPs: addrs, Node: pod.Spec.NodeName, HostNetwork: pod.Spec.HostNetwork})
		for _, s := range bad {
			l.warn(o.doc.source, o.line(), o.ref(), "status pod IP %q is not an IP address: ignored", short(s))
		}
	}

	out := make([]*netpol.Workload, 0, len(builds))
	for _, b := range builds {
		b.w.IPs = slices.SortedFunc(maps.Keys(b.ips), netip.Addr.Compare)
		if len(b.nodes) == 1 {
			for n := range b.nodes {
				b.w.Node = n
			}
		}
		out = append(out, b.w)
	}
	slices.SortFunc(out, func(a, b *netpol.Workload) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out
}
