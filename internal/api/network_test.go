package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/store"
)

// networkPolicies are added to the shop fixture: cart admits frontend on
// 8080; payment admits nothing (an ingress deny-all of its own).
const networkPolicies = `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cart-from-frontend, namespace: shop}
spec:
  podSelector: {matchLabels: {app: cart}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
    ports: [{protocol: TCP, port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: payment-closed, namespace: payments}
spec:
  podSelector: {matchLabels: {app: payment}}
  policyTypes: [Ingress]
`

// networkEnv is a NetworkHandler over the shop inventory (with
// networkPolicies), a real store holding a little traffic, and a real
// Guard asking the envtest API server; with a token per role.
type networkEnv struct {
	handler http.Handler
	net     *NetworkHandler
	inv     *inventory.Inventory
	store   *store.Store
	client  kubernetes.Interface
	now     time.Time
	// configNS holds the redline-config ConfigMap of this env.
	configNS string
	// Tokens: reader reads and drafts in shop; clusterReader reads
	// everywhere (no drafts); admin changes settings and reads everywhere;
	// nobody holds nothing.
	reader, clusterReader, admin, nobody string
}

var envSeq atomic.Int64

func newNetworkEnv(t *testing.T) *networkEnv {
	t.Helper()
	cfg := needAPIServer(t)
	ctx := context.Background()
	client := kubernetes.NewForConfigOrDie(cfg)
	id := envSeq.Add(1)
	users := fmt.Sprintf("users-%d", id)
	e := &networkEnv{client: client, configNS: fmt.Sprintf("redline-%d", id), now: time.Now()}
	for _, ns := range []string{"shop", "payments", users, e.configNS} {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	rule := func(verb, resource string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{kubeauth.Group}, Resources: []string{resource}, Verbs: []string{verb}}
	}
	e.reader = grantToken(ctx, t, client, users, "reader", "shop", rule("get", "traffic"), rule("update", "drafts"))
	e.clusterReader = grantToken(ctx, t, client, users, "cluster-reader", "", rule("get", "traffic"))
	e.admin = grantToken(ctx, t, client, users, "admin", "", rule("get", "traffic"), rule("update", "settings"))
	e.nobody = grantToken(ctx, t, client, users, "nobody", "")

	guard, err := kubeauth.New(kubeauth.Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	e.inv, err = inventory.LoadFiles(ctx, []string{"-"}, inventory.LoadOptions{Stdin: strings.NewReader(inventorytest.ShopManifests + networkPolicies)})
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	e.record(t)

	e.net = &NetworkHandler{
		Inventory:       func() *inventory.Inventory { return e.inv },
		Store:           e.store,
		Client:          client,
		ConfigNamespace: e.configNS,
		Now:             func() time.Time { return e.now },
	}
	e.handler = NewHandler(Deps{Guard: guard, Ingester: &fakeIngester{}, Network: e.net, Suggestions: &SuggestionsHandler{
		Auth: guard, Inventory: func() *inventory.Inventory { return e.inv }, Edges: e.store,
		Aliases: func() map[string][]netip.Prefix { return nil }, Now: func() time.Time { return e.now },
	}})
	return e
}

var (
	paymentEP  = flow.WorkloadEndpoint("payments", "Deployment", "payment")
	externalEP = flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.9"), Class: flow.ClassExternal}
	proxyEP    = flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("198.51.100.7"), Class: flow.ClassUnknown}
)

// record stores the traffic: frontend → cart 8080 (3, one dropped),
// frontend → payment 8443, frontend → 203.0.113.9:443 (external), payment
// → 198.51.100.7:3128 (seen by payments only).
func (e *networkEnv) record(t *testing.T) {
	t.Helper()
	at := e.now.Add(-10 * time.Minute)
	rec := func(src, dst flow.Endpoint, port uint16, n int, v flow.Verdict) {
		for i := range n {
			e.store.Record(flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}, at.Add(time.Duration(i)*time.Second), v, nil, nil)
		}
	}
	rec(frontendEP, cartEP, 8080, 2, flow.VerdictForwarded)
	rec(frontendEP, cartEP, 8080, 1, flow.VerdictDropped)
	rec(frontendEP, paymentEP, 8443, 1, flow.VerdictForwarded)
	rec(frontendEP, externalEP, 443, 4, flow.VerdictForwarded)
	rec(paymentEP, proxyEP, 3128, 2, flow.VerdictForwarded)
	if err := e.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// grantToken makes a service account holding rules (in namespace ns, or
