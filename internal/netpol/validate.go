package netpol

import (
	"errors"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// ErrInvalidPolicy is matched (errors.Is) by every *InvalidPolicyError.
var ErrInvalidPolicy = errors.New("invalid NetworkPolicy")

// InvalidPolicyError is a NetworkPolicy the API server would refuse to
// create. Errs holds one entry per problem, with JSON field paths
// ("spec.ingress[0].ports[1].endPort") exactly as the API server reports
// them in status.details.causes.
type InvalidPolicyError struct {
	Namespace string
	Name      string
	Errs      field.ErrorList
}

// Error gives one line per problem, each naming the policy, so that a line
// copied out of a log still says which policy it is about.
func (e *InvalidPolicyError) Error() string {
	ref := "networkpolicy " + e.Name
	if e.Namespace != "" {
		ref = "networkpolicy " + e.Namespace + "/" + e.Name
	}
	if len(e.Errs) == 0 {
		return ref + ": invalid"
	}
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		lines[i] = ref + ": " + fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalidPolicy) work without errors.As.
func (e *InvalidPolicyError) Is(target error) bool { return target == ErrInvalidPolicy }

// Unwrap exposes each *field.Error, for callers that look for one path.
func (e *InvalidPolicyError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		out[i] = fe
	}
	return out
}

// ValidationError turns the result of Validate into an error: nil when errs
// is empty, an *InvalidPolicyError naming the policy otherwise.
func ValidationError(np *networkingv1.NetworkPolicy, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	e := &InvalidPolicyError{Name: "(unnamed)", Errs: errs}
	if np != nil {
		e.Namespace = np.Namespace
		switch {
		case np.Name != "":
			e.Name = np.Name
		case np.GenerateName != "":
			e.Name = np.GenerateName + "*"
		}
	}
	return e
}

// Validate reports what the kube-apiserver v1.37 refuses when this
// networking.k8s.io/v1 NetworkPolicy is created: the handwritten
// ValidateNetworkPolicy of pkg/apis/networking/validation with the 1.37
// defaults (StrictIPCIDRValidation and DeclarativeValidationBeta on), in the
// same order and with the same field paths, types and messages.
//
// It validates the object as the server does on create: after the name is
// generated from generateName and generation is set. metadata.namespace is
// required, as the server fills it in from the request URL; set it before
// validating a policy read from a file. On update the server is laxer: it
// keeps accepting cidr/except values already stored in the old object, even
// ones created before strict CIDR validation.
func Validate(np *networkingv1.NetworkPolicy) field.ErrorList {
	if np == nil {
		return field.ErrorList{field.Required(field.NewPath("networkPolicy"), "got no NetworkPolicy")}
	}
	v := &validator{}
	errs := v.objectMeta(&np.ObjectMeta)
	if !plainSpec(&np.Spec) {
		errs = append(errs, v.spec(&np.Spec, field.NewPath("spec"))...)
	}
	// Checks migrated to declarative validation (beta, enforced in 1.37)
	// replace their handwritten twins and are appended after them.
	return append(errs, v.declarative...)
}

// validator carries the errors that come from declarative validation, which
// the API server reports after all handwritten ones.
type validator struct {
	declarative field.ErrorList
}

// validateStandardFinalizers are the finalizer names allowed without a "/".
var validateStandardFinalizers = []string{
	string(corev1.FinalizerKubernetes),
	metav1.FinalizerOrphanDependents,
	metav1.FinalizerDeleteDependents,
}

// validateGeneratedSuffix stands in for the server's five random characters
// (all of them lowercase alphanumerics, so the choice never changes the
// outcome).
const validateGeneratedSuffix = "xxxxx"

