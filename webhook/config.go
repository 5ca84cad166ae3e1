package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/redline-dev/redline/internal/netpol"
)

// TimeoutSeconds is the API server's timeout for one call; Options.Budget
// stays below it.
const TimeoutSeconds = 3

// ConfigurationName is the name of Redline's ValidatingWebhookConfiguration.
const ConfigurationName = "redline"

// ConfigOptions describe where the webhook is served.
type ConfigOptions struct {
	// ServiceName and ServiceNamespace name the webhook's Service
	// (defaults "redline" and Options.Namespace).
	ServiceName      string
	ServiceNamespace string
	ServicePort      int32 // default 443
	// CABundle is the CA that signed the serving certificate (the
	// certificate rotator fills it in a cluster).
	CABundle []byte
	// FailurePolicy defaults to Ignore: an unavailable Redline never
	// blocks the cluster.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// URL, if set, is where the API server calls instead of the Service,
	// each webhook's path appended (https://localhost:9443 for a Redline
	// outside the cluster: `redline dev`, tests).
	URL string
}

// Configuration is the ValidatingWebhooks of a Validator with opts, for a
// caller that has no Validator (a development environment, a test of the
// chart).
func Configuration(opts Options, c ConfigOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return validatingWebhooks(opts, c), nil
}

// ValidatingWebhooks is the configuration that sends Redline its requests:
// NetworkPolicy CREATE, UPDATE and DELETE and Namespace UPDATE, with
// failurePolicy Ignore, a 3 s timeout and sideEffects None (dry-run
// requests are welcome: they have no side effects), leaving out the exempt
// namespaces by their kubernetes.io/metadata.name label (the handlers
// exempt them too).
func (v *Validator) ValidatingWebhooks(c ConfigOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	return validatingWebhooks(v.opts, c)
}

func validatingWebhooks(opts Options, c ConfigOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceAccount
	}
	if c.ServiceNamespace == "" {
		c.ServiceNamespace = opts.Namespace
	}
	if c.ServicePort == 0 {
		c.ServicePort = 443
	}
	if c.FailurePolicy == "" {
		c.FailurePolicy = admissionregistrationv1.Ignore
	}
	notExempt := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: netpol.NamespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: opts.exempt(),
	}}}
	hook := func(name, path string, rule admissionregistrationv1.RuleWithOperations) admissionregistrationv1.ValidatingWebhook {
		client := admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{
				Namespace: c.ServiceNamespace, Name: c.ServiceName, Path: ptr.To(path), Port: ptr.To(c.ServicePort),
			},
			CABundle: c.CABundle,
		}
		if c.URL != "" {
			client = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(c.URL + path), CABundle: c.CABundle}
		}
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            client,
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule},
			FailurePolicy:           ptr.To(c.FailurePolicy),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       notExempt.DeepCopy(),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook("networkpolicies.redline.io", PathNetworkPolicy, admissionregistrationv1.RuleWithOperations{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"},
					Resources: []string{"networkpolicies"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}),
			hook("namespaces.redline.io", PathNamespace, admissionregistrationv1.RuleWithOperations{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"namespaces"}, Scope: ptr.To(admissionregistrationv1.ClusterScope),
				},
			}),
		},
	}
}
