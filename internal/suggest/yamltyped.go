package suggest

import (
	"bytes"
	"strconv"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// typedPolicyYAML writes a policy straight from its fields, in the bytes
// treeYAML writes for it: the keys each type's JSON tags give, sorted,
// omitempty as encoding/json has it, strings in fastYAML's styles. It
// covers what suggestions and ordinary policies hold; for anything else
// (owner references, managed fields, a deletion timestamp, a selfLink, an integer
// encoding/json would round, a string fastYAML is unsure of) it reports
// false and the caller takes the JSON tree. TestTypedYAMLMatchesTree and
// FuzzPolicyYAML hold it to that.
func typedPolicyYAML(p *networkingv1.NetworkPolicy) ([]byte, bool) {
	return typedPolicyYAMLAs(p, bytes.Clone)
}

// typedPolicyYAMLAs is typedPolicyYAML with the pooled buffer's bytes
// handed out as conv makes them: a copy, or a string (one copy, not two,
// for a caller that wants a string).
func typedPolicyYAMLAs[T any](p *networkingv1.NetworkPolicy, conv func([]byte) T) (T, bool) {
	var out T
	if !typedMeta(&p.ObjectMeta) {
		return out, false
	}
	w := policyWriters.Get().(*policyWriter)
	w.inline, w.ok = false, true
	// The buffer is threaded through the writers rather than kept in w:
	// a slice stored into a heap object costs a write barrier on every
	// append while the collector runs.
	b := w.policy(w.buf[:0], p)
	ok := w.ok
	if ok {
		out = conv(b)
	}
	if cap(b) <= maxPooledPolicyBuffer {
		w.buf = b
		policyWriters.Put(w)
	}
	return out, ok
}

// typedMeta: the metadata holds only fields typedPolicyYAML writes.
func typedMeta(m *metav1.ObjectMeta) bool {
	//lint:ignore SA1019 the API server no longer sets it, but encoding/json writes it if a caller does
	if m.SelfLink != "" {
		return false
	}
	const maxExact = 1 << 53 // beyond, the JSON tree's float64 rounds
	return m.DeletionTimestamp == nil && m.DeletionGracePeriodSeconds == nil &&
		len(m.OwnerReferences) == 0 && len(m.Finalizers) == 0 && len(m.ManagedFields) == 0 &&
		m.Generation >= -maxExact && m.Generation <= maxExact
}

// A policyWriter is reused across policies: its buffer, and the key slice
// of maps too large to sort on the stack, are what rendering would
// otherwise allocate. Its methods append to the buffer they are given and
// return it.
type policyWriter struct {
	buf  []byte
	keys []string
	// inline: the next key follows a list item's "- " on the same line.
	inline bool
	// ok turns false when a string's style is unsure.
	ok bool
}

const maxPooledPolicyBuffer = 256 << 10

var policyWriters = sync.Pool{New: func() any {
	return &policyWriter{buf: make([]byte, 0, 8<<10)}
}}

func (w *policyWriter) policy(b []byte, p *networkingv1.NetworkPolicy) []byte {
	b = append(b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"...)
	b = w.meta(b, &p.ObjectMeta)
	b = append(b, "spec:\n"...)
	s := &p.Spec
	if len(s.Egress) > 0 {
		b = append(w.key(b, 2, "egress"), '\n')
		for i := range s.Egress {
			r := &s.Egress[i]
			var more bool
			if b, more = w.item(b, 2, len(r.Ports) == 0 && len(r.To) == 0); !more {
				continue
			}
			b = w.ports(b, 4, r.Ports)
			b = w.peers(b, 4, "to", r.To)
			if !w.ok {
				return b
			}
		}
	}
	if len(s.Ingress) > 0 {
		b = append(w.key(b, 2, "ingress"), '\n')
		for i := range s.Ingress {
			r := &s.Ingress[i]
			var more bool
			if b, more = w.item(b, 2, len(r.Ports) == 0 && len(r.From) == 0); !more {
				continue
			}
			b = w.peers(b, 4, "from", r.From)
			b = w.ports(b, 4, r.Ports)
			if !w.ok {
				return b
			}
		}
	}
	b = w.selector(b, 2, "podSelector", &s.PodSelector)
	if len(s.PolicyTypes) > 0 {
		b = append(w.key(b, 2, "policyTypes"), '\n')
		for _, t := range s.PolicyTypes {
			b = append(indent(b, 2), "- "...)
			b = append(w.str(b, string(t)), '\n')
		}
	}
	return b
}

func (w *policyWriter) meta(b []byte, m *metav1.ObjectMeta) []byte {
	if len(m.Annotations) == 0 && m.GenerateName == "" && m.Generation == 0 && len(m.Labels) == 0 &&
		m.Name == "" && m.Namespace == "" && m.ResourceVersion == "" && m.UID == "" {
		return append(b, "metadata: {}\n"...)
	}
	b = append(b, "metadata:\n"...)
	b = w.stringMap(b, 2, "annotations", m.Annotations)
	b = w.stringField(b, 2, "generateName", m.GenerateName)
	if m.Generation != 0 {
		b = append(w.key(b, 2, "generation"), ' ')
		b = append(strconv.AppendInt(b, m.Generation, 10), '\n')
	}
	b = w.stringMap(b, 2, "labels", m.Labels)
	b = w.stringField(b, 2, "name", m.Name)
	b = w.stringField(b, 2, "namespace", m.Namespace)
	b = w.stringField(b, 2, "resourceVersion", m.ResourceVersion)
	return w.stringField(b, 2, "uid", string(m.UID))
}

// peers writes a rule's from or to (omitempty) at indent.
func (w *policyWriter) peers(b []byte, ind int, name string, peers []networkingv1.NetworkPolicyPeer) []byte {
	if len(peers) == 0 {
		return b
	}
	b = append(w.key(b, ind, name), '\n')
	for i := range peers {
		p := &peers[i]
		var more bool
		if b, more = w.item(b, ind, p.IPBlock == nil && p.NamespaceSelector == nil && p.PodSelector == nil); !more {
			continue
		}
		if ipb := p.IPBlock; ipb != nil {
			b = append(w.key(b, ind+2, "ipBlock"), '\n')
			b = append(w.key(b, ind+4, "cidr"), ' ')
			b = append(w.str(b, ipb.CIDR), '\n')
			b = w.stringList(b, ind+4, "except", ipb.Except)
		}
		if p.NamespaceSelector != nil {
			b = w.selector(b, ind+2, "namespaceSelector", p.NamespaceSelector)
		}
		if p.PodSelector != nil {
			b = w.selector(b, ind+2, "podSelector", p.PodSelector)
		}
	}
	return b
}

// ports writes a rule's ports (omitempty) at indent.
func (w *policyWriter) ports(b []byte, ind int, ports []networkingv1.NetworkPolicyPort) []byte {
	if len(ports) == 0 {
		return b
	}
	b = append(w.key(b, ind, "ports"), '\n')
	for i := range ports {
		p := &ports[i]
		var more bool
		if b, more = w.item(b, ind, p.EndPort == nil && p.Port == nil && p.Protocol == nil); !more {
			continue
		}
		if p.EndPort != nil {
			b = append(w.key(b, ind+2, "endPort"), ' ')
			b = append(strconv.AppendInt(b, int64(*p.EndPort), 10), '\n')
		}
		if p.Port != nil {
			b = append(w.key(b, ind+2, "port"), ' ')
			switch p.Port.Type {
			case intstr.Int:
				b = strconv.AppendInt(b, int64(p.Port.IntVal), 10)
			case intstr.String:
				b = w.str(b, p.Port.StrVal)
			default: // encoding/json fails on it; let treeYAML say so
				w.ok = false
			}
			b = append(b, '\n')
		}
		if p.Protocol != nil {
			b = append(w.key(b, ind+2, "protocol"), ' ')
			b = append(w.str(b, string(*p.Protocol)), '\n')
		}
	}
	return b
}

// selector writes a label selector, which is present even when empty: {}.
func (w *policyWriter) selector(b []byte, ind int, name string, s *metav1.LabelSelector) []byte {
	b = w.key(b, ind, name)
	if len(s.MatchExpressions) == 0 && len(s.MatchLabels) == 0 {
		return append(b, " {}\n"...)
	}
	b = append(b, '\n')
	if len(s.MatchExpressions) > 0 {
		b = append(w.key(b, ind+2, "matchExpressions"), '\n')
		for i := range s.MatchExpressions {
			r := &s.MatchExpressions[i]
			b, _ = w.item(b, ind+2, false)
			b = append(w.key(b, ind+4, "key"), ' ')
			b = append(w.str(b, r.Key), '\n')
			b = append(w.key(b, ind+4, "operator"), ' ')
			b = append(w.str(b, string(r.Operator)), '\n')
			b = w.stringList(b, ind+4, "values", r.Values)
		}
	}
	return w.stringMap(b, ind+2, "matchLabels", s.MatchLabels)
}

// item starts a list item at indent: "- {}" when the map it holds is
// empty (more is false then), else "- " followed by the map's first key.
func (w *policyWriter) item(b []byte, ind int, empty bool) (_ []byte, more bool) {
	b = indent(b, ind)
	if empty {
		return append(b, "- {}\n"...), false
	}
	w.inline = true
	return append(b, "- "...), true
}

// key writes a field name (one that needs no quotes) and its colon.
func (w *policyWriter) key(b []byte, ind int, name string) []byte {
	if w.inline {
		w.inline = false
	} else {
		b = indent(b, ind)
	}
	b = append(b, name...)
	return append(b, ':')
}

// stringField writes an omitempty string field.
func (w *policyWriter) stringField(b []byte, ind int, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(w.key(b, ind, name), ' ')
	return append(w.str(b, s), '\n')
}

// stringList writes an omitempty list of strings.
func (w *policyWriter) stringList(b []byte, ind int, name string, l []string) []byte {
	if len(l) == 0 {
		return b
	}
	b = append(w.key(b, ind, name), '\n')
	for _, s := range l {
		b = append(indent(b, ind), "- "...)
		b = append(w.str(b, s), '\n')
	}
	return b
}

// stringMap writes an omitempty map of strings, keys sorted as yaml.v2
// sorts them (sortKeys: not byte order), or notes that their order is not
// yaml.v2's to give.
func (w *policyWriter) stringMap(b []byte, ind int, name string, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(w.key(b, ind, name), '\n')
	if len(m) == 1 {
		for k, v := range m {
			b = w.entry(b, ind+2, k, v)
		}
		return b
	}
	// The keys of a small map are sorted on the stack.
	var small [8]string
	if len(m) <= len(small) {
		n := 0
		for k := range m {
			small[n] = k
			n++
		}
		if !sortKeys(small[:n]) {
			w.ok = false
			return b
		}
		for _, k := range small[:n] {
			b = w.entry(b, ind+2, k, m[k])
		}
		return b
	}
	keys := w.keys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	if sortKeys(keys) {
		for _, k := range keys {
			b = w.entry(b, ind+2, k, m[k])
		}
	} else {
		w.ok = false
	}
	clear(keys) // the pooled slice keeps no strings alive
	w.keys = keys[:0]
	return b
}

func (w *policyWriter) entry(b []byte, ind int, k, v string) []byte {
	b = w.str(indent(b, ind), k)
	b = append(b, ": "...)
	return append(w.str(b, v), '\n')
}

// str writes a string in fastYAML's style for it, or notes that it is
// unsure.
func (w *policyWriter) str(b []byte, s string) []byte {
	switch stringStyle(s, b) {
	case plain:
		b = append(b, s...)
	case quoted:
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	default:
		w.ok = false
	}
	return b
}

const spaces = "                                                                "

func indent(b []byte, n int) []byte {
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	return append(b, spaces[:n]...)
}