func (v *validator) objectMeta(in *metav1.ObjectMeta) field.ErrorList {
	meta := *in
	// The server prepares the object before validating: PrepareForCreate sets
	// generation, and the name is generated (base cut to 58 characters).
	meta.Generation = 1
	if meta.Name == "" && meta.GenerateName != "" {
		base := meta.GenerateName
		if len(base) > 58 {
			base = base[:58]
		}
		meta.Name = base + validateGeneratedSuffix
	}
	path := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMeta(&meta, true, apimachineryvalidation.NameIsDNSSubdomain, path)
	// core's ValidateObjectMeta adds this check on finalizer names.
	for i, f := range meta.Finalizers {
		if !strings.Contains(f, "/") && !slices.Contains(validateStandardFinalizers, f) {
			errs = append(errs, field.Invalid(path.Child("finalizers").Index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func (v *validator) spec(spec *networkingv1.NetworkPolicySpec, path *field.Path) field.ErrorList {
	errs := validateSelector(&spec.PodSelector, path.Child("podSelector"))
	for i := range spec.Ingress {
		rule := &spec.Ingress[i]
		rulePath := path.Child("ingress").Index(i)
		for j := range rule.Ports {
			errs = append(errs, validatePort(&rule.Ports[j], rulePath.Child("ports").Index(j))...)
		}
		for j := range rule.From {
			errs = append(errs, v.peer(&rule.From[j], rulePath.Child("from").Index(j))...)
		}
	}
	for i := range spec.Egress {
		rule := &spec.Egress[i]
		rulePath := path.Child("egress").Index(i)
		for j := range rule.Ports {
			errs = append(errs, validatePort(&rule.Ports[j], rulePath.Child("ports").Index(j))...)
		}
		for j := range rule.To {
			errs = append(errs, v.peer(&rule.To[j], rulePath.Child("to").Index(j))...)
		}
	}

	allowed := []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}
	// Duplicates ("Ingress", "Ingress") pass; only the count is capped.
	if len(spec.PolicyTypes) > len(allowed) {
		return append(errs, field.Invalid(path.Child("policyTypes"), &spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		if !slices.Contains(allowed, string(t)) {
			errs = append(errs, field.NotSupported(path.Child("policyTypes").Index(i), t, allowed))
		}
	}
	return errs
}

// plainSpec reports whether a spec is of the plain kind no check can fault:
// selectors of valid matchLabels only, peers of one or two of them, ports
// of a known protocol and a valid number (or none), valid policyTypes. Most
// specs are (every generated one without ipBlocks is); they skip the
// field-path bookkeeping of the full check, which cost more than the
// checks. TestPlainSpecIsValid holds it to never pass a spec the full
// check faults.
func plainSpec(spec *networkingv1.NetworkPolicySpec) bool {
	if !plainSelector(&spec.PodSelector) || len(spec.PolicyTypes) > 2 {
		return false
	}
	for _, t := range spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			return false
		}
	}
	rule := func(ports []networkingv1.NetworkPolicyPort, peers []networkingv1.NetworkPolicyPeer) bool {
		for i := range ports {
			p := &ports[i]
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP && *p.Protocol != corev1.ProtocolUDP && *p.Protocol != corev1.ProtocolSCTP {
				return false
			}
			if p.EndPort != nil || p.Port != nil && (p.Port.Type != intstr.Int || p.Port.IntVal < 1 || p.Port.IntVal > 65535) {
				return false
			}
		}
		for i := range peers {
			p := &peers[i]
			if p.IPBlock != nil || p.PodSelector == nil && p.NamespaceSelector == nil ||
				p.PodSelector != nil && !plainSelector(p.PodSelector) || p.NamespaceSelector != nil && !plainSelector(p.NamespaceSelector) {
				return false
			}
		}
		return true
	}
	for i := range spec.Ingress {
		if !rule(spec.Ingress[i].Ports, spec.Ingress[i].From) {
			return false
		}
	}
	for i := range spec.Egress {
		if !rule(spec.Egress[i].Ports, spec.Egress[i].To) {
			return false
		}
	}
	return true
}

// plainSelector: matchLabels only, every key and value valid.
func plainSelector(sel *metav1.LabelSelector) bool {
	if len(sel.MatchExpressions) > 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if !IsLabelKey(k) || !IsLabelValue(v) {
			return false
		}
	}
	return true
}

// validateSelector is metav1validation.ValidateLabelSelector with the
// matchLabels keys visited in sorted order, so that the output is stable
// (upstream ranges over the map).
func validateSelector(sel *metav1.LabelSelector, path *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	var errs field.ErrorList
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := sel.MatchLabels[k]
		if IsLabelKey(k) && IsLabelValue(v) {
			continue // the common case, without upstream's regular expressions
		}
		errs = append(errs, metav1validation.ValidateLabels(map[string]string{k: v}, path.Child("matchLabels"))...)
	}
	opts := metav1validation.LabelSelectorValidationOptions{}
	for i, req := range sel.MatchExpressions {
		errs = append(errs, metav1validation.ValidateLabelSelectorRequirement(req, opts, path.Child("matchExpressions").Index(i))...)
	}
	return errs
}

func validatePort(port *networkingv1.NetworkPolicyPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	// An absent protocol is defaulted to TCP; an empty string is not.
	if p := port.Protocol; p != nil && *p != corev1.ProtocolTCP && *p != corev1.ProtocolUDP && *p != corev1.ProtocolSCTP {
		errs = append(errs, field.NotSupported(path.Child("protocol"), *p, []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}))
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		for _, msg := range utilvalidation.IsValidPortNum(int(port.Port.IntVal)) {
			errs = append(errs, field.Invalid(path.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range utilvalidation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, msg))
			}
		}
	default:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(path.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range utilvalidation.IsValidPortName(port.Port.StrVal) {
			errs = append(errs, field.Invalid(path.Child("port"), port.Port.StrVal, msg))
		}
	}
	return errs
}

func (v *validator) peer(peer *networkingv1.NetworkPolicyPeer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		errs = append(errs, validateSelector(peer.PodSelector, path.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		errs = append(errs, validateSelector(peer.NamespaceSelector, path.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		errs = append(errs, v.ipBlock(peer.IPBlock, path.Child("ipBlock"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(path, "must specify a peer"))
	case n > 1 && peer.IPBlock != nil:
		errs = append(errs, field.Forbidden(path, "may not specify both ipBlock and another peer"))
	}
	return errs
}

// validateStrictCIDR mirrors the StrictIPCIDRValidation feature gate, on by
// default since 1.36: no leading zeros, no IPv4-mapped IPv6, no host bits.
const validateStrictCIDR = true

func (v *validator) ipBlock(ipb *networkingv1.IPBlock, path *field.Path) field.ErrorList {
	if ipb.CIDR == "" {
		// +k8s:required on cidr: the declarative error replaces the
		// handwritten one and comes last.
		v.declarative = append(v.declarative, field.Required(path.Child("cidr"), ""))
		return nil
	}
	errs := utilvalidation.IsValidCIDRForLegacyField(path.Child("cidr"), ipb.CIDR, validateStrictCIDR, nil)
	// The sloppy parser accepts what the strict check flags (leading zeros,
	// host bits), so except is still compared against such a cidr.
	_, cidr, err := netutils.ParseCIDRSloppy(ipb.CIDR)
	if err != nil {
		return errs
	}
	cidrLen, _ := cidr.Mask.Size()
	for i, s := range ipb.Except {
		exceptPath := path.Child("except").Index(i)
		errs = append(errs, utilvalidation.IsValidCIDRForLegacyField(exceptPath, s, validateStrictCIDR, nil)...)
		_, except, err := netutils.ParseCIDRSloppy(s)
		if err != nil {
			continue
		}
		exceptLen, _ := except.Mask.Size()
		// Mask.Size of an IPv6 except under an IPv4 cidr (or the reverse)
		// does not matter: Contains is false across families.
		if !cidr.Contains(except.IP) || cidrLen >= exceptLen {
			errs = append(errs, field.Invalid(exceptPath, s, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}
