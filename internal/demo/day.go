package demo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// route is a connection that recurs through the day.
type route struct {
	src Workload
	// fromNodes: the connections come from the nodes' addresses
	// (traffic entering through a NodePort), not from src.
	fromNodes bool
	dst       Workload
	// servicePort, when set, sends the connections to dst's Service
	// ClusterIP on the port of that name; else to a pod of dst on port.
	servicePort string
	port        uint16
	// perHour is the mean number of connections an hour by day (08:00 to
	// 20:00 UTC); a third of it by night.
	perHour float64
}

// routes are the shop's steady traffic.
var routes = []route{
	{fromNodes: true, dst: Gateway, port: 8080, perHour: 12},
	{src: Gateway, dst: Frontend, port: 8080, perHour: 12},
	{src: Frontend, dst: Catalog, servicePort: "grpc", perHour: 10},
	{src: Frontend, dst: Cart, port: 8080, perHour: 6},
	{src: Frontend, dst: Checkout, port: 8080, perHour: 3},
	{src: Checkout, dst: Catalog, servicePort: "grpc", perHour: 2},
	{src: Checkout, dst: Payment, servicePort: "https", perHour: 2},
	{src: Cart, dst: Redis, port: 6379, perHour: 8},
	{src: Catalog, dst: Postgres, port: 5432, perHour: 4},
	{src: Checkout, dst: Postgres, port: 5432, perHour: 2},
	{src: LogShipper, dst: LogStore, port: 3100, perHour: 6},
	{src: Gateway, dst: LogStore, servicePort: "http", perHour: 4},
	{src: Payment, dst: LogStore, port: 3100, perHour: 2},
}

// Rates of the other traffic.
const (
	paymentProviderPerHour = 2.0 // payment → payment-provider:443
	dnsPerHour             = 4.0 // each workload → kube-dns:53
	reportDatabaseBurst    = 40  // nightly report → postgres, in 4 minutes
	reportUploads          = 3   // nightly report → corp-proxy:3128
	reportLookups          = 4   // nightly report → kube-dns
	droppedAtSource        = 8   // frontend → redis, over the day
	droppedAtDestination   = 3   // gateway → payment, over the day
	reportHour             = 2   // the CronJob's schedule: 0 2 * * * UTC
)

// day records the whole day.
func (g *generator) day() error {
	for _, r := range routes {
		if err := g.route(r); err != nil {
			return err
		}
	}
	if err := g.payments(); err != nil {
		return err
	}
	if err := g.lookups(); err != nil {
		return err
	}
	if err := g.report(); err != nil {
		return err
	}
	return g.strays()
}

// hours calls f for each hour of the day with its start and the number of
// connections of a route of perHour.
func (g *generator) hours(perHour float64, f func(start time.Time, n int)) {
	for h := range 24 {
		start := g.from.Add(time.Duration(h) * time.Hour)
		rate := perHour
		if hod := start.Hour(); hod < 8 || hod >= 20 {
			rate /= 3
		}
		n := int(rate*(0.7+0.6*g.rng.Float64()) + 0.5)
		f(start, n)
	}
}

func (g *generator) route(r route) error {
	dsts, err := g.workloadPods(r.dst)
	if err != nil {
		return err
	}
	var srcs []*peer
	if r.fromNodes {
		srcs = g.nodes
	} else if srcs, err = g.workloadPods(r.src); err != nil {
		return err
	}
	var svc *peer
	port := r.port
	if r.servicePort != "" {
		if svc, port, _, err = g.serviceIP(r.dst, r.servicePort); err != nil {
			return err
		}
	}
	g.hours(r.perHour, func(start time.Time, n int) {
		for range n {
			at := g.between(start, time.Hour)
			src := g.pick(srcs)
			dst := svc
			if dst == nil {
				dst = behindService(g.pick(dsts), r.dst)
			}
			if r.fromNodes {
				src = nodeSource(src, dst.node)
			}
			g.tcp(at, src, dst, port, forwarded)
		}
	})
	return nil
}

// payments are the payment service's calls to its provider.
func (g *generator) payments() error {
	srcs, err := g.workloadPods(Payment)
	if err != nil {
		return err
	}
	provider := external(PaymentProviderAddr, "api.payment-provider.example")
	g.hours(paymentProviderPerHour, func(start time.Time, n int) {
		for range n {
			g.tcp(g.between(start, time.Hour), g.pick(srcs), provider, 443, forwarded)
		}
	})
	return nil
}

// lookups are every running workload's DNS queries to kube-dns.
func (g *generator) lookups() error {
	dns, port, proto, err := g.serviceIP(CoreDNS, "dns")
	if err != nil {
		return err
	}
	if proto != "UDP" {
		return fmt.Errorf("demo traffic: Service %s/%s port dns is %s, not UDP", CoreDNS.Namespace, CoreDNS.Service, proto)
	}
	for _, w := range Workloads() {
		if w.Ref() == NightlyReport.Ref() || w.Ref() == CoreDNS.Ref() {
			continue
		}
		srcs, err := g.workloadPods(w)
		if err != nil {
			return err
		}
		g.hours(dnsPerHour, func(start time.Time, n int) {
			for range n {
				g.udp(g.between(start, time.Hour), g.pick(srcs), dns, port)
			}
		})
	}
	return nil
}

