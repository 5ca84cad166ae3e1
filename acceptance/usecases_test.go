package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/redline-dev/redline/audit"
	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/demo"
	"github.com/redline-dev/redline/internal/devenv"
)

// The use cases run in this order: case 5 labels namespace ops (and takes
// the label off again when it ends).

// Case 1: only allow specified ingress/egress. The checkout's tables hold
// no unresolved address; leaving out its egress row to payment gives a
// policy with no entry for payment and no raw IP, and applying it through
// the API server draws exactly that connection red.
func TestUseCase1OnlySpecifiedConnections(t *testing.T) {
	env := devEnv(t)
	ctx := testContext(t)
	const workload = "shop/Deployment/checkout"

	tables := suggest(ctx, t, env, api.SuggestionRequest{Workload: workload})
	var toPayment *row
	for _, r := range append(tables.rows("Ingress"), tables.rows("Egress")...) {
		if r.Peer.Kind == "address" {
			t.Errorf("checkout's tables hold an unresolved address: %s", r)
		}
		if r.Direction == "Egress" && r.Peer.String() == "shop/payment[Deployment]" {
			toPayment = &r
		}
	}
	if toPayment == nil {
		t.Fatalf("checkout's egress table has no row to shop/payment: %v", tables.rows("Egress"))
	}
	if !strings.Contains(tables.YAML, "app: payment") {
		t.Fatalf("the observed suggestion should allow payment before it is unchecked:\n%s", tables.YAML)
	}

	s := suggest(ctx, t, env, api.SuggestionRequest{Workload: workload, Exclude: []api.RowChoice{toPayment.choice()}})
	if strings.Contains(s.YAML, "app: payment") || strings.Contains(s.YAML, "ipBlock") {
		t.Errorf("the policy should have no entry for payment and no raw IP:\n%s", s.YAML)
	}
	for _, want := range []string{"app: catalog", "app: postgres", "app: frontend", "k8s-app: kube-dns"} {
		if !strings.Contains(s.YAML, want) {
			t.Errorf("the policy lacks the checked row %q:\n%s", want, s.YAML)
		}
	}
	if !slices.ContainsFunc(s.Excluded, func(r row) bool { return r.String() == toPayment.String() }) {
		t.Errorf("the unchecked row %s is not reported excluded: %v", toPayment, s.Excluded)
	}

	got := blocked(t, whatIf(ctx, t, env, s.policy))
	want := []string{fmt.Sprintf("shop/checkout[Deployment] -> shop/payment[Deployment] %s/%d", toPayment.Protocol, toPayment.Port)}
	if !slices.Equal(got, want) {
		t.Errorf("applying the policy warns of %q, want exactly %q", got, want)
	}
}

// Case 2: allow the proxy's static IP. The nightly report's egress table
// shows the proxy (alias corp-proxy); with a manual rule for its IP and
// every other row deselected (block-all both ways), only the proxy (and the
// cluster DNS, always kept) stays allowed: postgres turns red.
func TestUseCase2ProxyStaticIP(t *testing.T) {
	env := devEnv(t)
	ctx := testContext(t)
	const workload = "shop/CronJob/nightly-report"
	proxy := netip.PrefixFrom(demo.ProxyAddr, 32)

	tables := suggest(ctx, t, env, api.SuggestionRequest{Workload: workload})
	if !slices.ContainsFunc(tables.rows("Egress"), func(r row) bool {
		return r.Peer.Addr == demo.ProxyAddr.String() && r.Peer.Alias == demo.AliasProxy && r.Port == demo.ProxyPort
	}) {
		t.Fatalf("the egress table does not show the proxy %s:%d (alias %s): %v", demo.ProxyAddr, demo.ProxyPort, demo.AliasProxy, tables.rows("Egress"))
	}

	s := suggest(ctx, t, env, api.SuggestionRequest{
		Workload: workload, Ingress: "block-all", Egress: "block-all",
		AllowEgressCIDRs: []api.CIDRChoice{{CIDR: proxy, Protocol: "TCP", Port: demo.ProxyPort}},
	})
	p := s.policy
	if len(p.Spec.Ingress) != 0 || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("ingress should be isolated with no rule: %+v", p.Spec)
	}
	var cidrs, dns int
	for _, rule := range p.Spec.Egress {
		for _, to := range rule.To {
			switch {
			case to.IPBlock != nil:
				cidrs++
				if to.IPBlock.CIDR != proxy.String() || len(rule.Ports) != 1 || rule.Ports[0].Port.IntValue() != demo.ProxyPort {
					t.Errorf("egress ipBlock rule %+v, want only %s on %d", rule, proxy, demo.ProxyPort)
				}
			case to.PodSelector != nil && to.PodSelector.MatchLabels["k8s-app"] == "kube-dns":
				dns++
			default:
				t.Errorf("egress peer %+v: only the proxy and the cluster DNS should be allowed", to)
			}
		}
	}
	if cidrs != 1 || dns == 0 {
		t.Errorf("want one rule to the proxy and the DNS rule, got %d and %d:\n%s", cidrs, dns, s.YAML)
	}

	got := blocked(t, whatIf(ctx, t, env, p))
	want := []string{"shop/nightly-report[CronJob] -> shop/postgres[StatefulSet] TCP/5432"}
	if !slices.Equal(got, want) {
		t.Errorf("applying the policy warns of %q, want exactly %q (the proxy and DNS stay allowed)", got, want)
	}
}

