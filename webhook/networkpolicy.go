package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
)

// PathNetworkPolicy is where the NetworkPolicy handler is served.
const PathNetworkPolicy = "/validate-networkpolicy"

// WarningUnreadable starts the warning of a request whose object Redline
// cannot read; it is allowed.
const WarningUnreadable = "redline: cannot read the object, change allowed without evaluation: "

// NetworkPolicyHandler validates networking.k8s.io/v1 NetworkPolicy
// CREATE, UPDATE and DELETE: the observed connections the change turns red
// become warnings (warn) or the denial (enforce).
func (v *Validator) NetworkPolicyHandler() admission.Handler {
	return v.handlerChain("NetworkPolicy", admission.HandlerFunc(v.handleNetworkPolicy))
}

func (v *Validator) handleNetworkPolicy(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != networkingv1.GroupName || req.Kind.Kind != "NetworkPolicy" {
		return admission.Allowed("not a NetworkPolicy: not evaluated")
	}
	op := impact.Operation(req.Operation)
	if op != impact.Create && op != impact.Update && op != impact.Delete {
		return admission.Allowed("")
	}
	newPolicy, err := decodePolicy(req.Object.Raw, req.Namespace)
	if err != nil {
		return unreadable(ctx, "object", err)
	}
	oldPolicy, err := decodePolicy(req.OldObject.Raw, req.Namespace)
	if err != nil {
		return unreadable(ctx, "oldObject", err)
	}
	if op == impact.Delete && oldPolicy == nil {
		oldPolicy = v.currentPolicy(req.Namespace, req.Name)
		if oldPolicy == nil {
			return admission.Allowed("policy not known: nothing to evaluate")
		}
	}
	if op != impact.Delete && newPolicy == nil {
		return unreadable(ctx, "object", fmt.Errorf("%s without the object", op))
	}
	change := impact.Change{Operation: op, Old: oldPolicy, New: newPolicy}
	if op == impact.Delete {
		change.New = nil
	}
	var object runtime.Object = newPolicy
	if newPolicy == nil || op == impact.Delete {
		object = oldPolicy
	}
	return v.decide(ctx, req, subject{
		namespace: req.Namespace,
		labels:    v.namespaceLabels(req.Namespace),
		object:    object,
		analyze: func(ctx context.Context, a *impact.Analyzer, edges []flow.Edge) (impact.Impact, error) {
			return a.PolicyChange(ctx, change, edges)
		},
	})
}

// unreadable allows a request whose object does not decode: the API server
// decoded it, so this is Redline's problem, not the user's.
func unreadable(ctx context.Context, what string, err error) admission.Response {
	outcomeOf(ctx).failedOpen = true
	return admission.Allowed("").WithWarnings(sanitize(truncateRunes(WarningUnreadable+what+": "+err.Error(), maxWarningRunes)))
}

// decodePolicy reads a NetworkPolicy (nil for an empty raw object). The
// namespace is filled in when the object leaves it out.
func decodePolicy(raw []byte, namespace string) (*networkingv1.NetworkPolicy, error) {
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return nil, nil
	}
	p := &networkingv1.NetworkPolicy{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("decode NetworkPolicy: %w", err)
	}
	if p.Namespace == "" {
		p.Namespace = namespace
	}
	p.APIVersion, p.Kind = networkingv1.SchemeGroupVersion.String(), "NetworkPolicy"
	return p, nil
}

// namespaceLabels are the labels the cluster view has for ns (nil when it
// does not know it).
func (v *Validator) namespaceLabels(ns string) map[string]string {
	snap := v.deps.Cluster.Snapshot()
	if snap == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(snap.Namespaces, ns, func(n netpol.Namespace, name string) int {
		return strings.Compare(n.Name, name)
	})
	if !ok {
		return nil
	}
	return snap.Namespaces[i].Labels
}

// currentPolicy is the cluster view's policy of that name, if any.
func (v *Validator) currentPolicy(ns, name string) *networkingv1.NetworkPolicy {
	snap := v.deps.Cluster.Snapshot()
	if snap == nil {
		return nil
	}
	for _, p := range snap.Policies {
		if p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}
