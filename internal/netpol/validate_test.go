package netpol

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWant is one expected problem: its type and JSON field path.
type validateWant struct {
	typ  field.ErrorType
	path string
}

func (w validateWant) String() string { return string(w.typ) + " " + w.path }

func validInvalid(path string) validateWant  { return validateWant{field.ErrorTypeInvalid, path} }
func validRequired(path string) validateWant { return validateWant{field.ErrorTypeRequired, path} }
func validForbidden(path string) validateWant {
	return validateWant{field.ErrorTypeForbidden, path}
}
func validNotSupported(path string) validateWant {
	return validateWant{field.ErrorTypeNotSupported, path}
}

type validateCase struct {
	name string
	np   *networkingv1.NetworkPolicy
	want []validateWant // nil: the policy is valid
}

// validatePolicy is shop/web-allow selecting app=web, changed by mut.
func validatePolicy(mut func(np *networkingv1.NetworkPolicy)) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-allow"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if mut != nil {
		mut(np)
	}
	return np
}

// validateFrom is a policy with one ingress rule from these peers.
func validateFrom(peers ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	return validatePolicy(func(np *networkingv1.NetworkPolicy) {
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: peers}}
	})
}

// validateTo is an egress-only policy with one rule to these peers.
func validateTo(peers ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	return validatePolicy(func(np *networkingv1.NetworkPolicy) {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: peers}}
	})
}

// validatePorts is a policy with one ingress rule on these ports.
func validatePorts(ports ...networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	return validatePolicy(func(np *networkingv1.NetworkPolicy) {
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: ports}}
	})
}

// validateSelecting is a policy whose spec.podSelector is sel.
func validateSelecting(sel metav1.LabelSelector) *networkingv1.NetworkPolicy {
	return validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.PodSelector = sel })
}

func validateIPBlock(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func validatePodPeer(lbls map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: lbls}}
}

func validateNumPort(proto corev1.Protocol, port int32, end ...int32) networkingv1.NetworkPolicyPort {
	p := networkingv1.NetworkPolicyPort{Port: new(intstr.FromInt32(port))}
	if proto != "" {
		p.Protocol = new(proto)
	}
	if len(end) > 0 {
		p.EndPort = new(end[0])
	}
	return p
}

func validateNamedPort(name string) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: new(intstr.FromString(name))}
}

func validateExpr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

const (
	validateFrom0  = "spec.ingress[0].from[0]"
	validateTo0    = "spec.egress[0].to[0]"
	validatePorts0 = "spec.ingress[0].ports[0]"
	validateBlock0 = validateFrom0 + ".ipBlock"
)

