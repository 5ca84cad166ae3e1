package charts

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/cmd/redline/app"
	"github.com/redline-dev/redline/webhook"
)

func TestLintStrict(t *testing.T) {
	for _, set := range slices.Sorted(maps.Keys(valuesSets)) {
		t.Run(set, func(t *testing.T) {
			if _, err := run(t, tool(t, "helm"), "lint", "--strict", chartDir, "--namespace", releaseNamespace, "-f", valuesFile(set)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	for _, set := range slices.Sorted(maps.Keys(valuesSets)) {
		t.Run(set, func(t *testing.T) {
			objs := render(t, set)
			if got, want := objectKeys(objs), valuesSets[set]; !slices.Equal(got, want) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, want)
			}
			for _, o := range objs {
				if got := o.GetLabels()["app.kubernetes.io/instance"]; got != releaseName {
					t.Errorf("%s/%s: label app.kubernetes.io/instance = %q, want %q", o.GetKind(), o.GetName(), got, releaseName)
				}
			}
		})
	}
}

// The schema (and the chart's own checks) turn bad values away with a
// message naming the value.
func TestBadValuesRejected(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"mode=bogus"}, "/mode"},
		{[]string{"replicaCount=0"}, "/replicaCount"},
		{[]string{"webhook.failurePolicy=Maybe"}, "/webhook/failurePolicy"},
		{[]string{"webhook.timeoutSeconds=31"}, "/webhook/timeoutSeconds"},
		{[]string{"audit.interval=7d"}, "/audit/interval"},
		{[]string{"audit.optOutLabel=disabled"}, "/audit/optOutLabel"},
		{[]string{"audit.debounce=soon"}, "/audit/debounce"},
		{[]string{"audit.namespaceLabelKey=not a key"}, "/audit/namespaceLabelKey"},
		{[]string{"store.retention=30 days"}, "/store/retention"},
		{[]string{"prometheusRule.disabledAlerts={RedlineTypo}"}, "/prometheusRule/disabledAlerts/0"},
		{[]string{"prometheusRule.thresholds.failedOpenRatio=2"}, "/prometheusRule/thresholds/failedOpenRatio"},
		{[]string{"certManager.issuerRef.kind=Vault"}, "/certManager/issuerRef/kind"},
		{[]string{"api.flowWriters[0].kind=Robot", "api.flowWriters[0].name=x"}, "/api/flowWriters/0/kind"},
		{[]string{"webhok.enabled=false"}, "webhok"},
		{[]string{"replicaCount=3"}, "/persistence/enabled"},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			out, err := helmTemplate(t, nil, tc.set...)
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%.300s", tc.set, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name %q:\n%v", tc.want, err)
			}
			// helm lint --strict says the same.
			args := []string{"lint", "--strict", chartDir}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			if _, err := run(t, tool(t, "helm"), args...); err == nil {
				t.Errorf("helm lint --strict accepted %v", tc.set)
			}
		})
	}
}

// An unquoted `mode: off` in a values file is YAML for false: accepted as off.
func TestModeOffUnquoted(t *testing.T) {
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte("mode: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := helmTemplate(t, []string{f})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "- --mode=off\n") {
		t.Error("mode: off does not render --mode=off")
	}
}

