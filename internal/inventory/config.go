package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The redline-config ConfigMap (docs/config.md).
const (
	// ConfigMapName is the ConfigMap Watch reads the classification from,
	// in WatchOptions.ConfigNamespace.
	ConfigMapName = "redline-config"
	// ConfigKeyClusterCIDRs lists the pod and service CIDRs.
	ConfigKeyClusterCIDRs = "clusterCIDRs"
	// ConfigKeyAliases maps alias names to addresses and CIDRs (YAML).
	ConfigKeyAliases = "aliases"
	// ConfigKeyAllowed lists addresses, CIDRs and alias names marked allowed.
	ConfigKeyAllowed = "allowed"
)

// maxConfigFileBytes bounds LoadConfigFile (a ConfigMap holds at most 1 MiB).
const maxConfigFileBytes = 4 << 20

// maxAliasNameLen bounds alias names, which show in every table.
const maxAliasNameLen = 63

// ParseConfig builds a Classifier from the data of the redline-config
// ConfigMap. It never fails: an invalid entry is reported in warnings (one
// line each, naming the key and the entry) and skipped, and the rest
// applies.
func ParseConfig(data map[string]string) (*Classifier, []string) {
	var (
		c    = &Classifier{}
		warn []string
	)
	report := func(format string, args ...any) { warn = append(warn, oneLine(fmt.Sprintf(format, args...))) }

	for _, k := range sortedKeys(data) {
		switch k {
		case ConfigKeyClusterCIDRs, ConfigKeyAliases, ConfigKeyAllowed:
		default:
			report("key %q ignored: not a redline setting (the keys are %s, %s and %s)",
				short(k), ConfigKeyAliases, ConfigKeyAllowed, ConfigKeyClusterCIDRs)
		}
	}

	for _, e := range splitList(data[ConfigKeyClusterCIDRs]) {
		p, problem := parsePrefix(e)
		if problem != "" {
			report("%s: %q %s: skipped", ConfigKeyClusterCIDRs, short(e), problem)
			continue
		}
		if !slices.Contains(c.clusterCIDRs, p) {
			c.clusterCIDRs = append(c.clusterCIDRs, p)
		}
	}

	aliasPrefixes := parseAliases(data[ConfigKeyAliases], &c.aliases, report)
	for name := range aliasPrefixes {
		c.aliasNames = append(c.aliasNames, name)
	}
	slices.Sort(c.aliasNames)

	for _, e := range splitList(data[ConfigKeyAllowed]) {
		if ps, ok := aliasPrefixes[e]; ok {
			c.allowed = append(c.allowed, ps...)
			continue
		}
		p, problem := parsePrefix(e)
		if problem != "" {
			if validAliasName(e) == "" && !strings.ContainsAny(e, ".:/") {
				problem = "is not an IP address, a CIDR or the name of an alias"
			}
			report("%s: %q %s: skipped", ConfigKeyAllowed, short(e), problem)
			continue
		}
		c.allowed = append(c.allowed, p)
	}
	return c, warn
}

// parseAliases reads the aliases key, a YAML mapping of names to a list of
// addresses and CIDRs (or one string of them), into t; it returns the
// prefixes of each alias kept.
func parseAliases(text string, t *prefixTable, report func(string, ...any)) map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	if strings.TrimSpace(text) == "" {
		return out
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		report("%s: not valid YAML (%s): every alias skipped; write name: [address or CIDR, ...] one alias a line",
			ConfigKeyAliases, short(strings.TrimPrefix(err.Error(), "yaml: ")))
		return out
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out // only comments
	}
	m := derefNode(doc.Content[0])
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return out
	}
	if m.Kind != yaml.MappingNode {
		report("%s: must be a YAML mapping of alias names to lists of addresses and CIDRs (partner: [203.0.113.0/24]): every alias skipped",
			ConfigKeyAliases)
		return out
	}
	owner := map[netip.Prefix]string{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := derefNode(m.Content[i]), derefNode(m.Content[i+1])
		name := k.Value
		at := fmt.Sprintf("%s: line %d", ConfigKeyAliases, k.Line)
		if k.Kind != yaml.ScalarNode {
			report("%s: an alias name must be a string: skipped", at)
			continue
		}
		if problem := validAliasName(name); problem != "" {
			report("%s: alias %q %s: skipped", at, short(name), problem)
			continue
		}
		if seen[name] {
			report("%s: alias %q defined twice: the second definition is skipped", at, name)
			continue
		}
		seen[name] = true

		var entries []string
		items := 0 // entries written, valid or not
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag != "!!null" {
				entries = splitList(v.Value)
			}
		case yaml.SequenceNode:
			items = len(v.Content)
			for _, item := range v.Content {
				item = derefNode(item)
				if item.Kind != yaml.ScalarNode {
					report("%s: alias %q: line %d: an entry must be an address or a CIDR, not a list or mapping: skipped", at, name, item.Line)
					continue
				}
				entries = append(entries, splitList(item.Value)...)
			}
		default:
			report("%s: alias %q must list addresses and CIDRs ([203.0.113.7, 198.51.100.0/24]): skipped", at, name)
			continue
		}
		var kept []netip.Prefix
		for _, e := range entries {
			p, problem := parsePrefix(e)
			if problem != "" {
				report("%s: alias %q: %q %s: skipped", at, name, short(e), problem)
				continue
			}
			if prev, ok := owner[p]; ok {
				if prev != name {
					report("%s: alias %q: %s is already alias %q: skipped", at, name, p, prev)
				}
				continue
			}
			owner[p] = name
			t.add(p, name)
			kept = append(kept, p)
		}
		if len(kept) == 0 {
			if len(entries) == 0 && items == 0 {
				report("%s: alias %q lists no addresses: skipped", at, name)
			}
			continue
		}
		out[name] = kept
	}
	return out
}