// report is the nightly report's run: its Job's pod, deleted since,
// reads postgres in a burst and uploads through the proxy.
func (g *generator) report() error {
	run := time.Date(g.from.Year(), g.from.Month(), g.from.Day(), reportHour, 0, 0, 0, time.UTC)
	if run.Before(g.from) {
		run = run.Add(24 * time.Hour)
	}
	pod, err := g.reportPod(run)
	if err != nil {
		return err
	}
	dbs, err := g.workloadPods(Postgres)
	if err != nil {
		return err
	}
	dns, dnsPort, _, err := g.serviceIP(CoreDNS, "dns")
	if err != nil {
		return err
	}
	start := run.Add(5 * time.Second)
	for range reportLookups {
		g.udp(g.between(start, 4*time.Minute), pod, dns, dnsPort)
	}
	for range reportDatabaseBurst {
		g.tcp(g.between(start, 4*time.Minute), pod, behindService(g.pick(dbs), Postgres), 5432, forwarded)
	}
	proxy := external(ProxyAddr)
	for range reportUploads {
		g.tcp(g.between(start.Add(4*time.Minute), time.Minute), pod, proxy, ProxyPort, forwarded)
	}
	return nil
}

// reportPod is the pod of the Job the CronJob started at run: named as the
// CronJob controller names Jobs (the scheduled time in minutes), on the
// first node, at an address of its pod CIDR no running pod holds.
func (g *generator) reportPod(run time.Time) (*peer, error) {
	node := g.nodes[0]
	cidr, err := g.podCIDR(node.node)
	if err != nil {
		return nil, err
	}
	held := map[netip.Addr]bool{}
	for _, ps := range g.pods {
		for _, p := range ps {
			held[p.ip] = true
		}
	}
	var ip netip.Addr
	for a := cidr.Addr(); cidr.Contains(a); a = a.Next() {
		if last := lastOctet(a); last >= 200 && last < 255 && !held[a] {
			ip = a
			break
		}
	}
	if !ip.IsValid() {
		return nil, fmt.Errorf("demo traffic: no free address in %s for the nightly report's pod", cidr)
	}
	job := fmt.Sprintf("%s-%d", NightlyReport.Name, run.Unix()/60)
	name := job + "-" + randomSuffix(g.rng)
	labels := map[string]string{"app": NightlyReport.Name, "tier": "batch", "job-name": job, "batch.kubernetes.io/job-name": job}
	return &peer{
		ip:   ip,
		node: node.node,
		pod:  name,
		endpoint: withIdentity(&hubbleEndpoint{
			ID:        endpointID(NightlyReport.Namespace + "/" + name),
			Namespace: NightlyReport.Namespace,
			Labels:    podLabels(NightlyReport.Namespace, labels, "default", g.opts.Cluster),
			PodName:   name,
			Workloads: []hubbleWorkload{{Name: NightlyReport.Name, Kind: NightlyReport.Kind}},
		}),
	}, nil
}

func lastOctet(a netip.Addr) byte { s := a.AsSlice(); return s[len(s)-1] }

// podCIDR is a node's pod CIDR: from the Node when given, else the /24 of
// one of its pods.
func (g *generator) podCIDR(node string) (netip.Prefix, error) {
	for _, n := range g.opts.Nodes {
		if n.Name == node && n.Spec.PodCIDR != "" {
			p, err := netip.ParsePrefix(n.Spec.PodCIDR)
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("demo traffic: node %s: pod CIDR %q: %w", node, n.Spec.PodCIDR, err)
			}
			return p.Masked(), nil
		}
	}
	for _, ps := range g.pods {
		for _, p := range ps {
			if p.node == node && p.ip.Is4() {
				return netip.PrefixFrom(p.ip, 24).Masked(), nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("demo traffic: node %s has no pod CIDR and runs no pod: give the nodes", node)
}

// randomSuffix is a pod name suffix as the API server generates them.
func randomSuffix(rng *rand.Rand) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// strays are the day's odd connections: one to an address nobody named,
// and some that policies already drop.
func (g *generator) strays() error {
	catalogs, err := g.workloadPods(Catalog)
	if err != nil {
		return err
	}
	daytime := func() time.Time {
		for {
			at := g.between(g.from, 24*time.Hour)
			if h := at.Hour(); h >= 9 && h < 18 {
				return at
			}
		}
	}
	g.tcp(daytime(), g.pick(catalogs), external(UnknownAddress), 443, forwarded)

	frontends, err := g.workloadPods(Frontend)
	if err != nil {
		return err
	}
	caches, err := g.workloadPods(Redis)
	if err != nil {
		return err
	}
	for range droppedAtSource {
		g.tcp(g.between(g.from, 24*time.Hour), g.pick(frontends), behindService(g.pick(caches), Redis), 6379, deniedAtSource)
	}
	gateways, err := g.workloadPods(Gateway)
	if err != nil {
		return err
	}
	payments, err := g.workloadPods(Payment)
	if err != nil {
		return err
	}
	for range droppedAtDestination {
		g.tcp(daytime(), g.pick(gateways), behindService(g.pick(payments), Payment), 8443, deniedAtDestination)
	}
	return nil
}
