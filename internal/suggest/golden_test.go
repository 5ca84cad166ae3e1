package suggest

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// TestGolden compares the YAML generated for each workload kind (and a
// Service view) with testdata/<name>.golden.yaml; -update rewrites them.
func TestGolden(t *testing.T) {
	inv := fixture()
	web, db := we("shop", "Deployment", "web"), we("shop", "StatefulSet", "db")
	api := we("payments", "Deployment", "api")
	ext := addrEP("203.0.113.7", flow.ClassExternal, "")
	tcp, udp := flow.ProtocolTCP, flow.ProtocolUDP
	dns := svcEP("kube-system", "kube-dns")
	tests := []struct {
		name    string
		subject flow.Endpoint
		edges   []flow.Edge
		choices Choices
	}{
		{
			name:    "deployment",
			subject: web,
			edges: []flow.Edge{
				edge(ext, web, tcp, 8080, nil),
				edge(we("shop", "DaemonSet", "log-agent"), web, tcp, 9090, nil),
				edge(we("shop", "DaemonSet", "log-agent"), web, tcp, 8080, nil),
				edge(web, db, tcp, 5432, &flow.ServiceRef{Namespace: "shop", Name: "db"}),
				edge(web, api, tcp, 8080, &flow.ServiceRef{Namespace: "payments", Name: "api"}),
				edge(web, dns, udp, 53, nil),
				edge(web, addrEP("198.51.100.5", flow.ClassAliased, "proxies"), tcp, 3128, nil),
				edge(web, we("legacy", "Deployment", "mainframe"), tcp, 23, nil),
			},
			choices: Choices{NamespaceLabelKey: "team", IncludeAddresses: []netip.Addr{netip.MustParseAddr("198.51.100.5")}},
		},
		{
			name:    "daemonset",
			subject: we("shop", "DaemonSet", "log-agent"),
			edges: []flow.Edge{
				edge(we("shop", "DaemonSet", "log-agent"), web, tcp, 9090, nil),
				edge(we("shop", "DaemonSet", "log-agent"), addrEP("203.0.113.50", flow.ClassExternal, ""), tcp, 443, nil),
			},
			choices: Choices{NamedPorts: true, IncludeAddresses: []netip.Addr{netip.MustParseAddr("203.0.113.50")}},
		},
		{
			name:    "statefulset",
			subject: db,
			edges: []flow.Edge{
				edge(web, svcEP("shop", "db"), tcp, 5432, &flow.ServiceRef{Namespace: "shop", Name: "db"}),
				edge(we("shop", "CronJob", "report"), db, tcp, 5432, &flow.ServiceRef{Namespace: "shop", Name: "db"}),
				edge(api, db, tcp, 5432, nil),
			},
			choices: Choices{NamedPorts: true, Egress: RuleBlockAll},
		},
		{
			name:    "cronjob",
			subject: we("shop", "CronJob", "report"),
			edges: []flow.Edge{
				edge(we("shop", "CronJob", "report"), svcEP("shop", "db"), tcp, 5432, &flow.ServiceRef{Namespace: "shop", Name: "db"}),
				edge(we("shop", "CronJob", "report"), ext, tcp, 443, nil),
			},
			choices: Choices{Ingress: RuleBlockAll, AllowEgressCIDRs: []CIDRRule{{CIDR: netip.MustParsePrefix("203.0.113.0/24"), Protocol: tcp, Port: 443}}},
		},
		{
			name:    "job",
			subject: we("shop", "Job", "migrate"),
			edges: []flow.Edge{
				edge(we("shop", "Job", "migrate"), db, tcp, 5432, nil),
			},
			choices: Choices{Ingress: RuleAllowNamespace, Egress: RuleAllowNamespace},
		},
		{
			name:    "pod",
			subject: we("shop", "Pod", "debug"),
			edges: []flow.Edge{
				edge(we("shop", "Pod", "debug"), web, tcp, 8080, nil),
				edge(we("shop", "Pod", "debug"), db, tcp, 5432, nil),
			},
			choices: Choices{Ingress: RuleAllowAll, Exclude: []Row{{Direction: netpol.Egress, Peer: db, Protocol: tcp, Port: 5432}},
				AllowIngressCIDRs: []CIDRRule{{CIDR: netip.MustParsePrefix("10.1.0.0/16")}}},
		},
		{
			name:    "service",
			subject: svcEP("shop", "web"),
			edges: []flow.Edge{
				edge(api, svcEP("shop", "web"), tcp, 80, &flow.ServiceRef{Namespace: "shop", Name: "web"}),
			},
			choices: Choices{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Suggest(input(inv, tt.subject, tt.edges...), tt.choices)
			if err != nil {
				t.Fatal(err)
			}
			got, err := YAML(s.Policy)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run go test ./internal/suggest -run TestGolden -update after checking)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			// Deterministic: a second run gives the same bytes.
			s2, _ := Suggest(input(inv, tt.subject, tt.edges...), tt.choices)
			again, _ := YAML(s2.Policy)
			if !bytes.Equal(got, again) {
				t.Errorf("output not deterministic")
			}
		})
	}
}
