package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/rego"
)

// shopNamespace creates namespace ns (with labels) in the API server and
// the cluster view, with the shop workloads, and records the shop traffic
// in the store: frontend → cart TCP/8080 three times 2h ago, checkout →
// cart TCP/8080 once 5m ago, frontend → checkout TCP/8443 once 1m ago.
func shopNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	createNamespace(t, ns, labels)
	plane.cluster.add([]netpol.Namespace{{Name: ns, Labels: labels}}, shopObjects(ns), nil)
	now := time.Now()
	record(t,
		observed{wep(ns, "frontend"), wep(ns, "cart"), 8080, 3, now.Add(-2 * time.Hour)},
		observed{wep(ns, "checkout"), wep(ns, "cart"), 8080, 1, now.Add(-5 * time.Minute)},
		observed{wep(ns, "frontend"), wep(ns, "checkout"), 8443, 1, now.Add(-time.Minute)},
	)
}

func createNamespace(t testing.TB, ns string, labels map[string]string) {
	t.Helper()
	_, err := plane.client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Tests may run again (-count): start from an empty namespace. Redline's
	// own service account is exempt, so enforce mode does not get in the way.
	own, _ := clientWithWarnings(t, ownServiceAccount)
	if err := own.NetworkingV1().NetworkPolicies(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := own.EventsV1().Events(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ownServiceAccount impersonates Redline's service account, with the
// rights to do anything.
func ownServiceAccount(cfg *rest.Config) {
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:redline:redline", Groups: []string{"system:masters"}}
}

// runs numbers the tests' namespaces: the store keeps what earlier runs
// (-count) recorded, so each run gets namespaces of its own.
var runs atomic.Int64

func uniqueName(base string) string { return fmt.Sprintf("%s-%d", base, runs.Add(1)) }

type observed struct {
	src, dst flow.Endpoint
	port     uint16
	times    int
	at       time.Time
}

// record puts connections in the store and flushes it.
func record(t testing.TB, conns ...observed) {
	t.Helper()
	for _, c := range conns {
		for range c.times {
			plane.store.Record(flow.EdgeKey{Src: c.src, Dst: c.dst, Protocol: flow.ProtocolTCP, Port: c.port}, c.at, flow.VerdictForwarded, nil, nil)
		}
	}
	if err := plane.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// eventsAbout lists the Events regarding the object name in ns.
func eventsAbout(t *testing.T, ns, name string) []string {
	t.Helper()
	list, err := plane.client.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	return out
}

func waitForEvent(t *testing.T, ns, name string) []string {
	t.Helper()
	var evs []string
	err := waitFor(context.Background(), 10*time.Second, func() error {
		if evs = eventsAbout(t, ns, name); len(evs) == 0 {
			return errors.New("no event yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Event about %s/%s: %v", ns, name, err)
	}
	return evs
}

func TestE2EWarnMode(t *testing.T) {
	needPlane(t)
	ns := uniqueName("e2e-warn")
	shopNamespace(t, ns, nil)
	c, warnings := clientWithWarnings(t, nil)
	ctx := context.Background()

	if _, err := policies(c, ns).Create(ctx, denyAllIngress(ns, "deny-all"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("warn mode must allow: %v", err)
	}
	got := warnings.take()
	for _, want := range []string{
		"would block " + ns + "/frontend[Deployment] -> " + ns + "/cart[Deployment] TCP/8080 (last seen 2h ago, 3 connections)",
		"would block " + ns + "/checkout[Deployment] -> " + ns + "/cart[Deployment] TCP/8080 (last seen 5m ago, 1 connection)",
		"would block " + ns + "/frontend[Deployment] -> " + ns + "/checkout[Deployment] TCP/8443 (last seen 1m ago, 1 connection)",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no warning %q in %q", want, got)
		}
	}
	evs := waitForEvent(t, ns, "deny-all")
	if !strings.HasPrefix(evs[0], "Warning RedlineWarning: allowed create of NetworkPolicy "+ns+"/deny-all by ") ||
		!strings.Contains(evs[0], "would block "+ns+"/frontend[Deployment] -> "+ns+"/cart[Deployment] TCP/8080") {
		t.Errorf("event %q", evs[0])
	}

	if _, err := policies(c, ns).Create(ctx, allowCart(ns, "allow-cart"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := warnings.take(); len(got) > 0 {
		t.Errorf("harmless policy: warnings %q", got)
	}
}

func TestE2EEnforceMode(t *testing.T) {
	needPlane(t)
	ns := uniqueName("e2e-enforce")
	shopNamespace(t, ns, map[string]string{rego.ModeLabel: "enforce"})
	c, warnings := clientWithWarnings(t, nil)
	ctx := context.Background()

	_, err := policies(c, ns).Create(ctx, denyAllIngress(ns, "deny-all"), metav1.CreateOptions{})
	if err == nil {
		t.Fatal("enforce mode: deny-all created, want it rejected")
	}
	for _, want := range []string{
		`admission webhook "networkpolicies.redline.io" denied the request`,
		"would block " + ns + "/frontend[Deployment] -> " + ns + "/cart[Deployment] TCP/8080 (last seen 2h ago, 3 connections)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("error is not Forbidden: %v", err)
	}
	if _, err := policies(c, ns).Get(ctx, "deny-all", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("denied policy exists: %v", err)
	}
	waitForEvent(t, ns, "deny-all")
	warnings.take()

	if _, err := policies(c, ns).Create(ctx, allowCart(ns, "allow-cart"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("harmless policy rejected: %v", err)
	}
	if got := warnings.take(); len(got) > 0 {
		t.Errorf("harmless policy: warnings %q", got)
	}
}

func TestE2ENamespaceRelabel(t *testing.T) {
	needPlane(t)
	shop, pay := uniqueName("e2e-relabel-shop"), uniqueName("e2e-relabel-pay")
	ctx := context.Background()
	// e2e-relabel-pay/api admits namespaces labelled team=e2e-shop.
	allow := allowCart(pay, "from-shop")
	allow.Spec.PodSelector.MatchLabels = map[string]string{"app": "api"}
	allow.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "e2e-shop"}},
	}}}}
	createNamespace(t, shop, map[string]string{"team": "e2e-shop"})
	createNamespace(t, pay, nil)
	plane.cluster.add(
		[]netpol.Namespace{{Name: shop, Labels: map[string]string{"team": "e2e-shop"}}, {Name: pay}},
		[]*netpol.Workload{deployment(shop, "frontend"), deployment(pay, "api")},
		[]*networkingv1.NetworkPolicy{allow})
	if _, err := policies(plane.client, pay).Create(ctx, allow, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	record(t, observed{wep(shop, "frontend"), wep(pay, "api"), 9090, 2, time.Now().Add(-3 * time.Hour)})

	c, warnings := clientWithWarnings(t, nil)
	relabel := func(labels map[string]string) {
		t.Helper()
		n, err := c.CoreV1().Namespaces().Get(ctx, shop, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels = labels
		if _, err := c.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("relabel %v: %v", labels, err)
		}
	}
	relabel(map[string]string{"team": "e2e-shop", "env": "prod"})
	if got := warnings.take(); len(got) > 0 {
		t.Errorf("harmless relabel: warnings %q", got)
	}
	relabel(map[string]string{"team": "other"})
	want := "would block " + shop + "/frontend[Deployment] -> " + pay + "/api[Deployment] TCP/9090 (last seen 3h ago, 2 connections)"
	if got := warnings.take(); !slices.Contains(got, want) {
		t.Errorf("relabel team=other: warnings %q, want %q", got, want)
	}
}

func TestE2EDryRun(t *testing.T) {
	needPlane(t)
	ns := uniqueName("e2e-dryrun")
	shopNamespace(t, ns, nil)
	c, warnings := clientWithWarnings(t, nil)
	ctx := context.Background()

	if _, err := policies(c, ns).Create(ctx, denyAllIngress(ns, "deny-all-dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if got := warnings.take(); !containsLine(got, "would block "+ns+"/frontend[Deployment] -> "+ns+"/cart[Deployment] TCP/8080") {
		t.Errorf("dry-run: warnings %q", got)
	}
	if _, err := policies(c, ns).Get(ctx, "deny-all-dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run policy exists: %v", err)
	}
	// Events are sent in order: once the next request's Event is there,
	// a dry-run Event would be too.
	if _, err := policies(c, ns).Create(ctx, denyAllIngress(ns, "deny-all-real"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, ns, "deny-all-real")
	if evs := eventsAbout(t, ns, "deny-all-dry"); len(evs) > 0 {
		t.Errorf("dry-run request left Events: %q", evs)
	}
}

func TestE2EExempt(t *testing.T) {
	needPlane(t)
	ctx := context.Background()
	// Redline's namespace, with traffic that a deny-all would cut.
	shopNamespace(t, "redline", map[string]string{rego.ModeLabel: "enforce"})
	ownNS := uniqueName("e2e-own-sa")
	shopNamespace(t, ownNS, map[string]string{rego.ModeLabel: "enforce"})
	c, warnings := clientWithWarnings(t, nil)
	for _, ns := range []string{"kube-system", "redline"} {
		if _, err := policies(c, ns).Create(ctx, denyAllIngress(ns, "e2e-deny-all"), metav1.CreateOptions{}); err != nil {
			t.Errorf("%s: %v", ns, err)
		}
		if got := warnings.take(); len(got) > 0 {
			t.Errorf("%s: warnings %q", ns, got)
		}
		_ = policies(plane.client, ns).Delete(ctx, "e2e-deny-all", metav1.DeleteOptions{})
	}

	// Redline's own service account (with the rights to do it).
	own, ownWarnings := clientWithWarnings(t, ownServiceAccount)
	if _, err := policies(own, ownNS).Create(ctx, denyAllIngress(ownNS, "deny-all"), metav1.CreateOptions{}); err != nil {
		t.Errorf("own service account: %v", err)
	}
	if got := ownWarnings.take(); len(got) > 0 {
		t.Errorf("own service account: warnings %q", got)
	}
	// Anybody else is denied there.
	if _, err := policies(c, ownNS).Create(ctx, denyAllIngress(ownNS, "deny-all-2"), metav1.CreateOptions{}); err == nil {
		t.Error("another user's deny-all allowed in enforce mode")
	}
}

func TestE2ERegoOverride(t *testing.T) {
	needPlane(t)
	ns := uniqueName("e2e-rego")
	shopNamespace(t, ns, nil)
	t.Cleanup(func() {
		if err := plane.engine.Update(nil); err != nil {
			t.Errorf("restore the default policies: %v", err)
		}
	})
	c, warnings := clientWithWarnings(t, nil)
	ctx := context.Background()

	if _, err := policies(c, ns).Create(ctx, allowCart(ns, "forbidden"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := plane.engine.Update(map[string]string{"reserved-names.rego": `package redline.admission

deny contains msg if {
	input.object.metadata.name == "forbidden"
	msg := sprintf("NetworkPolicy %s/forbidden: the name is reserved", [input.namespace.name])
}
`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = policies(c, ns).Create(ctx, allowCart(ns, "forbidden"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "NetworkPolicy "+ns+"/forbidden: the name is reserved") {
		t.Fatalf("override: err %v, want the reserved-name denial", err)
	}

	err = plane.engine.Update(map[string]string{"broken.rego": "package redline.admission\n\ndeny contains msg if {\n"})
	if !errors.Is(err, rego.ErrCompile) {
		t.Fatalf("broken override: %v, want ErrCompile", err)
	}
	_, err = policies(c, ns).Create(ctx, allowCart(ns, "forbidden"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "the name is reserved") {
		t.Fatalf("after a broken override: err %v, want the last good set's denial", err)
	}
	if _, err := policies(c, ns).Create(ctx, allowCart(ns, "allowed-name"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("last good set: %v", err)
	}
	if got := warnings.take(); len(got) > 0 {
		t.Errorf("warnings %q", got)
	}
}

// TestE2EMalformedReview posts to the webhook server over TLS, as the API
// server does: a malformed AdmissionReview gets 400 and the server goes on
// answering.
func TestE2EMalformedReview(t *testing.T) {
	needPlane(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(plane.caData) {
		t.Fatal("no CA")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + plane.addr + PathNetworkPolicy
	post := func(contentType string, body []byte) (int, []byte) {
		t.Helper()
		resp, err := client.Post(url, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tc := range []struct {
		name, contentType, body string
		want                    int
	}{
		{"truncated JSON", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`, 400},
		{"not JSON", "application/json", "\x00\xff garbage", 400},
		{"empty", "application/json", "", 400},
		{"no request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400},
		{"wrong apiVersion", "application/json", `{"apiVersion":"v1","kind":"Pod","request":{"uid":"x"}}`, 400},
		{"wrong type", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`, 400},
		{"not JSON content", "text/plain", `{}`, 415},
	} {
		if code, body := post(tc.contentType, []byte(tc.body)); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}

	// The server still answers a valid review.
	req := policyRequest(t, admissionv1.Create, nil, denyAllIngress("nowhere", "deny-all"))
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	}
	code, body := post("application/json", mustJSON(t, review))
	if code != http.StatusOK {
		t.Fatalf("valid review: %d %s", code, body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
		t.Fatalf("valid review: %v %s", err, body)
	}
	if out.Response.UID != req.UID || !out.Response.Allowed || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
		t.Errorf("valid review: response %+v", out)
	}
}