// validateCases is the table shared by the pure test and the API server
// test. It builds fresh objects on each call, so tests may mutate them.
func validateCases() []validateCase {
	tcp, udp, sctp := corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP
	ingress, egress := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	return []validateCase{
		// Valid policies.
		{name: "valid default deny ingress", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector = metav1.LabelSelector{}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress}
		})},
		{name: "valid default deny both directions", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, egress}
		})},
		{name: "valid full policy", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Labels = map[string]string{"team": "shop"}
			np.Annotations = map[string]string{"redline.dev/reason": "least privilege"}
			np.Spec.PodSelector = metav1.LabelSelector{
				MatchLabels: map[string]string{"app": "web", "tier": "front"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}},
					{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
				},
			}
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "gateway"}},
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "edge"}},
					},
					validateIPBlock("192.168.0.0/16", "192.168.1.0/24", "192.168.2.128/25"),
				},
				Ports: []networkingv1.NetworkPolicyPort{
					validateNumPort(tcp, 8080),
					{Protocol: &udp, Port: new(intstr.FromString("dns"))},
					validateNumPort(sctp, 30000, 32767),
				},
			}}
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{validateIPBlock("0.0.0.0/0", "169.254.169.254/32")}},
				{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}},
			}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, egress}
		})},
		{name: "valid IPv6 ipBlock with except", np: validateFrom(validateIPBlock("2001:db8::/32", "2001:db8:1::/48"))},
		{name: "valid IPv6 in uppercase (non-canonical, only a warning)", np: validateFrom(validateIPBlock("2001:DB8::/32"))},
		{name: "valid IPv6 with zero-padded group", np: validateFrom(validateIPBlock("2001:0db8::/32"))},
		{name: "valid whole address space in both families", np: validateTo(validateIPBlock("0.0.0.0/0"), validateIPBlock("::/0", "fd00::/8"))},
		{name: "valid single-address except", np: validateFrom(validateIPBlock("10.0.0.0/31", "10.0.0.1/32"))},
		{name: "valid duplicate policyTypes", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, ingress}
		})},
		{name: "valid empty rule allows everything", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		})},
		{name: "valid protocol without port", np: validatePorts(networkingv1.NetworkPolicyPort{Protocol: &udp})},
		{name: "valid empty port entry", np: validatePorts(networkingv1.NetworkPolicyPort{})},
		{name: "valid endPort equal to port", np: validatePorts(validateNumPort("", 443, 443))},
		{name: "valid highest port range", np: validatePorts(validateNumPort(tcp, 1, 65535))},
		{name: "valid 15-character named port", np: validatePorts(validateNamedPort("abcdefghij-1234"))},
		{name: "valid namespaceSelector and podSelector in one peer", np: validateTo(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector:       &metav1.LabelSelector{},
		})},
		{name: "valid generateName", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name, np.GenerateName = "", "web-"
		})},
		{name: "valid generateName longer than a generated name may be", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name, np.GenerateName = "", strings.Repeat("a", 70)
		})},
		{name: "valid 253-character name", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name = strings.Repeat("a", 253)
		})},
		{name: "valid qualified finalizer", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Finalizers = []string{"redline.dev/keep", "orphan"}
		})},

		// Peers.
		{name: "ingress peer with nothing set", np: validateFrom(networkingv1.NetworkPolicyPeer{}),
			want: []validateWant{validRequired(validateFrom0)}},
		{name: "egress peer with nothing set", np: validateTo(validatePodPeer(nil), networkingv1.NetworkPolicyPeer{}),
			want: []validateWant{validRequired("spec.egress[0].to[1]")}},
		{name: "ipBlock with podSelector", np: validateFrom(networkingv1.NetworkPolicyPeer{
			IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: &metav1.LabelSelector{},
		}), want: []validateWant{validForbidden(validateFrom0)}},
		{name: "ipBlock with namespaceSelector", np: validateTo(networkingv1.NetworkPolicyPeer{
			IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, NamespaceSelector: &metav1.LabelSelector{},
		}), want: []validateWant{validForbidden(validateTo0)}},
		{name: "ipBlock with both selectors reported once", np: validateFrom(networkingv1.NetworkPolicyPeer{
			IPBlock:           &networkingv1.IPBlock{CIDR: "10.0.0.0/8"},
			PodSelector:       &metav1.LabelSelector{},
			NamespaceSelector: &metav1.LabelSelector{},
		}), want: []validateWant{validForbidden(validateFrom0)}},

		// ipBlock cidr.
		{name: "ipBlock without cidr", np: validateFrom(validateIPBlock("")),
			want: []validateWant{validRequired(validateBlock0 + ".cidr")}},
		{name: "ipBlock without cidr skips except", np: validateFrom(validateIPBlock("", "not-a-cidr")),
			want: []validateWant{validRequired(validateBlock0 + ".cidr")}},
		{name: "missing cidr comes after every other problem", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{validateIPBlock("")}},
				{Ports: []networkingv1.NetworkPolicyPort{validateNumPort("", 0)}},
			}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
		}), want: []validateWant{
			validInvalid("spec.ingress[1].ports[0].port"),
			validNotSupported("spec.policyTypes[0]"),
			validRequired(validateBlock0 + ".cidr"),
		}},
		{name: "cidr prefix length too long", np: validateFrom(validateIPBlock("10.0.0.0/33")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr is not an address", np: validateFrom(validateIPBlock("shop.example.com/24")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr is a bare address", np: validateFrom(validateIPBlock("10.0.0.1")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr with host bits set", np: validateFrom(validateIPBlock("10.0.0.1/24")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr with leading zeros", np: validateFrom(validateIPBlock("010.0.0.0/8")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr with leading zero in prefix length", np: validateFrom(validateIPBlock("10.0.0.0/08")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "cidr IPv4-mapped IPv6", np: validateFrom(validateIPBlock("::ffff:10.0.0.0/104")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr")}},
		{name: "IPv6 cidr with host bits set", np: validateTo(validateIPBlock("2001:db8::1/64")),
			want: []validateWant{validInvalid("spec.egress[0].to[0].ipBlock.cidr")}},
		{name: "IPv6 cidr prefix length too long", np: validateTo(validateIPBlock("2001:db8::/129")),
			want: []validateWant{validInvalid("spec.egress[0].to[0].ipBlock.cidr")}},
		{name: "cidr with host bits still checks except", np: validateFrom(validateIPBlock("10.0.0.1/8", "11.0.0.0/16")),
			want: []validateWant{validInvalid(validateBlock0 + ".cidr"), validInvalid(validateBlock0 + ".except[0]")}},

		// ipBlock except.
		{name: "except outside cidr", np: validateFrom(validateIPBlock("10.0.0.0/16", "10.1.0.0/24")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except equal to cidr", np: validateFrom(validateIPBlock("10.0.0.0/16", "10.0.0.0/16")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except wider than cidr", np: validateFrom(validateIPBlock("10.0.0.0/16", "10.0.0.0/8")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except of another IP family", np: validateFrom(validateIPBlock("10.0.0.0/8", "2001:db8::/64")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except unparsable", np: validateFrom(validateIPBlock("10.0.0.0/8", "10.0.0.0/99")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except with host bits inside cidr", np: validateFrom(validateIPBlock("10.0.0.0/8", "10.1.0.1/16")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]")}},
		{name: "except with leading zeros outside cidr", np: validateFrom(validateIPBlock("10.0.0.0/8", "011.0.0.0/16")),
			want: []validateWant{validInvalid(validateBlock0 + ".except[0]"), validInvalid(validateBlock0 + ".except[0]")}},
		{name: "second except wrong", np: validateTo(validateIPBlock("172.16.0.0/12", "172.16.1.0/24", "172.32.0.0/16")),
			want: []validateWant{validInvalid("spec.egress[0].to[0].ipBlock.except[1]")}},
		{name: "IPv6 except outside cidr", np: validateTo(validateIPBlock("2001:db8::/32", "2001:db9::/48")),
			want: []validateWant{validInvalid("spec.egress[0].to[0].ipBlock.except[0]")}},
		{name: "IPv4 except in IPv6 cidr", np: validateTo(validateIPBlock("::/0", "10.0.0.0/8")),
			want: []validateWant{validInvalid("spec.egress[0].to[0].ipBlock.except[0]")}},

		// Ports.
		{name: "endPort without port", np: validatePorts(networkingv1.NetworkPolicyPort{Protocol: &tcp, EndPort: new(int32(90))}),
			want: []validateWant{validInvalid(validatePorts0 + ".endPort")}},
		{name: "endPort with named port", np: validatePorts(networkingv1.NetworkPolicyPort{Port: new(intstr.FromString("http")), EndPort: new(int32(90))}),
			want: []validateWant{validInvalid(validatePorts0 + ".endPort")}},
		{name: "endPort below port", np: validatePorts(validateNumPort(tcp, 8080, 8000)),
			want: []validateWant{validInvalid(validatePorts0 + ".endPort")}},
		{name: "endPort 0 is below port and out of range", np: validatePorts(validateNumPort(tcp, 80, 0)),
			want: []validateWant{validInvalid(validatePorts0 + ".endPort"), validInvalid(validatePorts0 + ".endPort")}},
		{name: "endPort above 65535", np: validatePorts(validateNumPort(tcp, 80, 65536)),
			want: []validateWant{validInvalid(validatePorts0 + ".endPort")}},
		{name: "port 0", np: validatePorts(validateNumPort(tcp, 0)),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "port 65536", np: validatePorts(validateNumPort(udp, 65536)),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "negative port in the second entry of an egress rule", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{validateNumPort(tcp, 53), validateNumPort(tcp, -53)}}}
		}), want: []validateWant{validInvalid("spec.egress[0].ports[1].port")}},
		{name: "named port too long", np: validatePorts(validateNamedPort("abcdefghij-12345")),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "named port in uppercase", np: validatePorts(validateNamedPort("Http")),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "named port uppercase without lowercase letter", np: validatePorts(validateNamedPort("HTTP")),
			want: []validateWant{validInvalid(validatePorts0 + ".port"), validInvalid(validatePorts0 + ".port")}},
		{name: "named port without letters", np: validatePorts(validateNamedPort("8080")),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "named port with consecutive hyphens", np: validatePorts(validateNamedPort("http--alt")),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "named port starting with a hyphen", np: validatePorts(validateNamedPort("-http")),
			want: []validateWant{validInvalid(validatePorts0 + ".port")}},
		{name: "named port empty", np: validatePorts(validateNamedPort("")),
			want: []validateWant{validInvalid(validatePorts0 + ".port"), validInvalid(validatePorts0 + ".port")}},
		{name: "protocol ICMP", np: validatePorts(validateNumPort("ICMP", 8)),
			want: []validateWant{validNotSupported(validatePorts0 + ".protocol")}},
		{name: "protocol in lowercase", np: validatePorts(validateNumPort("tcp", 80)),
			want: []validateWant{validNotSupported(validatePorts0 + ".protocol")}},
		{name: "protocol empty string is not defaulted", np: validatePorts(networkingv1.NetworkPolicyPort{Protocol: new(corev1.Protocol(""))}),
			want: []validateWant{validNotSupported(validatePorts0 + ".protocol")}},
		{name: "bad protocol reported before bad port", np: validatePorts(validateNumPort("ICMP", 0)),
			want: []validateWant{validNotSupported(validatePorts0 + ".protocol"), validInvalid(validatePorts0 + ".port")}},

		// Selectors.
		{name: "podSelector label key with a space", np: validateSelecting(metav1.LabelSelector{MatchLabels: map[string]string{"app name": "web"}}),
			want: []validateWant{validInvalid("spec.podSelector.matchLabels")}},
		{name: "podSelector label value with a bang", np: validateSelecting(metav1.LabelSelector{MatchLabels: map[string]string{"app": "web!"}}),
			want: []validateWant{validInvalid("spec.podSelector.matchLabels")}},
		{name: "podSelector label value too long", np: validateSelecting(metav1.LabelSelector{MatchLabels: map[string]string{"app": strings.Repeat("w", 64)}}),
			want: []validateWant{validInvalid("spec.podSelector.matchLabels")}},
		{name: "In without values", np: validateSelecting(validateExpr("app", metav1.LabelSelectorOpIn)),
			want: []validateWant{validRequired("spec.podSelector.matchExpressions[0].values")}},
		{name: "NotIn without values", np: validateSelecting(validateExpr("app", metav1.LabelSelectorOpNotIn)),
			want: []validateWant{validRequired("spec.podSelector.matchExpressions[0].values")}},
		{name: "Exists with values", np: validateSelecting(validateExpr("app", metav1.LabelSelectorOpExists, "web")),
			want: []validateWant{validForbidden("spec.podSelector.matchExpressions[0].values")}},
		{name: "unknown operator", np: validateSelecting(validateExpr("app", "Equals", "web")),
			want: []validateWant{validInvalid("spec.podSelector.matchExpressions[0].operator")}},
		{name: "In with an invalid value", np: validateSelecting(validateExpr("app", metav1.LabelSelectorOpIn, "web", "-api")),
			want: []validateWant{validInvalid("spec.podSelector.matchExpressions[0].values[1]")}},
		{name: "expression with prefixed key too long a name", np: validateSelecting(validateExpr("redline.dev/"+strings.Repeat("k", 64), metav1.LabelSelectorOpExists)),
			want: []validateWant{validInvalid("spec.podSelector.matchExpressions[0].key")}},
		{name: "peer namespaceSelector with a bad key", np: validateFrom(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team/", Operator: metav1.LabelSelectorOpExists}}},
		}), want: []validateWant{ // empty name part, and the name part fails the pattern
			validInvalid(validateFrom0 + ".namespaceSelector.matchExpressions[0].key"),
			validInvalid(validateFrom0 + ".namespaceSelector.matchExpressions[0].key"),
		}},
		{name: "egress peer podSelector In without values", np: validateTo(networkingv1.NetworkPolicyPeer{
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}},
		}), want: []validateWant{validRequired(validateTo0 + ".podSelector.matchExpressions[0].values")}},
		{name: "peer podSelector and namespaceSelector both bad", np: validateFrom(networkingv1.NetworkPolicyPeer{
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web api"}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpDoesNotExist, Values: []string{"x"}}}},
		}), want: []validateWant{
			validInvalid(validateFrom0 + ".podSelector.matchLabels"),
			validForbidden(validateFrom0 + ".namespaceSelector.matchExpressions[0].values"),
		}},

		// policyTypes.
		{name: "unknown policyType", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, "Sideways"}
		}), want: []validateWant{validNotSupported("spec.policyTypes[1]")}},
		{name: "policyType in lowercase", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"egress"}
		}), want: []validateWant{validNotSupported("spec.policyTypes[0]")}},
		{name: "three policyTypes", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, egress, ingress}
		}), want: []validateWant{validInvalid("spec.policyTypes")}},
		{name: "three policyTypes hide unknown values", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, egress, "Sideways"}
		}), want: []validateWant{validInvalid("spec.policyTypes")}},

		// Metadata.
		{name: "name with uppercase", np: validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name = "Web-Allow" }),
			want: []validateWant{validInvalid("metadata.name")}},
		{name: "name with underscore", np: validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name = "web_allow" }),
			want: []validateWant{validInvalid("metadata.name")}},
		{name: "name too long", np: validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name = strings.Repeat("a", 254) }),
			want: []validateWant{validInvalid("metadata.name")}},
		{name: "name missing", np: validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name = "" }),
			want: []validateWant{validRequired("metadata.name")}},
		{name: "generateName with uppercase", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name, np.GenerateName = "", "Web-"
		}), want: []validateWant{validInvalid("metadata.generateName"), validInvalid("metadata.name")}},
		{name: "generateName ending in a dot", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name, np.GenerateName = "", "web."
		}), want: []validateWant{validInvalid("metadata.generateName")}},
		{name: "label with a bad key", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Labels = map[string]string{"-team": "shop"}
		}), want: []validateWant{validInvalid("metadata.labels")}},
		{name: "annotation with a bad key", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Annotations = map[string]string{"redline.dev/why not": "x"}
		}), want: []validateWant{validInvalid("metadata.annotations")}},
		{name: "unqualified finalizer", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Finalizers = []string{"keep"}
		}), want: []validateWant{validInvalid("metadata.finalizers[0]")}},

		// Several problems: metadata first, then spec in document order.
		{name: "problems reported in order", np: validatePolicy(func(np *networkingv1.NetworkPolicy) {
			np.Name = "Web"
			np.Spec.PodSelector = validateExpr("app", metav1.LabelSelectorOpIn)
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{validateNumPort("ICMP", 80)},
				From:  []networkingv1.NetworkPolicyPeer{{}, validateIPBlock("10.0.0.0/16", "10.1.0.0/16")},
			}}
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{validateNamedPort("http"), {EndPort: new(int32(2))}},
				To:    []networkingv1.NetworkPolicyPeer{validateIPBlock("fd00::/8", "fd00::/8")},
			}}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{ingress, "egress"}
		}), want: []validateWant{
			validInvalid("metadata.name"),
			validRequired("spec.podSelector.matchExpressions[0].values"),
			validNotSupported("spec.ingress[0].ports[0].protocol"),
			validRequired("spec.ingress[0].from[0]"),
			validInvalid("spec.ingress[0].from[1].ipBlock.except[0]"),
			validInvalid("spec.egress[0].ports[1].endPort"),
			validInvalid("spec.egress[0].to[0].ipBlock.except[0]"),
			validNotSupported("spec.policyTypes[1]"),
		}},
	}
}