// cluster-wide when ns is empty) and returns a token of it.
func grantToken(ctx context.Context, t *testing.T, client kubernetes.Interface, saNS, name, ns string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	if _, err := client.CoreV1().ServiceAccounts(saNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rules) > 0 {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: saNS + "-" + name}, Rules: rules}
		if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
		subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: name}}
		var err error
		if ns == "" {
			_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name}, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})
		} else {
			_, err = client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name}, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tr, err := client.CoreV1().ServiceAccounts(saNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", saNS, name, err)
	}
	return tr.Status.Token
}

// call makes one request and decodes a JSON answer into out (if not nil
// and the status is 200). Every answer must be JSON; errors carry "error".
func (e *networkEnv) call(t *testing.T, method, target, token, body string, out any) int {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ct)
	}
	if rec.Code != http.StatusOK {
		var er ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error == "" {
			t.Errorf("%s %s: status %d without a JSON error: %q", method, target, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", method, target)
		}
		return rec.Code
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %q", method, target, err, rec.Body)
		}
	}
	return rec.Code
}

// authCase is the same request with each token, and the status each gets.
type authCase struct {
	method, target, body string
	// The status for reader, clusterReader, admin, nobody, no token.
	reader, clusterReader, admin, nobody int
}

func (e *networkEnv) checkAuth(t *testing.T, tc authCase) {
	t.Helper()
	for _, u := range []struct {
		name, token string
		want        int
	}{
		{"reader", e.reader, tc.reader}, {"cluster reader", e.clusterReader, tc.clusterReader},
		{"admin", e.admin, tc.admin}, {"nobody", e.nobody, tc.nobody}, {"no token", "", http.StatusUnauthorized},
		{"bad token", "not-a-token", http.StatusUnauthorized},
	} {
		if got := e.call(t, tc.method, tc.target, u.token, tc.body, nil); got != u.want {
			t.Errorf("%s %s as %s: status %d, want %d", tc.method, tc.target, u.name, got, u.want)
		}
	}
}

const (
	ok        = http.StatusOK
	forbidden = http.StatusForbidden
)

// Every endpoint, with every kind of caller.
func TestNetworkAuthorisation(t *testing.T) {
	e := newNetworkEnv(t)
	const fe = "/api/v1/namespaces/shop/workloads/Deployment/frontend"
	const pay = "/api/v1/namespaces/payments/workloads/Deployment/payment"
	whatIfShop := `{"policy": {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"x","namespace":"shop"},"spec":{"podSelector":{}}}}`
	whatIfPay := strings.ReplaceAll(whatIfShop, `"shop"`, `"payments"`)
	for _, tc := range []authCase{
		{method: "GET", target: "/api/v1/whoami", reader: ok, clusterReader: ok, admin: ok, nobody: ok},
		{method: "GET", target: "/api/v1/openapi.json", reader: ok, clusterReader: ok, admin: ok, nobody: ok},
		{method: "GET", target: "/api/v1/scopes", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: fe + "/traffic?since=1h", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: pay + "/traffic", reader: forbidden, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: "/api/v1/unresolved", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: fe + "/policies", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: pay + "/policies", reader: forbidden, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: fe + "/choices", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "PUT", target: fe + "/choices", body: `{}`, reader: ok, clusterReader: forbidden, admin: forbidden, nobody: forbidden},
		{method: "PUT", target: pay + "/choices", body: `{}`, reader: forbidden, clusterReader: forbidden, admin: forbidden, nobody: forbidden},
		{method: "GET", target: fe + "/topology", reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "POST", target: fe + "/topology", body: `{"egress":"block-all"}`, reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "GET", target: pay + "/topology", reader: forbidden, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/whatif", body: whatIfShop, reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/whatif", body: whatIfPay, reader: forbidden, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/suggestions", body: `{"workload":"shop/Deployment/frontend"}`, reader: ok, clusterReader: ok, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/aliases", body: `{"name":"partner","cidrs":["203.0.113.0/24"]}`, reader: forbidden, clusterReader: forbidden, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/allowed", body: `{"entry":"192.0.2.1"}`, reader: forbidden, clusterReader: forbidden, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/cidrs", body: `{"cidrs":["10.244.0.0/16"]}`, reader: forbidden, clusterReader: forbidden, admin: ok, nobody: forbidden},
		{method: "POST", target: "/api/v1/flows", body: "{}\n", reader: forbidden, clusterReader: forbidden, admin: forbidden, nobody: forbidden},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) { e.checkAuth(t, tc) })
	}
	// Unknown paths and methods: JSON 404 and 405.
	if got := e.call(t, "GET", "/api/v1/nothing", e.reader, "", nil); got != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", got)
	}
	if got := e.call(t, "DELETE", "/api/v1/scopes", e.reader, "", nil); got != http.StatusMethodNotAllowed {
		t.Errorf("DELETE scopes: %d, want 405", got)
	}
}

