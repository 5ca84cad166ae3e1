// Package devenv is the environment `redline dev` runs and the acceptance
// tests share: a local control plane (internal/devcluster) with the fake
// kubelet, Redline serving in-process against it (registered as the API
// server's validating webhook by URL), the demo application
// (internal/demo), and a simulated day of its traffic fed through Redline's
// real ingest API, followed by an audit pass.
//
// Redline itself is started through Options.Serve (the command package
// runs `redline serve` in-process), so that this package does not depend on
// the command that uses it.
package devenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/audit"
	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/demo"
	"github.com/redline-dev/redline/internal/devcluster"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/rego"
	"github.com/redline-dev/redline/webhook"
)

// Settings of the environment: Redline's namespace and objects, the
// service account whose token the API's callers use.
const (
	Namespace            = demo.NamespaceRedline
	WebhookSecret        = "redline-webhook-cert"
	WebhookConfiguration = webhook.ConfigurationName
	ServiceAccount       = "redline-dev"
	// AdminServiceAccount may also change settings (aliases, allowed
	// addresses, cluster CIDRs) and save drafts: the UI's admin actions.
	AdminServiceAccount = "redline-dev-admin"
	// AuditInterval and AuditDebounce are the audit loop's settings: a
	// pass a minute, and two seconds after a relevant change.
	AuditInterval = time.Minute
	AuditDebounce = 2 * time.Second
	// LogFile, in Options.Dir, receives Redline's and the fake kubelet's
	// logs; ClusterLogFile the control plane's output.
	LogFile        = "redline.log"
	ClusterLogFile = "cluster.log"
)

// ServeConfig is how the environment wants Redline to run: `redline serve`
// with these settings, against RESTConfig, until ctx ends.
type ServeConfig struct {
	RESTConfig              *rest.Config
	Namespace               string
	DataDir                 string
	APIAddress              string
	TLSCertFile, TLSKeyFile string
	WebhookAddress          string
	WebhookCertDir          string
	WebhookSecret           string
	WebhookConfiguration    string
	WebhookDNSName          string
	NamespaceLabelKey       string
	Mode                    string
	AuditInterval           time.Duration
	AuditDebounce           time.Duration
	// Log receives Redline's logs.
	Log io.Writer
	// OnAPIListen learns the API's bound address.
	OnAPIListen func(net.Addr)
	// OnAuditPass learns every audit pass.
	OnAuditPass func(audit.Outcome)
	// OnAuditLoop learns the audit loop, to trigger passes.
	OnAuditLoop func(*audit.Loop)
}

// ServeFunc runs Redline until ctx ends; it returns once Redline stopped
// and its store is flushed and closed.
type ServeFunc func(ctx context.Context, cfg ServeConfig) error

// Options configure Start.
type Options struct {
	// Dir holds the environment: Dir/data (Redline's store, kept across
	// runs), the kubeconfig, certificates and logs. Required.
	Dir string
	// AssetsDir holds etcd, kube-apiserver and kube-controller-manager
	// (EnsureBinaries finds or builds them). Required.
	AssetsDir string
	// APIAddress is where Redline's HTTPS API listens ("127.0.0.1:0" picks
	// a free port).
	APIAddress string
	// WebhookPort is the admission webhook's port on 127.0.0.1; zero picks
	// a free one.
	WebhookPort int
	// Seed makes the simulated day reproducible.
	Seed uint64
	// NoTraffic skips the simulated day (and so the audit pass after it).
	NoTraffic bool
	// Serve runs Redline. Required.
	Serve ServeFunc
	// Progress receives one short line per step; nil discards them.
	Progress io.Writer
	// ReadyTimeout bounds each wait (the demo's rollout, Redline's
	// readiness, the audit pass); zero means two minutes.
	ReadyTimeout time.Duration
}

// Timings are how long the steps of Start took.
type Timings struct {
	Cluster, Redline, Demo, Traffic, Audit, Total time.Duration
}

