package suggest

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"

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
	return typedPolicyYAMLAs(p, bytes.Clone, nil)
}

// typedPolicyYAMLAs is typedPolicyYAML with the pooled buffer's bytes
// handed out as conv makes them: a copy, or a string (one copy, not two,
// for a caller that wants a string). Rules whose peers list is one of
// fragments' keys (its first element) take the peers' YAML from there,
// written on first use.
func typedPolicyYAMLAs[T any](p *networkingv1.NetworkPolicy, conv func([]byte) T, fragments map[*networkingv1.NetworkPolicyPeer]*[]byte) (T, bool) {
	var out T
	if !typedMeta(&p.ObjectMeta) {
		return out, false
	}
	w := policyWriters.Get().(*policyWriter)
	w.inline, w.ok, w.fragments = false, true, fragments
	// The buffer is threaded through the writers rather than kept in w:
	// a slice stored into a heap object costs a write barrier on every
	// append while the collector runs.
	b := w.policy(w.buf[:0], p)
	ok := w.ok
	if ok {
		out = conv(b)
	}
	w.known = [len(w.known)]knownKeys{} // the pooled writer keeps no strings alive
	w.fragments = nil
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
	// known holds, for maps of 1 to 4 labels, the keys of the last one
	// written, in order: the selectors of a policy mostly share their keys
	// (every namespace selector the one label, pod selectors app and
	// tier), and looking known keys up in a small map costs less than
	// ranging over it, sorting them and checking their style.
	known [4]knownKeys
	// fragments are the YAML of shared peer lists, by their first element
	// (see typedPolicyYAMLAs).
	fragments map[*networkingv1.NetworkPolicyPeer]*[]byte
}

type knownKeys struct {
	keys [4]string
	set  bool
	// plain: every key is a plainWord, written as it is.
	plain bool
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
	if f := w.fragments[&peers[0]]; f != nil && len(peers) == 1 && ind == fragmentIndent {
		if *f != nil {
			return append(b, *f...)
		}
		start := len(b)
		if b = w.peerItems(b, ind, peers); w.ok {
			*f = bytes.Clone(b[start:])
		}
		return b
	}
	return w.peerItems(b, ind, peers)
}

// fragmentIndent is the indent of every rule's peers: a fragment is
// written for it.
const fragmentIndent = 4

// peerItems writes the items of a peers list at indent.
func (w *policyWriter) peerItems(b []byte, ind int, peers []networkingv1.NetworkPolicyPeer) []byte {
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
			b = append(appendInt32(b, *p.EndPort), '\n')
		}
		if p.Port != nil {
			b = append(w.key(b, ind+2, "port"), ' ')
			switch p.Port.Type {
			case intstr.Int:
				b = appendInt32(b, p.Port.IntVal)
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
	if len(m) <= len(w.known) {
		var hit bool
		if b, hit = w.knownEntries(b, ind+2, m); hit {
			return b
		}
	}
	if len(m) == 1 {
		for k, v := range m {
			b = w.entry(b, ind+2, k, v)
			w.remember([]labelPair{{k, v}})
		}
		return b
	}
	// The pairs of a small map (selectors hold two or three) are sorted on
	// the stack, and taken with their values: no lookup per key after.
	var small [8]labelPair
	if len(m) <= len(small) {
		n := 0
		simple := true
		for k, v := range m {
			small[n] = labelPair{k, v}
			n++
			simple = simple && simpleKey(k)
		}
		pairs := small[:n]
		if simple {
			sortSimplePairs(pairs)
		} else if !sortPairs(pairs) {
			w.ok = false
			return b
		}
		for _, p := range pairs {
			b = w.entry(b, ind+2, p.k, p.v)
		}
		w.remember(pairs)
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

type labelPair struct{ k, v string }

// knownEntries writes m's entries when its keys are the known ones of its
// size, and reports whether they were. (m holds as many distinct keys as
// are known, so when each is found there are no others.)
func (w *policyWriter) knownEntries(b []byte, ind int, m map[string]string) (_ []byte, hit bool) {
	kk := &w.known[len(m)-1]
	if !kk.set {
		return b, false
	}
	var vals [len(kk.keys)]string
	for i, k := range kk.keys[:len(m)] {
		v, ok := m[k]
		if !ok {
			return b, false
		}
		vals[i] = v
	}
	for i, k := range kk.keys[:len(m)] {
		b = indent(b, ind)
		if kk.plain {
			b = append(b, k...)
		} else {
			b = w.str(b, k)
		}
		b = append(b, ": "...)
		b = append(w.str(b, vals[i]), '\n')
	}
	return b, true
}

// remember makes the sorted keys of pairs the known ones of their number.
func (w *policyWriter) remember(pairs []labelPair) {
	if len(pairs) > len(w.known) {
		return
	}
	kk := knownKeys{set: true, plain: true}
	for i, p := range pairs {
		kk.keys[i] = p.k
		kk.plain = kk.plain && plainWord(p.k)
	}
	w.known[len(pairs)-1] = kk
}

// sortPairs sorts pairs by key as sortKeys does, and reports false when
// sortKeys would.
func sortPairs(pairs []labelPair) bool {
	var keys [8]string
	for i, p := range pairs {
		keys[i] = p.k
	}
	if !sortKeys(keys[:len(pairs)]) {
		return false
	}
	// Keys are distinct: put each pair where its key went.
	for i, k := range keys[:len(pairs)] {
		for j := i; j < len(pairs); j++ {
			if pairs[j].k == k {
				pairs[i], pairs[j] = pairs[j], pairs[i]
				break
			}
		}
	}
	return true
}

// simpleKey: k is ASCII without digits. For such keys yaml.v2's order is
// lexicographic over keyRank, and always one order (see sortKeys).
func simpleKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if keyRank[k[i]] == 0 {
			return false
		}
	}
	return true
}

// sortSimplePairs sorts pairs of simpleKey keys in yaml.v2's order, by
// insertion: there are a few.
func sortSimplePairs(pairs []labelPair) {
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && simpleKeyLess(pairs[j].k, pairs[j-1].k); j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
}

// simpleKeyLess is yamlKeyCompare(a, b) < 0 for simpleKey keys: at the
// first byte that differs, letters compare as bytes, a non-letter comes
// before a letter, two non-letters compare as bytes; a prefix comes first.
func simpleKeyLess(a, b string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return keyRank[a[i]] < keyRank[b[i]]
		}
	}
	return len(a) < len(b)
}