func TestScopesAndWhoAmI(t *testing.T) {
	e := newNetworkEnv(t)
	var s ScopesResponse
	if got := e.call(t, "GET", "/api/v1/scopes", e.reader, "", &s); got != ok {
		t.Fatalf("status %d", got)
	}
	if len(s.Clusters) != 1 || s.Clusters[0].Name != "local" || len(s.Clusters[0].Namespaces) != 1 {
		t.Fatalf("reader's scopes = %+v, want cluster local with namespace shop only", s)
	}
	shop := s.Clusters[0].Namespaces[0]
	if shop.Name != "shop" || !slices.Equal(shop.Workloads["Deployment"], []string{"cart", "frontend"}) ||
		!slices.Equal(shop.Services, []string{"cart"}) || shop.Workloads["CronJob"] == nil {
		t.Errorf("shop scope = %+v, want Deployments cart and frontend, Service cart, every kind listed", shop)
	}
	if strings.Contains(mustJSON(t, s), "payment") {
		t.Errorf("the reader's scopes name the payments namespace or its workloads: %s", mustJSON(t, s))
	}
	e.net.ClusterName = "prod-eu"
	if e.call(t, "GET", "/api/v1/scopes", e.clusterReader, "", &s); len(s.Clusters[0].Namespaces) != 2 || s.Clusters[0].Name != "prod-eu" {
		t.Errorf("cluster reader's scopes = %+v, want prod-eu with shop and payments", s)
	}

	for _, tc := range []struct {
		token      string
		read       bool
		namespaces []string
		admin      bool
	}{
		{e.reader, false, []string{"shop"}, false},
		{e.clusterReader, true, []string{"payments", "shop"}, false},
		{e.admin, true, []string{"payments", "shop"}, true},
		{e.nobody, false, []string{}, false},
	} {
		var who WhoAmI
		if got := e.call(t, "GET", "/api/v1/whoami", tc.token, "", &who); got != ok {
			t.Fatalf("whoami: %d", got)
		}
		if !strings.HasPrefix(who.User, "system:serviceaccount:users-") || who.Read != tc.read || who.Admin != tc.admin || !slices.Equal(who.Namespaces, tc.namespaces) {
			t.Errorf("whoami = %+v, want read %v, namespaces %v, admin %v", who, tc.read, tc.namespaces, tc.admin)
		}
	}
}

func TestTrafficTables(t *testing.T) {
	e := newNetworkEnv(t)
	var tr TrafficResponse
	if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/deployment/frontend/traffic?since=1h", e.reader, "", &tr); got != ok {
		t.Fatalf("status %d", got)
	}
	if tr.Workload != "shop/Deployment/frontend" || len(tr.Ingress) != 0 || len(tr.Egress) != 3 {
		t.Fatalf("tables = %s, want 3 egress rows", mustJSON(t, tr))
	}
	rows := map[string]TrafficRow{}
	for _, r := range tr.Egress {
		rows[r.PeerRef] = r
	}
	cart := rows["shop/Deployment/cart"]
	if cart.Peer != "cart" || cart.Namespace != "shop" || cart.Kind != "Deployment" || cart.Port != 8080 || cart.Protocol != "TCP" ||
		cart.Connections != 3 || cart.Verdicts["FORWARDED"] != 2 || cart.Verdicts["DROPPED"] != 1 || cart.Verdict != "DROPPED" || cart.PeerRef != "shop/Deployment/cart" || cart.LastSeen.IsZero() {
		t.Errorf("cart row = %+v", cart)
	}
	if addr := rows["203.0.113.9"]; addr.Kind != "Address" || addr.Peer != "203.0.113.9" || addr.Class != "external" || addr.Connections != 4 {
		t.Errorf("address row = %+v", addr)
	}
	// The Service view: cart's ingress, regrouped by the Service.
	if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Service/cart/traffic", e.reader, "", &tr); got != ok {
		t.Fatalf("Service view: %d", got)
	}
	if len(tr.Ingress) != 1 || tr.Ingress[0].Peer != "frontend" || tr.Ingress[0].Connections != 3 || tr.Workload != "shop/Service/cart" {
		t.Errorf("Service cart's tables = %s, want frontend's 3 connections in", mustJSON(t, tr))
	}
	// An old window sees nothing.
	e.now = e.now.Add(48 * time.Hour)
	if e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/frontend/traffic?since=1h", e.reader, "", &tr); len(tr.Egress) != 0 {
		t.Errorf("an hour, two days later: %d rows, want none", len(tr.Egress))
	}
	for _, target := range []string{"?since=40d", "?since=soon", "?since=-1h"} {
		if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/frontend/traffic"+target, e.reader, "", nil); got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", target, got)
		}
	}
	if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Gadget/frontend/traffic", e.reader, "", nil); got != http.StatusBadRequest {
		t.Errorf("unknown kind: %d, want 400", got)
	}
}

