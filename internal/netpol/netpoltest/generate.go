// Package netpoltest generates realistic clusters and NetworkPolicy sets for
// tests and benchmarks of the policy engine.
package netpoltest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
)

var (
	teams = []string{"payments", "search", "identity", "platform", "data", "frontend", "ml", "ops"}
	envs  = []string{"prod", "staging", "dev"}
	tiers = []string{"frontend", "backend", "data", "infra"}
	apps  = map[string][]string{
		"frontend": {"web", "gateway", "storefront", "admin-ui"},
		"backend":  {"api", "auth", "billing", "search", "orders", "notifications"},
		"data":     {"postgres", "redis", "kafka", "elasticsearch"},
		"infra":    {"prometheus", "fluentd", "envoy", "node-agent"},
	}
	versions = []string{"v1", "v2", "v3"}
)

// tierPorts are the named container ports of each tier.
var tierPorts = map[string][]netpol.ContainerPort{
	"frontend": {{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}},
	"backend":  {{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "grpc", Port: 50051, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}},
	"data":     {{Name: "db", Port: 5432, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9187, Protocol: corev1.ProtocolTCP}, {Name: "gossip", Port: 7946, Protocol: corev1.ProtocolUDP}},
	"infra":    {{Name: "http", Port: 9090, Protocol: corev1.ProtocolTCP}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}},
}

