// Package webhook is Redline's admission webhook: it shows (warn) or blocks
// (enforce) NetworkPolicy changes and Namespace relabels that would cut
// connections observed in the cluster — the connections a topology view
// would draw in red.
//
// A Validator holds what both admitted kinds share: the cluster view, the
// edge source, the Rego decider, a cache of impact analyzers (one per
// cluster snapshot), the evaluation semaphore and the metrics. Each kind has
// one small admission.Handler (NetworkPolicyHandler, NamespaceHandler),
// wrapped by a chain of decorators that each do one thing (STYLE.md rule 2),
// outermost first:
//
//	withMetrics     redline_admission_* for every request, exempt ones included
//	withRecover     a panic becomes an allowed response with a warning, logged
//	withExemptions  Redline's namespace, kube-system, ExemptNamespaces and
//	                Redline's own service account are allowed untouched
//	withSemaphore   at most MaxConcurrent evaluations; waiting gives up with
//	                the request's context or the budget, allowing with a warning
//	withDryRun      the decision's Event, for requests that are not dry-run
//
// Safety: the webhook fails open. The configuration (ValidatingWebhooks)
// says failurePolicy Ignore and a 3 s timeout; inside it, the impact gets
// Options.Budget (2 s) from the start of the request, after which the
// request is allowed with the warning "impact not computed in time:
// allowed" (from the Rego policies, whatever the mode). Unknown impact (no
// flow data, store down, caches not synced) never blocks either.
//
// Register serves the handlers on a controller-runtime webhook.Server at
// PathNetworkPolicy and PathNamespace, behind a strict AdmissionReview
// decoder that answers malformed requests with HTTP 400.
package webhook