// unresolvedAnswer is UnresolvedResponse as a client reads it (an address
// class is written as its name).
type unresolvedAnswer struct {
	Addresses []json.RawMessage
	Total     int
}

func TestUnresolved(t *testing.T) {
	e := newNetworkEnv(t)
	get := func(token, query string) []string {
		t.Helper()
		var u unresolvedAnswer
		if got := e.call(t, "GET", "/api/v1/unresolved"+query, token, "", &u); got != ok {
			t.Fatalf("%s: status %d", query, got)
		}
		var addrs []string
		for _, raw := range u.Addresses {
			var a struct {
				Addr  string
				Peers []struct{ Namespace string }
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, a.Addr)
			for _, p := range a.Peers {
				if token == e.reader && p.Namespace != "shop" {
					t.Errorf("the reader sees peer %s of %s", p, a.Addr)
				}
			}
		}
		return addrs
	}
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"cluster reader", e.clusterReader, "?since=2h", []string{"203.0.113.9", "198.51.100.7"}},
		{"reader: shop's only", e.reader, "", []string{"203.0.113.9"}},
		{"search by peer", e.clusterReader, "?q=PAYMENT", []string{"198.51.100.7"}},
		{"search by address", e.clusterReader, "?q=203.0", []string{"203.0.113.9"}},
		{"search by port", e.clusterReader, "?q=tcp/3128", []string{"198.51.100.7"}},
		{"class", e.clusterReader, "?class=external", []string{"203.0.113.9"}},
		{"class unknown", e.clusterReader, "?class=unknown", []string{"198.51.100.7"}},
		{"reader, another namespace's text", e.reader, "?q=payment", nil},
		{"class aliased", e.clusterReader, "?class=aliased", nil},
	} {
		if got := get(tc.token, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// The reader's summary is computed from shop's edges: the same as the
	// store's for an address only shop talks with.
	var u unresolvedAnswer
	e.call(t, "GET", "/api/v1/unresolved?q=203.0.113.9", e.reader, "", &u)
	var all unresolvedAnswer
	e.call(t, "GET", "/api/v1/unresolved?q=203.0.113.9", e.clusterReader, "", &all)
	if mustJSON(t, u.Addresses) != mustJSON(t, all.Addresses) {
		t.Errorf("reader's summary\n%s\ndiffers from the store's\n%s", mustJSON(t, u.Addresses), mustJSON(t, all.Addresses))
	}
	if got := e.call(t, "GET", "/api/v1/unresolved?class=public", e.reader, "", nil); got != http.StatusBadRequest {
		t.Errorf("bad class: %d, want 400", got)
	}

	// An alias added since the traffic was recorded shows at once (the
	// admin's "alias this address"); the recorded external class stays.
	live, warnings := inventory.ParseConfig(map[string]string{"aliases": "corp-proxy: 198.51.100.7"})
	if len(warnings) > 0 {
		t.Fatal(warnings)
	}
	e.net.Classifier = func() *inventory.Classifier { return live }
	if got := get(e.clusterReader, "?class=aliased"); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("after aliasing 198.51.100.7: aliased = %v", got)
	}
	if got := get(e.clusterReader, "?q=corp-proxy"); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("search by the new alias: %v", got)
	}
	if got := get(e.clusterReader, "?class=external"); !slices.Equal(got, []string{"203.0.113.9"}) {
		t.Errorf("external after aliasing another address: %v", got)
	}
}

