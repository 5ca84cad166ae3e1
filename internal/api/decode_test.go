package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/store"
)

// allowAll lets every caller with a token do everything.
type allowAll struct{}

func (allowAll) Check(r *http.Request, perm kubeauth.Permission) (user.Info, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, fmt.Errorf("%w: no bearer token", kubeauth.ErrUnauthenticated)
	}
	return &user.DefaultInfo{Name: "tester"}, nil
}

func (allowAll) Allowed(context.Context, user.Info, kubeauth.Permission) (bool, error) {
	return true, nil
}

// Malformed requests to every endpoint that reads a body or parameters
// are 400 with a JSON error, never a panic, and write nothing.
func TestMalformedRequests(t *testing.T) {
	inv := inventorytest.LoadShop(t)
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client := fake.NewClientset()
	h := NewHandler(Deps{Guard: nil, Network: &NetworkHandler{
		Auth: allowAll{}, Inventory: func() *inventory.Inventory { return inv }, Store: st,
		Client: client, ConfigNamespace: "redline",
	}})
	const fe = "/api/v1/namespaces/shop/workloads/Deployment/frontend"
	huge := `{"since":"` + strings.Repeat("1", 2<<20) + `"}`
	for _, tc := range []struct{ method, target, body string }{
		{"PUT", fe + "/choices", ``},
		{"PUT", fe + "/choices", `null x`},
		{"PUT", fe + "/choices", `{"ingress":"everything"}`},
		{"PUT", fe + "/choices", `{"exclude":[{"direction":"Egress","peer":"nope","protocol":"TCP"}]}`},
		{"PUT", fe + "/choices", `{"exclude":[{"direction":"Egress","peer":"shop/Deployment/cart","protocol":"ICMP"}]}`},
		{"PUT", fe + "/choices", `{"exclude":[{"direction":"Egress","peer":"shop/Deployment/cart","protocol":"TCP","port":70000}]}`},
		{"PUT", fe + "/choices", `{"includeAddresses":["not-an-ip"]}`},
		{"PUT", fe + "/choices", `{"allowEgressCIDRs":[{"cidr":"10.0.0.0/33"}]}`},
		{"PUT", fe + "/choices", `{"allowEgressCIDRs":[{}]}`},
		{"PUT", fe + "/choices", `{"since":"0s"}`},
		{"PUT", fe + "/choices", `{}{}`},
		{"PUT", fe + "/choices", huge},
		{"POST", fe + "/topology", `{"namedPorts":"yes"}`},
		{"GET", fe + "/topology?since=31d", ``},
		{"GET", fe + "/traffic?since=1x", ``},
		{"GET", "/api/v1/namespaces/shop/workloads/Widget/x/traffic", ``},
		{"GET", "/api/v1/unresolved?since=", ``}, // default: fine; see below
		{"GET", "/api/v1/unresolved?class=nope", ``},
		{"GET", fe + "/policies?peer=a/b", ``},
		{"GET", fe + "/policies?peer=shop/Deployment/cart&port=0", ``},
		{"POST", "/api/v1/whatif", ``},
		{"POST", "/api/v1/whatif", `[1,2]`},
		{"POST", "/api/v1/whatif", `{"policy":null}`},
		{"POST", "/api/v1/whatif", `{"policy":"kind: NetworkPolicy\nmetadata: {name: x}\n"}`},
		{"POST", "/api/v1/whatif", `{"policy":"kind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\n---\nkind: NetworkPolicy\nmetadata: {name: y, namespace: shop}\n"}`},
		{"POST", "/api/v1/whatif", `{"policy":{"kind":"NetworkPolicy","metadata":{"name":"x","namespace":"shop"}},"since":"forever"}`},
		{"POST", "/api/v1/whatif?delete=maybe", `{"kind":"NetworkPolicy","metadata":{"name":"x","namespace":"shop"}}`},
		{"POST", "/api/v1/whatif", "kind: NetworkPolicy\nmetadata: [\n"},
		{"POST", "/api/v1/aliases", `{"name":"","cidrs":["192.0.2.1"]}`},
		{"POST", "/api/v1/aliases", `{"name":"ok","cidrs":["192.0.2.1","not an ip"]}`},
		{"POST", "/api/v1/aliases", `{"name":"-bad","cidrs":["192.0.2.1"]}`},
		{"POST", "/api/v1/aliases", `{"name":"ok","cidrs":"192.0.2.1"}`},
		{"POST", "/api/v1/allowed", `{"entry":""}`},
		{"POST", "/api/v1/allowed", `{"entry":"10.0.0.1/8"}`},
		{"POST", "/api/v1/cidrs", `{"cidrs":["::ffff:10.0.0.0/104"]}`},
		{"POST", "/api/v1/cidrs", `{"cidrs":["10.0.0.0/8\n#"]}`},
	} {
		if tc.target == "/api/v1/unresolved?since=" {
			continue
		}
		req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var er ErrorResponse
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &er) != nil || er.Error == "" {
			body := tc.body
			if len(body) > 80 {
				body = body[:80] + "..."
			}
			t.Errorf("%s %s %q: %d %.200s, want 400 with a JSON error", tc.method, tc.target, body, rec.Code, rec.Body)
		}
	}
	if d, found, _ := st.Choices(context.Background(), frontendEP); found {
		t.Errorf("a malformed draft was stored: %q", d.Choices)
	}
	if cms, _ := client.CoreV1().ConfigMaps("redline").List(context.Background(), metav1.ListOptions{}); len(cms.Items) != 0 {
		t.Errorf("a malformed setting wrote %d ConfigMaps", len(cms.Items))
	}
}

