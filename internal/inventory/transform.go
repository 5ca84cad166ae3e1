package inventory

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stripForInventory is the informers' transform: it keeps of each object
// only what the inventory reads, so that the caches of a large cluster stay
// small (managedFields, annotations, images, env, volumes, node images and
// conditions ... are dropped). It mutates in place, as client-go allows,
// and is idempotent. Objects of other types pass unchanged.
func stripForInventory(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = stripPodSpec(&o.Spec)
		var conds []corev1.PodCondition
		for _, c := range o.Status.Conditions {
			if c.Type == corev1.PodReadyToStartContainers {
				conds = append(conds, corev1.PodCondition{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime})
			}
		}
		o.Status = corev1.PodStatus{Phase: o.Status.Phase, PodIP: o.Status.PodIP, PodIPs: o.Status.PodIPs,
			StartTime: o.Status.StartTime, Conditions: conds}
	case *appsv1.Deployment:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = appsv1.DeploymentSpec{Template: stripTemplate(&o.Spec.Template)}
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.ReplicaSet:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = appsv1.ReplicaSetSpec{Template: stripTemplate(&o.Spec.Template)}
		o.Status = appsv1.ReplicaSetStatus{}
	case *appsv1.DaemonSet:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = appsv1.DaemonSetSpec{Template: stripTemplate(&o.Spec.Template)}
		o.Status = appsv1.DaemonSetStatus{}
	case *appsv1.StatefulSet:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = appsv1.StatefulSetSpec{Template: stripTemplate(&o.Spec.Template)}
		o.Status = appsv1.StatefulSetStatus{}
	case *batchv1.Job:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = batchv1.JobSpec{Template: stripTemplate(&o.Spec.Template)}
		o.Status = batchv1.JobStatus{}
	case *batchv1.CronJob:
		stripMeta(&o.ObjectMeta, true)
		o.Spec = batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: stripTemplate(&o.Spec.JobTemplate.Spec.Template)}}}
		o.Status = batchv1.CronJobStatus{}
	case *corev1.Service:
		stripMeta(&o.ObjectMeta, false)
		o.Spec = corev1.ServiceSpec{Type: o.Spec.Type, Selector: o.Spec.Selector, ClusterIP: o.Spec.ClusterIP,
			ClusterIPs: o.Spec.ClusterIPs, ExternalName: o.Spec.ExternalName, Ports: o.Spec.Ports}
		o.Status = corev1.ServiceStatus{}
	case *discoveryv1.EndpointSlice:
		stripMeta(&o.ObjectMeta, false)
		for i := range o.Endpoints {
			e := &o.Endpoints[i]
			var ref *corev1.ObjectReference
			if e.TargetRef != nil {
				ref = &corev1.ObjectReference{Kind: e.TargetRef.Kind, Namespace: e.TargetRef.Namespace, Name: e.TargetRef.Name}
			}
			*e = discoveryv1.Endpoint{Addresses: e.Addresses, TargetRef: ref}
		}
		o.Ports = nil
	case *corev1.Node:
		stripMeta(&o.ObjectMeta, false)
		o.Labels = nil
		o.Spec = corev1.NodeSpec{PodCIDR: o.Spec.PodCIDR, PodCIDRs: o.Spec.PodCIDRs}
		var addrs []corev1.NodeAddress
		for _, a := range o.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				addrs = append(addrs, a)
			}
		}
		o.Status = corev1.NodeStatus{Addresses: addrs}
	case *corev1.Namespace:
		stripMeta(&o.ObjectMeta, false)
		o.Spec = corev1.NamespaceSpec{}
		o.Status = corev1.NamespaceStatus{}
	case *networkingv1.NetworkPolicy:
		stripMeta(&o.ObjectMeta, false)
	case *corev1.ConfigMap:
		stripMeta(&o.ObjectMeta, false)
		o.BinaryData = nil
	}
	return obj, nil
}

// stripMeta drops the metadata nobody here reads; owners are kept for
// the kinds folded into workloads.
func stripMeta(m *metav1.ObjectMeta, keepOwners bool) {
	m.ManagedFields = nil
	m.Annotations = nil
	m.Finalizers = nil
	if !keepOwners {
		m.OwnerReferences = nil
	}
}

func stripTemplate(t *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: t.Labels},
		Spec:       stripPodSpec(&t.Spec),
	}
}

// stripPodSpec keeps what workloads are built from: the node, host
// networking and the containers' (and sidecars') names and ports.
func stripPodSpec(spec *corev1.PodSpec) corev1.PodSpec {
	keep := func(cs []corev1.Container, sidecarsOnly bool) []corev1.Container {
		var out []corev1.Container
		for _, c := range cs {
			sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			if sidecarsOnly && !sidecar {
				continue
			}
			out = append(out, corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
		}
		return out
	}
	return corev1.PodSpec{
		NodeName:       spec.NodeName,
		HostNetwork:    spec.HostNetwork,
		Containers:     keep(spec.Containers, false),
		InitContainers: keep(spec.InitContainers, true),
	}
}
