package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/devenv"
)

const (
	// The colours as Cytoscape.js reports them (app.js: COLORS).
	black = "rgb(27,31,36)"
	red   = "rgb(209,36,47)"
)

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// edgeExpr finds the topology edge of a row (direction, peer, port).
func edgeExpr(direction, peer string, port int) string {
	return fmt.Sprintf(`(window.redlineUI.state.topology.edges.find(e => e.direction === %s && e.row.peer === %s && e.port === %d) || null)`, js(direction), js(peer), port)
}

// edgeColor is the colour Cytoscape draws the row's line in.
func (b *browser) edgeColor(direction, peer string, port int) string {
	b.t.Helper()
	c := evalJS[string](b, "the edge's colour", fmt.Sprintf(`(() => { const e = %s; return e ? window.redlineUI.edgeColor(e.id) : "no edge"; })()`, edgeExpr(direction, peer, port)))
	return c
}

func (b *browser) yaml() string {
	b.t.Helper()
	y := evalJS[string](b, "the generated policy", `document.querySelector('#policy-yaml').textContent`)
	return y
}

// choose sets a <select> as a person does (value, then change).
func choose(selector, value string) chromedp.Action[chromedp.Void] {
	return jsStep(fmt.Sprintf(`(() => { const s = document.querySelector(%s); s.value = %s; s.dispatchEvent(new Event('change')); })()`, js(selector), js(value)))
}

// rowSel selects a table row's checkbox.
func rowSel(direction, peer, protocol string, port int) string {
	return fmt.Sprintf(`tr[data-key="%s|%s|%s|%d"] input.row-check`, direction, peer, protocol, port)
}

type choicesResponse struct {
	Saved   bool   `json:"saved"`
	SavedBy string `json:"savedBy"`
	Choices struct {
		Exclude []struct {
			Direction, Peer, Protocol string
			Port                      int
		} `json:"exclude"`
	} `json:"choices"`
}

// TestLogin: without a token the page explains how to get one; a bad
// token is refused (401) with a message; a reader's token opens the view
// without the admin actions, and saving a draft says which permission is
// missing (403).
func TestLogin(t *testing.T) {
	env, _ := devEnv(t)
	b := newBrowser(t)
	b.do("open the page", chromedp.Navigate(env.APIURL+"/#shop/Deployment/checkout?since=1d"))
	b.wait("the login page", `!document.querySelector('#login').hidden && document.querySelector('#app').hidden`)
	text := evalJS[string](b, "the login text", `document.querySelector('#login').innerText`)
	for _, want := range []string{"kubectl -n redline create token redline-dev", "redline-traffic-reader", "sessionStorage"} {
		if !strings.Contains(text, want) {
			t.Errorf("the login page does not say %q:\n%s", want, text)
		}
	}

	b.do("log in with a bad token", chromedp.SetValue(chromedp.CSS("#token"), "not-a-token"), chromedp.Click(chromedp.CSS("#login-submit")))
	b.wait("the 401 message", `!document.querySelector('#login-error').hidden && document.querySelector('#login-error').textContent.includes('401')`)
	stored := evalJS[string](b, "the stored token", `sessionStorage.getItem('redline.token') || ''`)
	if stored != "" {
		t.Errorf("a refused token stays in sessionStorage: %q", stored)
	}

	// The reader: redline-dev may read traffic, not save drafts nor change settings.
	b.do("log in as the reader", chromedp.SetValue(chromedp.CSS("#token"), env.Token), chromedp.Click(chromedp.CSS("#login-submit")))
	b.wait("the view", `!document.querySelector('#app').hidden && window.redlineUI.state.topology !== null`)
	stored = evalJS[string](b, "the stored token", `sessionStorage.getItem('redline.token') || ''`)
	if stored != env.Token {
		t.Error("the token is not kept in sessionStorage")
	}
	role := evalJS[string](b, "the role", `document.querySelector('#who-role').textContent`)
	if role != "reader" {
		t.Errorf("role badge %q, want reader", role)
	}
	b.do("open the unresolved addresses", chromedp.Click(chromedp.CSS(`button[data-tab="unresolved"]`)))
	b.wait("the unresolved rows", `document.querySelectorAll('#unresolved-table tbody tr[data-addr]').length > 0`)
	actions := evalJS[int](b, "admin buttons", `document.querySelectorAll('#unresolved-table button[data-action]').length`)
	if actions != 0 {
		t.Errorf("a reader sees %d admin action buttons", actions)
	}

	// Unticking a row works on the page, but the draft cannot be saved.
	b.do("back to egress", chromedp.Click(chromedp.CSS(`button[data-tab="egress"]`)),
		chromedp.Click(chromedp.CSS(`#table-egress tbody input.row-check:not([disabled])`)))
	b.wait("the 403 in the draft status", `document.querySelector('#draft-status').textContent.includes('403')`)
	status := evalJS[string](b, "the draft status", `document.querySelector('#draft-status').textContent`)
	if !strings.Contains(status, "drafts") {
		t.Errorf("the draft status does not name the missing permission (update drafts): %q", status)
	}

	// A token that has expired or was revoked sends the user back to the login page.
	b.do("spoil the token", jsStep(`sessionStorage.setItem('redline.token', 'expired'); location.reload()`))
	b.wait("the login page again", `!document.querySelector('#login').hidden && document.querySelector('#login-error').textContent.includes('401')`)
}

