package flow

import corev1 "k8s.io/api/core/v1"

// Kubernetes is the protocol as NetworkPolicies name it; ok is false for
// protocols policies cannot name (ICMP, unknown).
func (p Protocol) Kubernetes() (proto corev1.Protocol, ok bool) {
	switch p {
	case ProtocolTCP:
		return corev1.ProtocolTCP, true
	case ProtocolUDP:
		return corev1.ProtocolUDP, true
	case ProtocolSCTP:
		return corev1.ProtocolSCTP, true
	}
	return "", false
}
