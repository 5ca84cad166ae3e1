package inventory

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redline-dev/redline/internal/flow"
)

// testConfig is a redline-config with aliases nested in each other, IPv6,
// and cluster CIDRs.
var testConfig = map[string]string{
	ConfigKeyClusterCIDRs: "10.244.0.0/16, 10.96.0.0/12\nfd00:10::/56 # pods, IPv6",
	ConfigKeyAliases: `
corp: [198.51.100.0/24, "2001:db8:100::/48"]
corp-proxy: 198.51.100.7          # a /32 inside corp
payments-partner:
  - 203.0.113.0/24
in-cluster-db: 10.96.5.5
`,
	ConfigKeyAllowed: "corp-proxy, 192.0.2.0/28",
}

func TestClassify(t *testing.T) {
	c, warn := ParseConfig(testConfig)
	diffLines(t, "warnings", warn, nil)
	empty, _ := ParseConfig(nil)

	type want struct {
		class flow.AddrClass
		alias string
	}
	cases := []struct {
		name string
		c    *Classifier
		addr string
		in   AddrFacts
		want want
	}{
		{"alias /32 beats its /24", c, "198.51.100.7", AddrFacts{}, want{flow.ClassAliased, "corp-proxy"}},
		{"alias /24", c, "198.51.100.8", AddrFacts{}, want{flow.ClassAliased, "corp"}},
		{"alias IPv6 /48", c, "2001:db8:100::1", AddrFacts{}, want{flow.ClassAliased, "corp"}},
		{"IPv4-mapped IPv6 matches the IPv4 alias", c, "::ffff:203.0.113.9", AddrFacts{}, want{flow.ClassAliased, "payments-partner"}},
		{"alias beats cluster CIDR", c, "10.96.5.5", AddrFacts{}, want{flow.ClassAliased, "in-cluster-db"}},
		{"alias beats world", c, "203.0.113.1", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassAliased, "payments-partner"}},
		{"alias beats kube-apiserver", c, "198.51.100.7", AddrFacts{Reserved: ReservedKubeAPIServer}, want{flow.ClassAliased, "corp-proxy"}},
		{"pod CIDR", c, "10.244.3.4", AddrFacts{}, want{flow.ClassInternal, ""}},
		{"service CIDR", c, "10.100.0.1", AddrFacts{}, want{flow.ClassInternal, ""}},
		{"IPv6 pod CIDR", c, "fd00:10::42", AddrFacts{}, want{flow.ClassInternal, ""}},
		{"world inside the cluster CIDRs is internal", c, "10.244.3.4", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassInternal, ""}},
		{"world", c, "8.8.8.8", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassExternal, ""}},
		{"world private", c, "192.168.1.1", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassExternal, ""}},
		{"public outside configured CIDRs", c, "8.8.8.8", AddrFacts{}, want{flow.ClassExternal, ""}},
		{"public IPv6 outside configured CIDRs", c, "2606:4700::1111", AddrFacts{}, want{flow.ClassExternal, ""}},
		{"private outside configured CIDRs", c, "192.168.1.1", AddrFacts{}, want{flow.ClassUnknown, ""}},
		{"shared address space is not public", c, "100.64.1.1", AddrFacts{}, want{flow.ClassUnknown, ""}},
		{"ULA is not public", c, "fd12::1", AddrFacts{}, want{flow.ClassUnknown, ""}},
		{"host", c, "192.168.1.1", AddrFacts{Reserved: ReservedHost}, want{flow.ClassInternal, ""}},
		{"remote-node", c, "172.16.0.4", AddrFacts{Reserved: ReservedRemoteNode}, want{flow.ClassInternal, ""}},
		{"health", c, "172.16.0.4", AddrFacts{Reserved: ReservedHealth}, want{flow.ClassInternal, ""}},
		{"kube-apiserver", c, "172.16.0.2", AddrFacts{Reserved: ReservedKubeAPIServer}, want{flow.ClassAliased, AliasKubeAPIServer}},
		{"kubernetes Service endpoint", c, "172.16.0.2", AddrFacts{APIServer: true}, want{flow.ClassAliased, AliasKubeAPIServer}},
		{"in a node's pod CIDR", c, "192.168.7.1", AddrFacts{InCluster: true}, want{flow.ClassInternal, ""}},
		{"nothing configured: public is unknown", empty, "8.8.8.8", AddrFacts{}, want{flow.ClassUnknown, ""}},
		{"nothing configured: world", empty, "8.8.8.8", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassExternal, ""}},
		{"nothing configured, CIDRs learnt from nodes", empty, "8.8.8.8", AddrFacts{ClusterCIDRsKnown: true}, want{flow.ClassExternal, ""}},
		{"nil classifier", nil, "10.244.3.4", AddrFacts{}, want{flow.ClassUnknown, ""}},
		{"nil classifier, host", nil, "10.0.0.1", AddrFacts{Reserved: ReservedHost}, want{flow.ClassInternal, ""}},
		{"no address", c, "", AddrFacts{Reserved: ReservedWorld}, want{flow.ClassUnknown, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			class, alias := tc.c.Classify(a, tc.in)
			if got := (want{class, alias}); got != tc.want {
				t.Errorf("Classify(%s, %+v) = %s %q, want %s %q", tc.addr, tc.in, class, alias, tc.want.class, tc.want.alias)
			}
		})
	}

	for addr, want := range map[string]bool{
		"198.51.100.7": true, "198.51.100.8": false, "192.0.2.5": true, "192.0.2.16": false, "10.244.0.1": false,
	} {
		if got := c.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseConfigInvalidEntries(t *testing.T) {
	cases := []struct {
		name string
		data map[string]string
		// check are addresses and the class and alias they must get.
		check map[string]string
		warn  []string
	}{
		{
			name: "bad cluster CIDRs are skipped, the rest applies",
			data: map[string]string{ConfigKeyClusterCIDRs: "10.244.0.0/16,10.0.0.1/8, banana\n10.96.0.0/33,fd00::/8%eth0,::ffff:10.0.0.0/104"},
			check: map[string]string{
				"10.244.1.1": "internal",
				"10.1.1.1":   "unknown",
			},
			warn: []string{
				`clusterCIDRs: "10.0.0.1/8" has host bits set: write 10.0.0.0/8 (or 10.0.0.1/32 for the address alone): skipped`,
				`clusterCIDRs: "banana" is not an IP address or CIDR (write 203.0.113.7 or 203.0.113.0/24): skipped`,
				`clusterCIDRs: "10.96.0.0/33" is not a CIDR (write 10.0.0.0/8 or fd00::/48): skipped`,
				`clusterCIDRs: "fd00::/8%eth0" is not a CIDR (write 10.0.0.0/8 or fd00::/48): skipped`,
				`clusterCIDRs: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 CIDR: write the IPv4 CIDR: skipped`,
			},
		},
		{
			name: "bad alias entries and names are skipped",
			data: map[string]string{ConfigKeyAliases: `
good: [203.0.113.0/24, 300.1.1.1]
"bad name": 198.51.100.1
good: 192.0.2.1
other: 203.0.113.0/24
nested: [[1.2.3.4]]
map: {a: b}
empty: []
-dash: 192.0.2.9
v6: "2001:db8::/32"
`},
			check: map[string]string{
				"203.0.113.5":  "aliased good",
				"198.51.100.1": "unknown",
				"192.0.2.1":    "unknown",
				"2001:db8::5":  "aliased v6",
			},
			warn: []string{
				`aliases: line 2: alias "good": "300.1.1.1" is not an IP address or CIDR (write 203.0.113.7 or 203.0.113.0/24): skipped`,
				`aliases: line 3: alias "bad name" must start with a letter or digit and hold only letters, digits, '-', '_' and '.': skipped`,
				`aliases: line 4: alias "good" defined twice: the second definition is skipped`,
				`aliases: line 5: alias "other": 203.0.113.0/24 is already alias "good": skipped`,
				`aliases: line 6: alias "nested": line 6: an entry must be an address or a CIDR, not a list or mapping: skipped`,
				`aliases: line 7: alias "map" must list addresses and CIDRs ([203.0.113.7, 198.51.100.0/24]): skipped`,
				`aliases: line 8: alias "empty" lists no addresses: skipped`,
				`aliases: line 9: alias "-dash" must start with a letter or digit and hold only letters, digits, '-', '_' and '.': skipped`,
			},
		},
		{
			name:  "aliases that are not YAML",
			data:  map[string]string{ConfigKeyAliases: "a: [1.2.3.4\n", ConfigKeyClusterCIDRs: "10.0.0.0/8"},
			check: map[string]string{"1.2.3.4": "external", "10.1.1.1": "internal"},
			warn:  []string{`aliases: not valid YAML (line 1: did not find expected ',' or ']'): every alias skipped; write name: [address or CIDR, ...] one alias a line`},
		},
		{
			name: "aliases that are a list",
			data: map[string]string{ConfigKeyAliases: "- 1.2.3.4\n"},
			warn: []string{`aliases: must be a YAML mapping of alias names to lists of addresses and CIDRs (partner: [203.0.113.0/24]): every alias skipped`},
		},
		{
			name: "allowed: unknown alias and bad entries",
			data: map[string]string{ConfigKeyAliases: "partner: 203.0.113.0/24", ConfigKeyAllowed: "partner parnter 1.2.3.4/33"},
			warn: []string{
				`allowed: "parnter" is not an IP address, a CIDR or the name of an alias: skipped`,
				`allowed: "1.2.3.4/33" is not a CIDR (write 10.0.0.0/8 or fd00::/48): skipped`,
			},
		},
		{
			name: "unknown keys",
			data: map[string]string{"clustercidrs": "10.0.0.0/8"},
			warn: []string{`key "clustercidrs" ignored: not a redline setting (the keys are aliases, allowed and clusterCIDRs)`},
		},
		{
			name: "comments and blank values",
			data: map[string]string{ConfigKeyClusterCIDRs: "# none yet\n", ConfigKeyAliases: "# none\n", ConfigKeyAllowed: ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, warn := ParseConfig(tc.data)
			diffLines(t, "warnings", warn, tc.warn)
			for addr, want := range tc.check {
				class, alias := c.Classify(netip.MustParseAddr(addr), AddrFacts{})
				got := class.String()
				if alias != "" {
					got += " " + alias
				}
				if got != want {
					t.Errorf("Classify(%s) = %s, want %s", addr, got, want)
				}
			}
		})
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: redline-config, namespace: redline}
data:
  clusterCIDRs: 10.244.0.0/16
  aliases: |
    partner: [203.0.113.0/24, 300.0.0.1]
`,
		"plain.yaml": `clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]
aliases:
  partner: [203.0.113.0/24]
  vpn: 198.51.100.7
allowed: partner
`,
		"configmap.json": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"redline-config"},"data":{"aliases":"partner: 203.0.113.0/24"}}`,
		"empty.yaml":     "# nothing configured yet\n",
		"secret.yaml":    "apiVersion: v1\nkind: Secret\ndata: {}\n",
		"two.yaml":       "clusterCIDRs: 10.0.0.0/8\n---\naliases: ''\n",
		"list.yaml":      "- 10.0.0.0/8\n",
		"broken.yaml":    "aliases: [\n",
	}
	writeFiles(t, dir, files)
	path := func(name string) string { return filepath.Join(dir, name) }

	c, warn, err := LoadConfigFile(path("configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warn, []string{path("configmap.yaml") + `: aliases: line 1: alias "partner": "300.0.0.1" is not an IP address or CIDR (write 203.0.113.7 or 203.0.113.0/24): skipped`})
	if class, alias := c.Classify(netip.MustParseAddr("203.0.113.3"), AddrFacts{}); class != flow.ClassAliased || alias != "partner" {
		t.Errorf("configmap.yaml: 203.0.113.3 is %s %q, want aliased partner", class, alias)
	}

	c, warn, err = LoadConfigFile(path("plain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warn, nil)
	if got := c.ClusterCIDRs(); len(got) != 2 {
		t.Errorf("plain.yaml: cluster CIDRs %v, want 2", got)
	}
	if alias, _ := c.Alias(netip.MustParseAddr("198.51.100.7")); alias != "vpn" {
		t.Errorf("plain.yaml: 198.51.100.7 alias %q, want vpn", alias)
	}
	if !c.Allowed(netip.MustParseAddr("203.0.113.200")) {
		t.Error("plain.yaml: partner addresses not allowed")
	}

	if c, _, err = LoadConfigFile(path("configmap.json")); err != nil {
		t.Fatal(err)
	} else if alias, _ := c.Alias(netip.MustParseAddr("203.0.113.3")); alias != "partner" {
		t.Errorf("configmap.json: alias %q, want partner", alias)
	}
	if _, warn, err = LoadConfigFile(path("empty.yaml")); err != nil || len(warn) != 0 {
		t.Errorf("empty.yaml: %v %v", warn, err)
	}

	for name, want := range map[string]string{
		"secret.yaml":  "secret.yaml: is a Secret: write the redline-config ConfigMap, or a mapping of its settings",
		"two.yaml":     "two.yaml: holds more than one document: keep only the redline-config ConfigMap",
		"list.yaml":    "list.yaml: must be a ConfigMap or a mapping of settings (clusterCIDRs, aliases, allowed)",
		"broken.yaml":  "broken.yaml: not YAML or JSON: line 1: did not find expected node content",
		"missing.yaml": "missing.yaml: no such file or directory",
	} {
		_, _, err := LoadConfigFile(path(name))
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: error %v, want one ending in %q", name, err, want)
		}
		if name != "missing.yaml" && !errors.Is(err, ErrConfigFile) {
			t.Errorf("%s: error %v is not ErrConfigFile", name, err)
		}
		if name == "missing.yaml" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: error %v is not os.ErrNotExist", name, err)
		}
	}
}