func TestPolicies(t *testing.T) {
	e := newNetworkEnv(t)
	var p PoliciesResponse
	if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/cart/policies", e.reader, "", &p); got != ok {
		t.Fatalf("status %d", got)
	}
	if len(p.Policies) != 1 || p.Policies[0].Name != "cart-from-frontend" || !slices.Equal(p.Policies[0].PolicyTypes, []string{"Ingress"}) ||
		!strings.Contains(p.Policies[0].YAML, "kind: NetworkPolicy") || !strings.Contains(p.Policies[0].YAML, "app: frontend") {
		t.Errorf("cart's policies = %s", mustJSON(t, p))
	}
	if p = (PoliciesResponse{}); e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/frontend/policies", e.reader, "", &p) != ok || len(p.Policies) != 0 {
		t.Errorf("frontend is selected by no policy, got %s", mustJSON(t, p))
	}
	// The connection frontend → cart:8080: cart's policy isolates it and
	// its ingress[0] allows it.
	q := "/api/v1/namespaces/shop/workloads/Deployment/frontend/policies?peer=shop/Deployment/cart&port=8080&protocol=TCP&direction=Egress"
	if got := e.call(t, "GET", q, e.reader, "", &p); got != ok {
		t.Fatalf("connection: %d", got)
	}
	if len(p.Policies) != 1 || !slices.Equal(p.Policies[0].AllowedBy, []string{"ingress[0]"}) || len(p.Connections) != 1 || !p.Connections[0].Allowed {
		t.Errorf("frontend → cart:8080 policies = %s", mustJSON(t, p))
	}
	// Port 9090 is not allowed: the policy is still relevant, no rule allows.
	if p = (PoliciesResponse{}); e.call(t, "GET", strings.Replace(q, "8080", "9090", 1), e.reader, "", &p) != ok || len(p.Policies) != 1 || len(p.Policies[0].AllowedBy) != 0 || p.Connections[0].Allowed {
		t.Errorf("frontend → cart:9090 policies = %s", mustJSON(t, p))
	}
	// The reader may not read payments: its policy stays hidden.
	q = "/api/v1/namespaces/shop/workloads/Deployment/frontend/policies?peer=payments/Deployment/payment&port=8443"
	if p = (PoliciesResponse{}); e.call(t, "GET", q, e.reader, "", &p) != ok || len(p.Policies) != 0 || strings.Contains(mustJSON(t, p), "payment-closed") || p.Connections[0].Allowed {
		t.Errorf("reader: frontend → payment policies = %s, want denied with payments' policy hidden", mustJSON(t, p))
	}
	if p = (PoliciesResponse{}); e.call(t, "GET", q, e.clusterReader, "", &p) != ok || len(p.Policies) != 1 || p.Policies[0].Name != "payment-closed" {
		t.Errorf("cluster reader: frontend → payment policies = %s, want payment-closed", mustJSON(t, p))
	}
	for _, bad := range []string{"?peer=nothing", "?port=80", "?peer=shop/Deployment/cart&port=70000", "?peer=shop/Deployment/cart&protocol=ICMP", "?peer=shop/Deployment/cart&direction=up"} {
		if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/frontend/policies"+bad, e.reader, "", nil); got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, got)
		}
	}
	for _, missing := range []string{"/api/v1/namespaces/shop/workloads/Deployment/ghost/policies", "/api/v1/namespaces/shop/workloads/Deployment/frontend/policies?peer=shop/Deployment/ghost"} {
		if got := e.call(t, "GET", missing, e.reader, "", nil); got != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", missing, got)
		}
	}
}

