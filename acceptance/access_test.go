package acceptance

import (
	"encoding/json"
	"net/http"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redline-dev/redline/internal/api"
	"github.com/redline-dev/redline/internal/devenv"
)

// The dev environment's two accounts: redline-dev reads (the UI's read-only
// view) and redline-dev-admin may also use the admin actions.
func TestDevAccounts(t *testing.T) {
	ctx := testContext(t)
	env := devEnv(t)
	for _, tc := range []struct {
		account string
		admin   bool
	}{{devenv.ServiceAccount, false}, {devenv.AdminServiceAccount, true}} {
		tr, err := env.Kube().CoreV1().ServiceAccounts(devenv.Namespace).CreateToken(ctx, tc.account, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token for %s: %v", tc.account, err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.APIURL+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+tr.Status.Token)
		resp, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var who api.WhoAmI
		err = json.NewDecoder(resp.Body).Decode(&who)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: whoami %d: %v", tc.account, resp.StatusCode, err)
		}
		if who.Admin != tc.admin || !who.Read || who.NamespaceLabelKey != "team" {
			t.Errorf("%s: whoami %+v, want admin=%v, read everywhere, label key team", tc.account, who, tc.admin)
		}
	}
}
