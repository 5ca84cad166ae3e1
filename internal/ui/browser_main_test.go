package ui_test

// The browser tests drive the page in headless Chromium (Debian's
// chromium, through chromedp) against the environment `redline dev` runs:
// a local control plane, Redline serving its API and this UI in-process,
// the demo shop and a simulated day of its traffic. One environment is
// shared by the tests (started by the first that needs it), as in
// acceptance/.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/redline-dev/redline/cmd/redline/app"
	"github.com/redline-dev/redline/internal/devenv"
	"github.com/redline-dev/redline/internal/kubeauth"
)

var shared struct {
	once       sync.Once
	env        *devenv.Env
	err        error
	progress   bytes.Buffer
	dir        string
	adminToken string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the dev environment: %v\n", err)
			code = 1
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// devEnv returns the shared environment, started as `redline dev` starts
// it, and a token of an admin (get traffic, update drafts and settings).
func devEnv(t *testing.T) (*devenv.Env, string) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds etcd, kube-apiserver and kube-controller-manager into bin/k8s and sets it")
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "redline-ui-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.env, shared.err = app.StartDevEnv(ctx, devenv.Options{
			Dir: shared.dir, AssetsDir: assets, APIAddress: "127.0.0.1:0", Seed: 1, Progress: &shared.progress,
		})
		if shared.err == nil {
			shared.adminToken, shared.err = adminToken(ctx, shared.env)
		}
	})
	if shared.err != nil {
		t.Fatalf("start the dev environment: %v\n%s", shared.err, shared.progress.String())
	}
	return shared.env, shared.adminToken
}

// adminToken creates ServiceAccount redline/redline-ui-admin with the
// documented admin ClusterRole (docs/api.md) and returns a token of it.
func adminToken(ctx context.Context, env *devenv.Env) (string, error) {
	const name = "redline-ui-admin"
	kube := env.Kube()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: devenv.Namespace, Name: name}}
	if _, err := kube.CoreV1().ServiceAccounts(devenv.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{kubeauth.Group}, Resources: []string{"traffic"}, Verbs: []string{"get"}},
			{APIGroups: []string{kubeauth.Group}, Resources: []string{"drafts", "settings"}, Verbs: []string{"update"}},
		},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: devenv.Namespace, Name: name}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	tr, err := kube.CoreV1().ServiceAccounts(devenv.Namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", name, err)
	}
	return tr.Status.Token, nil
}

// chromiumPath finds Debian's chromium (or CHROME_PATH); a missing
// browser fails the test, which would otherwise pass for nothing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROME_PATH to a Chrome/Chromium binary")
	return ""
}

// browser is one headless Chromium tab, with the page's script errors
// collected (they fail the test).
type browser struct {
	ctx context.Context
	t   *testing.T

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in CI
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1600, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx, t: t}
	// The first call starts the browser: no timeout on it (it would stop
	// the browser), the test's own deadline bounds it.
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.addError("exception: " + msg)
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.addError("CSP: " + ev.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatalf("listen to chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the runtime events: %v", err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("page error: %s", e)
		}
	})
	return b
}

func (b *browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// do runs steps, failing the test with the page's visible text.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n--- the page says:\n%s", what, err, b.text())
	}
}

// text is what the page shows (for failure messages).
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(cannot read the page: " + err.Error() + ")"
	}
	if len(s) > 4000 {
		s = s[:4000] + " …"
	}
	return s
}

// wait polls a JavaScript expression until it is truthy. Evaluation
// errors (a page reloading) count as not yet.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("wait until %s: not after 45 s (last error: %v)\n--- the page says:\n%s", what, last, b.text())
}

// evalJS evaluates expr in the page.
func evalJS[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v\n--- the page says:\n%s", what, err, b.text())
	}
	return v
}

// js runs a statement in the page (a step).
func jsStep(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[chromedp.Void](expr+"; undefined")(ctx, t)
		return chromedp.Void{}, err
	}
}

// login opens the page at hash and logs in with token.
func (b *browser) login(env *devenv.Env, token, hash string) {
	b.t.Helper()
	b.do("open the page", chromedp.Navigate(env.APIURL+"/"+hash))
	b.wait("the login page", `!document.querySelector('#login').hidden`)
	b.do("log in",
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login-submit")))
	b.wait("the workload's tables and topology", `!document.querySelector('#app').hidden && window.redlineUI.state.topology !== null && document.querySelectorAll('#table-egress tbody tr').length > 0`)
}

// apiCall calls Redline's API as the tests' admin.
func apiCall(t *testing.T, env *devenv.Env, token, method, path string, body, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, env.APIURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := env.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, buf.String())
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, buf.String())
		}
	}
}