func validateGot(errs field.ErrorList) []validateWant {
	var got []validateWant
	for _, e := range errs {
		got = append(got, validateWant{e.Type, e.Field})
	}
	return got
}

func validateSame(a, b []validateWant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	for _, tc := range validateCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.np)
			if got := validateGot(errs); !validateSame(got, tc.want) {
				t.Errorf("Validate() = %v, want %v\nerrors:\n%v", got, tc.want, errs.ToAggregate())
			}
			err := ValidationError(tc.np, errs)
			if (err == nil) != (len(tc.want) == 0) {
				t.Fatalf("ValidationError() = %v, want an error: %v", err, len(tc.want) > 0)
			}
			if err == nil {
				return
			}
			var ipe *InvalidPolicyError
			if !errors.As(err, &ipe) || !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("ValidationError() = %T, not an *InvalidPolicyError matching ErrInvalidPolicy", err)
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != len(errs) {
				t.Errorf("error has %d lines for %d problems:\n%s", len(lines), len(errs), err)
			}
		})
	}
}

func TestValidateCaseCount(t *testing.T) {
	if n := len(validateCases()); n < 40 {
		t.Errorf("the validation table has %d cases, want at least 40", n)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	np := validatePolicy(func(np *networkingv1.NetworkPolicy) {
		np.Name = "deny-all"
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
			validatePodPeer(nil),
			validateIPBlock("10.0.0.0/16", "10.1.0.0/16"),
		}}}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{validateNumPort(corev1.ProtocolTCP, 80, 79)}}}
	})
	err := ValidationError(np, Validate(np))
	want := "networkpolicy shop/deny-all: spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"10.1.0.0/16\": must be a strict subset of `cidr`\n" +
		"networkpolicy shop/deny-all: spec.egress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal to `port`"
	if err == nil || err.Error() != want {
		t.Errorf("ValidationError() =\n%v\nwant\n%s", err, want)
	}

	var fe *field.Error
	if !errors.As(err, &fe) || fe.Field != "spec.ingress[0].from[1].ipBlock.except[0]" {
		t.Errorf("errors.As(*field.Error) = %v, want the first problem", fe)
	}
}