// GenerateCluster builds a deterministic cluster for seed: namespaces
// labelled with team and env (namespace 0 is kube-system, with the cluster
// DNS); workloads spread evenly over them, with app/tier/version labels,
// named container ports and pod IPs in 10.0.0.0/8 (about 1% are
// host-network node agents on 192.168.0.0/16); and policies spread evenly over
// the namespaces mixing default-deny, same-namespace podSelector allows,
// cross-namespace namespaceSelector+podSelector allows, ipBlock egress with
// except, DNS egress, named ports, endPort ranges and matchExpressions
// (In, NotIn, Exists, DoesNotExist).
func GenerateCluster(seed uint64, namespaces, workloads, policies int) (nss []netpol.Namespace, wls []*netpol.Workload, pols []*networkingv1.NetworkPolicy) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if namespaces < 1 {
		namespaces = 1
	}

	nss = make([]netpol.Namespace, namespaces)
	for i := range nss {
		team, env := teams[r.IntN(len(teams))], envs[r.IntN(len(envs))]
		name := fmt.Sprintf("%s-%s-%d", team, env, i)
		if i == 0 {
			team, env, name = "platform", "prod", "kube-system"
		}
		nss[i] = netpol.Namespace{Name: name, Labels: map[string]string{
			netpol.NamespaceNameLabel: name,
			"team":                    team,
			"env":                     env,
		}}
		if r.IntN(4) == 0 {
			nss[i].Labels["istio-injection"] = "enabled"
		}
	}

	var podIP, nodeIP uint32 = 10 << 24, 192<<24 | 168<<16
	nextIP := func(counter *uint32) netip.Addr {
		*counter++
		v := *counter
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	wls = make([]*netpol.Workload, 0, workloads)
	for i := range workloads {
		ns := nss[i%namespaces].Name
		var w *netpol.Workload
		switch {
		case i == 0:
			w = &netpol.Workload{Kind: "Deployment", Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns", "tier": "infra", "app": "coredns"}, Ports: tierPorts["infra"]}
		case r.IntN(100) == 0:
			w = &netpol.Workload{Kind: "DaemonSet", Name: fmt.Sprintf("node-agent-%d", i), HostNetwork: true,
				Labels: map[string]string{"app": "node-agent", "tier": "infra"}, Ports: tierPorts["infra"]}
		default:
			tier := tiers[r.IntN(len(tiers))]
			app := apps[tier][r.IntN(len(apps[tier]))]
			kind := "Deployment"
			if tier == "data" {
				kind = "StatefulSet"
			}
			lbls := map[string]string{"app": app, "tier": tier, "version": versions[r.IntN(len(versions))]}
			if r.IntN(5) == 0 {
				delete(lbls, "version") // some pods lack keys that selectors test
			}
			if r.IntN(10) == 0 {
				lbls["canary"] = "true"
			}
			w = &netpol.Workload{Kind: kind, Name: fmt.Sprintf("%s-%d", app, i), Labels: lbls, Ports: tierPorts[tier]}
		}
		w.Namespace = ns
		w.Node = fmt.Sprintf("node-%d", r.IntN(200))
		if w.HostNetwork {
			w.IPs = []netip.Addr{nextIP(&nodeIP)}
		} else {
			for range 1 + r.IntN(3) {
				w.IPs = append(w.IPs, nextIP(&podIP))
			}
		}
		wls = append(wls, w)
	}

	pols = make([]*networkingv1.NetworkPolicy, 0, policies)
	perNS := make([]int, namespaces)
	for i := range policies {
		nsIdx := i % namespaces
		n := perNS[nsIdx]
		perNS[nsIdx]++
		pols = append(pols, genPolicy(r, nss, nss[nsIdx].Name, n))
	}
	return nss, wls, pols
}

var (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

func numPort(proto corev1.Protocol, port int32) networkingv1.NetworkPolicyPort {
	v := intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &v}
}

func rangePort(proto corev1.Protocol, from, to int32) networkingv1.NetworkPolicyPort {
	p := numPort(proto, from)
	p.EndPort = &to
	return p
}

func namedPort(name string) networkingv1.NetworkPolicyPort {
	v := intstr.FromString(name)
	return networkingv1.NetworkPolicyPort{Port: &v} // protocol defaults to TCP
}

func labels(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

// genPolicy makes the n-th policy of namespace ns. The first one is usually
// a default deny; the others rotate through realistic shapes.
func genPolicy(r *rand.Rand, nss []netpol.Namespace, ns string, n int) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns}}
	spec := &p.Spec
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	otherNS := func() string { return nss[r.IntN(len(nss))].Name }
	tier := pick(tiers)
	app := pick(apps[tier])

	kind := 1 + r.IntN(9)
	if n == 0 && r.IntN(10) < 7 {
		kind = 0
	}
	switch kind {
	case 0: // default deny, both directions
		p.Name = "default-deny"
		spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	case 1: // same namespace: frontend -> backend on named ports
		p.Name = fmt.Sprintf("allow-frontend-to-%s-%d", app, n)
		spec.PodSelector = *labels("app", pick(apps["backend"]))
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: labels("tier", "frontend")}},
			Ports: []networkingv1.NetworkPolicyPort{namedPort("http"), namedPort("grpc")},
		}}
	case 2: // cross namespace: a team's frontends, numeric port
		p.Name = fmt.Sprintf("allow-team-%d", n)
		spec.PodSelector = *labels("tier", tier)
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: labels("team", pick(teams)), PodSelector: labels("tier", "frontend")},
				{NamespaceSelector: labels(netpol.NamespaceNameLabel, otherNS()), PodSelector: labels("app", pick(apps["backend"]))},
			},
			Ports: []networkingv1.NetworkPolicyPort{numPort(tcp, 8080), numPort(tcp, 50051)},
		}}
	case 3: // egress to the internet (not private ranges) on 443, plus DNS
		p.Name = fmt.Sprintf("allow-internet-egress-%d", n)
		spec.PodSelector = *labels("tier", tier)
		spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		spec.Egress = []networkingv1.NetworkPolicyEgressRule{
			{
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
					CIDR:   "0.0.0.0/0",
					Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"},
				}}},
				Ports: []networkingv1.NetworkPolicyPort{numPort(tcp, 443)},
			},
			{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: labels(netpol.NamespaceNameLabel, "kube-system"),
					PodSelector:       labels("k8s-app", "kube-dns"),
				}},
				Ports: []networkingv1.NetworkPolicyPort{numPort(udp, 53), namedPort("dns-tcp")},
			},
		}
	case 4: // port ranges, from a partner subnet and the namespace
		p.Name = fmt.Sprintf("allow-ranges-%d", n)
		subnet := r.IntN(256) // pods live in 10.0.0.0/8 from 10.0.0.1 up: low subnets hold pods
		if r.IntN(2) == 0 {
			subnet = r.IntN(2)
		}
		spec.PodSelector = *labels("app", app)
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{
				{PodSelector: &metav1.LabelSelector{}},
				{IPBlock: &networkingv1.IPBlock{CIDR: fmt.Sprintf("10.%d.0.0/16", subnet), Except: []string{fmt.Sprintf("10.%d.%d.0/24", subnet, r.IntN(256))}}},
			},
			Ports: []networkingv1.NetworkPolicyPort{rangePort(tcp, 8000, 8100), rangePort(udp, 30000, 32767)},
		}}
	case 5: // matchExpressions on pods and namespaces
		p.Name = fmt.Sprintf("allow-non-dev-%d", n)
		spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr("tier", metav1.LabelSelectorOpIn, "backend", "data")}}
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr("env", metav1.LabelSelectorOpNotIn, "dev")}},
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					expr("version", metav1.LabelSelectorOpExists),
					expr("canary", metav1.LabelSelectorOpDoesNotExist),
					expr("app", metav1.LabelSelectorOpNotIn, pick(apps["frontend"])),
				}},
			}},
		}}
	case 6: // monitoring scrapes the metrics named port
		p.Name = fmt.Sprintf("allow-prometheus-%d", n)
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: labels("team", "ops"), PodSelector: labels("app", "prometheus")}},
			Ports: []networkingv1.NetworkPolicyPort{namedPort("metrics")},
		}}
	case 7: // egress to the data tier of some teams
		p.Name = fmt.Sprintf("allow-egress-data-%d", n)
		spec.PodSelector = *labels("tier", "backend", "app", pick(apps["backend"]))
		spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr("team", metav1.LabelSelectorOpIn, pick(teams), pick(teams))}},
				PodSelector:       labels("tier", "data"),
			}},
			Ports: []networkingv1.NetworkPolicyPort{namedPort("db"), numPort(tcp, 6379), {Protocol: &sctp}},
		}}
	default: // same namespace, any port, by app
		p.Name = fmt.Sprintf("allow-same-app-%d", n)
		spec.PodSelector = *labels("app", app)
		spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{PodSelector: labels("app", app)}, {PodSelector: labels("tier", "infra")}},
		}}
		spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	}
	return p
}
