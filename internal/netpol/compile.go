package netpol

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	netutils "k8s.io/utils/net"
)

// compiledPolicy is a NetworkPolicy in the form verdicts need.
type compiledPolicy struct {
	name        string // namespace/name
	namespace   *namespaceInfo
	source      *networkingv1.NetworkPolicy
	podSelector labels.Selector
	// ingress and egress are the defaulted policyTypes.
	ingress, egress bool
	ingressRules    []*compiledRule
	egressRules     []*compiledRule
}

// compiledRule is one ingress or egress rule: peers OR-ed, ports OR-ed.
type compiledRule struct {
	policy    *compiledPolicy
	direction Direction
	index     int
	allPeers  bool // from/to absent or empty
	peers     []*compiledPeer
	allPorts  bool // ports absent or empty
	ports     []compiledPort
}

type compiledPort struct {
	protocol corev1.Protocol
	allPorts bool   // only a protocol
	named    string // a named port, resolved on the destination pod
	from, to int32
}

// compiledPeer is either a selector peer or an ipBlock.
type compiledPeer struct {
	// Selector peer. ns nil means the policy's own namespace.
	ns          *nsSelector
	ownNS       *namespaceInfo
	podSelector labels.Selector // nil means every pod

	// members[identity] caches whether the peer selects that identity.
	once    sync.Once
	members bitset

	block *ipBlock
}

// nsSelector is a namespaceSelector shared by every peer that spells it the
// same way, with its matches per namespace cached.
type nsSelector struct {
	selector labels.Selector
	once     sync.Once
	members  bitset // by namespace id
}

type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

func (b *ipBlock) contains(a netip.Addr) bool {
	if !b.cidr.Contains(a) {
		return false
	}
	for _, e := range b.except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}

func (ix *Index) compilePolicy(p *networkingv1.NetworkPolicy) (*compiledPolicy, error) {
	cp := &compiledPolicy{name: policyName(p), namespace: ix.namespace(p.Namespace), source: p}
	fail := func(field string, err error) error {
		return fmt.Errorf("networkpolicy %s: %s: %w", cp.name, field, err)
	}
	sel, err := SelectorOf(&p.Spec.PodSelector)
	if err != nil {
		return nil, fail("spec.podSelector", err)
	}
	cp.podSelector = sel
	cp.ingress, cp.egress = PolicyTypes(p)

	for i, r := range p.Spec.Ingress {
		path := fmt.Sprintf("spec.ingress[%d]", i)
		rule, err := ix.compileRule(cp, Ingress, i, path, r.From, r.Ports)
		if err != nil {
			return nil, fail(path, err)
		}
		cp.ingressRules = append(cp.ingressRules, rule)
	}
	for i, r := range p.Spec.Egress {
		path := fmt.Sprintf("spec.egress[%d]", i)
		rule, err := ix.compileRule(cp, Egress, i, path, r.To, r.Ports)
		if err != nil {
			return nil, fail(path, err)
		}
		cp.egressRules = append(cp.egressRules, rule)
	}
	return cp, nil
}

// PolicyTypes returns the directions a policy isolates, defaulted as the API
// server does: Ingress always, Egress iff egress rules exist, when
// policyTypes is absent.
func PolicyTypes(p *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(p.Spec.PolicyTypes) == 0 {
		return true, len(p.Spec.Egress) > 0
	}
	for _, t := range p.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

func (ix *Index) compileRule(cp *compiledPolicy, dir Direction, index int, path string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) (*compiledRule, error) {
	rule := &compiledRule{policy: cp, direction: dir, index: index, allPeers: len(peers) == 0, allPorts: len(ports) == 0}
	peerField := "from"
	if dir == Egress {
		peerField = "to"
	}
	for i, peer := range peers {
		c, err := ix.compilePeer(cp, peer)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", peerField, i, err)
		}
		rule.peers = append(rule.peers, c)
	}
	for i, port := range ports {
		c, err := compilePort(port)
		if err != nil {
			return nil, fmt.Errorf("ports[%d]: %w", i, err)
		}
		rule.ports = append(rule.ports, c)
	}
	return rule, nil
}