// TestUntickRowTurnsEdgeRed is seed use case 1 in the browser: shop's
// checkout, untick the egress row to payment: its topology line turns red,
// the YAML loses payment, the draft is saved and a colleague sees it.
func TestUntickRowTurnsEdgeRed(t *testing.T) {
	env, admin := devEnv(t)
	const wl = "/api/v1/namespaces/shop/workloads/Deployment/checkout"
	t.Cleanup(func() { apiCall(t, env, admin, "PUT", wl+"/choices", map[string]any{}, nil) })
	b := newBrowser(t)
	b.login(env, admin, "#shop/Deployment/checkout?since=1d")

	const payment = "shop/Deployment/payment"
	port := evalJS[int](b, "the payment row's port", fmt.Sprintf(`(window.redlineUI.state.traffic.egress.find(r => r.peerRef === %s) || {port: 0}).port`, js(payment)))
	if port == 0 {
		t.Fatalf("no egress row to %s in the table:\n%s", payment, b.text())
	}
	b.wait("the payment edge drawn", edgeExpr("Egress", payment, port)+` !== null && window.redlineUI.graph() !== null`)
	if c := b.edgeColor("Egress", payment, port); c != black {
		t.Errorf("edge to payment before: %s, want black %s", c, black)
	}
	if y := b.yaml(); !strings.Contains(y, "app: payment") {
		t.Errorf("the policy does not allow payment before unticking:\n%s", y)
	}
	nodeColor := evalJS[string](b, "the subject's colour", `window.redlineUI.graph().getElementById('shop/Deployment/checkout').style('background-color')`)
	if nodeColor != "rgb(31,111,235)" {
		t.Errorf("the selected workload is drawn %s, want blue", nodeColor)
	}

	b.do("untick payment", chromedp.Click(chromedp.CSS(`button[data-tab="egress"]`)), chromedp.Click(chromedp.CSS(rowSel("Egress", payment, "TCP", port))))
	b.wait("the payment edge red", fmt.Sprintf(`(() => { const e = %s; return e && !e.allowed && window.redlineUI.edgeColor(e.id) === %s; })()`, edgeExpr("Egress", payment, port), js(red)))
	b.wait("the YAML without payment", `!document.querySelector('#policy-yaml').textContent.includes('app: payment') && document.querySelector('#policy-yaml').textContent.includes('kind: NetworkPolicy')`)
	rowStatus := evalJS[string](b, "the row's draft status", fmt.Sprintf(`document.querySelector('tr[data-key="Egress|%s|TCP|%d"] .status').textContent`, payment, port))
	if rowStatus != "blocked" {
		t.Errorf("the row says %q, want blocked", rowStatus)
	}
	// Other rows stay black: catalog is still allowed.
	catalogPort := evalJS[int](b, "the catalog row", `(window.redlineUI.state.traffic.egress.find(r => r.peerRef === 'shop/Deployment/catalog') || {port: 0}).port`)
	if c := b.edgeColor("Egress", "shop/Deployment/catalog", catalogPort); c != black {
		t.Errorf("edge to catalog after unticking payment: %s, want black", c)
	}

	// Hovering the red line shows why.
	b.do("hover the red edge", jsStep(fmt.Sprintf(`window.redlineUI.graph().getElementById(%s.id).emit('mouseover')`, edgeExpr("Egress", payment, port))))
	b.wait("the tooltip", `!document.querySelector('#tooltip').hidden && document.querySelector('#tooltip').innerText.includes('excluded by the draft')`)

	// "View policy" on the edge: the applied policies relevant to it.
	b.do("tap the edge", jsStep(fmt.Sprintf(`window.redlineUI.graph().getElementById(%s.id).emit('tap')`, edgeExpr("Egress", payment, port))),
		chromedp.Click(chromedp.CSS("#view-policy")))
	b.wait("the policies", `!document.querySelector('#details .policies').textContent.includes('Loading')`)
	details := evalJS[string](b, "the policies shown", `document.querySelector('#details .policies').innerText`)
	t.Logf("View policy:\n%s", details)
	if !strings.Contains(details, "→") || (!strings.Contains(details, "kind: NetworkPolicy") && !strings.Contains(details, "No NetworkPolicy applies")) {
		t.Errorf("View policy shows neither the engine's explanation nor the policies:\n%s", details)
	}

	// Saved server side: the API and a colleague's browser see the draft.
	b.wait("the draft saved", `document.querySelector('#draft-status').textContent.includes('Draft saved by')`)
	var saved choicesResponse
	apiCall(t, env, admin, "GET", wl+"/choices", nil, &saved)
	found := false
	for _, x := range saved.Choices.Exclude {
		found = found || (x.Direction == "Egress" && x.Peer == payment && x.Port == port)
	}
	if !saved.Saved || !found {
		t.Errorf("the saved draft does not exclude payment: %+v", saved)
	}
	colleague := newBrowser(t)
	colleague.login(env, admin, "#shop/Deployment/checkout?since=1d")
	checked := evalJS[bool](colleague, "the colleague's payment box", fmt.Sprintf(`document.querySelector(%s).checked`, js(rowSel("Egress", payment, "TCP", port))))
	if checked {
		t.Error("a colleague opening checkout sees payment ticked: the draft was not shared")
	}
	colleague.wait("the colleague's red edge", fmt.Sprintf(`(() => { const e = %s; return e && window.redlineUI.edgeColor(e.id) === %s; })()`, edgeExpr("Egress", payment, port), js(red)))
}