// Choices round-trip, and the topology marks an excluded row red (POST
// with the choices, GET with the saved draft).
func TestChoicesAndTopology(t *testing.T) {
	e := newNetworkEnv(t)
	const fe = "/api/v1/namespaces/shop/workloads/Deployment/frontend"
	var c ChoicesResponse
	if e.call(t, "GET", fe+"/choices", e.reader, "", &c); c.Saved || c.Workload != "shop/Deployment/frontend" {
		t.Errorf("before a save: %+v", c)
	}
	draft := `{"since":"1h","exclude":[{"direction":"Egress","peer":"payments/Deployment/payment","protocol":"TCP","port":8443}]}`

	var topo TopologyResponse
	if got := e.call(t, "POST", fe+"/topology", e.reader, draft, &topo); got != ok {
		t.Fatalf("POST topology: %d", got)
	}
	checkTopology := func(topo TopologyResponse) {
		t.Helper()
		colors := map[string]string{}
		for _, ed := range topo.Edges {
			colors[ed.Target] = ed.Color
			if ed.Color == "red" && (ed.Allowed || ed.Reason == "") {
				t.Errorf("red edge %+v: allowed or without a reason", ed)
			}
		}
		want := map[string]string{"shop/Deployment/cart": "black", "payments/Deployment/payment": "red", "203.0.113.9": "red"}
		if fmt.Sprint(colors) != fmt.Sprint(want) {
			t.Errorf("edge colours %v, want %v", colors, want)
		}
		if len(topo.Nodes) != 4 || topo.Nodes[0].ID != "shop/Deployment/frontend" || topo.Nodes[0].Color != "blue" || topo.Nodes[0].Role != "subject" {
			t.Errorf("nodes = %s, want the blue subject first and its 3 peers", mustJSON(t, topo.Nodes))
		}
		if strings.Contains(topo.YAML, "app: payment") || !strings.Contains(topo.YAML, "app: cart") {
			t.Errorf("draft policy:\n%s", topo.YAML)
		}
	}
	checkTopology(topo)
	for _, ed := range topo.Edges {
		if ed.Target == "payments/Deployment/payment" && (ed.Reason != "excluded by the draft's choices" || ed.Count != 1 || ed.Row.Peer != "payments/Deployment/payment") {
			t.Errorf("excluded edge = %+v", ed)
		}
	}

	// Save the draft; a colleague (the cluster reader) sees it, and GET
	// topology judges under it.
	if got := e.call(t, "PUT", fe+"/choices", e.reader, draft, &c); got != ok || !c.Saved {
		t.Fatalf("PUT choices: %d %+v", got, c)
	}
	var seen ChoicesResponse
	if e.call(t, "GET", fe+"/choices", e.clusterReader, "", &seen); !seen.Saved || len(seen.Choices.Exclude) != 1 || seen.Choices.Exclude[0].Port != 8443 ||
		!strings.Contains(seen.SavedBy, ":reader") || seen.SavedAt == nil {
		t.Errorf("the colleague sees %+v", seen)
	}
	topo = TopologyResponse{}
	if got := e.call(t, "GET", fe+"/topology", e.clusterReader, "", &topo); got != ok {
		t.Fatalf("GET topology: %d", got)
	}
	checkTopology(topo)

	// A draft with a namespace label key the namespaces lack: banners.
	if e.call(t, "POST", fe+"/topology", e.reader, `{"namespaceLabelKey":"team"}`, &topo); len(topo.NeedsLabel) == 0 || topo.NeedsLabel[0].Key != "team" {
		t.Errorf("needsLabel = %+v, want a banner for label team", topo.NeedsLabel)
	}
	var flagged bool
	for _, ed := range topo.Edges {
		flagged = flagged || (ed.NeedsLabel != "" && ed.Color == "red")
	}
	if !flagged {
		t.Errorf("no red edge waits for a namespace label: %s", mustJSON(t, topo.Edges))
	}

	for _, bad := range []string{`{"egress":"open"}`, `{"colour":"red"}`, `{"since":"90d"}`, `[]`, `{"exclude":[{"direction":"Sideways","peer":"shop/Deployment/cart","protocol":"TCP"}]}`} {
		if got := e.call(t, "PUT", fe+"/choices", e.reader, bad, nil); got != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, got)
		}
		if got := e.call(t, "POST", fe+"/topology", e.reader, bad, nil); got != http.StatusBadRequest {
			t.Errorf("POST topology %s: %d, want 400", bad, got)
		}
	}
	if e.call(t, "GET", fe+"/choices", e.reader, "", &seen); len(seen.Choices.Exclude) != 1 {
		t.Errorf("a refused PUT changed the draft: %+v", seen)
	}
	if got := e.call(t, "GET", "/api/v1/namespaces/shop/workloads/Deployment/ghost/topology", e.reader, "", nil); got != http.StatusNotFound {
		t.Errorf("unknown workload topology: %d, want 404", got)
	}
}

// whatIfAnswer is WhatIfResponse as a client reads it (endpoint kinds
// are written as names).
type whatIfAnswer struct {
	Policy, Operation string
	Impact            json.RawMessage
}

func (a whatIfAnswer) turnsRed(t *testing.T) int {
	t.Helper()
	var imp struct {
		Totals struct{ TurnsRed struct{ Connections int } }
	}
	if err := json.Unmarshal(a.Impact, &imp); err != nil {
		t.Fatal(err)
	}
	return imp.Totals.TurnsRed.Connections
}

// The what-if answers what impact answers.
func TestWhatIf(t *testing.T) {
	e := newNetworkEnv(t)
	policy := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: frontend-lockdown, namespace: shop}
spec:
  podSelector: {matchLabels: {app: frontend}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: cart}}}]
    ports: [{protocol: TCP, port: 8080}]