// Env is a running environment. Stop it.
type Env struct {
	// Cluster is the control plane.
	Cluster *devcluster.Cluster
	// Dir, DataDir and LogPath are where the environment keeps its files.
	Dir, DataDir, LogPath string
	// APIURL is Redline's API, e.g. https://127.0.0.1:8443.
	APIURL string
	// CAFile holds the CA that signed the API's certificate (curl
	// --cacert); CA is its PEM.
	CAFile string
	CA     []byte
	// Token is a bearer token of ServiceAccount redline/redline-dev, which
	// may send flows and read every namespace's traffic.
	Token string
	// HTTPClient trusts the API's CA.
	HTTPClient *http.Client
	// Day is the simulated day fed through the API (its Flows dropped),
	// Ingested the API's answer; both zero with NoTraffic.
	Day      demo.Day
	Ingested api.FlowsResponse
	// FirstAudit is the audit pass that followed the ingest.
	FirstAudit audit.Outcome
	Timings    Timings

	kube     kubernetes.Interface
	progress io.Writer
	timeout  time.Duration
	logs     []*os.File

	cancelServe, cancelKubelet context.CancelFunc
	serveDone, kubeletDone     chan struct{}
	serveErr                   error

	mu      sync.Mutex
	passes  []audit.Outcome
	newPass chan struct{} // closed and replaced on every pass
	loop    *audit.Loop

	stopOnce sync.Once
	stopErr  error
}

// Start brings the environment up: the control plane and the fake kubelet,
// Redline's namespace, webhook Secret and ValidatingWebhookConfiguration
// (by URL), Redline itself, the demo (waited for), the service account and
// its token, the simulated day through POST /api/v1/flows, and the audit
// pass after it. On failure everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	begin := time.Now()
	if opts.Dir == "" || opts.AssetsDir == "" || opts.Serve == nil {
		return nil, errors.New("dev environment: Dir, AssetsDir and Serve are required")
	}
	if opts.APIAddress == "" {
		opts.APIAddress = "127.0.0.1:0"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("dev environment: %w", err)
	}
	e := &Env{
		Dir: dir, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, LogFile),
		progress: opts.Progress, timeout: opts.ReadyTimeout, newPass: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			if serr := e.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := os.MkdirAll(e.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev environment: create %s: %w (pass another --dir)", e.DataDir, err)
	}
	logFile, err := os.OpenFile(e.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dev environment: %w", err)
	}
	clusterLog, err := os.Create(filepath.Join(dir, ClusterLogFile))
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("dev environment: %w", err)
	}
	e.logs = []*os.File{logFile, clusterLog}
	logger := slog.New(slog.NewJSONHandler(logFile, nil))

	// The control plane.
	step := time.Now()
	e.printf("Starting etcd, kube-apiserver and kube-controller-manager from %s ...", opts.AssetsDir)
	e.Cluster, err = devcluster.Start(ctx, devcluster.Options{
		AssetsDir: opts.AssetsDir, WorkDir: dir, Out: clusterLog, Logger: logger, ControllerManager: true,
	})
	if err != nil {
		return nil, err
	}
	e.Timings.Cluster = time.Since(step)
	e.printf("Cluster up in %s (API server %s, pids %s).", e.Timings.Cluster.Round(100*time.Millisecond), e.Cluster.Host(), strings.Trim(fmt.Sprint(e.Cluster.PIDs()), "[]"))
	cfg := e.Cluster.RESTConfig()
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("dev environment: %w", err)
	}
	kubelet, err := devcluster.NewKubelet(e.kube, devcluster.KubeletOptions{Logger: logger})
	if err != nil {
		return nil, err
	}
	kctx, kcancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancelKubelet, e.kubeletDone = kcancel, make(chan struct{})
	go func() {
		defer close(e.kubeletDone)
		if err := kubelet.Start(kctx); err != nil {
			logger.Error("fake kubelet stopped", "err", err)
		}
	}()

	// Redline, registered as the webhook.
	step = time.Now()
	webhookPort := opts.WebhookPort
	if webhookPort == 0 {
		if webhookPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := e.registerWebhook(ctx, webhookPort); err != nil {
		return nil, err
	}
	certs, err := writeAPICertificates(filepath.Join(dir, "api-tls"))
	if err != nil {
		return nil, err
	}
	e.CAFile, e.CA = certs.CAFile, certs.CA
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certs.CA)
	e.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := e.startRedline(ctx, opts, cfg, certs, webhookPort, logFile); err != nil {
		return nil, err
	}
	if err := e.waitAPIReady(ctx); err != nil {
		return nil, err
	}
	e.Timings.Redline = time.Since(step)
	e.printf("Redline serving: API %s, webhook https://localhost:%d (logs in %s).", e.APIURL, webhookPort, e.LogPath)

	// The demo.
	step = time.Now()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("dev environment: %w", err)
	}
	if err := demo.Apply(ctx, c); err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, e.timeout)
	err = demo.WaitReady(wait, c)
	cancel()
	if err != nil {
		return nil, err
	}
	if e.Token, err = e.serviceAccountToken(ctx); err != nil {
		return nil, err
	}
	e.Timings.Demo = time.Since(step)
	e.printf("Demo shop running: %d workloads in %s (%s).", len(demo.Workloads()), strings.Join(demo.Namespaces, ", "), e.Timings.Demo.Round(100*time.Millisecond))

	if !opts.NoTraffic {
		step = time.Now()
		if err := e.feedDay(ctx, c, opts.Seed); err != nil {
			return nil, err
		}
		e.Timings.Traffic = time.Since(step)
		e.printf("Fed a simulated day through POST %s/api/v1/flows: %d lines, %d connections recorded (%s).",
			e.APIURL, e.Ingested.Lines, e.Ingested.Recorded, e.Timings.Traffic.Round(100*time.Millisecond))

		step = time.Now()
		out, err := e.AuditNow(ctx)
		if err != nil {
			return nil, err
		}
		e.FirstAudit = out
		e.Timings.Audit = time.Since(step)
		e.printf("Audit pass done (%s).", e.Timings.Audit.Round(100*time.Millisecond))
		if err := e.waitWebhook(ctx); err != nil {
			return nil, err
		}
	}
	e.Timings.Total = time.Since(begin)
	return e, nil
}

