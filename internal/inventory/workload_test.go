package inventory

import (
	"strings"
	"testing"
)

// Manifests for folding tests, in the shape the API server returns them.
const (
	foldDeploy = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
`
	foldRS = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-6d4cf56db6
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}
spec:
  selector: {matchLabels: {app: web, pod-template-hash: 6d4cf56db6}}
  template:
    metadata: {labels: {app: web, tier: front, pod-template-hash: 6d4cf56db6}}
    spec:
      containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
`
	// foldPod is a pod of foldRS; see pod for the placeholders.
	foldPod = `apiVersion: v1
kind: Pod
metadata:
  name: web-6d4cf56db6-@NAME@
  namespace: shop
  labels: {app: web, tier: front, pod-template-hash: 6d4cf56db6, extra: "@NAME@"}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-6d4cf56db6, uid: u2, controller: true, blockOwnerDeletion: true}
spec:
  nodeName: "@NODE@"
  containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]
status:
  phase: Running
  podIP: "@IP@"
  podIPs: [{ip: "@IP@"}]
`
	foldCronJob = `apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: report}}
        spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
`
	foldJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: report-28930110
  namespace: shop
  ownerReferences:
  - {apiVersion: batch/v1, kind: CronJob, name: report, uid: u3, controller: true}
spec:
  template:
    metadata:
      labels: {app: report, batch.kubernetes.io/controller-uid: u4, batch.kubernetes.io/job-name: report-28930110, controller-uid: u4, job-name: report-28930110}
    spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
`
	foldJobPod = `apiVersion: v1
kind: Pod
metadata:
  name: report-28930110-x7k2p
  namespace: shop
  labels: {app: report, batch.kubernetes.io/controller-uid: u4, batch.kubernetes.io/job-name: report-28930110, controller-uid: u4, job-name: report-28930110}
  ownerReferences:
  - {apiVersion: batch/v1, kind: Job, name: report-28930110, uid: u4, controller: true}
spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
status: {phase: Running, podIP: 10.0.0.9}
`
)

// pod instantiates foldPod.
func pod(name, node, ip string) string {
	return strings.NewReplacer("@NAME@", name, "@NODE@", node, "@IP@", ip).Replace(foldPod)
}

func docs(ds ...string) string { return strings.Join(ds, "---\n") }

func TestWorkloadFolding(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string // workload lines of summary
	}{
		{
			name:   "pod → ReplicaSet → Deployment, all in the files: the template labels win",
			stream: docs(pod("a", "n1", "10.0.0.1"), foldRS, foldDeploy, pod("b", "n1", "10.0.0.2")),
			want:   []string{"wl shop/web[Deployment] app=web,tier=front http:8080/TCP ip=10.0.0.1 ip=10.0.0.2 node=n1"},
		},
		{
			name:   "ReplicaSet owned by a Deployment not in the files: the Deployment from the ReplicaSet template",
			stream: docs(foldRS, pod("a", "n1", "10.0.0.1"), pod("b", "n2", "10.0.0.2")),
			want:   []string{"wl shop/web[Deployment] app=web,tier=front http:8080/TCP ip=10.0.0.1 ip=10.0.0.2"},
		},
		{
			name:   "pods whose ReplicaSet is not in the files: the Deployment named by pod-template-hash, from the labels all pods share",
			stream: docs(pod("a", "n1", "10.0.0.1"), pod("b", "n1", "fd00::1")),
			want:   []string{"wl shop/web[Deployment] app=web,tier=front http:8080/TCP ip=10.0.0.1 ip=fd00::1 node=n1"},
		},
		{
			name:   "a pod of a ReplicaSet not in the files, whose name does not end in the hash: a ReplicaSet",
			stream: strings.Replace(pod("a", "n1", "10.0.0.1"), "pod-template-hash: 6d4cf56db6", "pod-template-hash: abc", 1),
			want:   []string{"wl shop/web-6d4cf56db6[ReplicaSet] app=web,extra=a,pod-template-hash=abc,tier=front http:8080/TCP ip=10.0.0.1 node=n1"},
		},
		{
			name: "an orphan ReplicaSet stays a ReplicaSet, its template as written",
			stream: docs(strings.Replace(foldRS, "  ownerReferences:\n  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}\n", "", 1),
				pod("a", "n1", "10.0.0.1")),
			want: []string{"wl shop/web-6d4cf56db6[ReplicaSet] app=web,pod-template-hash=6d4cf56db6,tier=front http:8080/TCP ip=10.0.0.1 node=n1"},
		},
		{
			name:   "pod → Job → CronJob, all in the files",
			stream: docs(foldJobPod, foldJob, foldCronJob),
			want:   []string{"wl shop/report[CronJob] app=report ip=10.0.0.9"},
		},
		{
			name:   "Job owned by a CronJob not in the files: the CronJob from the Job template, per-run labels dropped",
			stream: docs(foldJob, foldJobPod),
			want:   []string{"wl shop/report[CronJob] app=report ip=10.0.0.9"},
		},
		{
			name:   "a pod of a Job not in the files, its CronJob in the files: the CronJob",
			stream: docs(foldCronJob, foldJobPod),
			want:   []string{"wl shop/report[CronJob] app=report ip=10.0.0.9"},
		},
		{
			name:   "a pod of a Job not in the files, no CronJob: a Job, with the pods' labels",
			stream: foldJobPod,
			want:   []string{"wl shop/report-28930110[Job] app=report,batch.kubernetes.io/controller-uid=u4,batch.kubernetes.io/job-name=report-28930110,controller-uid=u4,job-name=report-28930110 ip=10.0.0.9"},
		},
		{
			name:   "a Job without owner stays a Job",
			stream: strings.Replace(foldJob, "  ownerReferences:\n  - {apiVersion: batch/v1, kind: CronJob, name: report, uid: u3, controller: true}\n", "", 1),
			want:   []string{"wl shop/report-28930110[Job] app=report,batch.kubernetes.io/controller-uid=u4,batch.kubernetes.io/job-name=report-28930110,controller-uid=u4,job-name=report-28930110"},
		},
		{
			name: "a bare pod: its own labels, host network, node and addresses",
			stream: `apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {run: debug}}