`
	body, _ := json.Marshal(map[string]any{"policy": policy, "since": "1d"})
	var got whatIfAnswer
	if status := e.call(t, "POST", "/api/v1/whatif", e.reader, string(body), &got); status != ok {
		t.Fatalf("status %d", status)
	}
	// impact, called directly.
	loaded, err := inventory.LoadFiles(context.Background(), []string{"-"}, inventory.LoadOptions{Stdin: strings.NewReader(policy)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := impact.NewAnalyzer(clusterOf(e.inv, netpol.DefaultOptions()), impact.Options{Window: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	edges, err := e.store.NamespaceEdges(context.Background(), "shop", e.now.Add(-24*time.Hour), e.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.PolicyChange(context.Background(), impact.Change{Operation: impact.Create, New: loaded.Policies[0]}, edges)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Impact); err != nil {
		t.Fatal(err)
	}
	if compact.String() != mustJSON(t, want) {
		t.Errorf("what-if impact\n%s\nwant impact's\n%s", compact.String(), mustJSON(t, want))
	}
	// The address turns red; payment stays red (payment-closed denies it).
	if got.Operation != "CREATE" || got.Policy != "shop/frontend-lockdown" || want.Totals.TurnsRed.Connections != 1 || want.Totals.StaysRed.Connections != 1 ||
		want.TurnsRed[0].Dst != externalEP || want.TurnsRed[0].Explanation == nil || want.TurnsRed[0].LastSeen.IsZero() {
		t.Errorf("what-if = %s %s: %s", got.Operation, got.Policy, compact.String())
	}

	// A bare YAML body, deleting cart's policy: frontend → cart:8080 is
	// allowed either way, 9090 was never seen: nothing turns red.
	cartPolicy := `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"cart-from-frontend","namespace":"shop"},"spec":{"podSelector":{}}}`
	if status := e.call(t, "POST", "/api/v1/whatif?delete=true&since=2h", e.reader, cartPolicy, &got); status != ok || got.Operation != "DELETE" || got.turnsRed(t) != 0 {
		t.Errorf("delete: %d %s", status, got.Impact)
	}
	// The existing policy replaced by a deny-all: cart's ingress turns red.
	if status := e.call(t, "POST", "/api/v1/whatif?since=2h", e.reader, cartPolicy, &got); status != ok || got.Operation != "UPDATE" || got.turnsRed(t) != 1 {
		t.Errorf("update to deny-all: %d %s", status, got.Impact)
	}
	for _, bad := range []struct {
		body string
		want int
	}{
		{`{"policy": {"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1","metadata":{"name":"x"},"spec":{}}}`, http.StatusBadRequest},
		{`{"policy": "kind: Deployment"}`, http.StatusBadRequest},
		{`{"since": "1d"}`, http.StatusBadRequest},
		{`{"policy": {}, "extra": 1}`, http.StatusBadRequest},
		{`: not yaml [`, http.StatusBadRequest},
		{`{"policy": {"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1","metadata":{"name":"x","namespace":"shop"},"spec":{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.1/8"}}]}]}}}`, http.StatusUnprocessableEntity},
	} {
		if status := e.call(t, "POST", "/api/v1/whatif", e.reader, bad.body, nil); status != bad.want {
			t.Errorf("%s: %d, want %d", bad.body, status, bad.want)
		}
	}
}

// Admin actions change redline-config; a reader's and bad values leave it
// as it was.
func TestSettings(t *testing.T) {
	e := newNetworkEnv(t)
	ctx := context.Background()
	cm := func() *corev1.ConfigMap {
		t.Helper()
		c, err := e.client.CoreV1().ConfigMaps(e.configNS).Get(ctx, inventory.ConfigMapName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := e.call(t, "POST", "/api/v1/aliases", e.reader, `{"name":"partner","cidrs":["203.0.113.0/24"]}`, nil); got != forbidden || cm() != nil {
		t.Fatalf("reader's alias: %d, ConfigMap %v", got, cm())
	}
	var resp SettingsResponse
	if got := e.call(t, "POST", "/api/v1/aliases", e.admin, `{"name":"partner","cidrs":["203.0.113.0/24"]}`, &resp); got != ok || !resp.Changed {
		t.Fatalf("admin's alias: %d %+v", got, resp)
	}
	// A hand-written comment survives the next edits.
	c := cm()
	c.Data[inventory.ConfigKeyAliases] = "# partners\n" + c.Data[inventory.ConfigKeyAliases]
	if _, err := e.client.CoreV1().ConfigMaps(e.configNS).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ path, body string }{
		{"/api/v1/aliases", `{"name":"proxy","cidrs":["198.51.100.7", "2001:db8::/48"]}`},
		{"/api/v1/aliases", `{"name":"partner","cidrs":["203.0.113.0/25"]}`},
		{"/api/v1/allowed", `{"entry":"partner"}`},
		{"/api/v1/allowed", `{"entry":"192.0.2.0/28"}`},
		{"/api/v1/cidrs", `{"cidrs":["10.244.0.0/16","10.96.0.0/12"]}`},
	} {
		if got := e.call(t, "POST", step.path, e.admin, step.body, &resp); got != ok {
			t.Fatalf("%s %s: %d", step.path, step.body, got)
		}
	}
	// Again: nothing to change.
	if e.call(t, "POST", "/api/v1/cidrs", e.admin, `{"cidrs":["10.96.0.0/12"]}`, &resp); resp.Changed {
		t.Errorf("a CIDR already listed changed the ConfigMap: %+v", resp)
	}
	c = cm()
	classifier, warnings := inventory.ParseConfig(c.Data)
	if len(warnings) != 0 {
		t.Errorf("the ConfigMap written has problems: %v\n%v", warnings, c.Data)
	}
	if !strings.HasPrefix(c.Data[inventory.ConfigKeyAliases], "# partners\n") {
		t.Errorf("the comment was lost: %q", c.Data[inventory.ConfigKeyAliases])
	}
	aliases := classifier.Aliases()
	if fmt.Sprint(aliases["partner"]) != "[203.0.113.0/25]" || fmt.Sprint(aliases["proxy"]) != "[198.51.100.7/32 2001:db8::/48]" {
		t.Errorf("aliases = %v", aliases)
	}
	if !classifier.Allowed(netip.MustParseAddr("203.0.113.5")) || !classifier.Allowed(netip.MustParseAddr("192.0.2.3")) || classifier.Allowed(netip.MustParseAddr("198.51.100.7")) {
		t.Errorf("allowed = %q", c.Data[inventory.ConfigKeyAllowed])
	}
	if got := classifier.ClusterCIDRs(); len(got) != 2 {
		t.Errorf("clusterCIDRs = %v", got)
	}

	// Bad values: 400, the ConfigMap untouched.
	before := cm().ResourceVersion
	for _, bad := range []struct{ path, body string }{
		{"/api/v1/cidrs", `{"cidrs":["10.0.0.1/8"]}`},
		{"/api/v1/cidrs", `{"cidrs":["300.1.1.1"]}`},
		{"/api/v1/cidrs", `{"cidrs":["10.0.0.0/8 # and more"]}`},
		{"/api/v1/cidrs", `{"cidrs":[]}`},
		{"/api/v1/aliases", `{"name":"bad name","cidrs":["192.0.2.9"]}`},
		{"/api/v1/aliases", `{"name":"twin","cidrs":["198.51.100.7"]}`}, // proxy's already
		{"/api/v1/aliases", `{"name":"x","cidrs":["fe80::1%eth0"]}`},
		{"/api/v1/aliases", `{"name":"x"}`},
		{"/api/v1/allowed", `{"entry":"parnter"}`},
		{"/api/v1/allowed", `{"entry":"a,b"}`},
		{"/api/v1/allowed", `{"entry":"192.0.2.1","extra":true}`},
		{"/api/v1/allowed", `not json`},
	} {
		var er ErrorResponse
		if got := e.call(t, "POST", bad.path, e.admin, bad.body, &er); got != http.StatusBadRequest {
			t.Errorf("%s %s: %d, want 400", bad.path, bad.body, got)
		}
	}
	if after := cm().ResourceVersion; after != before {
		t.Errorf("refused values changed the ConfigMap (resourceVersion %s → %s)", before, after)
	}

	// Concurrent admins: every write lands (conflicts are retried).
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if got := e.call(t, "POST", "/api/v1/cidrs", e.admin, fmt.Sprintf(`{"cidrs":["172.16.%d.0/24"]}`, i), nil); got != ok {
				t.Errorf("concurrent CIDR %d: %d", i, got)
			}
		})
	}
	wg.Wait()
	if got, _ := inventory.ParseConfig(cm().Data); len(got.ClusterCIDRs()) != 8 {
		t.Errorf("after 6 concurrent additions: %v, want 8 CIDRs", got.ClusterCIDRs())
	}
}

// The OpenAPI document lists exactly the routes served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range routes(Deps{Guard: &kubeauth.Guard{}, Suggestions: &SuggestionsHandler{}, Network: &NetworkHandler{}}) {
		served[r.method+" "+r.pattern] = true
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in openapi.json but not served", r)
		}
	}
	if len(served) < 16 {
		t.Errorf("only %d routes", len(served))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}
