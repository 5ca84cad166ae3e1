package netpol

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Explanation says why a connection (or, when Protocol is empty, a pair of
// endpoints over all ports) is allowed or denied.
type Explanation struct {
	Src, Dst string
	// Protocol and Port are empty for a pair explanation.
	Protocol corev1.Protocol `json:",omitempty"`
	Port     int32           `json:",omitempty"`
	Allowed  bool
	// Conns is what the pair may use (pair explanations only).
	Conns   string `json:",omitempty"`
	Self    bool   `json:",omitempty"`
	Egress  Side
	Ingress Side
}

// Side explains one direction: egress at the source or ingress at the
// destination.
type Side struct {
	Direction Direction
	Endpoint  string
	// Subject is false when policies cannot apply to the endpoint (an
	// address, a host-network pod); Reason then says why.
	Subject bool
	Reason  string `json:",omitempty"`
	// IsolatedBy are the policies that select the pod for this direction.
	IsolatedBy []string `json:",omitempty"`
	// IgnoredBy are policies that select the pod but whose policyTypes
	// leave this direction out.
	IgnoredBy []string `json:",omitempty"`
	Allowed   bool
	Conns     string       `json:",omitempty"`
	Rules     []RuleResult `json:",omitempty"`
}

// RuleResult is how one rule of an isolating policy treated the connection.
type RuleResult struct {
	Policy string
	Rule   string // "ingress[0]"
	// Allows is true when the rule admits the connection (or, for a pair,
	// some connection: then Conns says which).
	Allows bool
	Conns  string `json:",omitempty"`
	Reason string `json:",omitempty"`
}

// Explain tells why src may or may not connect to dst on protocol/port.
func (ix *Index) Explain(src, dst Endpoint, protocol corev1.Protocol, port int32) Explanation {
	return ix.explain(src, dst, protocol, port, false)
}

// ExplainBrief is Explain without Side.Rules: which side denies and which
// policies isolate it, for a caller that writes one line (the webhook,
// which explains twenty connections per request and had the reasons of
// every rule of every isolating policy written for nothing).
func (ix *Index) ExplainBrief(src, dst Endpoint, protocol corev1.Protocol, port int32) Explanation {
	return ix.explain(src, dst, protocol, port, true)
}

func (ix *Index) explain(src, dst Endpoint, protocol corev1.Protocol, port int32, brief bool) Explanation {
	protocol = normalProtocol(protocol)
	ex := Explanation{Src: src.String(), Dst: dst.String(), Protocol: protocol, Port: port}
	if isSelf(src, dst) {
		ex.Allowed, ex.Self = true, true
		return ex
	}
	ex.Egress = ix.explainSide(Egress, src, dst, &protocol, port, brief)
	ex.Ingress = ix.explainSide(Ingress, src, dst, &protocol, port, brief)
	ex.Allowed = ex.Egress.Allowed && ex.Ingress.Allowed
	return ex
}

// ExplainPair tells which connections src may open to dst and why.
func (ix *Index) ExplainPair(src, dst Endpoint) Explanation {
	ex := Explanation{Src: src.String(), Dst: dst.String()}
	if isSelf(src, dst) {
		ex.Allowed, ex.Self, ex.Conns = true, true, AllConns().String()
		return ex
	}
	ex.Egress = ix.explainSide(Egress, src, dst, nil, 0, false)
	ex.Ingress = ix.explainSide(Ingress, src, dst, nil, 0, false)
	conns := ix.AllowedConns(src, dst)
	ex.Allowed = !conns.IsEmpty()
	ex.Conns = conns.String()
	return ex
}

// explainSide explains one direction; protocol nil means over all ports
// (never brief).
func (ix *Index) explainSide(dir Direction, src, dst Endpoint, protocol *corev1.Protocol, port int32, brief bool) Side {
	subject, other := dst, src
	if dir == Egress {
		subject, other = src, dst
	}
	side := Side{Direction: dir, Endpoint: subject.String()}
	switch {
	case subject.Workload == nil:
		side.Reason = "an address outside the pod network: no policy applies"
		side.Allowed = true
	case subject.Workload.HostNetwork:
		side.Reason = "a host-network pod acts as its node's address: no policy applies"
		side.Allowed = true
	}
	if !side.Allowed {
		side.Subject = true
		ix.explainIsolation(&side, dir, subject, other, dst, protocol, port, brief && protocol != nil)
	}
	if protocol == nil {
		side.Conns = ix.sideConns(dir, src, dst).String()
	}
	return side
}

func (ix *Index) explainIsolation(side *Side, dir Direction, subject, other, dst Endpoint, protocol *corev1.Protocol, port int32, brief bool) {
	id := ix.identityOf(subject.Workload)
	for _, p := range ix.byNamespace[subject.Workload.Namespace] {
		if !p.podSelector.Matches(id.labels) {
			continue
		}
		if (dir == Ingress && !p.ingress) || (dir == Egress && !p.egress) {
			side.IgnoredBy = append(side.IgnoredBy, p.name)
		}
	}
	pols := id.policies(dir)
	if len(pols) == 0 {
		side.Allowed = true
		side.Reason = fmt.Sprintf("not isolated for %s: no policy selects it with %s in policyTypes", strings.ToLower(string(dir)), dir)
		return
	}
	for _, p := range pols {
		side.IsolatedBy = append(side.IsolatedBy, p.name)
		rules := p.rules(dir)
		if brief {
			for _, r := range rules {
				if side.Allowed {
					break
				}
				side.Allowed = ix.peerMatches(r, other) && r.portAllows(dst, *protocol, port)
			}
			continue
		}
		if len(rules) == 0 {
			side.Rules = append(side.Rules, RuleResult{Policy: p.name, Reason: fmt.Sprintf("no %s rules: isolates only", strings.ToLower(string(dir)))})
		}
		for _, r := range rules {
			res := ix.explainRule(r, other, dst, protocol, port)
			side.Allowed = side.Allowed || res.Allows
			side.Rules = append(side.Rules, res)
		}
	}
}

func (ix *Index) explainRule(r *compiledRule, other, dst Endpoint, protocol *corev1.Protocol, port int32) RuleResult {
	res := RuleResult{Policy: r.policy.name, Rule: strings.ToLower(string(r.direction)) + "[" + strconv.Itoa(r.index) + "]"}
	peerWord := "from"
	if r.direction == Egress {
		peerWord = "to"
	}
	if !ix.peerMatches(r, other) {
		res.Reason = fmt.Sprintf("no peer in %s matches %s", peerWord, other)
		return res
	}
	if protocol == nil {
		conns := r.conns(dst)
		res.Allows = !conns.IsEmpty()
		res.Conns = conns.String()
		if !res.Allows {
			res.Reason = r.portsReason(dst, "")
		}
		return res
	}
	if r.portAllows(dst, *protocol, port) {
		res.Allows = true
		res.Conns = r.conns(dst).String()
		return res
	}
	res.Reason = r.portsReason(dst, fmt.Sprintf("%s/%d", *protocol, port))
	return res
}

// portsReason says why the rule's ports leave out the connection.
func (r *compiledRule) portsReason(dst Endpoint, conn string) string {
	var missing []string
	for _, c := range r.ports {
		if c.named == "" {
			continue
		}
		if _, ok := resolveNamedPort(dst, c.named, c.protocol); !ok {
			if dst.Workload == nil {
				missing = append(missing, fmt.Sprintf("named port %s/%s never matches an address outside the cluster", c.named, c.protocol))
			} else {
				missing = append(missing, fmt.Sprintf("named port %s/%s is not declared by %s", c.named, c.protocol, dst))
			}
		}
	}
	covered := r.conns(dst)
	msg := "ports do not cover " + conn
	if conn == "" {
		msg = "ports admit nothing to " + dst.String()
	}
	if !covered.IsEmpty() {
		msg += " (rule allows " + covered.String() + ")"
	}
	if len(missing) > 0 {
		msg += "; " + strings.Join(missing, "; ")
	}
	return msg
}

// Text renders the explanation for people, indented two spaces per level.
func (e Explanation) Text() string {
	var b strings.Builder
	if e.Protocol != "" {
		verdict := "denied"
		if e.Allowed {
			verdict = "allowed"
		}
		fmt.Fprintf(&b, "%s => %s %s/%d: %s\n", e.Src, e.Dst, e.Protocol, e.Port, verdict)
	} else {
		fmt.Fprintf(&b, "%s => %s : %s\n", e.Src, e.Dst, e.Conns)
	}
	if e.Self {
		b.WriteString("  traffic from a pod to itself is always allowed\n")
		return b.String()
	}
	for _, s := range []Side{e.Egress, e.Ingress} {
		writeSide(&b, s)
	}
	return b.String()
}

func writeSide(b *strings.Builder, s Side) {
	fmt.Fprintf(b, "  %s at %s: ", strings.ToLower(string(s.Direction)), s.Endpoint)
	switch {
	case !s.Subject || len(s.IsolatedBy) == 0:
		b.WriteString(s.Reason)
	case s.Allowed:
		fmt.Fprintf(b, "allowed; isolated by %s", strings.Join(s.IsolatedBy, ", "))
	default:
		fmt.Fprintf(b, "denied; isolated by %s and no rule allows it", strings.Join(s.IsolatedBy, ", "))
	}
	if s.Conns != "" && s.Conns != "No Connections" && s.Subject && len(s.IsolatedBy) > 0 {
		fmt.Fprintf(b, " (allows %s)", s.Conns)
	}
	b.WriteByte('\n')
	if len(s.IgnoredBy) > 0 {
		fmt.Fprintf(b, "    ignored (%s not in policyTypes): %s\n", s.Direction, strings.Join(s.IgnoredBy, ", "))
	}
	for _, r := range s.Rules {
		name := r.Policy
		if r.Rule != "" {
			name += " " + r.Rule
		}
		if r.Allows {
			fmt.Fprintf(b, "    %s allows %s\n", name, r.Conns)
		} else {
			fmt.Fprintf(b, "    %s: %s\n", name, r.Reason)
		}
	}
}
