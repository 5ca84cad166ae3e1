package inventory

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// offlineShop is a small cluster as `kubectl get -o yaml` prints it: a
// Deployment with its ReplicaSet and pods, a CronJob with a Job and pod, a
// host-network DaemonSet pod, a StatefulSet, a bare pod and Services.
const offlineShop = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-6d4cf56db6
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]
spec:
  selector: {matchLabels: {app: web, pod-template-hash: 6d4cf56db6}}
  template:
    metadata: {labels: {app: web, tier: front, pod-template-hash: 6d4cf56db6}}
    spec: {containers: [{name: web, image: web}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-6d4cf56db6-a
    namespace: shop
    labels: {app: web, tier: front, pod-template-hash: 6d4cf56db6}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-6d4cf56db6, uid: u2, controller: true}]
  spec: {nodeName: node-1, containers: [{name: web, image: web}]}
  status: {phase: Running, podIPs: [{ip: 10.244.1.10}, {ip: "fd00:10::10"}]}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-6d4cf56db6-b
    namespace: shop
    labels: {app: web, tier: front, pod-template-hash: 6d4cf56db6}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-6d4cf56db6, uid: u2, controller: true}]
  spec: {nodeName: node-2, containers: [{name: web, image: web}]}
  status: {phase: Running, podIP: 10.244.2.11}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: report, tier: front}}
        spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report-29412345
  namespace: shop
  ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: report, uid: u3, controller: true}]
spec:
  template:
    metadata: {labels: {app: report, tier: front}}
    spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: report-29412345-x
  namespace: shop
  labels: {app: report, tier: front}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: report-29412345, uid: u4, controller: true}]
spec: {containers: [{name: r, image: r}]}
status: {phase: Running, podIP: 10.244.1.20}
---
apiVersion: v1
kind: Pod
metadata:
  name: report-29400000-y
  namespace: shop
  labels: {app: report}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: report-29400000, uid: u5, controller: true}]
spec: {containers: [{name: r, image: r}]}
status: {phase: Succeeded, podIP: 10.244.1.21}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {hostNetwork: true, containers: [{name: a, image: a, ports: [{name: metrics, containerPort: 9100}]}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-abcde
  namespace: kube-system
  labels: {app: agent, controller-revision-hash: "7f8"}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u6, controller: true}]
spec: {nodeName: node-1, hostNetwork: true, containers: [{name: a, image: a}]}
status: {phase: Running, podIP: 192.168.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {run: debug}}
spec: {containers: [{name: d, image: d}]}
status: {phase: Running, podIP: 10.244.3.3}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: http}, {name: alt, port: 81, targetPort: 9000}]
---
apiVersion: v1
kind: Service
metadata: {name: front, namespace: shop}
spec:
  selector: {tier: front}
  clusterIP: 10.96.0.11
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {app: agent}
  clusterIPs: [10.96.0.12, "fd00:96::12"]
  ports: [{port: 9100}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: shop}
spec:
  selector: {app: nobody}
  clusterIP: 10.96.0.13
  ports: [{port: 80}]
