package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/rego"
	"github.com/redline-dev/redline/webhook"
)

// One control plane per test binary, started by the first test that needs
// it (the offline tests of this package do not pay for it).
var controlPlane struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

func needAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd and kube-apiserver with hack/build-tools.sh")
	}
	controlPlane.once.Do(func() {
		controlPlane.env = &envtest.Environment{}
		controlPlane.cfg, controlPlane.err = controlPlane.env.Start()
	})
	if controlPlane.err != nil {
		t.Fatalf("start envtest: %v", controlPlane.err)
	}
	return controlPlane.cfg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil {
		_ = controlPlane.env.Stop()
	}
	os.Exit(code)
}

// TestServeIngestsFlowsWithKubernetesAuth runs `redline serve` against a
// real API server: a caller without a token gets 401, one without RBAC on
// flows.redline.io 403, an authorised one gets its flows resolved against
// the live pods and stored; SIGTERM (context end) flushes the store.
func TestServeIngestsFlowsWithKubernetesAuth(t *testing.T) {
	cfg := needAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(cfg)

	for _, ns := range []string{"shop", "redline"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, ip := range map[string]string{"frontend-1": "10.244.1.5", "cart-1": "10.244.2.7"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": strings.TrimSuffix(name, "-1")}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		created, err := client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Phase = corev1.PodRunning
		created.Status.PodIP = ip
		created.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		created.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Hour)}
		if _, err := client.CoreV1().Pods("shop").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sender := serviceAccountToken(ctx, t, client, "redline", "flow-sender")
	nobody := serviceAccountToken(ctx, t, client, "redline", "nobody")
	grantFlowsCreate(ctx, t, client, "redline", "flow-sender")

	// The admission webhook, registered by URL the way `redline dev` will:
	// its certificates are self-managed (cert-controller writes the Secret
	// and injects the CA into this configuration).
	webhookPort := freePort(t)
	registerWebhook(ctx, t, client, webhookPort)

	dataDir := t.TempDir()
	addrs := make(chan net.Addr, 1)
	var stderr bytes.Buffer
	o := &ServeOptions{
		Namespace: "redline", DataDir: dataDir,
		APIAddress: "127.0.0.1:0", MetricsAddress: "0", HealthAddress: "0",
		MaxFlowBodyBytes: 1 << 20, Retention: store.DefaultRetention, FlushInterval: 100 * time.Millisecond,
		SnapshotInterval: time.Minute,
		Mode:             "warn", WebhookAddress: fmt.Sprintf("127.0.0.1:%d", webhookPort), WebhookCertDir: t.TempDir(),
		WebhookSelfManaged: true, WebhookSecret: "redline-webhook-cert", WebhookConfiguration: "redline-test",
		WebhookDNSName: "localhost", WebhookMaxConcurrency: 4, WebhookCertSync: true,
		LeaderElect: true, AuditInterval: 2 * time.Second, AuditDebounce: 200 * time.Millisecond, auditWindow: 24 * time.Hour,
		NamespaceLabelKey: "kubernetes.io/metadata.name", AuditWriteQPS: 50,
		streams:     IO{Out: &bytes.Buffer{}, ErrOut: &syncWriter{w: &stderr}},
		onAPIListen: func(a net.Addr) { addrs <- a },
		restConfig:  cfg,
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(serveCtx) }()
	var base string
	select {
	case a := <-addrs:
		base = "https://" + a.String() + "/api/v1/flows"
	case err := <-done:
		t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
	case <-ctx.Done():
		t.Fatal("serve did not start")
	}

	now := time.Now().UTC()
	body := fmt.Sprintf(`{"time":%q,"src":"10.244.1.5","src_port":40001,"dst":"10.244.2.7","port":8080,"protocol":"TCP","verdict":"forwarded","observer":"node-1"}
{"time":%q,"src":"10.244.1.5","src_port":40002,"dst":"10.244.2.7","port":8080,"protocol":"TCP","verdict":"dropped","observer":"node-1"}
this line is garbage
`, now.Add(-2*time.Minute).Format(time.RFC3339Nano), now.Add(-time.Minute).Format(time.RFC3339Nano))

	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	post := func(token string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}

	if resp, b := post(""); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "kubectl create token") {
		t.Errorf("no token: %d %s, want 401 telling how to get a token", resp.StatusCode, b)
	}
	if resp, b := post("not-a-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token: %d %s, want 401", resp.StatusCode, b)
	}
	if resp, b := post(nobody); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "create flows.redline.io") {
		t.Errorf("token without RBAC: %d %s, want 403 naming the permission", resp.StatusCode, b)
	}

	// Authorised: 503 until the inventory has synced, then accepted.
	var got struct {
		Recorded, Errors int
		FirstErrors      []struct{ Line int }
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, b := post(sender)
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("response: %v\n%s", err, b)
			}
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("authorised post: %d %s", resp.StatusCode, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Recorded != 2 || got.Errors != 1 || len(got.FirstErrors) != 1 || got.FirstErrors[0].Line != 3 {
		t.Errorf("response %+v: want 2 recorded, line 3 rejected", got)
	}
	if n := counterValue(t, "redline_flows_ingested_total", map[string]string{"source": "native", "result": "recorded"}); n < 2 {
		t.Errorf("redline_flows_ingested_total{source=native,result=recorded} = %v, want ≥ 2", n)
	}

	// The observed connection turns red under a deny-all: the API server
	// calls the webhook over TLS and kubectl-style warnings come back.
	// Poll with dry-run creates while the certificate is injected and the
	// flows reach the store.
	denyAll := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deny-all"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
	warnings := &warningCollector{}
	warnCfg := rest.CopyConfig(cfg)
	warnCfg.WarningHandler = warnings
	warnClient := kubernetes.NewForConfigOrDie(warnCfg)
	want := "would block shop/frontend-1[Pod] -> shop/cart-1[Pod] TCP/8080"
	deadline = time.Now().Add(45 * time.Second)
	for !warnings.contains(want) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning %q from the webhook; got %q\n%s", want, warnings.all(), stderr.String())
		}
		warnings.reset()
		if _, err := warnClient.NetworkingV1().NetworkPolicies("shop").Create(ctx, denyAll, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatalf("dry-run create: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// The audit loop (leader-elected through the Lease) turns the stored
	// connection into cart-1's suggested ingress and writes the report.
	eventually(t, 30*time.Second, "cart-1's suggestion admits frontend-1 on 8080", func() bool {
		cm, err := client.CoreV1().ConfigMaps("shop").Get(ctx, "redline-suggested-pod-cart-1", metav1.GetOptions{})
		return err == nil && strings.Contains(cm.Data["policy.yaml"], "port: 8080") && strings.Contains(cm.Data["policy.yaml"], "frontend")
	})
	if _, err := client.CoreV1().ConfigMaps("redline").Get(ctx, "redline-audit-report", metav1.GetOptions{}); err != nil {
		t.Errorf("audit report: %v", err)
	}
	if lease, err := client.CoordinationV1().Leases("redline").Get(ctx, LeaderElectionID, metav1.GetOptions{}); err != nil || lease.Spec.HolderIdentity == nil {
		t.Errorf("leader election Lease: %v %+v", err, lease)
	}
	if n := counterValue(t, "redline_audit_runs_total", map[string]string{"result": "success"}); n < 1 {
		t.Errorf("redline_audit_runs_total{result=success} = %v, want ≥ 1", n)
	}

	// `redline suggest --server` asks the running server, authorised by
	// SubjectAccessReview on traffic in the workload's namespace.
	reader := serviceAccountToken(ctx, t, client, "redline", "traffic-reader")
	grant(ctx, t, client, "redline", "traffic-reader", "traffic", "get")
	server := strings.TrimSuffix(base, "/api/v1/flows")
	suggestArgs := func(token string) []string {
		return []string{"suggest", "--server", server, "--insecure-skip-tls-verify", "--token", token, "--workload", "shop/Pod/cart-1", "--since", "1h"}
	}
	if out, errOut, code := run(t, "", suggestArgs(reader)...); code != 0 || !strings.Contains(out, "port: 8080") || !strings.Contains(out, "frontend") {
		t.Errorf("suggest --server: exit %d, stderr %s, want cart-1's policy admitting frontend-1 on 8080:\n%s", code, errOut, out)
	}
	if _, errOut, code := run(t, "", suggestArgs(nobody)...); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("suggest --server without RBAC: exit %d, stderr %q; want 1 and the 403", code, errOut)
	}

	// A Rego override in the redline-rego ConfigMap is hot-reloaded and
	// changes the decision; a broken one keeps the last good set.
	reserved := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "forbidden"}}
	override := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "redline", Name: RegoConfigMapName},
		Data: map[string]string{"reserved.rego": `package redline.admission

deny contains msg if {
	input.object.metadata.name == "forbidden"
	msg := "the name forbidden is reserved"
}
`},
	}
	if _, err := client.CoreV1().ConfigMaps("redline").Create(ctx, override, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deniedDryRun := func() bool {
		_, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, reserved, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "the name forbidden is reserved")
	}
	eventually(t, 30*time.Second, "the Rego override denies", deniedDryRun)
	override.Data["broken.rego"] = "package redline.admission\n\ndeny contains msg if {\n"
	if _, err := client.CoreV1().ConfigMaps("redline").Update(ctx, override, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a RegoCompileFailed Event on the ConfigMap", func() bool {
		evs, err := client.EventsV1().Events("redline").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == rego.ReasonCompileFailed && e.Regarding.Name == RegoConfigMapName && strings.Contains(e.Note, "broken.rego") {
				return true
			}
		}
		return false
	})
	if !deniedDryRun() {
		t.Error("a broken Rego override dropped the last good set")
	}

	stop() // as SIGTERM does
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	st, err := store.Open(ctx, store.Options{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, egress, err := st.WorkloadEdges(ctx, flow.WorkloadEndpoint("shop", "Pod", "frontend-1"), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(egress) != 1 || egress[0].Dst != flow.WorkloadEndpoint("shop", "Pod", "cart-1") || egress[0].Port != 8080 ||
		egress[0].Count != 2 || egress[0].Verdicts[flow.VerdictDropped] != 1 {
		t.Errorf("stored egress of shop/frontend-1 = %+v, want 2 connections to shop/cart-1 TCP 8080, one dropped", egress)
	}
}

func serviceAccountToken(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) string {
	t.Helper()
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

func grantFlowsCreate(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, sa string) {
	t.Helper()
	grant(ctx, t, client, ns, sa, "flows", "create")
}

// grant gives a service account one verb on one of Redline's virtual
// resources, cluster-wide.
func grant(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, sa, resource, verb string) {
	t.Helper()
	name := "redline-" + sa
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{kubeauth.Group}, Resources: []string{resource}, Verbs: []string{verb}}},
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func counterValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// registerWebhook creates what the chart ships: the empty Secret the
// certificate rotator fills, and the ValidatingWebhookConfiguration (by URL
// to the local server instead of a Service).
func registerWebhook(ctx context.Context, t *testing.T, client kubernetes.Interface, port int) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "redline", Name: "redline-webhook-cert"}}
	if _, err := client.CoreV1().Secrets("redline").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	conf, err := webhook.Configuration(webhook.Options{Namespace: "redline"}, webhook.ConfigOptions{URL: fmt.Sprintf("https://localhost:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	conf.Name = "redline-test"
	if _, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, conf, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// warningCollector gathers the API server's warnings, as kubectl prints
// them.
type warningCollector struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warningCollector) contains(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func (w *warningCollector) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func (w *warningCollector) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = nil
}

// syncWriter lets the server's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
