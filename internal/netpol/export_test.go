package netpol

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// For the external tests.
var PlainSpec = plainSpec

// SpecErrors is the full check of a spec, fast path or not.
func SpecErrors(s *networkingv1.NetworkPolicySpec) field.ErrorList {
	return (&validator{}).spec(s, field.NewPath("spec"))
}