`

// peer builds a flow peer: "ip", "ns/pod" or "ns/Kind:name" parts separated
// by spaces, plus "reserved:x" and "label:k=v".
func peer(s string) flow.Peer {
	var p flow.Peer
	for _, part := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(part, "reserved:"):
			p.Reserved = strings.TrimPrefix(part, "reserved:")
		case strings.HasPrefix(part, "label:"):
			p.Labels = append(p.Labels, strings.TrimPrefix(part, "label:"))
		case strings.Contains(part, "/"):
			ns, rest, _ := strings.Cut(part, "/")
			p.Namespace = ns
			if kind, name, ok := strings.Cut(rest, ":"); ok {
				p.WorkloadKind, p.WorkloadName = kind, name
			} else {
				p.Pod = rest
			}
		default:
			p.IP = netip.MustParseAddr(part)
		}
	}
	return p
}

// resolved renders what Resolve returned: the endpoint, its class and
// alias for addresses, and "via ns/svc" with a Service.
func resolved(ep flow.Endpoint, svc *flow.ServiceRef) string {
	s := ep.String()
	if ep.Kind == flow.EndpointAddress {
		s += " " + ep.Class.String()
		if ep.Alias != "" {
			s += " " + ep.Alias
		}
	}
	if svc != nil {
		s += " via " + svc.Namespace + "/" + svc.Name
	}
	return s
}

func TestFromInventory(t *testing.T) {
	inv, err := loadString(t, offlineShop)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warn := ParseConfig(map[string]string{
		ConfigKeyClusterCIDRs: "10.244.0.0/16 10.96.0.0/12 fd00::/8",
		ConfigKeyAliases:      "partner: 203.0.113.0/24",
	})
	diffLines(t, "config warnings", warn, nil)
	c := FromInventory(inv, Options{Classifier: cfg})
	if !c.Synced() || c.ReadyCheck(nil) != nil {
		t.Fatal("an offline cluster is not synced")
	}

	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // offline, any time is the same
	cases := []struct{ peer, want string }{
		// By pod name: the top owner.
		{"10.9.9.9 shop/web-6d4cf56db6-a", "shop/web[Deployment]"},
		{"shop/report-29412345-x", "shop/report[CronJob]"},
		{"shop/debug", "shop/debug[Pod]"},
		{"kube-system/agent-abcde", "node-1[Node]"},
		// By address, any time.
		{"10.244.1.10", "shop/web[Deployment]"},
		{"fd00:10::10", "shop/web[Deployment]"},
		{"::ffff:10.244.2.11", "shop/web[Deployment]"},
		{"10.244.1.20", "shop/report[CronJob]"},
		{"10.244.3.3", "shop/debug[Pod]"},
		// A finished pod's address is not kept: it is reused.
		{"10.244.1.21", "10.244.1.21 internal"},
		// Host-network pods give their node's address.
		{"192.168.0.11", "node-1[Node]"},
		{"192.168.0.11 reserved:host", "node-1[Node]"},
		// ClusterIPs: one backing workload, or the Service.
		{"10.96.0.10", "shop/web[Deployment] via shop/web"},
		{"10.96.0.11", "shop/front[Service] via shop/front"},
		{"10.96.0.12", "node-1[Node] via kube-system/agent"},
		{"fd00:96::12", "node-1[Node] via kube-system/agent"},
		{"10.96.0.13", "shop/nobody[Service] via shop/nobody"},
		// Unknown pods: the workload the source attached.
		{"10.244.9.9 shop/gone-1", "10.244.9.9 internal"},
		{"10.244.9.9 shop/Deployment:web", "shop/web[Deployment]"},
		{"10.244.9.9 shop/replicaset:web-6d4cf56db6", "shop/web[Deployment]"},
		{"10.244.9.9 shop/ReplicaSet:api-5f5f label:pod-template-hash=5f5f", "shop/api[Deployment]"},
		{"10.244.9.9 shop/ReplicaSet:api-5f5f", "shop/api-5f5f[ReplicaSet]"},
		{"10.244.9.9 shop/Job:report-29412345", "shop/report[CronJob]"},
		{"10.244.9.9 shop/Job:report-29412399", "shop/report[CronJob]"},
		{"10.244.9.9 shop/Job:migrate", "shop/migrate[Job]"},
		{"10.244.9.9 shop/Rollout:web", "10.244.9.9 internal"},
		// Unresolved addresses.
		{"203.0.113.8", "203.0.113.8 aliased partner"},
		{"8.8.8.8", "8.8.8.8 external"},
		{"192.168.5.5", "192.168.5.5 unknown"},
		{"192.168.5.5 reserved:world", "192.168.5.5 external"},
		{"192.168.5.5 reserved:remote-node", "192.168.5.5 internal"},
		{"192.168.5.5 reserved:kube-apiserver", "192.168.5.5 aliased kube-apiserver"},
		{"", "invalid IP unknown"},
	}
	for _, tc := range cases {
		if got := resolved(c.Resolve(peer(tc.peer), at)); got != tc.want {
			t.Errorf("Resolve(%s) = %s, want %s", tc.peer, got, tc.want)
		}
	}

	labels := func(ep flow.Endpoint) string {
		l, ok := c.WorkloadLabels(ep)
		if !ok {
			return "-"
		}
		return labelString(l)
	}
	for ep, want := range map[flow.Endpoint]string{
		flow.WorkloadEndpoint("shop", "Deployment", "web"):         "app=web,tier=front",
		flow.WorkloadEndpoint("shop", "CronJob", "report"):         "app=report,tier=front",
		flow.WorkloadEndpoint("shop", "Pod", "debug"):              "run=debug",
		flow.WorkloadEndpoint("kube-system", "DaemonSet", "agent"): "app=agent",
		flow.WorkloadEndpoint("shop", "Deployment", "gone"):        "-",
		ServiceEndpoint("shop", "front"):                           "-",
		nodeEndpoint("node-1"):                                     "-",
	} {
		if got := labels(ep); got != want {
			t.Errorf("WorkloadLabels(%s) = %s, want %s", ep, got, want)
		}
	}

	web := &flow.ServiceRef{Namespace: "shop", Name: "web"}
	deploy := flow.WorkloadEndpoint("shop", "Deployment", "web")
	for _, tc := range []struct {
		svc   *flow.ServiceRef
		proto flow.Protocol
		port  uint16
		want  uint16
		ok    bool
	}{
		{web, flow.ProtocolTCP, 80, 8080, true}, // named
		{web, flow.ProtocolTCP, 81, 9000, true}, // numbered
		{web, flow.ProtocolUDP, 80, 80, false},
		{web, flow.ProtocolTCP, 82, 82, false},
		{&flow.ServiceRef{Namespace: "shop", Name: "none"}, flow.ProtocolTCP, 80, 80, false},
		{nil, flow.ProtocolTCP, 80, 80, false},
	} {
		if got, ok := c.TargetPort(tc.svc, tc.proto, tc.port, deploy); got != tc.want || ok != tc.ok {
			t.Errorf("TargetPort(%v, %s, %d) = %d %v, want %d %v", tc.svc, tc.proto, tc.port, got, ok, tc.want, tc.ok)
		}
	}

	if c.Snapshot() != inv || len(c.Workloads()) != len(inv.Workloads) || len(c.Services()) != 4 || len(c.Namespaces()) != 2 {
		t.Errorf("snapshot is not the inventory")
	}
}

// Workload addresses with no pod behind them (inventories built by hand,
// generators) resolve too; a nil inventory is an empty cluster.
func TestFromInventoryWorkloadIPs(t *testing.T) {
	inv, err := loadString(t, offlineShop)
	if err != nil {
		t.Fatal(err)
	}
	inv.Pods = nil
	c := FromInventory(inv, Options{})
	if got := resolved(c.Resolve(peer("10.244.2.11"), time.Time{})); got != "shop/web[Deployment]" {
		t.Errorf("workload address resolves to %s", got)
	}
	empty := FromInventory(nil, Options{})
	if got := resolved(empty.Resolve(peer("10.244.2.11 shop/web-6d4cf56db6-a"), time.Time{})); got != "10.244.2.11 unknown" {
		t.Errorf("empty cluster resolves to %s", got)
	}
}