// Case 3: only inside the namespace. With both global rules
// allow-namespace the payment's policy allows its whole namespace without
// naming a workload, and its cross-namespace and external connections turn
// red, named by the warnings; its connections inside shop do not.
func TestUseCase3InsideNamespaceOnly(t *testing.T) {
	env := devEnv(t)
	ctx := testContext(t)
	s := suggest(ctx, t, env, api.SuggestionRequest{Workload: "shop/Deployment/payment", Ingress: "allow-namespace", Egress: "allow-namespace"})

	check := func(direction string, peers []networkingv1.NetworkPolicyPeer) {
		var namespace int
		for _, p := range peers {
			switch {
			case p.IPBlock == nil && p.NamespaceSelector == nil && p.PodSelector != nil && len(p.PodSelector.MatchLabels)+len(p.PodSelector.MatchExpressions) == 0:
				namespace++ // podSelector {}: every pod of the namespace
			case direction == "egress" && p.PodSelector != nil && p.PodSelector.MatchLabels["k8s-app"] == "kube-dns":
			default:
				t.Errorf("%s peer %+v names something else than the namespace (or the cluster DNS)", direction, p)
			}
		}
		if namespace == 0 {
			t.Errorf("%s does not allow the whole namespace:\n%s", direction, s.YAML)
		}
	}
	var in, out []networkingv1.NetworkPolicyPeer
	for _, r := range s.policy.Spec.Ingress {
		in = append(in, r.From...)
	}
	for _, r := range s.policy.Spec.Egress {
		out = append(out, r.To...)
	}
	check("ingress", in)
	check("egress", out)

	got := blocked(t, whatIf(ctx, t, env, s.policy))
	slices.Sort(got)
	want := []string{
		"shop-web/gateway[Deployment] -> shop/payment[Deployment] TCP/8443",
		"shop/payment[Deployment] -> " + demo.AliasPaymentProvider + " (" + demo.PaymentProviderAddr.String() + ") TCP/443",
		"shop/payment[Deployment] -> ops/log-store[Deployment] TCP/3100",
	}
	if len(got) != len(want) {
		t.Errorf("warnings %q, want the %d cross-namespace or external connections %q", got, len(want), want)
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no warning for %s: got %q", w, got)
		}
	}
	for _, g := range got {
		if strings.HasPrefix(g, "shop/checkout") {
			t.Errorf("a connection inside the namespace turned red: %s", g)
		}
	}
}

