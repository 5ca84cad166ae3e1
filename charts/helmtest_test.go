package charts

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/webhook"
)

// The `helm test` Pod sends an AdmissionReview that Redline's real handler
// decodes (strictly) and answers the way the Pod's script expects.
func TestHelmTestHook(t *testing.T) {
	objs := render(t, "defaults")
	var pod corev1.Pod
	find(t, objs, "Pod", "redline-test", &pod)
	if pod.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("annotations %v: not a helm test hook", pod.Annotations)
	}
	var svc corev1.Service
	find(t, objs, "Service", "redline", &svc)
	if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Error("the Service selects the test Pod")
	}
	script := strings.Join(pod.Spec.Containers[0].Command, "\n")
	wantURL := "https://redline." + releaseNamespace + ".svc:443" + webhook.PathNetworkPolicy
	if !strings.Contains(script, wantURL) {
		t.Errorf("the script does not call %s:\n%s", wantURL, script)
	}
	m := regexp.MustCompile(`(?m)^review='(.*)'$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no review='...' in the script:\n%s", script)
	}
	expect := regexp.MustCompile(`\*'("uid":"[^"]+")'\*'("allowed":true)'\*\)`).FindStringSubmatch(script)
	if expect == nil {
		t.Fatalf("no expected answer pattern in the script:\n%s", script)
	}

	v, err := webhook.New(webhook.Deps{Cluster: stubCluster{}, Edges: stubEdges{}, Decider: stubDecider{}}, webhook.Options{Namespace: releaseNamespace})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, webhook.PathNetworkPolicy, strings.NewReader(m[1]))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	webhook.ReviewHandler(v.NetworkPolicyHandler(), nil).ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("the webhook answers the test's review with %d: %s", rec.Code, body)
	}
	i, j := strings.Index(body, expect[1]), strings.Index(body, expect[2])
	if i < 0 || j < i {
		t.Errorf("answer %s does not match the script's pattern *%s*%s*", body, expect[1], expect[2])
	}
}