func (e *Env) printf(format string, args ...any) {
	fmt.Fprintf(e.progress, format+"\n", args...)
}

// Kube is an admin client of the cluster.
func (e *Env) Kube() kubernetes.Interface { return e.kube }

// registerWebhook creates Redline's namespace, the empty Secret the
// certificate rotator fills and the ValidatingWebhookConfiguration that
// sends the API server's admission requests to https://localhost:port.
func (e *Env) registerWebhook(ctx context.Context, port int) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dev environment: create namespace %s: %w", Namespace, err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: WebhookSecret}}
	if _, err := e.kube.CoreV1().Secrets(Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dev environment: create Secret %s/%s: %w", Namespace, WebhookSecret, err)
	}
	// The configuration is what the validator serves, called at a URL
	// instead of a Service.
	conf, err := webhook.Configuration(webhook.Options{Namespace: Namespace}, webhook.ConfigOptions{URL: fmt.Sprintf("https://localhost:%d", port)})
	if err != nil {
		return fmt.Errorf("dev environment: %w", err)
	}
	conf.Name = WebhookConfiguration
	if _, err := e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, conf, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("dev environment: register the webhook: %w", err)
	}
	return nil
}

func (e *Env) startRedline(ctx context.Context, opts Options, cfg *rest.Config, certs apiCertificates, webhookPort int, log io.Writer) error {
	addrs := make(chan net.Addr, 1)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancelServe, e.serveDone = cancel, make(chan struct{})
	sc := ServeConfig{
		RESTConfig: cfg, Namespace: Namespace, DataDir: e.DataDir,
		APIAddress: opts.APIAddress, TLSCertFile: certs.CertFile, TLSKeyFile: certs.KeyFile,
		WebhookAddress: fmt.Sprintf("127.0.0.1:%d", webhookPort), WebhookCertDir: filepath.Join(e.Dir, "webhook-certs"),
		WebhookSecret: WebhookSecret, WebhookConfiguration: WebhookConfiguration, WebhookDNSName: "localhost",
		NamespaceLabelKey: demo.NamespaceLabel, Mode: string(rego.ModeWarn),
		AuditInterval: AuditInterval, AuditDebounce: AuditDebounce,
		Log:         log,
		OnAPIListen: func(a net.Addr) { addrs <- a },
		OnAuditPass: e.recordPass,
		OnAuditLoop: func(l *audit.Loop) { e.mu.Lock(); e.loop = l; e.mu.Unlock() },
	}
	go func() {
		defer close(e.serveDone)
		e.serveErr = opts.Serve(sctx, sc)
	}()
	select {
	case a := <-addrs:
		e.APIURL = "https://" + a.String()
		return nil
	case <-e.serveDone:
		return fmt.Errorf("dev environment: Redline stopped at start: %v (see %s)", e.serveErr, e.LogPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAPIReady waits until the API answers something else than 503 (the
// inventory has synced, the store is open).
func (e *Env) waitAPIReady(ctx context.Context) error {
	deadline := time.Now().Add(e.timeout)
	for {
		status, body, err := e.post(ctx, "/api/v1/suggestions", "application/json", []byte(`{}`))
		if err == nil && status != http.StatusServiceUnavailable {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dev environment: Redline's API not ready after %s: %v %s (see %s)", e.timeout, err, body, e.LogPath)
		}
		if err := e.sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleep waits d, or fails when ctx ends or Redline stopped.
func (e *Env) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-e.serveDone:
		return fmt.Errorf("dev environment: Redline stopped: %v (see %s)", e.serveErr, e.LogPath)
	case <-time.After(d):
		return nil
	}
}

// serviceAccountToken creates ServiceAccount redline/redline-dev (send
// flows, read traffic) and redline/redline-dev-admin (read traffic, save
// drafts, change settings) with their ClusterRoles and bindings, and
// returns a token of the first, valid for a day.
func (e *Env) serviceAccountToken(ctx context.Context) (string, error) {
	g := kubeauth.Group
	if err := e.serviceAccount(ctx, AdminServiceAccount, []rbacv1.PolicyRule{
		{APIGroups: []string{g}, Resources: []string{"traffic"}, Verbs: []string{"get"}},
		{APIGroups: []string{g}, Resources: []string{"drafts", "settings"}, Verbs: []string{"update"}},
	}); err != nil {
		return "", err
	}
	if err := e.serviceAccount(ctx, ServiceAccount, []rbacv1.PolicyRule{
		{APIGroups: []string{g}, Resources: []string{"flows"}, Verbs: []string{"create"}},
		{APIGroups: []string{g}, Resources: []string{"traffic"}, Verbs: []string{"get"}},
	}); err != nil {
		return "", err
	}
	tr, err := e.kube.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("dev environment: token for %s/%s: %w", Namespace, ServiceAccount, err)
	}
	return tr.Status.Token, nil
}

// serviceAccount creates a ServiceAccount in Namespace and a ClusterRole of
// the same name with rules, bound to it.
func (e *Env) serviceAccount(ctx context.Context, name string, rules []rbacv1.PolicyRule) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name}}
	if _, err := e.kube.CoreV1().ServiceAccounts(Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dev environment: create ServiceAccount %s: %w", name, err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := e.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dev environment: create ClusterRole %s: %w", name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: Namespace, Name: name}},
	}
	if _, err := e.kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dev environment: create ClusterRoleBinding %s: %w", name, err)
	}
	return nil
}

