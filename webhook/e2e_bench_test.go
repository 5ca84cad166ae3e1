package webhook

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"k8s.io/client-go/rest"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// The end-to-end benchmark's namespace: 20 Deployments and 300 distinct
// TCP edges between them observed in the last week; 1,000 applies per run.
const (
	e2eBenchWorkloads = 20
	e2eBenchEdges     = 300
	e2eBenchApplies   = 1000
	e2eBenchWarmup    = 50
)

// e2eBenchResult keeps the last measurement: the 1,000 applies run on the
// first call of a round (b.N is 1) and the rounds with a larger b.N that a
// time -benchtime such as make bench's 1s may ask for report it again.
var e2eBenchResult struct {
	hook, baseline []time.Duration
}

// BenchmarkE2EApply measures NetworkPolicy applies end to end through the
// real kube-apiserver (envtest), which calls Redline's webhook over TLS:
// 1,000 server-side applies (real writes, not dry-run) of a policy whose
// spec alternates each time between two default denies that each turn
// some of the namespace's observed connections red (warn mode), so that
// every request is a change the webhook admits. It then removes the
// ValidatingWebhookConfiguration, runs the same 1,000 applies as the
// baseline (the API server without Redline) and restores it. It reports
// the client-side wall duration of one apply, p50 and p99, with the
// webhook (p50-ms, p99-ms), without it (base-p50-ms, base-p99-ms) and the
// difference (added-p50-ms, added-p99-ms). The applies run once whatever
// b.N (ns/op is the whole measurement); run it as
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test -run '^$' -bench E2EApply -benchtime 1x ./webhook/
func BenchmarkE2EApply(b *testing.B) {
	needPlane(b)
	if b.N == 1 || e2eBenchResult.hook == nil {
		e2eBenchMeasure(b)
	}
	r := &e2eBenchResult
	p50, p99 := quantileMS(r.hook, 0.50), quantileMS(r.hook, 0.99)
	b50, b99 := quantileMS(r.baseline, 0.50), quantileMS(r.baseline, 0.99)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(b50, "base-p50-ms")
	b.ReportMetric(b99, "base-p99-ms")
	b.ReportMetric(p50-b50, "added-p50-ms")
	b.ReportMetric(p99-b99, "added-p99-ms")
}

func e2eBenchMeasure(b *testing.B) {
	ctx := context.Background()
	ns := uniqueName("e2e-bench")
	e2eBenchNamespace(b, ns)

	// The harness's client allows 1,000 requests a second: lift the limit
	// so that the client never waits for its rate limiter.
	c, warnings := clientWithWarnings(b, func(cfg *rest.Config) {
		cfg.QPS, cfg.Burst = 1e6, 1e6
	})
	np := c.NetworkingV1().NetworkPolicies(ns)
	// run applies policy name e2eBenchApplies times, after a warm-up, and
	// deletes it. Each apply is timed alone; between them, outside the
	// timing, it checks whether the webhook answered (its failurePolicy is
	// Ignore: a request it did not answer would still have been allowed)
	// and warned.
	run := func(name string, webhook bool) []time.Duration {
		out := make([]time.Duration, 0, e2eBenchApplies)
		for i := range e2eBenchWarmup + e2eBenchApplies {
			n := name
			if i < e2eBenchWarmup {
				n += "-warmup"
			}
			p := e2eBenchPolicy(ns, n, i)
			seen := plane.v.metrics.requestsSeen()
			start := time.Now()
			_, err := np.Apply(ctx, p, metav1.ApplyOptions{FieldManager: "redline-bench", Force: true})
			d := time.Since(start)
			if err != nil {
				b.Fatalf("apply %d of %s/%s: %v", i, ns, n, err)
			}
			answered, warned := plane.v.metrics.requestsSeen() != seen, len(warnings.take()) > 0
			if answered != webhook || warned != webhook {
				b.Fatalf("apply %d of %s/%s: webhook answered %t, warned %t; want %t", i, ns, n, answered, warned, webhook)
			}
			if i == e2eBenchWarmup-1 {
				if err := np.Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
					b.Fatal(err)
				}
				warnings.take()
			}
			if i >= e2eBenchWarmup {
				out = append(out, d)
			}
		}
		if err := np.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		warnings.take()
		return out
	}

	b.ResetTimer()
	e2eBenchResult.hook = run("bench-hook", true)
	b.StopTimer()
	restore := removeWebhooks(b, ns)
	defer restore()
	b.StartTimer()
	e2eBenchResult.baseline = run("bench-base", false)
	b.StopTimer()
}

