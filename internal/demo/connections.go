package demo

import (
	"time"
)

// fate is what the datapath does with a connection.
type fate int

const (
	forwarded fate = iota
	// deniedAtSource: the source's egress policy drops the SYN.
	deniedAtSource
	// deniedAtDestination: forwarded by the source node, dropped by the
	// destination's ingress policy.
	deniedAtDestination
)

// observation is one record of a connection's packet.
type observation struct {
	at       time.Time
	src, dst *peer
	sport    uint16
	dport    uint16
	proto    string
	flags    *hubbleFlags
	node     string
	dir      string // INGRESS or EGRESS
	point    string
	reply    bool
	dropped  bool
	summary  string
	service  *hubbleServiceName
	dstNames []string
}

func (g *generator) observe(o observation) {
	f := &hubbleFlow{
		Verdict:               "FORWARDED",
		IP:                    hubbleIP{Source: o.src.ip.String(), Destination: o.dst.ip.String(), IPVersion: "IPv4"},
		Source:                o.src.endpoint,
		Destination:           o.dst.endpoint,
		Type:                  "L3_L4",
		NodeName:              g.observer(o.node),
		DestinationNames:      o.dstNames,
		EventType:             hubbleEventType{Type: eventTrace},
		DestinationService:    o.service,
		TrafficDirection:      o.dir,
		TraceObservationPoint: o.point,
		IsReply:               o.reply,
		Summary:               o.summary,
	}
	if o.src.ip.Is6() {
		f.IP.IPVersion = "IPv6"
	}
	ports := &hubblePorts{SourcePort: o.sport, DestinationPort: o.dport, Flags: o.flags}
	if o.proto == "UDP" {
		f.L4.UDP = ports
	} else {
		f.L4.TCP = ports
	}
	if o.dropped {
		f.Verdict, f.DropReason, f.DropReasonDesc = "DROPPED", dropPolicyDenied, "POLICY_DENIED"
		f.EventType = hubbleEventType{Type: eventDrop, SubType: dropPolicyDenied}
		f.TraceObservationPoint = ""
	}
	g.add(o.at, f)
}

// tcp records one TCP connection from src to dst:dport opened at at. A
// source without a node (a node address) is seen at the destination only;
// a destination without a node (an external address, a ClusterIP) at the
// source only.
func (g *generator) tcp(at time.Time, src, dst *peer, dport uint16, how fate) {
	sport := g.sourcePort(src.ip, dst.ip, dport, "TCP")
	g.connections++
	if how != forwarded {
		g.dropped++
	}
	atSource := src.endpoint != nil && !isNode(src)
	atDest := dst.node != ""
	var dstNames []string
	if len(dst.names) > 0 {
		dstNames = dst.names
	}
	syn := func(t time.Time) {
		if atSource {
			point := "TO_STACK"
			if dst.node != "" && dst.node != src.node {
				point = "TO_OVERLAY"
			}
			g.observe(observation{at: t, src: src, dst: dst, sport: sport, dport: dport, proto: "TCP",
				flags: &hubbleFlags{SYN: true}, node: src.node, dir: "EGRESS", point: point,
				dropped: how == deniedAtSource, summary: "TCP Flags: SYN", service: dst.service, dstNames: dstNames})
		}
		if atDest && how != deniedAtSource {
			g.observe(observation{at: t.Add(g.jitter(150*time.Microsecond, 600*time.Microsecond)), src: src, dst: dst,
				sport: sport, dport: dport, proto: "TCP", flags: &hubbleFlags{SYN: true}, node: dst.node, dir: "INGRESS",
				point: "TO_ENDPOINT", dropped: how == deniedAtDestination, summary: "TCP Flags: SYN", service: dst.service})
		}
	}
	syn(at)
	if how != forwarded {
		syn(at.Add(time.Second)) // the retransmitted SYN, dropped again
		return
	}
	// The reply, seen where the connection was seen last, then the ACK.
	replyNode, replyDir := src.node, "EGRESS"
	if atDest {
		replyNode, replyDir = dst.node, "INGRESS"
	}
	g.observe(observation{at: at.Add(g.jitter(700*time.Microsecond, 2*time.Millisecond)), src: dst, dst: src,
		sport: dport, dport: sport, proto: "TCP", flags: &hubbleFlags{SYN: true, ACK: true}, node: replyNode, dir: replyDir,
		point: "TO_STACK", reply: true, summary: "TCP Flags: SYN, ACK"})
	ackNode, ackDir := src.node, "EGRESS"
	if !atSource {
		ackNode, ackDir = dst.node, "INGRESS"
	}
	g.observe(observation{at: at.Add(g.jitter(2*time.Millisecond, 5*time.Millisecond)), src: src, dst: dst,
		sport: sport, dport: dport, proto: "TCP", flags: &hubbleFlags{ACK: true, PSH: true}, node: ackNode, dir: ackDir,
		point: "TO_STACK", summary: "TCP Flags: ACK, PSH", service: dst.service})
}

// udp records one UDP request from src (a pod) to dst:dport and its reply.
func (g *generator) udp(at time.Time, src, dst *peer, dport uint16) {
	sport := g.sourcePort(src.ip, dst.ip, dport, "UDP")
	g.connections++
	g.observe(observation{at: at, src: src, dst: dst, sport: sport, dport: dport, proto: "UDP", node: src.node,
		dir: "EGRESS", point: "TO_STACK", summary: "UDP", service: dst.service})
	g.observe(observation{at: at.Add(g.jitter(300*time.Microsecond, 3*time.Millisecond)), src: dst, dst: src,
		sport: dport, dport: sport, proto: "UDP", node: src.node, dir: "EGRESS", point: "TO_ENDPOINT", reply: true, summary: "UDP"})
}

func isNode(p *peer) bool {
	return p.endpoint != nil && p.endpoint.PodName == "" && (p.endpoint.Identity == identityHost || p.endpoint.Identity == identityRemoteNode)
}