// Case 4: egress to one workload in another namespace only. An exporter in
// namespace reports reads from shop/postgres and nothing calls it: its
// ingress table is empty, its egress table lists postgres (and DNS), and
// the generated policy keeps DNS and denies its own namespace's archive —
// which the webhook reports once the exporter is seen calling it.
//
// No demo workload has this shape (every one talks within its namespace),
// so the case adds one, with its traffic sent through the ingest API.
func TestUseCase4EgressToAnotherNamespace(t *testing.T) {
	env := devEnv(t)
	ctx := testContext(t)
	kube := env.Kube()
	const ns = "reports"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "reports"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"exporter", "archive"} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: name, Image: "registry.example/" + name + ":1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					}}},
				},
			},
		}
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	exporter := podIP(ctx, t, env, ns, "app=exporter")
	archive := podIP(ctx, t, env, ns, "app=archive")
	postgres := podIP(ctx, t, env, demo.NamespaceShop, "app=postgres")

	// Redline resolves an address to the pod that held it when the flow
	// was seen, with its own view of the cluster, which follows the API
	// server's by a moment: send DNS lookups until one is resolved to the
	// exporter (an unresolved one stays an address, outside its tables).
	// The flows are from the pods' lifetime: from now on.
	dnsLookup := func(at time.Time, srcPort int) string {
		return fmt.Sprintf(`{"time":%q,"src":%q,"src_port":%d,"dst":%q,"port":53,"protocol":"UDP","verdict":"forwarded","observer":"dev-node-1"}`+"\n",
			at.UTC().Format(time.RFC3339Nano), exporter, srcPort, demo.DNSServiceIP)
	}
	for attempt := 0; ; attempt++ {
		if _, err := env.Ingest(ctx, []byte(dnsLookup(time.Now(), 42000+attempt))); err != nil {
			t.Fatal(err)
		}
		status, _, err := env.Suggest(ctx, api.SuggestionRequest{Workload: ns + "/Deployment/exporter", Since: "1h", NamespaceLabelKey: "team"})
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK && len(suggest(ctx, t, env, api.SuggestionRequest{Workload: ns + "/Deployment/exporter", Since: "1h"}).rows("Egress")) > 0 {
			break
		}
		if attempt == 50 {
			t.Fatalf("Redline did not resolve the exporter's address %s (status %d)", exporter, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var lines strings.Builder
	for i := range 5 {
		fmt.Fprintf(&lines, `{"time":%q,"src":%q,"src_port":%d,"dst":%q,"port":5432,"protocol":"TCP","verdict":"forwarded","observer":"dev-node-1"}`+"\n",
			time.Now().UTC().Format(time.RFC3339Nano), exporter, 41000+i, postgres)
	}
	res, err := env.Ingest(ctx, []byte(lines.String()))
	if err != nil || res.Recorded != 5 || res.Errors != 0 {
		t.Fatalf("ingest: %+v %v, want 5 connections recorded", res, err)
	}

	// The store takes flows to disk within its flush interval.
	s := eventuallySuggest(ctx, t, env, api.SuggestionRequest{Workload: ns + "/Deployment/exporter", Since: "1h"}, func(s suggestion) bool {
		return slices.ContainsFunc(s.rows("Egress"), func(r row) bool { return r.Peer.Name == "postgres" })
	})
	if rows := s.rows("Ingress"); len(rows) != 0 {
		t.Errorf("the ingress table should be empty: %v", rows)
	}
	var egress []string
	for _, r := range s.rows("Egress") {
		if r.Peer.Namespace == demo.NamespaceDNS && r.Port == 53 {
			continue // the DNS lookups
		}
		egress = append(egress, r.String())
	}
	if want := []string{"Egress shop/postgres[StatefulSet] TCP/5432"}; !slices.Equal(egress, want) {
		t.Errorf("egress table %q, want only %q", egress, want)
	}
	if len(s.policy.Spec.Ingress) != 0 || !slices.Contains(s.policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("the policy should allow no ingress:\n%s", s.YAML)
	}
	for _, want := range []string{"app: postgres", "team: shop", "k8s-app: kube-dns", "port: 53"} {
		if !strings.Contains(s.YAML, want) {
			t.Errorf("the policy lacks %q:\n%s", want, s.YAML)
		}
	}
	if strings.Contains(s.YAML, "app: archive") {
		t.Errorf("the policy allows the archive:\n%s", s.YAML)
	}

	// The exporter now calls the archive in its own namespace: the
	// generated policy would cut exactly that, not postgres nor DNS.
	probe := fmt.Sprintf(`{"time":%q,"src":%q,"src_port":43000,"dst":%q,"port":8080,"protocol":"TCP","verdict":"forwarded","observer":"dev-node-1"}`+"\n",
		time.Now().UTC().Format(time.RFC3339Nano), exporter, archive)
	if res, err := env.Ingest(ctx, []byte(probe)); err != nil || res.Recorded != 1 {
		t.Fatalf("ingest the probe: %+v %v", res, err)
	}
	eventuallySuggest(ctx, t, env, api.SuggestionRequest{Workload: ns + "/Deployment/exporter", Since: "1h"}, func(s suggestion) bool {
		return slices.ContainsFunc(s.rows("Egress"), func(r row) bool { return r.Peer.Name == "archive" })
	})
	got := blocked(t, whatIf(ctx, t, env, s.policy))
	if want := []string{"reports/exporter[Deployment] -> reports/archive[Deployment] TCP/8080"}; !slices.Equal(got, want) {
		t.Errorf("applying the policy warns of %q, want exactly %q", got, want)
	}
}

// eventuallySuggest asks for a suggestion until cond holds of it.
func eventuallySuggest(ctx context.Context, t *testing.T, env *devenv.Env, req api.SuggestionRequest, cond func(suggestion) bool) suggestion {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := suggest(ctx, t, env, req)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the suggestion for %s never showed the flows sent: included %v, excluded %v", req.Workload, s.Included, s.Excluded)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podIP waits for the pod a selector picks to run and returns its address.
func podIP(ctx context.Context, t *testing.T, env *devenv.Env, ns, selector string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pods, err := env.Kube().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				return p.Status.PodIP
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running pod %s in %s", selector, ns)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Case 5: a namespace missing the label. ops lacks team: the payment's
// suggestion has no entry for its log-store and says which label to add,
// the audit report lists ops, and the policy would cut the connection.
// Once ops is labelled, the next audit pass includes it and the report no
// longer lists it.
func TestUseCase5NamespaceMissingLabel(t *testing.T) {
	env := devEnv(t)
	ctx := testContext(t)
	const workload = "shop/Deployment/payment"
	logStore := "ops/log-store[Deployment] TCP/3100"

	s := suggest(ctx, t, env, api.SuggestionRequest{Workload: workload})
	if !slices.ContainsFunc(s.NeedsLabel, func(m string) bool { return strings.Contains(m, "namespace ops needs label team") }) {
		t.Errorf("the suggestion does not say ops needs label team: %q", s.NeedsLabel)
	}
	if strings.Contains(s.YAML, "log-store") {
		t.Errorf("the policy has an entry for ops/log-store before ops is labelled:\n%s", s.YAML)
	}
	if got := blocked(t, whatIf(ctx, t, env, s.policy)); !slices.ContainsFunc(got, func(g string) bool { return strings.HasSuffix(g, "-> "+logStore) }) {
		t.Errorf("applying the policy does not draw payment -> %s red: %q", logStore, got)
	}
	rep, err := env.AuditReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Unlabeled, func(u audit.UnlabeledEntry) bool { return u.Namespace == "ops" && u.Label == "team" }) {
		t.Fatalf("the audit report does not list ops as unlabeled: %+v", rep.Unlabeled)
	}

	// kubectl label namespace ops team=ops
	setLabel(ctx, t, env, "ops", ptr.To("ops"))
	t.Cleanup(func() { setLabel(context.Background(), t, env, "ops", nil) })
	labelled := time.Now()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := env.WaitAuditPass(ctx, labelled); err != nil {
			t.Fatal(err)
		}
		rep, err := env.AuditReport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(rep.Unlabeled, func(u audit.UnlabeledEntry) bool { return u.Namespace == "ops" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit report still lists ops after it was labelled: %+v", rep.Unlabeled)
		}
		labelled = time.Now()
	}
	cm, err := env.Kube().CoreV1().ConfigMaps(demo.NamespaceShop).Get(ctx, "redline-suggested-deployment-payment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if y := cm.Data["policy.yaml"]; !strings.Contains(y, "app: log-store") || !strings.Contains(y, "team: ops") {
		t.Errorf("the audit's suggestion for payment does not include ops/log-store:\n%s", y)
	}
	s = suggest(ctx, t, env, api.SuggestionRequest{Workload: workload})
	if len(s.NeedsLabel) != 0 || !strings.Contains(s.YAML, "app: log-store") {
		t.Errorf("after labelling, the suggestion should include ops/log-store and need no label: %q\n%s", s.NeedsLabel, s.YAML)
	}
	if !slices.ContainsFunc(s.Included, func(r row) bool { return r.String() == "Egress "+logStore }) {
		t.Errorf("the row to %s is not included: %v", logStore, s.Included)
	}
}

// setLabel sets (or, with nil, removes) a namespace's team label.
func setLabel(ctx context.Context, t *testing.T, env *devenv.Env, ns string, value *string) {
	t.Helper()
	n, err := env.Kube().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(n.Labels, demo.NamespaceLabel)
	} else {
		n.Labels[demo.NamespaceLabel] = *value
	}
	if _, err := env.Kube().CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
