package inventory

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
)

// build turns the objects read into the inventory.
func (l *loader) build() *Inventory {
	objects := slices.Clone(l.objects)
	slices.SortFunc(objects, func(a, b *object) int {
		return cmp.Or(cmp.Compare(a.key.namespace, b.key.namespace), cmp.Compare(a.key.kind, b.key.kind), cmp.Compare(a.key.name, b.key.name))
	})

	inv := &Inventory{}
	inv.Workloads = l.buildWorkloads(objects)
	inv.Pods = l.pods
	for _, o := range objects {
		switch obj := o.obj.(type) {
		case *corev1.Service:
			inv.Services = append(inv.Services, l.service(o, obj))
		case *networkingv1.NetworkPolicy:
			inv.Policies = append(inv.Policies, obj)
		}
	}
	inv.Namespaces = buildNamespaces(objects)
	inv.Warnings = l.warnings
	return inv
}

// buildNamespaces returns the namespaces defined, with their labels, and
// those only referenced, with none; every one with the
// kubernetes.io/metadata.name label the API server gives namespaces.
func buildNamespaces(objects []*object) []netpol.Namespace {
	labels := make(map[string]map[string]string)
	for _, o := range objects {
		if ns, ok := o.obj.(*corev1.Namespace); ok {
			labels[ns.Name] = maps.Clone(ns.Labels)
		}
	}
	for _, o := range objects {
		if o.key.namespace != "" && labels[o.key.namespace] == nil {
			labels[o.key.namespace] = map[string]string{}
		}
	}
	out := make([]netpol.Namespace, 0, len(labels))
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		l := labels[name]
		if l == nil {
			l = map[string]string{}
		}
		l[netpol.NamespaceNameLabel] = name
		out = append(out, netpol.Namespace{Name: name, Labels: l})
	}
	return out
}

// service keeps what analysis needs of a Service, defaults applied.
func (l *loader) service(o *object, svc *corev1.Service) Service {
	s, bad := normaliseService(svc)
	for _, ip := range bad {
		l.warn(o.doc.source, o.line(), o.ref(), "spec.clusterIP %q is not an IP address: ignored", short(ip))
	}
	return s
}

// normaliseService keeps what analysis needs of a Service, defaults
// applied; bad are the cluster IPs that do not parse.
func normaliseService(svc *corev1.Service) (s Service, bad []string) {
	s = Service{
		Namespace:    svc.Namespace,
		Name:         svc.Name,
		Type:         svc.Spec.Type,
		ExternalName: svc.Spec.ExternalName,
	}
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	if len(svc.Spec.Selector) > 0 {
		s.Selector = maps.Clone(svc.Spec.Selector)
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if strings.EqualFold(ip, corev1.ClusterIPNone) {
			s.Headless = true
			continue
		}
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			bad = append(bad, ip)
			continue
		}
		if a = a.Unmap(); !slices.Contains(s.ClusterIPs, a) {
			s.ClusterIPs = append(s.ClusterIPs, a)
		}
	}
	for _, p := range svc.Spec.Ports {
		sp := ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, TargetPort: p.TargetPort, NodePort: p.NodePort}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if sp.TargetPort == (intstr.IntOrString{}) {
			sp.TargetPort = intstr.FromInt32(p.Port)
		}
		s.Ports = append(s.Ports, sp)
	}
	return s, bad
}