func derefNode(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{}
	}
	return n
}

// validAliasName returns what is wrong with an alias name, or "".
func validAliasName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxAliasNameLen:
		return fmt.Sprintf("is longer than %d characters", maxAliasNameLen)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_' || r == '.')
		if !ok {
			return "must start with a letter or digit and hold only letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}

// parsePrefix reads an address (a single-address prefix) or a CIDR; it
// returns what is wrong with it otherwise.
func parsePrefix(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, "is not a CIDR (write 10.0.0.0/8 or fd00::/48)"
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, "has an IPv6 zone, which cluster addresses never have"
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, "is an IPv4-mapped IPv6 CIDR: write the IPv4 CIDR"
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Sprintf("has host bits set: write %s (or %s/%d for the address alone)", m, p.Addr(), p.Addr().BitLen())
		}
		return p, ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, "is not an IP address or CIDR (write 203.0.113.7 or 203.0.113.0/24)"
	}
	if a.Zone() != "" {
		return netip.Prefix{}, "has an IPv6 zone, which cluster addresses never have"
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// splitList splits a list value: entries are separated by commas, spaces or
// line breaks; "#" starts a comment up to the end of the line.
func splitList(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		out = append(out, strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\r'
		})...)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrConfigFile is wrapped by LoadConfigFile's errors about the file as a
// whole (it cannot be read, or is not a ConfigMap or a mapping of keys).
var ErrConfigFile = errors.New("invalid redline configuration file")

// LoadConfigFile reads the classification offline from a file: the
// redline-config ConfigMap as YAML or JSON (what `kubectl get configmap
// redline-config -o yaml` prints), or a plain mapping of the same keys. In a
// plain mapping a value may also be written as YAML (aliases as a nested
// mapping, lists as YAML lists). Warnings are ParseConfig's, each prefixed
// with the path; an error means the file as a whole is unusable.
func LoadConfigFile(path string) (*Classifier, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read redline configuration: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read redline configuration %s: %w", path, err)
	}
	if len(text) > maxConfigFileBytes {
		return nil, nil, fmt.Errorf("%w: %s is larger than %s: a ConfigMap holds at most 1 MiB", ErrConfigFile, path, formatSize(maxConfigFileBytes))
	}
	data, err := configData(text)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrConfigFile, path, err)
	}
	c, warn := ParseConfig(data)
	for i := range warn {
		warn[i] = path + ": " + warn[i]
	}
	return c, warn, nil
}

// configData returns the settings of a configuration file.
func configData(text []byte) (map[string]string, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("not YAML or JSON: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one document: keep only the redline-config ConfigMap")
	}
	if len(doc.Content) == 0 {
		return map[string]string{}, nil
	}
	root := derefNode(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return map[string]string{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("must be a ConfigMap or a mapping of settings (clusterCIDRs, aliases, allowed)")
	}
	fields := mappingFields(root)
	if kind, ok := fields["kind"]; ok {
		if kind.Value != "ConfigMap" {
			return nil, fmt.Errorf("is a %s: write the redline-config ConfigMap, or a mapping of its settings", short(kind.Value))
		}
		data, ok := fields["data"]
		if !ok || data.Kind == yaml.ScalarNode && data.Tag == "!!null" {
			return map[string]string{}, nil
		}
		if data.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: data must be a mapping of settings", data.Line)
		}
		root = data
	}
	out := map[string]string{}
	for k, v := range mappingFields(root) {
		if v.Kind == yaml.ScalarNode {
			if v.Tag != "!!null" {
				out[k] = v.Value
			}
			continue
		}
		if v.Kind == yaml.SequenceNode && allScalars(v) {
			var lines []string
			for _, item := range v.Content {
				lines = append(lines, derefNode(item).Value)
			}
			out[k] = strings.Join(lines, "\n")
			continue
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", v.Line, short(k), err)
		}
		out[k] = string(b)
	}
	return out, nil
}

func allScalars(n *yaml.Node) bool {
	for _, item := range n.Content {
		if derefNode(item).Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// mappingFields returns the values of a YAML mapping by key; a repeated key
// keeps its last value, as Kubernetes does.
func mappingFields(m *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		out[derefNode(m.Content[i]).Value] = derefNode(m.Content[i+1])
	}
	return out
}