func (ix *Index) compilePeer(cp *compiledPolicy, peer networkingv1.NetworkPolicyPeer) (*compiledPeer, error) {
	if peer.IPBlock != nil {
		if peer.PodSelector != nil || peer.NamespaceSelector != nil {
			return nil, fmt.Errorf("ipBlock may not be combined with podSelector or namespaceSelector")
		}
		b, err := compileIPBlock(peer.IPBlock)
		if err != nil {
			return nil, fmt.Errorf("ipBlock: %w", err)
		}
		return &compiledPeer{block: b}, nil
	}
	if peer.PodSelector == nil && peer.NamespaceSelector == nil {
		return nil, fmt.Errorf("must specify a peer")
	}
	c := &compiledPeer{ownNS: cp.namespace}
	if peer.PodSelector != nil {
		sel, err := SelectorOf(peer.PodSelector)
		if err != nil {
			return nil, fmt.Errorf("podSelector: %w", err)
		}
		if !sel.Empty() {
			c.podSelector = sel
		}
	}
	if peer.NamespaceSelector != nil {
		ns, err := ix.internNSSelector(peer.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
		c.ns = ns
	}
	// Peers spelling the same selectors (in the same namespace, when they
	// have no namespaceSelector) select the same pods: share one, and with it
	// the lazily computed members.
	var key strings.Builder
	if c.ns == nil {
		key.WriteString("own\x00")
		key.WriteString(c.ownNS.name)
	} else {
		key.WriteString("ns\x00")
		key.WriteString(c.ns.selector.String())
	}
	key.WriteString("\x00")
	if c.podSelector != nil {
		key.WriteString(c.podSelector.String())
	}
	if shared, ok := ix.selectorPeers[key.String()]; ok {
		return shared, nil
	}
	ix.selectorPeers[key.String()] = c
	return c, nil
}

func (ix *Index) internNSSelector(ls *metav1.LabelSelector) (*nsSelector, error) {
	sel, err := SelectorOf(ls)
	if err != nil {
		return nil, err
	}
	key := sel.String()
	if s, ok := ix.nsSelectors[key]; ok {
		return s, nil
	}
	s := &nsSelector{selector: sel}
	ix.nsSelectors[key] = s
	return s, nil
}

func compilePort(p networkingv1.NetworkPolicyPort) (compiledPort, error) {
	c := compiledPort{protocol: corev1.ProtocolTCP}
	if p.Protocol != nil {
		c.protocol = *p.Protocol
	}
	if protoIndex(c.protocol) < 0 || c.protocol == "" {
		return c, fmt.Errorf("protocol: unsupported value %q: must be TCP, UDP or SCTP", c.protocol)
	}
	switch {
	case p.Port == nil:
		if p.EndPort != nil {
			return c, fmt.Errorf("endPort: may not be set without port")
		}
		c.allPorts = true
	case p.Port.Type == intstr.String:
		if p.EndPort != nil {
			return c, fmt.Errorf("endPort: may not be set when port is named")
		}
		c.named = p.Port.StrVal
	default:
		c.from, c.to = p.Port.IntVal, p.Port.IntVal
		if p.EndPort != nil {
			if *p.EndPort < c.from {
				return c, fmt.Errorf("endPort: must be greater than or equal to port")
			}
			c.to = *p.EndPort
		}
	}
	return c, nil
}

func compileIPBlock(b *networkingv1.IPBlock) (*ipBlock, error) {
	cidr, err := parsePrefix(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("cidr: %w", err)
	}
	out := &ipBlock{cidr: cidr}
	for i, e := range b.Except {
		p, err := parsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("except[%d]: %w", i, err)
		}
		out.except = append(out.except, p)
	}
	return out, nil
}

// parsePrefix parses a CIDR as the API server does, leading zeros included,
// and drops host bits. An IPv4-mapped IPv6 CIDR (which older API servers
// accepted) covering only mapped addresses, ::ffff:a.b.c.d/96+n, is the IPv4
// prefix a.b.c.d/n, as Go's net.IPNet reads it.
func parsePrefix(s string) (netip.Prefix, error) {
	_, n, err := netutils.ParseCIDRSloppy(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	ones, bits := n.Mask.Size()
	if addr.Is4In6() && (bits == 32 || ones >= 96) {
		addr = addr.Unmap()
		if bits == 128 {
			ones -= 96
		}
	}
	p := netip.PrefixFrom(addr, ones).Masked()
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	return p, nil
}

// bitset is a fixed-size set of small integers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int32) { b[i>>6] |= 1 << (uint(i) & 63) }

func (b bitset) has(i int32) bool {
	w := int(i >> 6)
	return i >= 0 && w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}