spec:
  hostNetwork: true
  nodeName: node-1
  containers: [{name: sh, image: busybox, ports: [{containerPort: 9100, name: metrics}, {containerPort: 53, protocol: UDP}]}]
status:
  podIP: 192.168.1.10
  podIPs: [{ip: 192.168.1.10}, {ip: "2001:db8::10"}]
`,
			want: []string{"wl shop/debug[Pod] run=debug metrics:9100/TCP :53/UDP ip=192.168.1.10 ip=2001:db8::10 hostNetwork node=node-1"},
		},
		{
			name:   "a static pod (owned by its Node) is a bare pod",
			stream: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd-node-1\n  namespace: kube-system\n  labels: {component: etcd}\n  ownerReferences: [{apiVersion: v1, kind: Node, name: node-1, uid: node-uid, controller: true}]\nspec: {containers: [{name: etcd, image: etcd}]}\n",
			want:   []string{"wl kube-system/etcd-node-1[Pod] component=etcd"},
		},
		{
			name:   "a hand-written owner reference without controller: true still counts",
			stream: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: db-0\n  namespace: shop\n  labels: {app: db, statefulset.kubernetes.io/pod-name: db-0, apps.kubernetes.io/pod-index: \"0\", controller-revision-hash: db-7f9}\n  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s}]\nspec: {containers: [{name: db, image: db}]}\n",
			want:   []string{"wl shop/db[StatefulSet] app=db"},
		},
		{
			name: "finished pods add no addresses",
			stream: docs(foldDeploy, pod("a", "n1", "10.0.0.1"),
				strings.Replace(pod("b", "n1", "10.0.0.2"), "phase: Running", "phase: Succeeded", 1)),
			want: []string{"wl shop/web[Deployment] app=web,tier=front http:8080/TCP ip=10.0.0.1 node=n1"},
		},
		{
			name: "DaemonSet pods on several nodes: no node",
			stream: docs(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {hostNetwork: true, containers: [{name: a, image: a}]}
`, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: agent-x\n  namespace: monitoring\n  labels: {app: agent, controller-revision-hash: h, pod-template-generation: \"1\"}\n  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: d, controller: true}]\nspec: {nodeName: n1, hostNetwork: true, containers: [{name: a, image: a}]}\nstatus: {podIP: 192.168.1.1}\n",
				"apiVersion: v1\nkind: Pod\nmetadata:\n  name: agent-y\n  namespace: monitoring\n  labels: {app: agent}\n  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: d, controller: true}]\nspec: {nodeName: n2, hostNetwork: true, containers: [{name: a, image: a}]}\nstatus: {podIP: 192.168.1.2}\n"),
			want: []string{"wl monitoring/agent[DaemonSet] app=agent ip=192.168.1.1 ip=192.168.1.2 hostNetwork"},
		},
		{
			name: "ports: containers and sidecars, not plain init containers; duplicates once",
			stream: `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      initContainers:
      - {name: migrate, image: m, ports: [{name: migrate, containerPort: 7000}]}
      - {name: proxy, image: p, restartPolicy: Always, ports: [{name: proxy, containerPort: 15001}, {name: pg, containerPort: 5432}]}
      containers:
      - {name: pg, image: pg, ports: [{name: pg, containerPort: 5432, protocol: TCP}]}
      - {name: exporter, image: e, ports: [{name: metrics, containerPort: 9187}, {name: sctp, containerPort: 9999, protocol: SCTP}]}
`,
			want: []string{"wl shop/db[StatefulSet] app=db pg:5432/TCP metrics:9187/TCP sctp:9999/SCTP proxy:15001/TCP"},
		},
		{
			name:   "the same name in two namespaces and two kinds: four workloads",
			stream: docs(foldDeploy, strings.Replace(foldDeploy, "shop", "other", 1), strings.Replace(strings.Replace(foldDeploy, "Deployment", "DaemonSet", 1), "selector: {matchLabels: {app: web}}", "selector: {matchLabels: {app: web}}", 1), "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: c, image: c}]}\n"),
			want: []string{
				"wl other/web[Deployment] app=web,tier=front http:8080/TCP",
				"wl shop/web[DaemonSet] app=web,tier=front http:8080/TCP",
				"wl shop/web[Deployment] app=web,tier=front http:8080/TCP",
				"wl shop/web[Pod] ",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := loadString(t, tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, "workloads", only(summary(inv), "wl "), tc.want)
			diffLines(t, "warnings", inv.Warnings, nil)
		})
	}
}

