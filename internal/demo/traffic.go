package demo

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// errNoPods is wrapped by Traffic's errors about workloads without pods.
var errNoPods = errors.New("no running pod with an address")

// DefaultCluster is the cluster name in the flows' labels and node names.
const DefaultCluster = "redline-dev"

// TrafficOptions describe the day Traffic writes.
type TrafficOptions struct {
	// Pods and Services are the cluster's, as it runs the demo (read them
	// with TrafficInputs): the flows use the pods' names and addresses
	// and the Services' ClusterIPs and ports.
	Pods     []corev1.Pod
	Services []corev1.Service
	// Nodes are optional: the pod CIDR of the first one places the
	// nightly report's pod, finished and deleted since it ran; without
	// them, the /24 of a pod of the first node.
	Nodes []corev1.Node
	// End ends the day: the flows span the 24 hours before it. Required.
	End time.Time
	// Seed makes the day reproducible: the same inputs and seed give the
	// same bytes.
	Seed uint64
	// Cluster names the cluster in labels and node names; empty means
	// DefaultCluster.
	Cluster string
}

// Day is a simulated day of the demo's traffic.
type Day struct {
	// Flows are Hubble flow JSON lines, time-ordered (`hubble observe -o
	// json`), for ingest with format hubble (or auto).
	Flows []byte
	// Lines is the number of lines in Flows.
	Lines int
	// Connections is the number of connections the lines hold: what
	// Redline's dedupe counts as new, each exactly once.
	Connections int
	// Dropped is the number of those connections with a DROPPED verdict
	// (POLICY_DENIED): at the source, or at the destination after the
	// source forwarded them.
	Dropped int
	// From and To bound the flows' times: [From, To).
	From, To time.Time
}