// TestAllowInsideNamespaceAndDownload: the global egress rule "Allow all
// inside namespace" gives a podSelector: {} peer; the YAML shown and the
// file downloaded are what the API's suggestion answers for the same
// choices.
func TestAllowInsideNamespaceAndDownload(t *testing.T) {
	env, admin := devEnv(t)
	const wl = "/api/v1/namespaces/shop/workloads/Deployment/cart"
	t.Cleanup(func() { apiCall(t, env, admin, "PUT", wl+"/choices", map[string]any{}, nil) })
	b := newBrowser(t)
	b.login(env, admin, "#shop/Deployment/cart?since=1d")
	before := b.yaml()
	if strings.Contains(before, "podSelector: {}") {
		t.Fatalf("the default policy already has podSelector: {}:\n%s", before)
	}
	b.do("allow egress inside the namespace", choose("#rule-egress", "allow-namespace"))
	b.wait("the YAML with podSelector: {}", `document.querySelector('#policy-yaml').textContent.includes('podSelector: {}')`)
	disabled := evalJS[bool](b, "the egress boxes", `[...document.querySelectorAll('#table-egress tbody input.row-check')].every(c => c.disabled)`)
	if !disabled {
		t.Error("the egress rows can still be ticked under a global rule")
	}
	// Every egress line inside shop stays black.
	insideRed := evalJS[[]string](b, "the inside lines", `window.redlineUI.state.topology.edges.filter(e => e.direction === 'Egress' && e.row.peer.startsWith('shop/') && window.redlineUI.edgeColor(e.id) !== `+js(black)+`).map(e => e.id)`)
	if len(insideRed) > 0 {
		t.Errorf("lines inside the namespace not black under allow-namespace: %v", insideRed)
	}

	var sugg struct {
		YAML string `json:"yaml"`
	}
	apiCall(t, env, admin, "POST", "/api/v1/suggestions", map[string]any{"workload": "shop/Deployment/cart", "since": "1d", "egress": "allow-namespace"}, &sugg)
	b.wait("the YAML settled", `!document.querySelector('#draft-status').textContent.includes('Saving')`)
	shown := b.yaml()
	if withoutGeneratedAt(shown) != withoutGeneratedAt(sugg.YAML) {
		t.Errorf("the page's YAML differs from the API's suggestion\n--- page:\n%s\n--- API:\n%s", shown, sugg.YAML)
	}

	dir := t.TempDir()
	b.do("open the generated policy", chromedp.Click(chromedp.CSS(`button[data-tab="policy"]`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
			})
			return err
		}),
		chromedp.Click(chromedp.CSS("#download")))
	file := filepath.Join(dir, "shop-deployment-cart-networkpolicy.yaml")
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(file)
		if err == nil && len(data) > 0 {
			got = data
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("no download %s after 30 s (directory: %v)", file, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if string(got) != shown {
		t.Errorf("the downloaded YAML differs from the page's\n--- file:\n%s\n--- page:\n%s", got, shown)
	}
	if withoutGeneratedAt(string(got)) != withoutGeneratedAt(sugg.YAML) {
		t.Errorf("the downloaded YAML differs from the API's suggestion\n--- file:\n%s\n--- API:\n%s", got, sugg.YAML)
	}
}

// withoutGeneratedAt drops the redline.io/generated-at annotation, the one
// line two suggestions made seconds apart differ in.
func withoutGeneratedAt(y string) string {
	var out []string
	for _, line := range strings.Split(y, "\n") {
		if !strings.Contains(line, "redline.io/generated-at:") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestNamespaceLabelBanner is seed use case 5: with the namespace label
// key team, payment's traffic to ops (which lacks it) raises the banner
// and the line to ops/log-store is red.
func TestNamespaceLabelBanner(t *testing.T) {
	env, admin := devEnv(t)
	const wl = "/api/v1/namespaces/shop/workloads/Deployment/payment"
	t.Cleanup(func() { apiCall(t, env, admin, "PUT", wl+"/choices", map[string]any{}, nil) })
	b := newBrowser(t)
	b.login(env, admin, "#shop/Deployment/payment?since=1d")
	// The dev environment's server selects namespaces by "team"
	// (--namespace-label-key): a draft that names no key uses it.
	placeholder := evalJS[string](b, "the label key field", `document.querySelector('#scope-label-key').placeholder`)
	if placeholder != "team" {
		t.Errorf("the label key field shows %q, want the server's key team", placeholder)
	}
	b.wait("the ops banner", `[...document.querySelectorAll('#banners .banner')].some(b => b.dataset.namespace === 'ops' && b.textContent.includes('Assign label team to namespace ops'))`)
	color := evalJS[string](b, "the log-store line", `(() => { const e = window.redlineUI.state.topology.edges.find(e => e.row.peer === 'ops/Deployment/log-store'); return e ? window.redlineUI.edgeColor(e.id) : 'no edge'; })()`)
	if color != red {
		t.Errorf("the line to ops/log-store is %s, want red", color)
	}
	if y := b.yaml(); strings.Contains(y, "log-store") {
		t.Errorf("the policy allows log-store though ops lacks the label:\n%s", y)
	}
	// With a key every namespace has, no banner.
	b.do("set the label key", chromedp.SetValue(chromedp.CSS("#scope-label-key"), "kubernetes.io/metadata.name"),
		jsStep(`document.querySelector('#scope-label-key').dispatchEvent(new Event('change'))`))
	b.wait("no banner", `document.querySelectorAll('#banners .banner').length === 0`)
}

// TestAliasUnresolvedAddress: an admin searches the unresolved addresses
// for the demo's 192.0.2.77, aliases it; the alias lands in redline-config
// and traffic seen afterwards lists the address as aliased.
func TestAliasUnresolvedAddress(t *testing.T) {
	env, admin := devEnv(t)
	const addr, alias = "192.0.2.77", "ui-test-partner"
	b := newBrowser(t)
	b.login(env, admin, "#shop/Deployment/catalog?since=1d")
	role := evalJS[string](b, "the role", `document.querySelector('#who-role').textContent`)
	if role != "admin" {
		t.Fatalf("role %q, want admin", role)
	}
	b.do("search the address", chromedp.Click(chromedp.CSS(`button[data-tab="unresolved"]`)),
		chromedp.SendKeys(chromedp.CSS("#unresolved-q"), addr))
	row := fmt.Sprintf(`#unresolved-table tr[data-addr=%s]`, js(addr))
	b.wait("only the address listed", fmt.Sprintf(`document.querySelectorAll('#unresolved-table tbody tr[data-addr]').length === 1 && document.querySelector(%s) !== null`, js(row)))
	class := evalJS[string](b, "its class", fmt.Sprintf(`document.querySelector(%s).textContent`, js(row+" .class")))
	if class == "aliased" {
		t.Fatalf("%s is aliased before the test aliases it", addr)
	}
	b.do("class filter: unknown hides it", choose("#unresolved-class", "aliased"))
	b.wait("no aliased row yet", `document.querySelectorAll('#unresolved-table tbody tr[data-addr]').length === 0`)
	b.do("class filter: all", choose("#unresolved-class", ""))
	b.wait("the row back", fmt.Sprintf(`document.querySelector(%s) !== null`, js(row)))

	b.do("alias it", chromedp.Click(chromedp.CSS(row+` button[data-action="alias"]`)),
		chromedp.SetValue(chromedp.CSS(`#alias-form input[name="name"]`), alias),
		chromedp.Click(chromedp.CSS(`#alias-form button[type="submit"]`)))
	b.wait("the alias shown", fmt.Sprintf(`document.querySelector(%s).textContent === %s && document.querySelector('#notice').textContent.includes('redline-config')`, js(row+" .alias"), js(alias)))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cm, err := env.Kube().CoreV1().ConfigMaps(devenv.Namespace).Get(ctx, "redline-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["aliases"], alias) || !strings.Contains(cm.Data["aliases"], addr+"/32") {
		t.Errorf("redline-config aliases lack %s: %q", alias, cm.Data["aliases"])
	}

	// New traffic to the address is classified aliased: the class filter finds it.
	pods, err := env.Kube().CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=catalog"})
	if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.PodIP == "" {
		t.Fatalf("catalog's pod: %v %v", err, pods)
	}
	src := pods.Items[0].Status.PodIP
	deadline := time.Now().Add(45 * time.Second)
	for i := 0; ; i++ {
		line := fmt.Sprintf(`{"time":%q,"src":%q,"src_port":%d,"dst":%q,"port":443,"protocol":"TCP","observer":"dev-node-1","direction":"egress","tcp_flags":["SYN"]}`+"\n",
			time.Now().UTC().Format(time.RFC3339Nano), src, 40000+i, addr)
		if _, err := env.Ingest(ctx, []byte(line)); err != nil {
			t.Fatal(err)
		}
		b.do("class filter: aliased", choose("#unresolved-class", ""), choose("#unresolved-class", "aliased"))
		var n int
		time.Sleep(time.Second)
		n = evalJS[int](b, "aliased rows", fmt.Sprintf(`document.querySelector(%s) ? 1 : 0`, js(row)))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listed as aliased after new traffic:\n%s", addr, b.text())
		}
	}
	serverAlias := evalJS[string](b, "the server's alias", fmt.Sprintf(`window.redlineUI.state.unresolved.addresses.find(a => a.addr === %s).alias`, js(addr)))
	if serverAlias != alias {
		t.Errorf("the API lists %s with alias %q, want %q", addr, serverAlias, alias)
	}
}

// TestScreenshot renders the view for the docs: shop's payment with the
// namespace label key team (the banner for ops, red lines to ops/log-store
// and to the payment provider's addresses). REDLINE_UI_SCREENSHOT names
// the file (docs/ui-network.png); without it the PNG goes to a temporary
// directory and is only checked.
func TestScreenshot(t *testing.T) {
	env, admin := devEnv(t)
	const wl = "/api/v1/namespaces/shop/workloads/Deployment/payment"
	t.Cleanup(func() { apiCall(t, env, admin, "PUT", wl+"/choices", map[string]any{}, nil) })
	apiCall(t, env, admin, "PUT", wl+"/choices", map[string]any{"since": "1d", "namespaceLabelKey": "team"}, nil)
	b := newBrowser(t)
	b.login(env, admin, "#shop/Deployment/payment?since=1d")
	b.do("open egress", chromedp.Click(chromedp.CSS(`button[data-tab="egress"]`)))
	b.wait("the banner and a red line", `document.querySelector('#banners .banner') !== null && window.redlineUI.state.topology.edges.some(e => window.redlineUI.edgeColor(e.id) === `+js(red)+`)`)
	b.do("settle", chromedp.Sleep(300*time.Millisecond))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 20_000 {
		t.Fatalf("screenshot: %d bytes, not a PNG of the view", len(png))
	}
	out := os.Getenv("REDLINE_UI_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "ui-network.png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}