func TestBadPodIP(t *testing.T) {
	inv, err := loadString(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: c}]}\nstatus: {podIPs: [{ip: 10.0.0.300}, {ip: 10.0.0.3}]}\n")
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "workloads", only(summary(inv), "wl "), []string{"wl default/p[Pod]  ip=10.0.0.3"})
	diffLines(t, "warnings", inv.Warnings, []string{`stdin: line 1: Pod default/p: status pod IP "10.0.0.300" is not an IP address: ignored`})
}

func TestNamespaces(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		opts     LoadOptions
		want     []string
		warnings []string
	}{
		{
			name: "defined namespaces keep their labels and get the name label, overriding a wrong one",
			stream: docs(nsShop, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n  labels: {kubernetes.io/metadata.name: wrong, pci: \"true\"}\n",
				"apiVersion: v1\nkind: Namespace\nmetadata: {name: empty}\n"),
			want: []string{
				"ns empty kubernetes.io/metadata.name=empty",
				"ns payments kubernetes.io/metadata.name=payments,pci=true",
				"ns shop kubernetes.io/metadata.name=shop,team=shop",
			},
		},
		{
			name:   "namespaces only referenced exist with the name label; objects without namespace go to default",
			stream: docs(policyDeny, "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: tools}\nspec: {containers: [{name: c, image: c}]}\n"),
			want: []string{
				"ns default kubernetes.io/metadata.name=default",
				"ns shop kubernetes.io/metadata.name=shop",
				"ns tools kubernetes.io/metadata.name=tools",
			},
		},
		{
			name:   "the default namespace is an option",
			stream: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
			opts:   LoadOptions{DefaultNamespace: "team-a"},
			want:   []string{"ns team-a kubernetes.io/metadata.name=team-a"},
		},
		{
			name:     "a Namespace has no namespace",
			stream:   "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: default}\n",
			want:     []string{"ns shop kubernetes.io/metadata.name=shop"},
			warnings: []string{`stdin: line 1: Namespace shop: metadata.namespace "default" ignored: namespaces are cluster-scoped`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := loadIn(t, nil, tc.stream, []string{"-"}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, "namespaces", only(summary(inv), "ns "), tc.want)
			diffLines(t, "warnings", inv.Warnings, tc.warnings)
		})
	}
}

func TestServices(t *testing.T) {
	stream := docs(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20, "fd00:10:96::20"]
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090}
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
`, `apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
`, `apiVersion: v1
kind: Service
metadata: {name: lb, namespace: shop}
spec:
  type: LoadBalancer
  selector: {}
  ports: [{port: 443, targetPort: 8443, nodePort: 30443}]
`, `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  type: ExternalName
  externalName: api.example.com
`, `apiVersion: v1
kind: Service
metadata: {name: bad, namespace: shop}
spec:
  clusterIP: 10.96.0.999
`)
	inv, err := loadString(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "services", only(summary(inv), "svc "), []string{
		"svc shop/api ExternalName sel=(nil) externalName=api.example.com",
		"svc shop/bad ClusterIP sel=(nil)",
		"svc shop/db ClusterIP sel=app=db headless :5432->5432/TCP",
		"svc shop/lb LoadBalancer sel=(nil) :443->8443/TCP(node 30443)",
		"svc shop/web ClusterIP sel=app=web ip=10.96.0.20 ip=fd00:10:96::20 http:80->http/TCP metrics:9090->9090/TCP dns:53->5353/UDP",
	})
	diffLines(t, "warnings", inv.Warnings, []string{`stdin: line 36: Service shop/bad: spec.clusterIP "10.96.0.999" is not an IP address: ignored`})
}