// keyRank orders the bytes of simple keys as yamlKeyCompare does: ASCII
// non-letters by byte, then letters by byte. Digits and bytes beyond ASCII
// have rank 0: their keys are not simple.
var keyRank = func() (rank [256]uint16) {
	for c := range utf8.RuneSelf {
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			rank[c] = 0x100 + uint16(c)
		default:
			rank[c] = 1 + uint16(c)
		}
	}
	return rank
}()

func (w *policyWriter) entry(b []byte, ind int, k, v string) []byte {
	b = w.str(indent(b, ind), k)
	b = append(b, ": "...)
	return append(w.str(b, v), '\n')
}

// str writes a string in fastYAML's style for it, or notes that it is
// unsure.
func (w *policyWriter) str(b []byte, s string) []byte {
	if plainWord(s) {
		return append(b, s...)
	}
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

// plainWord is plainString's common case, a byte-table check: s starts
// with a letter, holds only letters, digits and . / -, and is no keyword.
// (Names, label keys and values, protocols.)
func plainWord(s string) bool {
	if len(s) == 0 || len(s) > 128 || wordByte[s[0]] != wordLetter {
		return false
	}
	for i := 1; i < len(s); i++ {
		if wordByte[s[i]] == 0 {
			return false
		}
	}
	return len(s) > 5 || !isYAML11Keyword(s) // keywords are short
}

// wordByte classes the bytes plainWord takes: 0 for those it does not.
const (
	wordLetter = 1 + iota
	wordOther
)

var wordByte = func() (class [256]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			class[c] = wordLetter
		case c >= '0' && c <= '9' || c == '.' || c == '/' || c == '-':
			class[c] = wordOther
		}
	}
	return class
}()

// appendInt32 is strconv.AppendInt for a port: the common ones, of up to
// five digits, written digit by digit, at twice its speed.
func appendInt32(b []byte, v int32) []byte {
	u := uint32(v)
	switch {
	case v < 0 || v > 99999:
		return strconv.AppendInt(b, int64(v), 10)
	case u < 10:
		return append(b, byte('0'+u))
	case u < 100:
		return append(b, byte('0'+u/10), byte('0'+u%10))
	case u < 1000:
		return append(b, byte('0'+u/100), byte('0'+u/10%10), byte('0'+u%10))
	case u < 10000:
		return append(b, byte('0'+u/1000), byte('0'+u/100%10), byte('0'+u/10%10), byte('0'+u%10))
	}
	return append(b, byte('0'+u/10000), byte('0'+u/1000%10), byte('0'+u/100%10), byte('0'+u/10%10), byte('0'+u%10))
}

const spaces = "                                                                "

func indent(b []byte, n int) []byte {
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	return append(b, spaces[:n]...)
}
