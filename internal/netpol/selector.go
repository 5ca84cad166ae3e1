package netpol

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// SelectorOf is metav1.LabelSelectorAsSelector, minus the regular
// expressions for the common case. Upstream validates every key and value
// of every selector through regexp, which made selector compilation most of
// the cost of indexing a generated policy. A selector of matchLabels only,
// whose keys and values pass the hand-written checks below, becomes
// labels.SelectorFromValidatedSet (the same requirements, sorted the same
// way); anything else takes the upstream path and gets its errors.
func SelectorOf(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil || len(ls.MatchExpressions) > 0 {
		return metav1.LabelSelectorAsSelector(ls)
	}
	for k, v := range ls.MatchLabels {
		if !IsLabelKey(k) || !IsLabelValue(v) {
			return metav1.LabelSelectorAsSelector(ls)
		}
	}
	return labels.SelectorFromValidatedSet(ls.MatchLabels), nil
}

// IsLabelKey reports whether k is a valid label key: a qualified name, an
// optional DNS-1123 subdomain prefix (≤ 253) and "/", then a name of 1–63
// alphanumerics, '-', '_' and '.', starting and ending alphanumeric. It
// agrees with k8s.io/apimachinery's IsQualifiedName (FuzzLabelChecks).
func IsLabelKey(k string) bool {
	prefix, name := "", k
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			prefix, name = k[:i], k[i+1:]
			if prefix == "" || !isDNS1123Subdomain(prefix) {
				return false
			}
			break
		}
	}
	return name != "" && isLabelName(name)
}

// IsLabelValue reports whether v is a valid label value: empty, or a name
// as in IsLabelKey without a prefix.
func IsLabelValue(v string) bool {
	return v == "" || isLabelName(v)
}

// isLabelName: 1–63 characters of [A-Za-z0-9_.-], alphanumeric at both ends.
func isLabelName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// isDNS1123Subdomain: ≤ 253 characters, dot-separated labels of lowercase
// alphanumerics and '-', each starting and ending alphanumeric.
func isDNS1123Subdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !isLowerAlnum(c) && c != '-' {
				return false
			}
			continue
		}
		label := s[start:i]
		if label == "" || !isLowerAlnum(label[0]) || !isLowerAlnum(label[len(label)-1]) {
			return false
		}
		start = i + 1
	}
	return true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
