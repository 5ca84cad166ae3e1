package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const (
	nsShop = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: shop
`
	deployWeb = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - name: http
          containerPort: 8080
`
	policyDeny = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: shop
spec:
  podSelector: {}
`
	podJSON = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "debug", "namespace": "shop", "labels": {"run": "debug"}},
  "spec": {"containers": [{"name": "sh", "image": "busybox"}]}
}
`
)

// The lines most cases expect from nsShop + deployWeb + policyDeny.
var shopWebDeny = []string{
	"ns shop kubernetes.io/metadata.name=shop,team=shop",
	"wl shop/web[Deployment] app=web http:8080/TCP",
	"np shop/deny",
}

func TestLoadFiles(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		stdin    string
		paths    []string // default: all.yaml
		want     []string // summary lines; nil: not checked
		warnings []string
		err      string // substring of the error; "" for success
	}{
		{
			name: "multi-document YAML with comments, empty documents and end markers",
			files: map[string]string{"all.yaml": "# leading comment\n---\n" + nsShop +
				"---\n# a comment-only document\n---\n\n---\n" + deployWeb + "...\n---   # trailing comment\n" + policyDeny + "---\n"},
			want: shopWebDeny,
		},
		{
			name:  "CRLF line endings",
			files: map[string]string{"all.yaml": strings.ReplaceAll(nsShop+"---\n"+deployWeb+"---\n"+policyDeny, "\n", "\r\n")},
			want:  shopWebDeny,
		},
		{
			name:  "documents in flow style",
			files: map[string]string{"all.yaml": "{apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: shop}}}\n---\n" + deployWeb + "---\n" + policyDeny},
			want:  shopWebDeny,
		},
		{
			name: "merge keys: keys that override merged ones are not duplicates",
			files: map[string]string{"all.yaml": `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop, labels: {app: p}}
spec:
  containers:
  - &app {name: app, image: app, ports: [{name: http, containerPort: 8080}]}
  - <<: *app
    name: metrics
    ports: [{name: metrics, containerPort: 9090}]
`},
			want: []string{"ns shop kubernetes.io/metadata.name=shop", "wl shop/p[Pod] app=p http:8080/TCP metrics:9090/TCP"},
		},
		{
			name:  "JSON object",
			files: map[string]string{"pod.json": podJSON},
			paths: []string{"pod.json"},
			want:  []string{"ns shop kubernetes.io/metadata.name=shop", "wl shop/debug[Pod] run=debug"},
		},
		{
			name: "JSON stream",
			files: map[string]string{"s.json": podJSON + `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"team":"shop"}}}` +
				"\n" + `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"shop"},"spec":{"podSelector":{}}}`},
			paths: []string{"s.json"},
			want:  []string{"ns shop kubernetes.io/metadata.name=shop,team=shop", "wl shop/debug[Pod] run=debug", "np shop/deny"},
		},
		{
			name: "v1 List",
			files: map[string]string{"all.yaml": "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- " +
				strings.ReplaceAll(strings.TrimSpace(nsShop), "\n", "\n  ") + "\n- " +
				strings.ReplaceAll(strings.TrimSpace(deployWeb), "\n", "\n  ") + "\n- " +
				strings.ReplaceAll(strings.TrimSpace(policyDeny), "\n", "\n  ") + "\n"},
			want: shopWebDeny,
		},
		{
			name:  "empty v1 List",
			files: map[string]string{"all.yaml": "apiVersion: v1\nkind: List\nitems: []\n---\napiVersion: v1\nkind: List\n"},
			want:  []string{},
		},
		{
			name: "NetworkPolicyList in JSON, items without apiVersion and kind",
			files: map[string]string{"np.json": `{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "metadata": {},
 "items": [
  {"metadata": {"name": "b", "namespace": "shop"}, "spec": {"podSelector": {}}},
  {"metadata": {"name": "a", "namespace": "shop"}, "spec": {"podSelector": {}}}
 ]}`},
			paths: []string{"np.json"},
			want:  []string{"ns shop kubernetes.io/metadata.name=shop", "np shop/a", "np shop/b"},
		},
		{
			name: "DeploymentList inside a v1 List",
			files: map[string]string{"all.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DeploymentList
  items:
  - metadata: {name: api, namespace: shop}
    spec:
      selector: {matchLabels: {app: api}}
      template:
        metadata: {labels: {app: api}}
        spec: {containers: [{name: api, image: api}]}
`},
			want: []string{"ns shop kubernetes.io/metadata.name=shop", "wl shop/api[Deployment] app=api"},
		},
		{
			name: "folders are read recursively, manifests only, hidden entries skipped",
			files: map[string]string{
				"m/ns.yaml":                 nsShop,
				"m/apps/web.yml":            deployWeb,
				"m/apps/deeper/policy.JSON": `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"shop"},"spec":{"podSelector":{}}}`,
				"m/README.md":               "# not a manifest: {[",
				"m/.git/config.yaml":        "not: [valid",
				"m/.hidden.yaml":            "not: [valid",
				"m/empty/.keep":             "",
			},
			paths: []string{"m"},
			want:  shopWebDeny,
		},
		{
			name:  "a folder without manifests is a warning",
			files: map[string]string{"m/README.md": "hi", "ns.yaml": nsShop},
			paths: []string{"m", "ns.yaml"},
			want:  []string{"ns shop kubernetes.io/metadata.name=shop,team=shop"},
			warnings: []string{
				"m: no *.yaml, *.yml or *.json files in this folder",
			},
		},
		{
			name:  "stdin and a file; a file given twice is read once",
			files: map[string]string{"ns.yaml": nsShop},
			stdin: deployWeb + "---\n" + policyDeny,
			paths: []string{"-", "ns.yaml", "./ns.yaml", "-"},
			want:  shopWebDeny,
		},
		{
			name: "other kinds and other apiVersions are skipped with a warning",
			files: map[string]string{"all.yaml": nsShop + `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data: {a: b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
---
apiVersion: extensions/v1beta1
kind: NetworkPolicy
metadata:
  name: old
  namespace: shop
spec: {}
---
apiVersion: v1
kind: ConfigMapList
items:
- metadata: {name: one}
`},
			want: []string{"ns shop kubernetes.io/metadata.name=shop,team=shop"},
			warnings: []string{
				"all.yaml: line 8: ConfigMap shop/settings: kind ConfigMap skipped: not used for network analysis",
				"all.yaml: line 15: ClusterRole reader: kind ClusterRole skipped: not used for network analysis",
				"all.yaml: line 20: NetworkPolicy shop/old: apiVersion extensions/v1beta1 skipped: redline reads NetworkPolicy only at networking.k8s.io/v1",
				"all.yaml: line 30: ConfigMap one: kind ConfigMap skipped: not used for network analysis",
			},
		},
		{
			name: "unknown fields are warnings with their line; the object loads",
			files: map[string]string{"np.yaml": `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
spec:
  podSelector: {}
  ingres:
  - from: []
  egress:
  - too: []
    ports:
    - port: 53
      protocl: UDP
`},
			want: []string{"ns shop kubernetes.io/metadata.name=shop", "np shop/web"},
			warnings: []string{
				"np.yaml: line 8: NetworkPolicy shop/web: unknown field spec.ingres ignored (a typo, or a field this version of redline does not know)",
				"np.yaml: line 11: NetworkPolicy shop/web: unknown field spec.egress[0].too ignored (a typo, or a field this version of redline does not know)",
				"np.yaml: line 14: NetworkPolicy shop/web: unknown field spec.egress[0].ports[0].protocl ignored (a typo, or a field this version of redline does not know)",
			},
		},
		{
			name:  "unknown field in a JSON List item",
			files: map[string]string{"l.json": "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n  {\"apiVersion\": \"v1\", \"kind\": \"Namespace\",\n   \"metadata\": {\"name\": \"shop\", \"lables\": {}}}\n]}\n"},
			paths: []string{"l.json"},
			want:  []string{"ns shop kubernetes.io/metadata.name=shop"},
			warnings: []string{
				"l.json: line 3: Namespace shop: unknown field metadata.lables ignored (a typo, or a field this version of redline does not know)",
			},
		},
		{
			name:     "objects with only generateName are skipped",
			files:    map[string]string{"job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\nspec:\n  template:\n    spec: {containers: [{name: m, image: m}], restartPolicy: Never}\n"},
			want:     []string{},
			warnings: []string{"job.yaml: line 1: Job migrate-*: skipped: it has only metadata.generateName, its name is chosen when it is created"},
		},

		{
			name:  "names from the input cannot break messages over lines",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: \"Config\\nMap\\u2028\"\nmetadata: {name: \"a\\rb\"}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, \"lab\\nels\": {}}\n"},
			want:  []string{"ns x kubernetes.io/metadata.name=x"},
			warnings: []string{
				`a.yaml: line 1: Config\nMap\u2028 a\rb: kind Config\nMap\u2028 skipped: not used for network analysis`,
				`a.yaml: line 7: Namespace x: unknown field metadata.lab\nels ignored (a typo, or a field this version of redline does not know)`,
			},
		},
		{
			name:     "long names are shortened in messages",
			files:    map[string]string{"a.yaml": "apiVersion: v1\nkind: " + strings.Repeat("K", 300) + "\n"},
			want:     []string{},
			warnings: []string{"a.yaml: line 1: " + strings.Repeat("K", 256) + "…: kind " + strings.Repeat("K", 256) + "… skipped: not used for network analysis"},
		},

		// Errors.
		{
			name:  "malformed YAML: the error names the file line",
			files: map[string]string{"ns.yaml": nsShop, "bad.yaml": nsShop + "---\n" + deployWeb + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   namespace: shop\n"},
			paths: []string{"ns.yaml", "bad.yaml"},
			err:   "bad.yaml: line 31: invalid YAML: mapping values are not allowed in this context",
		},
		{
			name:  "malformed YAML in a flow mapping",
			files: map[string]string{"bad.yaml": "# c\n\n{apiVersion: v1, kind: Namespace,\n metadata: {name: x}\n"},
			err:   "bad.yaml: line 4: invalid YAML: did not find expected ',' or '}'",
		},
		{
			name:  "tab indentation",
			files: map[string]string{"bad.yaml": nsShop + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n"},
			err:   "bad.yaml: line 11: invalid YAML: found character that cannot start any token",
		},
		{
			name:  "malformed JSON: the error names the file line",
			files: map[string]string{"bad.json": "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"x\",}\n}\n"},
			paths: []string{"bad.json"},
			err:   "bad.json: line 4: invalid JSON: invalid character '}' looking for beginning of object key string",
		},
		{
			name:  "malformed JSON on stdin that is no YAML either: the JSON error",
			stdin: "{\"apiVersion\": \"v1\",\n \"kind\": \"Namespace\",\n \"metadata\": {\"name\": \"x\"]}\n",
			paths: []string{"-"},
			err:   "stdin: line 3: invalid JSON: invalid character ']' after object key:value pair",
		},
		{
			name:  "truncated JSON",
			files: map[string]string{"bad.json": podJSON + "{\"apiVersion\": \"v1\",\n"},
			paths: []string{"bad.json"},
			err:   "bad.json: line 8: invalid JSON: unexpected end of input",
		},
		{
			name: "wrong field type: the line of the bad value",
			files: map[string]string{"np.yaml": policyDeny + `  ingress:
  - ports:
    - port: 80
    - port: [1]
`},
			err: "np.yaml: line 11: NetworkPolicy shop/deny: spec.ingress.ports.port: expected an integer or a name, got a list",
		},
		{
			name:  "wrong field type: a number where a label value (string) goes",
			files: map[string]string{"d.yaml": nsShop + "---\n" + strings.Replace(deployWeb, "labels: {app: web}", "labels:\n        app: web\n        version: 2", 1)},
			err:   "d.yaml: line 20: Deployment shop/web: spec.template.metadata.labels: expected a string, got a number",
		},
		{
			name:  "wrong field type in a JSON List item",
			files: map[string]string{"l.json": "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n" + podJSON + ",\n{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\"},\n \"spec\": {\"ports\": [{\"port\": \"80\"}]}}]}"},
			paths: []string{"l.json"},
			err:   "l.json: line 10: Service default/s: spec.ports.port: expected an integer (int32), got a string",
		},
		{
			name:  "number out of range",
			files: map[string]string{"p.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 99999999999\n"},
			err:   "p.yaml: line 8: Pod default/p: spec.containers.ports.containerPort: expected an integer (int32), got the number 99999999999",
		},
		{
			name:  "document without kind",
			files: map[string]string{"a.yaml": nsShop + "---\n\napiVersion: v1\nmetadata: {name: x}\n"},
			err:   "a.yaml: line 9: document has no kind: every Kubernetes object needs one",
		},
		{
			name:  "document without apiVersion",
			files: map[string]string{"a.yaml": "kind: Namespace\nmetadata: {name: x}\n"},
			err:   "a.yaml: line 1: Namespace x: no apiVersion: every Kubernetes object needs one",
		},
		{
			name:  "not a Kubernetes manifest",
			files: map[string]string{"Chart.yaml": "# a Helm chart\nname: shop\nversion: 1.0.0\n"},
			paths: []string{"Chart.yaml"},
			err:   "Chart.yaml: line 2: document has no apiVersion and kind: every Kubernetes object needs both (is this a Kubernetes manifest?)",
		},
		{
			name:  "document that is not a mapping",
			files: map[string]string{"a.yaml": nsShop + "---\n- a\n- b\n"},
			err:   "a.yaml: line 8: document is a list, not a Kubernetes object",
		},
		{
			name:  "List item that is not a mapping",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(nsShop), "\n", "\n  ") + "\n- just a string\n"},
			err:   "a.yaml: line 10: items[1] is a string, not a Kubernetes object",
		},
		{
			name:  "List items that are not a list",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems:\n  a: b\n"},
			err:   "a.yaml: line 4: List: items must be a list of objects",
		},
		{
			name:  "kind of the wrong type",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: [Namespace]\n"},
			err:   "a.yaml: line 2: kind: expected a string, got a list",
		},
		{
			name:  "an object defined twice, in two files",
			files: map[string]string{"a.yaml": nsShop + "---\n" + deployWeb, "b.yaml": deployWeb},
			paths: []string{"a.yaml", "b.yaml"},
			err:   "b.yaml: line 1: Deployment shop/web: defined twice: first at a.yaml: line 8; keep one of them",
		},
		{
			name:  "defined twice, once in a List; default namespace applied",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: default}\n"},
			err:   "a.yaml: line 10: Pod default/p: defined twice: first at a.yaml: line 1; keep one of them",
		},
		{
			name:  "duplicate YAML key",
			files: map[string]string{"a.yaml": nsShop + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n"},
			err:   "a.yaml: line 12: invalid YAML: duplicate key \"name\": each key may appear once in a mapping",
		},
		{
			name:  "duplicate key next to a merge key",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - &c {name: a, image: a}\n  - <<: *c\n    name: b\n    image: b\n    name: c\n"},
			err:   "a.yaml: line 10: invalid YAML: duplicate key \"name\"",
		},
		{
			name:  "duplicate JSON field",
			files: map[string]string{"a.json": "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\",\n \"metadata\": {\"name\": \"a\",\n  \"name\": \"b\"}}"},
			paths: []string{"a.json"},
			err:   "a.json: line 3: Namespace b: duplicate field metadata.name: each field may appear once",
		},
		{
			name:  "object without name",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: shop\n"},
			err:   "a.yaml: line 1: Service: metadata.name is missing: every object needs a name",
		},
		{
			name:  ".inf cannot be JSON",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\nspec: .inf\n"},
			err:   "a.yaml: line 1: invalid YAML: value +Inf cannot be represented in JSON",
		},
		{
			name:  "UTF-16 is refused",
			files: map[string]string{"a.yaml": "\xff\xfea\x00:\x00"},
			err:   "a.yaml: line 1: UTF-16 text is not supported: convert the file to UTF-8",
		},
		{
			name:  "a missing file",
			paths: []string{"nope.yaml"},
			err:   "read manifests: stat nope.yaml: no such file or directory",
		},
		{
			name:  "an empty path",
			paths: []string{""},
			err:   "empty path given",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			paths := tc.paths
			if paths == nil {
				paths = []string{"all.yaml"}
				for name := range tc.files {
					paths = []string{name}
				}
			}
			inv, err := loadIn(t, tc.files, tc.stdin, paths, LoadOptions{})
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadFiles: %v", err)
			}
			if tc.want != nil {
				diffLines(t, "inventory", summary(inv), tc.want)
			}
			diffLines(t, "warnings", inv.Warnings, tc.warnings)
		})
	}
}

// Policies come back complete: namespace filled in, apiVersion and kind set
// even for items of a typed List.
func TestPoliciesComplete(t *testing.T) {
	inv, err := loadString(t, `{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": [{"metadata": {"name": "a"}, "spec": {"podSelector": {}}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	p := inv.Policies[0]
	if p.APIVersion != "networking.k8s.io/v1" || p.Kind != "NetworkPolicy" || p.Namespace != "default" || p.Name != "a" {
		t.Fatalf("policy %s %s %s/%s", p.APIVersion, p.Kind, p.Namespace, p.Name)
	}
}

func TestLoadFilesNoPaths(t *testing.T) {
	if _, err := LoadFiles(context.Background(), nil, LoadOptions{}); !errors.Is(err, ErrNoPaths) {
		t.Fatalf("err = %v, want ErrNoPaths", err)
	}
}

func TestLoadFilesCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := LoadFiles(ctx, []string{"-"}, LoadOptions{Stdin: strings.NewReader(nsShop)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A bad document anywhere means no inventory, even when everything before
// it loaded.
func TestLoadFilesNothingHalfLoaded(t *testing.T) {
	inv, err := loadIn(t, map[string]string{"a.yaml": nsShop + "---\n" + deployWeb, "z.yaml": "kind: [\n"}, "", []string{"a.yaml", "z.yaml"}, LoadOptions{})
	if err == nil || inv != nil {
		t.Fatalf("got inventory %v and error %v, want only an error", inv, err)
	}
	var me *ManifestError
	if !errors.As(err, &me) || me.Source != "z.yaml" || me.Line != 1 {
		t.Fatalf("error %#v, want a ManifestError for z.yaml line 1", err)
	}
}

func TestSizeLimits(t *testing.T) {
	big := func(n int) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: " + strings.Repeat("x", n) + "\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		stdin string
		paths []string
		opts  LoadOptions
		err   string
	}{
		{
			name:  "a document over the default 16 MiB",
			files: map[string]string{"a.yaml": nsShop + "---\n" + big(17<<20)},
			paths: []string{"a.yaml"},
			err:   "a.yaml: line 8: document is 17.0 MiB, over the 16 MiB limit for one object",
		},
		{
			name:  "a JSON document over the limit",
			files: map[string]string{"a.json": podJSON + podJSON},
			paths: []string{"a.json"},
			opts:  LoadOptions{MaxDocumentBytes: 100},
			err:   "a.json: line 1: document is 187 bytes, over the 100 bytes limit",
		},
		{
			name:  "a file over the limit",
			files: map[string]string{"a.yaml": nsShop + "---\n" + deployWeb},
			paths: []string{"a.yaml"},
			opts:  LoadOptions{MaxFileBytes: 200},
			err:   "a.yaml: larger than the 200 bytes limit for one file: split it into smaller files",
		},
		{
			name:  "stdin over the limit",
			stdin: nsShop + "---\n" + deployWeb,
			paths: []string{"-"},
			opts:  LoadOptions{MaxFileBytes: 200},
			err:   "stdin: larger than the 200 bytes limit for one file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadIn(t, tc.files, tc.stdin, tc.paths, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want it to contain %q", err, tc.err)
			}
		})
	}
}

// The inventory does not depend on how objects are spread over files or in
// which order the files are given.
func TestLoadFilesOrderIndependent(t *testing.T) {
	files := map[string]string{
		"a.yaml": nsShop + "---\n" + policyDeny,
		"b.yaml": deployWeb + "---\n" + strings.ReplaceAll(deployWeb, "web", "api"),
		"c.json": podJSON,
	}
	first, err := loadIn(t, files, "", []string{"a.yaml", "b.yaml", "c.json"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadIn(t, files, "", []string{"c.json", "b.yaml", "a.yaml"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "inventories", summary(second), summary(first))
}