func TestDeployment(t *testing.T) {
	for _, set := range slices.Sorted(maps.Keys(valuesSets)) {
		t.Run(set, func(t *testing.T) {
			objs := render(t, set)
			var d appsv1.Deployment
			find(t, objs, "Deployment", "redline", &d)
			pod := d.Spec.Template.Spec
			if pod.ServiceAccountName != webhook.DefaultServiceAccount {
				t.Errorf("serviceAccountName %q: Redline exempts system:serviceaccount:<ns>:%s", pod.ServiceAccountName, webhook.DefaultServiceAccount)
			}
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
			}
			if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
				t.Errorf("terminationGracePeriodSeconds %v: the store flushes on SIGTERM", pod.TerminationGracePeriodSeconds)
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			c := pod.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("container securityContext %+v: want read-only root, no privilege escalation, drop ALL", sc)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "health" {
				t.Errorf("livenessProbe %+v: want GET /healthz on the health port", p)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "health" {
				t.Errorf("readinessProbe %+v: want GET /readyz on the health port", p)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want memory requests and limits", c.Resources)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			if e := env["POD_NAMESPACE"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
				t.Errorf("POD_NAMESPACE %+v: want the downward API's metadata.namespace", e)
			}
			if e := env["GOMEMLIMIT"]; e.Value == "" && (e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory") {
				t.Errorf("GOMEMLIMIT %+v: want a value or the memory limit", e)
			}

			// Every argument is a flag of `redline serve` with a valid value.
			if len(c.Args) == 0 || c.Args[0] != "serve" {
				t.Fatalf("args %v: want serve first", c.Args)
			}
			args := map[string]string{}
			for _, a := range c.Args[1:] {
				name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				args[name] = value
			}
			cmd := app.NewServeCommand(app.IO{})
			resolved := make([]string, 0, len(c.Args)-1)
			for _, a := range c.Args[1:] {
				resolved = append(resolved, strings.ReplaceAll(a, "$(POD_NAMESPACE)", releaseNamespace))
			}
			if err := cmd.ParseFlags(resolved); err != nil {
				t.Errorf("redline serve rejects the chart's arguments: %v\nargs: %v", err, c.Args)
			}

			// The data directory is the data volume: a claim or an emptyDir.
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
			}
			if mounts["data"] != args["data-dir"] {
				t.Errorf("--data-dir=%s but the data volume is mounted at %q", args["data-dir"], mounts["data"])
			}
			persistent := set != "ha" && set != "persistence-off"
			if data := volumes["data"]; persistent != (data.PersistentVolumeClaim != nil) || !persistent && data.EmptyDir == nil {
				t.Errorf("data volume %+v: persistence %v", data.VolumeSource, persistent)
			}
			if persistent != (d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType) {
				t.Errorf("strategy %s with persistence %v: a locked ReadWriteOnce store needs Recreate", d.Spec.Strategy.Type, persistent)
			}
			if mounts["tmp"] != "/tmp" {
				t.Error("no writable /tmp on the read-only root filesystem")
			}

			// The webhook certificate Secret is mounted where the server
			// reads it; cert-manager turns the rotator off.
			if mounts["webhook-certs"] != args["webhook-cert-dir"] || args["webhook-cert-dir"] == "" {
				t.Errorf("--webhook-cert-dir=%s but the certificate is mounted at %q", args["webhook-cert-dir"], mounts["webhook-certs"])
			}
			if s := volumes["webhook-certs"].Secret; s == nil || s.SecretName != args["webhook-cert-secret"] {
				t.Errorf("webhook-certs volume %+v: want Secret %s", volumes["webhook-certs"].VolumeSource, args["webhook-cert-secret"])
			}
			certManager := set == "cert-manager" || set == "options"
			if want := map[bool]string{true: "false", false: "true"}[certManager]; args["webhook-self-managed-certs"] != want {
				t.Errorf("--webhook-self-managed-certs=%s, want %s", args["webhook-self-managed-certs"], want)
			}
			if args["leader-elect"] != "true" {
				t.Errorf("--leader-elect=%s, want true", args["leader-elect"])
			}
			if set == "options" {
				if pod.PriorityClassName != "system-cluster-critical" || args["mode"] != "enforce" || env["GOMEMLIMIT"].Value != "800MiB" ||
					args["tls-cert-file"] == "" || volumes["api-tls"].Secret == nil || volumes["data"].PersistentVolumeClaim.ClaimName != "redline-store" {
					t.Errorf("options not applied: priorityClassName %q, args %v, env %v", pod.PriorityClassName, c.Args, c.Env)
				}
			}
		})
	}
}

