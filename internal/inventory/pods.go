package inventory

import (
	"math"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// Pod IP history.
//
// Pod IPs are reused: the address a deleted pod held goes to a new pod,
// often within minutes. A flow is resolved against the pod that held its
// address at the flow's time, by a history per address: intervals
// [from, until] each naming the pod that held it.
//
//   - from is when the pod got the address, by the API's account: the
//     lastTransitionTime of its PodReadyToStartContainers condition (the
//     sandbox and its network are up), else status.startTime, else its
//     creationTimestamp. API times have one-second precision.
//   - until is when Redline saw the pod release it: deleted, finished
//     (phase Succeeded or Failed) or no longer listing it; open while held.
//   - At time t the address belongs to the pod of the interval with the
//     latest from <= t, if t <= until + grace: a new pod wins from its from
//     on, and a released address resolves to its last pod for the grace
//     period (flows are reported late, and timestamps are coarse). Past
//     that, or before any from, the address resolves to no pod.
//   - Intervals that ended more than the grace period ago are forgotten,
//     and so are deleted pods (by name) after the grace period.

// openUntil marks an interval still held.
const openUntil = math.MaxInt64

// ipInterval is one pod's tenure of an address, in Unix nanoseconds.
type ipInterval struct {
	pod         *podRecord
	from, until int64
}

// nsName names a namespaced object of a known kind.
type nsName struct{ namespace, name string }

// ownerLink is a workload controller reference: kind and name in the same
// namespace; the zero value is none.
type ownerLink struct{ kind, name string }

// podRecord is what the inventory keeps of a pod.
type podRecord struct {
	key nsName
	uid types.UID
	// owner is the pod's workload controller reference (see workloadOwner).
	owner ownerLink
	// endpoint is what the pod resolves to: its top owner workload, or its
	// node for host-network pods; Kind 0 when unknown (a host-network pod
	// not scheduled yet).
	endpoint flow.Endpoint
	// exact says endpoint was found through the owner objects, not guessed
	// from names (the owner is not known yet, or no more).
	exact       bool
	labels      map[string]string
	ports       []netpol.ContainerPort
	hostNetwork bool
	node        string
	// ips are the addresses the pod holds now (open intervals).
	ips []netip.Addr
	// running is false once the pod finished or was deleted.
	running bool
	// deleted is when the pod was deleted (Unix ns), 0 while it exists.
	deleted int64
}

// podAt returns the pod that held address a at time t (Unix ns).
func (s *state) podAt(a netip.Addr, t int64) *podRecord {
	hist := s.ips[a]
	for i := len(hist) - 1; i >= 0; i-- {
		iv := &hist[i]
		if iv.from > t {
			continue
		}
		if iv.until == openUntil || t <= iv.until || t-iv.until <= s.grace {
			return iv.pod
		}
		return nil
	}
	return nil
}

// openIP records that r holds a from time from on.
func (s *state) openIP(a netip.Addr, r *podRecord, from int64) {
	hist := s.ips[a]
	for _, iv := range hist {
		if iv.pod == r && iv.until == openUntil {
			return
		}
	}
	i := len(hist)
	for i > 0 && hist[i-1].from > from {
		i--
	}
	s.ips[a] = slices.Insert(hist, i, ipInterval{pod: r, from: from, until: openUntil})
}

// closeIP records that r released a at time now.
func (s *state) closeIP(a netip.Addr, r *podRecord, now int64) {
	hist := s.ips[a]
	for i := range hist {
		if hist[i].pod == r && hist[i].until == openUntil {
			hist[i].until = max(now, hist[i].from)
		}
	}
}

// upsertPod records a pod added or updated.
func (s *state) upsertPod(pod *corev1.Pod, now int64) {
	key := nsName{pod.Namespace, pod.Name}
	r := s.pods[key]
	if r != nil && r.uid != pod.UID {
		// A new pod of the same name (a StatefulSet's): the old one is gone.
		s.releasePod(r, now)
		r = nil
	}
	if r == nil {
		r = &podRecord{key: key, uid: pod.UID}
		s.pods[key] = r
	}
	if r.deleted != 0 {
		return // an update racing the deletion
	}
	s.dirty[key.namespace] = struct{}{}

	owner := ownerLink{}
	if ref := workloadOwner(pod); ref != nil && isWorkloadRef(ref) {
		owner = ownerLink{ref.Kind, ref.Name}
	}
	if owner != r.owner || r.endpoint.Kind == 0 {
		s.unindexOwner(r)
		r.owner, r.exact = owner, false
		s.indexOwner(r)
	}
	r.labels = pod.Labels
	r.ports = podPorts(&pod.Spec, nil)
	r.hostNetwork = pod.Spec.HostNetwork
	r.node = pod.Spec.NodeName
	s.setPodEndpoint(r)

	var want []netip.Addr
	finished := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if !r.hostNetwork && !finished {
		want, _ = podAddrs(pod)
	}
	for _, a := range r.ips {
		if !slices.Contains(want, a) {
			s.closeIP(a, r, now)
		}
	}
	from := ipAssigned(pod, now)
	for _, a := range want {
		if !slices.Contains(r.ips, a) {
			s.openIP(a, r, from)
		}
	}
	r.ips = want
	r.running = !finished
	byNS := s.podsByNS[key.namespace]
	if byNS == nil {
		byNS = make(map[*podRecord]struct{})
		s.podsByNS[key.namespace] = byNS
	}
	byNS[r] = struct{}{}
}

// deletePod records a pod deleted.
func (s *state) deletePod(pod *corev1.Pod, now int64) {
	if r := s.pods[nsName{pod.Namespace, pod.Name}]; r != nil && (r.uid == pod.UID || pod.UID == "") {
		s.releasePod(r, now)
	}
}

// releasePod closes a deleted pod's addresses; its record stays for name
// lookups until forget.
func (s *state) releasePod(r *podRecord, now int64) {
	if r.deleted != 0 {
		return
	}
	for _, a := range r.ips {
		s.closeIP(a, r, now)
	}
	r.ips = nil
	r.running = false
	r.deleted = now
	if byNS := s.podsByNS[r.key.namespace]; byNS != nil {
		delete(byNS, r)
		if len(byNS) == 0 {
			delete(s.podsByNS, r.key.namespace)
		}
	}
	s.dirty[r.key.namespace] = struct{}{}
}

// forget drops what ended more than the grace period before now.
func (s *state) forget(now int64) {
	for a, hist := range s.ips {
		hist = slices.DeleteFunc(hist, func(iv ipInterval) bool {
			return iv.until != openUntil && now-iv.until > s.grace
		})
		if len(hist) == 0 {
			delete(s.ips, a)
		} else {
			s.ips[a] = hist
		}
	}
	for key, r := range s.pods {
		if r.deleted != 0 && now-r.deleted > s.grace {
			delete(s.pods, key)
			s.unindexOwner(r)
		}
	}
}

// ownerKey keys the pods of a ReplicaSet or Job: kind, namespace, name.
type ownerKey struct {
	kind string
	nsName
}

func (s *state) indexOwner(r *podRecord) {
	if r.owner.kind != kindReplicaSet && r.owner.kind != kindJob {
		return
	}
	k := ownerKey{r.owner.kind, nsName{r.key.namespace, r.owner.name}}
	m := s.podsByOwner[k]
	if m == nil {
		m = make(map[*podRecord]struct{})
		s.podsByOwner[k] = m
	}
	m[r] = struct{}{}
}

func (s *state) unindexOwner(r *podRecord) {
	k := ownerKey{r.owner.kind, nsName{r.key.namespace, r.owner.name}}
	if m := s.podsByOwner[k]; m != nil {
		delete(m, r)
		if len(m) == 0 {
			delete(s.podsByOwner, k)
		}
	}
}

// refreshOwned recomputes the endpoints of the pods of a ReplicaSet or Job
// that was added or changed.
func (s *state) refreshOwned(kind string, key nsName) {
	for r := range s.podsByOwner[ownerKey{kind, key}] {
		s.setPodEndpoint(r)
	}
}

// setPodEndpoint computes what a pod resolves to. A guess (the owner is not
// known) never replaces an exact answer for the same owner: owners are
// often deleted before their pods.
func (s *state) setPodEndpoint(r *podRecord) {
	if r.hostNetwork {
		r.endpoint, r.exact = flow.Endpoint{}, true
		if r.node != "" {
			r.endpoint = nodeEndpoint(r.node)
		}
		return
	}
	ep, exact := s.podWorkload(r)
	if !exact && r.exact && r.endpoint.Kind == flow.EndpointWorkload {
		return
	}
	if ep != r.endpoint {
		s.dirty[r.key.namespace] = struct{}{}
	}
	r.endpoint, r.exact = ep, exact
}

// podWorkload folds a pod into its top owner, by the rules of workload.go:
// through its ReplicaSet to a Deployment, through its Job to a CronJob.
// exact is false when the ReplicaSet or Job is not known and the answer is
// guessed from names (a ReplicaSet "<deployment>-<pod-template-hash>"; a
// Job "<cronjob>-<digits>" of a known CronJob).
func (s *state) podWorkload(r *podRecord) (ep flow.Endpoint, exact bool) {
	ns := r.key.namespace
	switch r.owner.kind {
	case "":
		return flow.WorkloadEndpoint(ns, kindPod, r.key.name), true
	case kindReplicaSet:
		if link, ok := s.replicaSets[nsName{ns, r.owner.name}]; ok {
			if link.kind == kindDeployment {
				return flow.WorkloadEndpoint(ns, kindDeployment, link.name), true
			}
			return flow.WorkloadEndpoint(ns, kindReplicaSet, r.owner.name), true
		}
		if name, ok := s.deploymentOfReplicaSet(ns, r.owner.name, r.labels["pod-template-hash"]); ok {
			return flow.WorkloadEndpoint(ns, kindDeployment, name), false
		}
		return flow.WorkloadEndpoint(ns, kindReplicaSet, r.owner.name), false
	case kindJob:
		if link, ok := s.jobs[nsName{ns, r.owner.name}]; ok {
			if link.kind == kindCronJob {
				return flow.WorkloadEndpoint(ns, kindCronJob, link.name), true
			}
			return flow.WorkloadEndpoint(ns, kindJob, r.owner.name), true
		}
		if name, ok := s.cronJobOfJob(ns, r.owner.name); ok {
			return flow.WorkloadEndpoint(ns, kindCronJob, name), false
		}
		return flow.WorkloadEndpoint(ns, kindJob, r.owner.name), false
	}
	return flow.WorkloadEndpoint(ns, r.owner.kind, r.owner.name), true
}

// deploymentOfReplicaSet is the Deployment controller's naming:
// "<deployment>-<pod-template-hash>"; without the hash, "<deployment>-..."
// of a known Deployment.
func (s *state) deploymentOfReplicaSet(ns, rs, hash string) (string, bool) {
	if hash != "" {
		name, ok := strings.CutSuffix(rs, "-"+hash)
		return name, ok && name != ""
	}
	i := strings.LastIndexByte(rs, '-')
	if i <= 0 || i == len(rs)-1 {
		return "", false
	}
	if _, ok := s.templates[workloadKey{ns, kindDeployment, rs[:i]}]; ok {
		return rs[:i], true
	}
	return "", false
}

// cronJobOfJob is the CronJob controller's naming, "<cronjob>-<digits>",
// when that CronJob is known.
func (s *state) cronJobOfJob(ns, job string) (string, bool) {
	i := strings.LastIndexByte(job, '-')
	if i <= 0 || i == len(job)-1 || strings.Trim(job[i+1:], "0123456789") != "" {
		return "", false
	}
	if _, ok := s.templates[workloadKey{ns, kindCronJob, job[:i]}]; ok {
		return job[:i], true
	}
	return "", false
}

// ipAssigned is when a pod got its addresses, by the API (Unix ns).
func ipAssigned(pod *corev1.Pod, now int64) int64 {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.UnixNano()
		}
	}
	if st := pod.Status.StartTime; st != nil && !st.IsZero() {
		return st.UnixNano()
	}
	if !pod.CreationTimestamp.IsZero() {
		return pod.CreationTimestamp.UnixNano()
	}
	return now
}

func nodeEndpoint(name string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.EndpointNode, Name: name}
}