// Traffic writes a simulated day of the demo's traffic in Hubble's flow
// JSON, between the pods the cluster runs:
//
//   - requests entering through the nodes to the gateway, then gateway →
//     frontend → catalog, cart and checkout; checkout → catalog and
//     payment; payment → the payment provider (alias payment-provider) on
//     443; cart → redis 6379; catalog and checkout → postgres 5432, busier
//     by day than by night;
//   - the nightly report's run at 02:00 UTC: a burst of connections to
//     postgres and uploads through the outbound proxy (alias corp-proxy)
//     on 3128, from a Job pod deleted since;
//   - logs into ops, the namespace without the team label: log-shipper
//     (every node) and, across namespaces, gateway and payment →
//     log-store 3100;
//   - DNS lookups (UDP 53 to kube-dns) from every workload;
//   - one connection from catalog to UnknownAddress, on 443;
//   - connections already DROPPED by policy (POLICY_DENIED): frontend →
//     redis denied at the source, gateway → payment forwarded by the
//     source and denied at the destination.
//
// Each TCP connection is reported as Hubble reports it: the SYN at the
// source node (EGRESS) and, for a pod, at the destination node (INGRESS),
// the SYN-ACK reply (is_reply), then an ACK; a UDP lookup as a request and
// its reply. Most connections are seen after service translation (the
// backend pod's address, with destination_service); those to catalog,
// payment, log-store (from the gateway) and kube-dns are seen before it,
// to the Service's ClusterIP and port.
func Traffic(opts TrafficOptions) (Day, error) {
	if opts.End.IsZero() {
		return Day{}, errors.New("demo traffic: no end time given: the day spans the 24 hours before it")
	}
	if opts.Cluster == "" {
		opts.Cluster = DefaultCluster
	}
	g, err := newGenerator(opts)
	if err != nil {
		return Day{}, err
	}
	if err := g.day(); err != nil {
		return Day{}, err
	}
	slices.SortStableFunc(g.records, func(a, b record) int { return a.at.Compare(b.at) })
	var buf bytes.Buffer
	for i := range g.records {
		line, err := g.records[i].marshal()
		if err != nil {
			return Day{}, fmt.Errorf("demo traffic: encode a flow: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return Day{
		Flows:       buf.Bytes(),
		Lines:       len(g.records),
		Connections: g.connections,
		Dropped:     g.dropped,
		From:        g.from,
		To:          g.to,
	}, nil
}

// generator builds a day's records.
type generator struct {
	opts     TrafficOptions
	rng      *rand.Rand
	from, to time.Time

	pods     map[string][]*peer // by workload ref
	services map[[2]string]*corev1.Service
	nodes    []*peer // node addresses, sorted by name
	used     map[tuple]bool

	records     []record
	connections int
	dropped     int
}

// tuple is a connection's 5-tuple; each connection of the day gets its own.
type tuple struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        string
}

func newGenerator(opts TrafficOptions) (*generator, error) {
	end := opts.End.UTC()
	g := &generator{
		opts:     opts,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed_d4e0_7e57_da7a)),
		from:     end.Add(-24 * time.Hour),
		to:       end,
		pods:     map[string][]*peer{},
		services: map[[2]string]*corev1.Service{},
		used:     map[tuple]bool{},
	}
	for i := range opts.Services {
		s := &opts.Services[i]
		g.services[[2]string{s.Namespace, s.Name}] = s
	}
	nodeIPs := map[string]netip.Addr{}
	for i := range opts.Pods {
		p := &opts.Pods[i]
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			continue
		}
		if host, err := netip.ParseAddr(p.Status.HostIP); err == nil && p.Spec.NodeName != "" {
			nodeIPs[p.Spec.NodeName] = host
		}
		for _, w := range Workloads() {
			if w.Namespace == p.Namespace && w.selects(p.Labels) {
				g.pods[w.Ref()] = append(g.pods[w.Ref()], podPeer(p, ip, w, opts.Cluster))
			}
		}
	}
	for _, ps := range g.pods {
		slices.SortFunc(ps, func(a, b *peer) int { return cmp.Compare(a.pod, b.pod) })
	}
	for name, ip := range nodeIPs {
		g.nodes = append(g.nodes, &peer{ip: ip, node: name})
	}
	slices.SortFunc(g.nodes, func(a, b *peer) int { return cmp.Compare(a.node, b.node) })
	if len(g.nodes) == 0 {
		return nil, fmt.Errorf("demo traffic: %w in the cluster: apply the demo and wait for its pods (demo.WaitReady)", errNoPods)
	}
	return g, nil
}

// workloadPods returns a workload's running pods.
func (g *generator) workloadPods(w Workload) ([]*peer, error) {
	ps := g.pods[w.Ref()]
	if len(ps) == 0 {
		return nil, fmt.Errorf("demo traffic: %s: %w: apply the demo and wait for its pods (demo.WaitReady)", w.Ref(), errNoPods)
	}
	return ps, nil
}

func (g *generator) pick(ps []*peer) *peer { return ps[g.rng.IntN(len(ps))] }

// between returns a time in [a, a+d).
func (g *generator) between(a time.Time, d time.Duration) time.Time {
	return a.Add(time.Duration(g.rng.Int64N(int64(d))))
}

// jitter returns a delay of lo to hi.
func (g *generator) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
}

// sourcePort draws an ephemeral port no other connection of the day used
// for the same addresses: every connection is new to the dedupe.
func (g *generator) sourcePort(src, dst netip.Addr, dport uint16, proto string) uint16 {
	for {
		p := uint16(32768 + g.rng.IntN(60999-32768))
		t := tuple{src, dst, p, dport, proto}
		if !g.used[t] {
			g.used[t] = true
			return p
		}
	}
}

func (g *generator) add(at time.Time, f *hubbleFlow) {
	g.records = append(g.records, record{at: at, event: hubbleEvent{Flow: f, NodeName: f.NodeName}})
}

func (g *generator) observer(node string) string { return g.opts.Cluster + "/" + node }