// The chart's webhooks are the ones the code describes
// (webhook.Validator.ValidatingWebhooks), plus the opt-out label and the
// configured exemptions.
func TestWebhookConfigurationMatchesCode(t *testing.T) {
	want, err := webhook.Configuration(webhook.Options{Namespace: releaseNamespace}, webhook.ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"defaults", "cert-manager", "options"} {
		t.Run(set, func(t *testing.T) {
			var got admissionregistrationv1.ValidatingWebhookConfiguration
			find(t, render(t, set), "ValidatingWebhookConfiguration", want.Name, &got)
			if len(got.Webhooks) != len(want.Webhooks) {
				t.Fatalf("%d webhooks, want %d", len(got.Webhooks), len(want.Webhooks))
			}
			for i, w := range want.Webhooks {
				g := got.Webhooks[i]
				if set == "options" {
					w.FailurePolicy = ptrTo(admissionregistrationv1.Fail)
				}
				if g.Name != w.Name || !equality.Semantic.DeepEqual(g.ClientConfig, w.ClientConfig) ||
					!equality.Semantic.DeepEqual(g.Rules, w.Rules) || *g.FailurePolicy != *w.FailurePolicy ||
					*g.MatchPolicy != *w.MatchPolicy || *g.SideEffects != *w.SideEffects ||
					*g.TimeoutSeconds != *w.TimeoutSeconds || !slices.Equal(g.AdmissionReviewVersions, w.AdmissionReviewVersions) {
					t.Errorf("webhook %d\n got %+v\nwant %+v", i, g, w)
				}
				exempt := w.NamespaceSelector.MatchExpressions[0]
				if set == "options" {
					exempt.Values = []string{"cert-manager", "kube-system", "monitoring", releaseNamespace}
				}
				wantSelector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					exempt,
					{Key: "redline.io/webhook", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"disabled"}},
				}}
				if !equality.Semantic.DeepEqual(g.NamespaceSelector, wantSelector) {
					t.Errorf("webhook %s namespaceSelector\n got %+v\nwant %+v", g.Name, g.NamespaceSelector, wantSelector)
				}
			}
			annotation := got.Annotations["cert-manager.io/inject-ca-from"]
			if wantCM := set != "defaults"; wantCM != (annotation == releaseNamespace+"/redline-webhook") {
				t.Errorf("cert-manager.io/inject-ca-from = %q with cert-manager %v", annotation, wantCM)
			}
		})
	}
}

// Every rendered object of every values set is accepted by a real
// kube-apiserver (server-side dry-run, strict field validation).
func TestServerSideDryRun(t *testing.T) {
	needPlane(t)
	ctx := context.Background()
	for _, set := range slices.Sorted(maps.Keys(valuesSets)) {
		t.Run(set, func(t *testing.T) {
			objs := render(t, set)
			for _, o := range objs {
				namespaced, err := plane.client.IsObjectNamespaced(o)
				if err != nil {
					t.Errorf("%s/%s: %v", o.GetKind(), o.GetName(), err)
					continue
				}
				if namespaced != (o.GetNamespace() == releaseNamespace) {
					t.Errorf("%s/%s: namespace %q (namespaced: %v)", o.GetKind(), o.GetName(), o.GetNamespace(), namespaced)
				}
				if err := plane.client.Create(ctx, o, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
					t.Errorf("the API server rejects %s/%s: %v", o.GetKind(), o.GetName(), err)
				}
			}
			t.Logf("%d objects accepted", len(objs))
		})
	}
}