// FuzzRequestDecoders: no input makes a decoder panic; accepted choices
// survive a JSON round trip and stay valid; accepted settings are single
// entries.
func FuzzRequestDecoders(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"since":"1h","ingress":"block-all","exclude":[{"direction":"Egress","peer":"a/Deployment/b","protocol":"TCP","port":80}]}`,
		`{"includeAddresses":["10.0.0.1"],"allowEgressCIDRs":[{"cidr":"10.0.0.0/8","protocol":"UDP","port":53}]}`,
		`{"policy":"kind: NetworkPolicy\nmetadata: {name: x, namespace: y}\nspec: {podSelector: {}}\n"}`,
		"kind: NetworkPolicy\nmetadata: {name: x, namespace: y}\n", `{"name":"a","cidrs":["10.0.0.0/8"]}`, `{"entry":"a"}`,
		`{"cidrs":["10.0.0.0/8"]}`, `[`, `null`, "\x00\xff", `{"policy":{"kind":1}}`,
	} {
		f.Add([]byte(seed))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := decodeChoices(bytes.NewReader(data)); err == nil {
			again, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("accepted choices do not encode: %v", err)
			}
			if _, err := decodeChoices(bytes.NewReader(again)); err != nil {
				t.Fatalf("accepted choices %s refused after a round trip: %v", again, err)
			}
		}
		if in, err := decodeWhatIf(ctx, bytes.NewReader(data), url.Values{}); err == nil && (in.policy == nil || in.policy.Namespace == "") {
			t.Fatalf("what-if accepted without a namespaced policy: %+v", in)
		}
		if req, err := decodeAlias(bytes.NewReader(data)); err == nil {
			for _, c := range req.CIDRs {
				if singleEntry("cidrs", c) != nil {
					t.Fatalf("alias entry %q accepted", c)
				}
			}
		}
		_, _ = decodeAllowed(bytes.NewReader(data))
		_, _ = decodeCIDRs(bytes.NewReader(data))
		s := string(data)
		_, _ = parseConnectionPeer(s)
		_, _ = parseWindow(s)
		if parts := strings.SplitN(s, "/", 3); len(parts) == 3 {
			_, _ = parseSubject(parts[0], parts[1], parts[2])
		}
		if out, err := setAlias(s, "name", []string{"10.0.0.0/8"}); err == nil {
			// Either the alias is there, or the parser says why not (a
			// prefix another alias has): editConfig then refuses the edit.
			c, warnings := inventory.ParseConfig(map[string]string{inventory.ConfigKeyAliases: out})
			if len(c.Aliases()["name"]) != 1 && !strings.Contains(strings.Join(warnings, "\n"), `alias "name"`) {
				t.Fatalf("setAlias(%q) = %q: alias lost silently (%v)", s, out, warnings)
			}
		}
		_ = appendEntries(s, []string{"10.0.0.0/8"})
	})
}

// Window bounds: 1h ... 30d.
func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"1h": time.Hour, "30d": 30 * 24 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseWindow(in); err != nil || got != want {
			t.Errorf("parseWindow(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"31d", "30d1s", "", "0h", "-1h", "1y", "d"} {
		if _, err := parseWindow(in); err == nil {
			t.Errorf("parseWindow(%q) accepted", in)
		}
	}
}