func TestValidationErrorNames(t *testing.T) {
	errs := field.ErrorList{field.Required(field.NewPath("spec"), "")}
	for _, tc := range []struct {
		np   *networkingv1.NetworkPolicy
		want string
	}{
		{validatePolicy(nil), "networkpolicy shop/web-allow: "},
		{validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name, np.GenerateName = "", "web-" }), "networkpolicy shop/web-*: "},
		{validatePolicy(func(np *networkingv1.NetworkPolicy) { np.Name, np.Namespace = "", "" }), "networkpolicy (unnamed): "},
		{nil, "networkpolicy (unnamed): "},
	} {
		err := ValidationError(tc.np, errs)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ValidationError() = %v, want prefix %q", err, tc.want)
		}
	}
	if err := ValidationError(validatePolicy(nil), nil); err != nil {
		t.Errorf("ValidationError(no problems) = %v, want nil", err)
	}
}

// TestValidateOddInput makes sure that odd objects give errors, not panics.
func TestValidateOddInput(t *testing.T) {
	for i, np := range []*networkingv1.NetworkPolicy{
		nil,
		{},
		{Spec: networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}, From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{}}}}},
			Egress:  []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{}}}}}}},
		}},
		{Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &intstr.IntOrString{Type: 7}, EndPort: new(int32(-1))}}}}}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if errs := Validate(np); len(errs) == 0 {
				t.Errorf("Validate(%v) found no problem", np)
			}
		})
	}
}

// The validation table's specs: plainSpec passes none the full check
// faults (TestPlainSpecIsValid does generated ones).
func TestPlainSpecTable(t *testing.T) {
	passed := 0
	for _, tc := range validateCases() {
		if tc.np == nil || !plainSpec(&tc.np.Spec) {
			continue
		}
		passed++
		if errs := (&validator{}).spec(&tc.np.Spec, field.NewPath("spec")); len(errs) > 0 {
			t.Errorf("%s: plainSpec passes a spec with %v", tc.name, errs.ToAggregate())
		}
	}
	if passed == 0 {
		t.Error("no table case takes the fast path")
	}
}