// AdminTokenCommand prints a new token of the admin service account.
func (e *Env) AdminTokenCommand() string {
	return fmt.Sprintf("kubectl -n %s create token %s", Namespace, AdminServiceAccount)
}

// TokenCommand prints a new token of the environment's service account.
func (e *Env) TokenCommand() string {
	return fmt.Sprintf("kubectl -n %s create token %s", Namespace, ServiceAccount)
}

// feedDay writes the demo's day ending now and posts it to the API.
func (e *Env) feedDay(ctx context.Context, c client.Reader, seed uint64) error {
	in, err := demo.TrafficInputs(ctx, c)
	if err != nil {
		return err
	}
	in.End, in.Seed = time.Now(), seed
	day, err := demo.Traffic(in)
	if err != nil {
		return err
	}
	resp, err := e.Ingest(ctx, day.Flows)
	if err != nil {
		return err
	}
	if resp.Errors > 0 {
		return fmt.Errorf("dev environment: the API rejected %d of %d lines of the simulated day: %s", resp.Errors, resp.Lines, resp.Message)
	}
	day.Flows = nil
	e.Day, e.Ingested = day, resp
	return nil
}

// Ingest posts flow records (Hubble JSON or native NDJSON lines) to POST
// /api/v1/flows with the environment's token.
func (e *Env) Ingest(ctx context.Context, lines []byte) (api.FlowsResponse, error) {
	var resp api.FlowsResponse
	status, body, err := e.post(ctx, "/api/v1/flows", "application/x-ndjson", lines)
	if err != nil {
		return resp, fmt.Errorf("dev environment: send flows: %w", err)
	}
	if status != http.StatusOK {
		return resp, fmt.Errorf("dev environment: POST /api/v1/flows: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return resp, fmt.Errorf("dev environment: POST /api/v1/flows answer: %w", err)
	}
	return resp, nil
}

// Suggest posts a suggestion request; it returns the status and the body.
func (e *Env) Suggest(ctx context.Context, req api.SuggestionRequest) (int, []byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return 0, nil, err
	}
	return e.post(ctx, "/api/v1/suggestions", "application/json", b)
}

func (e *Env) post(ctx context.Context, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.APIURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if e.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.Token)
	}
	resp, err := e.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (e *Env) recordPass(out audit.Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.passes = append(e.passes, out)
	close(e.newPass)
	e.newPass = make(chan struct{})
}

// AuditNow asks the audit loop for a pass (it runs after the debounce
// delay) and waits for a successful pass that started after the call.
func (e *Env) AuditNow(ctx context.Context) (audit.Outcome, error) {
	since := time.Now()
	e.mu.Lock()
	loop := e.loop
	e.mu.Unlock()
	if loop != nil {
		loop.Trigger()
	}
	return e.WaitAuditPass(ctx, since)
}

