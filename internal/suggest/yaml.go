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

// YAMLString is YAML as a string, without the copy string(YAML(p)) makes.
func YAMLString(p *networkingv1.NetworkPolicy) (string, error) { return yamlString(p, nil) }

// YAMLString is the package's YAMLString for a policy suggested with the
// Lookup: the peers it shares with other suggestions (a workload's pods
// from the subject's namespace or from another one) are written once per
// Lookup and copied after — visiting their label maps, scattered over the
// heap, cost an audit pass more than writing them.
func (l *Lookup) YAMLString(p *networkingv1.NetworkPolicy) (string, error) {
	return yamlString(p, l.fragments)
}

func yamlString(p *networkingv1.NetworkPolicy, fragments map[*networkingv1.NetworkPolicyPeer]*[]byte) (string, error) {
	if p == nil {
		return "", fmt.Errorf("render policy: no policy")
	}
	if out, ok := typedPolicyYAMLAs(p, func(b []byte) string { return string(b) }, fragments); ok {
		return out, nil
	}
	out, err := treeYAML(p)
	return string(out), err
}

// treeYAML renders a policy through its JSON tree: encoding/json decides
// which fields are written, fastYAML (or sigs.k8s.io/yaml) writes them.
func treeYAML(p *networkingv1.NetworkPolicy) ([]byte, error) {
	obj, err := jsonTreeOf(p)
	if err != nil {
		return nil, err
	}
	if out, ok := fastYAML(obj); ok {
		return out, nil
	}
	if out, ok := stableYAML(obj); ok {
		return out, nil
	}
	// (For a map whose keys yaml.v2 has no one order for, beside a string
	// our writers are unsure of, this writes differently from run to run.)
	out, err := yaml.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("render policy %s/%s: %w", p.Namespace, p.Name, err)
	}
	return out, nil
}

// jsonTreeOf is the policy's JSON tree, as kubectl would print it.
func jsonTreeOf(p *networkingv1.NetworkPolicy) (map[string]any, error) {
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
	return obj, nil
}