// The RBAC the chart installs lets Redline's service account do what
// `redline serve` does, and not more than it needs where it is narrowed.
func TestRBAC(t *testing.T) {
	needPlane(t)
	ctx := context.Background()
	for _, o := range render(t, "defaults") {
		if !strings.HasPrefix(o.GetAPIVersion(), "rbac.authorization.k8s.io/") {
			continue
		}
		if err := plane.client.Create(ctx, o); err != nil {
			t.Fatalf("create %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = plane.client.Delete(context.Background(), o) })
	}
	sa := "system:serviceaccount:" + releaseNamespace + ":" + webhook.DefaultServiceAccount
	type attrs = authorizationv1.ResourceAttributes
	list := func(group, resource string) []attrs {
		return []attrs{{Verb: "list", Group: group, Resource: resource}, {Verb: "watch", Group: group, Resource: resource}}
	}
	var allowed []attrs
	for _, r := range [][2]string{
		{"", "pods"}, {"", "services"}, {"", "nodes"}, {"", "namespaces"}, {"apps", "deployments"},
		{"apps", "replicasets"}, {"apps", "statefulsets"}, {"apps", "daemonsets"}, {"batch", "jobs"},
		{"batch", "cronjobs"}, {"discovery.k8s.io", "endpointslices"}, {"networking.k8s.io", "networkpolicies"},
		{"", "configmaps"}, {"admissionregistration.k8s.io", "validatingwebhookconfigurations"},
	} {
		allowed = append(allowed, list(r[0], r[1])...)
	}
	allowed = append(allowed,
		attrs{Verb: "create", Group: "", Resource: "configmaps", Namespace: "shop"},
		attrs{Verb: "update", Group: "", Resource: "configmaps", Namespace: "shop", Name: "redline-suggested-shop"},
		attrs{Verb: "delete", Group: "", Resource: "configmaps", Namespace: "shop", Name: "redline-suggested-shop"},
		attrs{Verb: "create", Group: "", Resource: "events", Namespace: "shop"},
		attrs{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: "shop"},
		attrs{Verb: "patch", Group: "events.k8s.io", Resource: "events", Namespace: "shop"},
		attrs{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"},
		attrs{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
		attrs{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: releaseNamespace},
		attrs{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: releaseNamespace, Name: "redline-leader"},
		attrs{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: releaseNamespace, Name: "redline-leader"},
		attrs{Verb: "list", Group: "", Resource: "secrets", Namespace: releaseNamespace},
		attrs{Verb: "watch", Group: "", Resource: "secrets", Namespace: releaseNamespace},
		attrs{Verb: "get", Group: "", Resource: "secrets", Namespace: releaseNamespace, Name: "redline-webhook-cert"},
		attrs{Verb: "update", Group: "", Resource: "secrets", Namespace: releaseNamespace, Name: "redline-webhook-cert"},
		attrs{Verb: "get", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "redline"},
		attrs{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "redline"},
	)
	denied := []attrs{
		{Verb: "get", Group: "", Resource: "secrets", Namespace: releaseNamespace, Name: "other"},
		{Verb: "list", Group: "", Resource: "secrets", Namespace: "shop"},
		{Verb: "update", Group: "", Resource: "secrets", Namespace: releaseNamespace, Name: "other"},
		{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "someone-elses"},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: releaseNamespace, Name: "someone-elses"},
		{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "shop"},
		{Verb: "delete", Group: "", Resource: "pods", Namespace: "shop"},
		{Verb: "update", Group: "networking.k8s.io", Resource: "networkpolicies", Namespace: "shop"},
		{Verb: "create", Group: "redline.io", Resource: "flows"},
	}
	check := func(a attrs, want bool) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace},
			ResourceAttributes: &a,
		}}
		// RBAC objects reach the authorizer's cache a moment after creation.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := plane.client.Create(ctx, sar); err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed == want || !want || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if sar.Status.Allowed != want {
			t.Errorf("%s %s.%s %s/%s: allowed %v, want %v (%s)", a.Verb, a.Resource, a.Group, a.Namespace, a.Name, sar.Status.Allowed, want, sar.Status.Reason)
		}
	}
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}
}

// NOTES.txt renders and tells where the API is.
func TestNotes(t *testing.T) {
	needPlane(t)
	for _, set := range []string{"defaults", "options"} {
		t.Run(set, func(t *testing.T) {
			out, err := run(t, tool(t, "helm"), "install", releaseName, chartDir, "--namespace", releaseNamespace,
				"--dry-run=client", "--kubeconfig", plane.kubeconfig, "-f", valuesFile(set))
			if err != nil {
				t.Fatal(err)
			}
			_, notes, ok := strings.Cut(out, "\nNOTES:\n")
			if !ok {
				t.Fatalf("no NOTES in\n%s", out)
			}
			for _, want := range []string{"https://redline.redline.svc:8443/api/v1/flows", "redline-flow-writer", "redline.io/mode="} {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES lack %q:\n%s", want, notes)
				}
			}
		})
	}
}

func TestNetworkPolicy(t *testing.T) {
	var np networkingv1.NetworkPolicy
	find(t, render(t, "defaults"), "NetworkPolicy", "redline", &np)
	var d appsv1.Deployment
	find(t, render(t, "defaults"), "Deployment", "redline", &d)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the NetworkPolicy's podSelector %v does not select Redline's pods", np.Spec.PodSelector)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	ports := map[string]bool{}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			ports[p.Port.String()] = len(r.From) == 0
		}
	}
	for _, p := range []string{"webhook", "api", "metrics", "health"} {
		if !ports[p] {
			t.Errorf("ingress to port %s not open to every peer by default (have %v)", p, ports)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
