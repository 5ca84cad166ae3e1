// Package charts holds the tests of the Helm chart in charts/redline: helm
// lint and template over the values sets in testdata/values, the rendered
// objects applied with server-side dry-run to a real kube-apiserver (envtest,
// with the prometheus-operator and cert-manager CRDs from their Go modules),
// the chart's RBAC checked with SubjectAccessReviews, and the alerts checked
// and unit-tested with promtool. helm and promtool come from
// hack/build-tools.sh (`make test` builds them).
package charts
