package flow

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestProtocolKubernetes(t *testing.T) {
	for p, want := range map[Protocol]corev1.Protocol{ProtocolTCP: corev1.ProtocolTCP, ProtocolUDP: corev1.ProtocolUDP, ProtocolSCTP: corev1.ProtocolSCTP} {
		if got, ok := p.Kubernetes(); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", p, got, ok, want)
		}
	}
	for _, p := range []Protocol{ProtocolUnknown, ProtocolSCTP + 1} {
		if got, ok := p.Kubernetes(); ok {
			t.Errorf("%s: %q, want none: policies cannot name it", p, got)
		}
	}
}
