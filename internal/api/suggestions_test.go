package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/store"
)

// namespaceAuthorizer lets its token read one namespace's traffic.
type namespaceAuthorizer struct{ namespace string }

func (a namespaceAuthorizer) Check(r *http.Request, perm kubeauth.Permission) (user.Info, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, fmt.Errorf("%w: no bearer token", kubeauth.ErrUnauthenticated)
	case "Bearer reader":
		if perm == kubeauth.ReadTraffic(a.namespace) {
			return &user.DefaultInfo{Name: "reader"}, nil
		}
	}
	return nil, fmt.Errorf("%w: may not %s", kubeauth.ErrForbidden, perm)
}

func TestSuggestionsHandler(t *testing.T) {
	ctx := context.Background()
	inv := inventorytest.LoadShop(t)
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	frontend := flow.WorkloadEndpoint("shop", "Deployment", "frontend")
	cart := flow.WorkloadEndpoint("shop", "Deployment", "cart")
	payment := flow.WorkloadEndpoint("payments", "Deployment", "payment")
	st.Record(flow.EdgeKey{Src: frontend, Dst: cart, Protocol: flow.ProtocolTCP, Port: 8080}, now.Add(-time.Minute), flow.VerdictForwarded, nil, nil)
	st.Record(flow.EdgeKey{Src: frontend, Dst: payment, Protocol: flow.ProtocolTCP, Port: 8443}, now.Add(-time.Minute), flow.VerdictForwarded, nil, nil)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h := &SuggestionsHandler{
		Auth:      namespaceAuthorizer{namespace: "shop"},
		Inventory: func() *inventory.Inventory { return inv },
		Edges:     st,
		Aliases:   func() map[string][]netip.Prefix { return nil },
		Now:       func() time.Time { return now },
	}
	post := func(token, body string) (*httptest.ResponseRecorder, SuggestionResponse) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/suggestions", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var resp SuggestionResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
		return rec, resp
	}

	rec, resp := post("reader", `{"workload":"shop/Deployment/frontend","since":"1h","exclude":[{"direction":"Egress","peer":"payments/Deployment/payment","protocol":"TCP","port":8443}]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(resp.YAML, "name: redline-deployment-frontend") || !strings.Contains(resp.YAML, "app: cart") || strings.Contains(resp.YAML, "app: payment") {
		t.Errorf("suggested policy should allow cart and leave out the excluded payment:\n%s", resp.YAML)
	}
	if len(resp.Excluded) == 0 {
		t.Errorf("excluded rows not reported: %+v", resp)
	}

	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", `{"workload":"shop/Deployment/frontend"}`, http.StatusUnauthorized},
		{"other namespace", "reader", `{"workload":"payments/Deployment/payment"}`, http.StatusForbidden},
		{"unknown field", "reader", `{"workload":"shop/Deployment/frontend","colour":"red"}`, http.StatusBadRequest},
		{"bad workload", "reader", `{"workload":"frontend"}`, http.StatusBadRequest},
		{"bad rule", "reader", `{"workload":"shop/Deployment/frontend","egress":"open"}`, http.StatusBadRequest},
		{"bad window", "reader", `{"workload":"shop/Deployment/frontend","since":"soon"}`, http.StatusBadRequest},
		{"not JSON", "reader", `workload=frontend`, http.StatusBadRequest},
		{"unknown workload", "reader", `{"workload":"shop/Deployment/ghost"}`, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec, _ := post(tc.token, tc.body); rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
}
