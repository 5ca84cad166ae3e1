package suggest

import (
	"encoding/json"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// YAML renders a policy as kubectl would print it for apply: apiVersion and
// kind first, keys sorted, no status, no creationTimestamp.
//
// The audit renders a policy for every workload on every pass, so the
// common policy is written straight from its fields (typedPolicyYAML);
// anything that emitter is not sure of goes the way of the JSON tree
// (treeYAML), which it is tested to match byte for byte.
func YAML(p *networkingv1.NetworkPolicy) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("render policy: no policy")
	}
	if out, ok := typedPolicyYAML(p); ok {
		return out, nil
	}
	return treeYAML(p)
}

// treeYAML renders a policy through its JSON tree: encoding/json decides
// which fields are written, fastYAML (or sigs.k8s.io/yaml) writes them.
func treeYAML(p *networkingv1.NetworkPolicy) ([]byte, error) {
	// A shallow copy: only the type fields change, and marshalling reads.
	cp := *p
	cp.APIVersion, cp.Kind = "networking.k8s.io/v1", "NetworkPolicy"
	raw, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("render policy %s/%s: %w", p.Namespace, p.Name, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("render policy %s/%s: %w", p.Namespace, p.Name, err)
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if out, ok := fastYAML(obj); ok {
		return out, nil
	}
	if out, ok := stableYAML(obj); ok {
		return out, nil
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("render policy %s/%s: %w", p.Namespace, p.Name, err)
	}
	return out, nil
}
