package suggest

import (
	"flag"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	testNow    = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	testWindow = 24 * time.Hour
)

func ns(name string, kv ...string) netpol.Namespace {
	l := map[string]string{netpol.NamespaceNameLabel: name}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return netpol.Namespace{Name: name, Labels: l}
}

func wl(namespace, kind, name string, ip string, labels map[string]string, ports ...netpol.ContainerPort) *netpol.Workload {
	return &netpol.Workload{Namespace: namespace, Kind: kind, Name: name, Labels: labels, IPs: []netip.Addr{netip.MustParseAddr(ip)}, Ports: ports}
}

func cport(name string, port int32, proto corev1.Protocol) netpol.ContainerPort {
	return netpol.ContainerPort{Name: name, Port: port, Protocol: proto}
}

// fixture is a small cluster with one workload of every kind in shop, a
// second team namespace, a namespace lacking the team label, and the cluster
// DNS with NodeLocal DNSCache.
func fixture() *inventory.Inventory {
	return &inventory.Inventory{
		Namespaces: []netpol.Namespace{
			ns("kube-system"),
			ns("legacy"),
			ns("payments", "team", "payments"),
			ns("shop", "team", "shop"),
		},
		Workloads: []*netpol.Workload{
			wl("kube-system", "DaemonSet", "node-local-dns", "192.168.0.10", map[string]string{"k8s-app": "node-local-dns", "controller-revision-hash": "5d8f"}),
			wl("kube-system", "Deployment", "coredns", "10.0.0.53", map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d"},
				cport("dns", 53, corev1.ProtocolUDP), cport("dns-tcp", 53, corev1.ProtocolTCP)),
			wl("legacy", "Deployment", "mainframe", "10.0.3.1", map[string]string{"app": "mainframe"}),
			wl("payments", "Deployment", "api", "10.0.2.1", map[string]string{"app": "api", "pod-template-hash": "abc"},
				cport("http", 8080, corev1.ProtocolTCP)),
			wl("shop", "CronJob", "report", "10.0.1.5", map[string]string{"app": "report"}),
			wl("shop", "DaemonSet", "log-agent", "10.0.1.2", map[string]string{"app": "log-agent", "controller-revision-hash": "6f9c", "pod-template-generation": "3"}),
			wl("shop", "Deployment", "web", "10.0.1.1", map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5b7c9"},
				cport("http", 8080, corev1.ProtocolTCP), cport("metrics", 9090, corev1.ProtocolTCP)),
			wl("shop", "Job", "migrate", "10.0.1.6", map[string]string{"batch.kubernetes.io/job-name": "migrate", "job-name": "migrate",
				"controller-uid": "1f2e", "batch.kubernetes.io/controller-uid": "1f2e"}),
			wl("shop", "Pod", "debug", "10.0.1.7", map[string]string{"run": "debug"}),
			wl("shop", "StatefulSet", "db", "10.0.1.3", map[string]string{"app": "db", "controller-revision-hash": "db-6c8", "apps.kubernetes.io/pod-index": "0"},
				cport("pg", 5432, corev1.ProtocolTCP)),
		},
		Services: []inventory.Service{
			{Namespace: "kube-system", Name: "kube-dns", Selector: map[string]string{"k8s-app": "kube-dns"}, Ports: []inventory.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
			}},
			{Namespace: "payments", Name: "api", Selector: map[string]string{"app": "api"}, Ports: []inventory.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)},
			}},
			{Namespace: "shop", Name: "db", Selector: map[string]string{"app": "db"}, Ports: []inventory.ServicePort{
				{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432, TargetPort: intstr.FromString("pg")},
			}},
			{Namespace: "shop", Name: "web", Selector: map[string]string{"app": "web"}, Ports: []inventory.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")},
			}},
		},
	}
}

func we(namespace, kind, name string) flow.Endpoint {
	return flow.WorkloadEndpoint(namespace, kind, name)
}

func svcEP(namespace, name string) flow.Endpoint { return inventory.ServiceEndpoint(namespace, name) }

func addrEP(a string, class flow.AddrClass, alias string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr(a), Class: class, Alias: alias}
}

func edge(src, dst flow.Endpoint, proto flow.Protocol, port uint16, via *flow.ServiceRef) flow.Edge {
	return flow.Edge{
		EdgeKey:   flow.EdgeKey{Src: src, Dst: dst, Protocol: proto, Port: port},
		EdgeStats: flow.EdgeStats{Count: 3, FirstSeen: testNow.Add(-time.Hour), LastSeen: testNow, Service: via},
	}
}

func input(inv *inventory.Inventory, subject flow.Endpoint, edges ...flow.Edge) Input {
	in := Input{Subject: subject, Inventory: inv, Window: testWindow, Now: testNow, Source: "test",
		Aliases: map[string][]netip.Prefix{"proxies": {netip.MustParsePrefix("198.51.100.0/28"), netip.MustParsePrefix("198.51.100.64/28")}}}
	dsts := append([]flow.Endpoint{subject}, NewLookup(inv).ServicesSelecting(subject)...)
	for _, e := range edges {
		if e.Src == subject {
			in.Egress = append(in.Egress, e)
		}
		if slices.Contains(dsts, e.Dst) {
			in.Ingress = append(in.Ingress, e)
		}
	}
	return in
}
