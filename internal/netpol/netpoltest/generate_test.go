package netpoltest

import (
	"reflect"
	"testing"

	"github.com/redline-dev/redline/internal/netpol"
)

func TestGenerateCluster(t *testing.T) {
	nss, wls, pols := GenerateCluster(1, 20, 400, 200)
	if len(nss) != 20 || len(wls) != 400 || len(pols) != 200 {
		t.Fatalf("got %d namespaces, %d workloads, %d policies", len(nss), len(wls), len(pols))
	}
	nss2, wls2, pols2 := GenerateCluster(1, 20, 400, 200)
	if !reflect.DeepEqual(nss, nss2) || !reflect.DeepEqual(wls, wls2) || !reflect.DeepEqual(pols, pols2) {
		t.Error("same seed, different cluster")
	}
	names := map[string]bool{}
	ips := map[string]bool{}
	for _, p := range pols {
		key := p.Namespace + "/" + p.Name
		if names[key] {
			t.Errorf("duplicate policy %s", key)
		}
		names[key] = true
		if errs := netpol.Validate(p); len(errs) > 0 {
			t.Errorf("policy %s is invalid: %v", key, errs.ToAggregate())
		}
	}
	for _, w := range wls {
		for _, ip := range w.IPs {
			if ips[ip.String()] && !w.HostNetwork {
				t.Errorf("duplicate pod IP %s", ip)
			}
			ips[ip.String()] = true
		}
	}
	ix, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The mix must be realistic: some connections allowed, some denied.
	allowed, total := 0, 0
	for i, src := range wls {
		dst := wls[(i*7+3)%len(wls)]
		for _, port := range []int32{53, 443, 5432, 8080, 9090} {
			total++
			if ix.Verdict(netpol.WorkloadEndpoint(src), netpol.WorkloadEndpoint(dst), "TCP", port) {
				allowed++
			}
		}
	}
	if allowed == 0 || allowed == total {
		t.Errorf("%d of %d sampled connections allowed: want a mix", allowed, total)
	}
	t.Logf("%d of %d sampled connections allowed", allowed, total)
}
