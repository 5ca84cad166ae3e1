package netpol_test

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// ExplainBrief is Explain without the per-rule results, on generated
// clusters: the same verdicts, sides, isolating policies and reasons.
func TestExplainBriefIsExplainWithoutRules(t *testing.T) {
	protos := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	denied, allowed := 0, 0
	for seed := range uint64(8) {
		nss, wls, pols := netpoltest.GenerateCluster(seed, 6, 120, 150)
		ix, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 3))
		ep := func() netpol.Endpoint {
			if r.IntN(8) == 0 {
				return netpol.AddrEndpoint(netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(256))}))
			}
			return netpol.WorkloadEndpoint(wls[r.IntN(len(wls))])
		}
		for range 500 {
			src, dst := ep(), ep()
			proto, port := protos[r.IntN(len(protos))], int32([]int{53, 80, 443, 5432, 8080, 9090}[r.IntN(6)])
			want := ix.Explain(src, dst, proto, port)
			want.Egress.Rules, want.Ingress.Rules = nil, nil
			got := ix.ExplainBrief(src, dst, proto, port)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d %s -> %s %s/%d:\nbrief %+v\nwant  %+v", seed, src, dst, proto, port, got, want)
			}
			for _, side := range []netpol.Side{got.Egress, got.Ingress} {
				switch {
				case len(side.IsolatedBy) == 0:
				case side.Allowed:
					allowed++ // a rule allowed it: what brief judges itself
				default:
					denied++
				}
			}
		}
	}
	if denied < 100 || allowed < 100 {
		t.Errorf("isolated sides: %d denied, %d allowed by a rule: the generated clusters do not exercise both", denied, allowed)
	}
	t.Logf("isolated sides: %d denied, %d allowed by a rule", denied, allowed)
}
