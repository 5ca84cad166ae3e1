package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
)

// PathNamespace is where the Namespace handler is served.
const PathNamespace = "/validate-namespace"

// NamespaceHandler validates Namespace UPDATEs that change labels: a
// relabel changes which namespaceSelectors pick the namespace, so it can
// turn observed connections red too. The mode is the one the namespace
// has before the change (removing redline.io/mode=enforce in the same
// relabel does not escape it).
func (v *Validator) NamespaceHandler() admission.Handler {
	return v.handlerChain("Namespace", admission.HandlerFunc(v.handleNamespace))
}

func (v *Validator) handleNamespace(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != "" || req.Kind.Kind != "Namespace" {
		return admission.Allowed("not a Namespace: not evaluated")
	}
	if req.Operation != "UPDATE" {
		return admission.Allowed("")
	}
	oldNS, err := decodeNamespace(req.OldObject.Raw)
	if err != nil {
		return unreadable(ctx, "oldObject", err)
	}
	newNS, err := decodeNamespace(req.Object.Raw)
	if err != nil {
		return unreadable(ctx, "object", err)
	}
	if oldNS == nil || newNS == nil {
		return unreadable(ctx, "object", fmt.Errorf("UPDATE without the old and new Namespace"))
	}
	if maps.Equal(oldNS.Labels, newNS.Labels) {
		return admission.Allowed("labels unchanged")
	}
	relabel := impact.NamespaceRelabel{Name: newNS.Name, OldLabels: nonNil(oldNS.Labels), NewLabels: nonNil(newNS.Labels)}
	return v.decide(ctx, req, subject{
		namespace: newNS.Name,
		labels:    oldNS.Labels,
		object:    newNS,
		analyze: func(ctx context.Context, a *impact.Analyzer, edges []flow.Edge) (impact.Impact, error) {
			return a.NamespaceRelabel(ctx, relabel, edges)
		},
	})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func decodeNamespace(raw []byte) (*corev1.Namespace, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	ns := &corev1.Namespace{}
	if err := json.Unmarshal(raw, ns); err != nil {
		return nil, fmt.Errorf("decode Namespace: %w", err)
	}
	ns.APIVersion, ns.Kind = "v1", "Namespace"
	return ns, nil
}