// e2eBenchNamespace creates ns in the API server and the cluster view with
// its Deployments w00..w19 and records e2eBenchEdges connections between
// them: distinct (source, destination, port), seen 1 to 1,000 times in the
// last week.
func e2eBenchNamespace(b *testing.B, ns string) {
	createNamespace(b, ns, nil)
	wls := make([]*netpol.Workload, e2eBenchWorkloads)
	for i := range wls {
		wls[i] = deployment(ns, fmt.Sprintf("w%02d", i))
	}
	plane.cluster.add([]netpol.Namespace{{Name: ns}}, wls, nil)

	r := rand.New(rand.NewPCG(7, 8))
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8443, 9090}
	now := time.Now()
	keys := map[flow.EdgeKey]bool{}
	var conns []observed
	for len(conns) < e2eBenchEdges {
		src, dst := r.IntN(len(wls)), r.IntN(len(wls))
		if src == dst {
			continue
		}
		k := flow.EdgeKey{Src: wep(ns, wls[src].Name), Dst: wep(ns, wls[dst].Name), Protocol: flow.ProtocolTCP, Port: ports[r.IntN(len(ports))]}
		if keys[k] {
			continue
		}
		keys[k] = true
		conns = append(conns, observed{k.Src, k.Dst, k.Port, 1 + r.IntN(1000), now.Add(-time.Duration(r.IntN(7*24*3600)) * time.Second)})
	}
	record(b, conns...)
}

// e2eBenchPolicy is the i-th apply of policy name: a default deny of
// ingress to w00..w02 (even i) or w03..w05 (odd i), which cuts the
// observed connections to them.
func e2eBenchPolicy(ns, name string, i int) *networkingv1ac.NetworkPolicyApplyConfiguration {
	targets := []string{"w00", "w01", "w02"}
	if i%2 == 1 {
		targets = []string{"w03", "w04", "w05"}
	}
	return networkingv1ac.NetworkPolicy(name, ns).WithSpec(networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchExpressions(metav1ac.LabelSelectorRequirement().
			WithKey("app").WithOperator(metav1.LabelSelectorOpIn).WithValues(targets...))).
		WithPolicyTypes(networkingv1.PolicyTypeIngress))
}

// removeWebhooks deletes Redline's ValidatingWebhookConfiguration and waits
// until the API server stops calling the webhook for NetworkPolicies in
// ns; the function it returns puts the configuration back and waits until
// the API server calls the webhook again.
func removeWebhooks(b *testing.B, ns string) func() {
	ctx := context.Background()
	hooks := plane.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	saved, err := hooks.Get(ctx, ConfigurationName, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := hooks.Delete(ctx, ConfigurationName, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	// Several unanswered probes in a row: the API server's informer saw
	// the deletion.
	quiet := 0
	if err := waitFor(ctx, 20*time.Second, func() error {
		if webhookCalled(b, ns) {
			quiet = 0
			return errors.New("the API server still calls the webhook")
		}
		if quiet++; quiet < 5 {
			return errors.New("not quiet long enough")
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return func() {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: saved.Name, Labels: saved.Labels, Annotations: saved.Annotations},
			Webhooks:   saved.Webhooks,
		}
		if _, err := hooks.Create(ctx, cfg, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatalf("restore the webhook configuration: %v", err)
		}
		if err := waitFor(ctx, 20*time.Second, func() error {
			if !webhookCalled(b, ns) {
				return errors.New("the API server does not call the webhook yet")
			}
			return nil
		}); err != nil {
			b.Fatalf("restore the webhook configuration: %v", err)
		}
	}
}

// webhookCalled sends a dry-run create of a deny-all policy in ns and
// tells whether the webhook answered it (its warnings are dropped).
func webhookCalled(b *testing.B, ns string) bool {
	c, _ := clientWithWarnings(b, nil)
	before := plane.v.metrics.requestsSeen()
	_, err := c.NetworkingV1().NetworkPolicies(ns).Create(context.Background(),
		denyAllIngress(ns, "probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		b.Fatalf("dry-run probe: %v", err)
	}
	return plane.v.metrics.requestsSeen() != before
}

// quantileMS is the q-quantile of ds in milliseconds (nearest rank).
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))]) / float64(time.Millisecond)
}
