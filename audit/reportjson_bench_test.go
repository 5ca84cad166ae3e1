package audit

import (
	"fmt"
	"testing"
)

// typicalReport is the report the audit writes for a workload of the
// generated cluster: 80 traffic rows, 30 red connections.
func typicalReport() *Report {
	r := &Report{Workload: "payments-prod-3/api-17[Deployment]", Window: "168h0m0s",
		Warnings: []string{"namespace legacy lacks label team: its peers are selected by kubernetes.io/metadata.name"}}
	statuses := []string{"included", "included", "included", "excluded", "unselectable"}
	ports := []uint16{80, 443, 5432, 6379, 8080, 9090}
	for i := range 80 {
		dir := "Ingress"
		if i%2 == 1 {
			dir = "Egress"
		}
		r.Traffic = append(r.Traffic, TrafficRow{Direction: dir, Peer: fmt.Sprintf("search-staging-%d/backend-svc-%d[Deployment]", i%50, i),
			Protocol: "TCP", Port: ports[i%len(ports)], Status: statuses[i%len(statuses)]})
	}
	for i := range 30 {
		r.Red = append(r.Red, RedConnection{Src: fmt.Sprintf("ml-dev-%d/frontend-svc-%d[Deployment]", i%50, i), Dst: "payments-prod-3/api-17[Deployment]",
			Protocol: "TCP", Port: ports[i%len(ports)], DeniedByPolicies: i%3 == 0, Dropped: i%2 == 0})
	}
	return r
}

// BenchmarkReportJSONTypical is what the audit does for each workload:
// the report appended to a reused buffer.
func BenchmarkReportJSONTypical(b *testing.B) {
	r := typicalReport()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendReportJSON(buf[:0], r)
	}
	b.SetBytes(int64(len(buf)))
}

func TestTypicalReportJSON(t *testing.T) {
	checkReportJSON(t, typicalReport())
}