// WaitAuditPass waits for a successful audit pass that started at or
// after since.
func (e *Env) WaitAuditPass(ctx context.Context, since time.Time) (audit.Outcome, error) {
	deadline := time.After(e.timeout)
	for {
		e.mu.Lock()
		var failed error
		for _, p := range e.passes {
			if p.At.Before(since) {
				continue
			}
			if p.Err == nil {
				e.mu.Unlock()
				return p, nil
			}
			failed = p.Err
		}
		next := e.newPass
		e.mu.Unlock()
		select {
		case <-next:
		case <-deadline:
			return audit.Outcome{}, fmt.Errorf("dev environment: no successful audit pass within %s (last failure: %v; see %s)", e.timeout, failed, e.LogPath)
		case <-ctx.Done():
			return audit.Outcome{}, ctx.Err()
		case <-e.serveDone:
			return audit.Outcome{}, fmt.Errorf("dev environment: Redline stopped: %v (see %s)", e.serveErr, e.LogPath)
		}
	}
}

// AuditReport reads the redline-audit-report ConfigMap.
func (e *Env) AuditReport(ctx context.Context) (audit.AuditReport, error) {
	var rep audit.AuditReport
	cm, err := e.kube.CoreV1().ConfigMaps(Namespace).Get(ctx, audit.ReportName, metav1.GetOptions{})
	if err != nil {
		return rep, fmt.Errorf("dev environment: read the audit report: %w", err)
	}
	if err := json.Unmarshal([]byte(cm.Data[audit.KeyAuditReport]), &rep); err != nil {
		return rep, fmt.Errorf("dev environment: audit report: %w", err)
	}
	return rep, nil
}

// WhatIf creates policy through the API server and returns the warnings
// the admission webhook sent back (what kubectl prints). With dryRun
// nothing is stored; otherwise the policy is created and deleted again.
func (e *Env) WhatIf(ctx context.Context, policy *networkingv1.NetworkPolicy, dryRun bool) ([]string, error) {
	warnings := &warningCollector{}
	cfg := e.Cluster.RESTConfig()
	cfg.WarningHandler = warnings
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	policies := kube.NetworkingV1().NetworkPolicies(policy.Namespace)
	if _, err := policies.Create(ctx, policy, opts); err != nil {
		return nil, fmt.Errorf("what-if: create NetworkPolicy %s/%s: %w", policy.Namespace, policy.Name, err)
	}
	got := warnings.all()
	if !dryRun {
		if err := e.kube.NetworkingV1().NetworkPolicies(policy.Namespace).Delete(ctx, policy.Name, metav1.DeleteOptions{}); err != nil {
			return got, fmt.Errorf("what-if: delete NetworkPolicy %s/%s again: %w", policy.Namespace, policy.Name, err)
		}
	}
	return got, nil
}

// TooTightPolicy is the what-if `redline dev` shows: a deny-all ingress on
// shop/cart, which the frontend calls.
func TooTightPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: demo.Cart.Namespace, Name: "deny-all-ingress-cart"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: demo.Cart.Selector},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// waitWebhook waits until the API server calls the webhook: its
// certificate is issued, copied, injected as the configuration's caBundle,
// and the server answers. The webhook fails open, so the probe is a dry-run
// of TooTightPolicy until its warnings come back.
func (e *Env) waitWebhook(ctx context.Context) error {
	deadline := time.Now().Add(e.timeout)
	for {
		warnings, err := e.WhatIf(ctx, TooTightPolicy(), true)
		if err != nil {
			return err
		}
		if len(warnings) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dev environment: the admission webhook did not answer within %s (see %s)", e.timeout, e.LogPath)
		}
		if err := e.sleep(ctx, 300*time.Millisecond); err != nil {
			return err
		}
	}
}

// Stop stops Redline (its store flushed and closed), the fake kubelet and
// the control plane, and closes the logs. It is safe to call more than
// once; it returns Redline's error, if it failed.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		if e.cancelServe != nil {
			e.cancelServe()
			select {
			case <-e.serveDone:
				if e.serveErr != nil {
					errs = append(errs, fmt.Errorf("redline: %w", e.serveErr))
				}
			case <-time.After(time.Minute):
				errs = append(errs, errors.New("redline did not stop within a minute"))
			}
		}
		if e.cancelKubelet != nil {
			e.cancelKubelet()
			<-e.kubeletDone
		}
		if e.Cluster != nil {
			if err := e.Cluster.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range e.logs {
			_ = f.Close()
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dev environment: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

func (w *warningCollector) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
