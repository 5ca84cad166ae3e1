package netpol

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

var labelCheckSeeds = []string{
	"", "a", "A", "app", "app.kubernetes.io/name", "kubernetes.io/metadata.name", "-a", "a-", "a_b", "a.b",
	"a/b/c", "/a", "a/", "A.io/x", "a..b/x", "a.-b/x", "x_y.z-9", strings.Repeat("a", 63), strings.Repeat("a", 64),
	strings.Repeat("a", 253) + "/x", strings.Repeat("a", 254) + "/x", strings.Repeat("a.", 126) + "a/x",
	"é", "a b", "a\x00", "0", "_", ".", "9.9/9", "a.b.c/d_e.f-g",
}

// TestLabelChecksAgreeWithUpstream: the hand-written checks say what
// k8s.io/apimachinery's regular expressions say, on the seeds and on every
// short string over an alphabet of the interesting characters.
func TestLabelChecksAgreeWithUpstream(t *testing.T) {
	inputs := append([]string(nil), labelCheckSeeds...)
	const alphabet = "aZ9-_./"
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		inputs = append(inputs, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 5) // 7^5 + ... ≈ 19,600 strings
	for _, s := range inputs {
		compareLabelChecks(t, s)
	}
}

func FuzzLabelChecks(f *testing.F) {
	for _, s := range labelCheckSeeds {
		f.Add(s)
	}
	f.Fuzz(compareLabelChecks)
}

func compareLabelChecks(t *testing.T, s string) {
	if got, want := IsLabelKey(s), len(validation.IsQualifiedName(s)) == 0; got != want {
		t.Fatalf("IsLabelKey(%q) = %v, upstream %v", s, got, want)
	}
	if got, want := IsLabelValue(s), len(validation.IsValidLabelValue(s)) == 0; got != want {
		t.Fatalf("IsLabelValue(%q) = %v, upstream %v", s, got, want)
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{s: s, "app": "x"}}
	compareSelectors(t, sel)
}

// compareSelectors: SelectorOf returns what LabelSelectorAsSelector does —
// the same error, or a selector with the same string and the same matches.
func compareSelectors(t *testing.T, ls *metav1.LabelSelector) {
	t.Helper()
	got, gotErr := SelectorOf(ls)
	want, wantErr := metav1.LabelSelectorAsSelector(ls)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("SelectorOf(%v) error %v, upstream %v", ls, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if got.String() != want.String() || got.Empty() != want.Empty() {
		t.Fatalf("SelectorOf(%v) = %q (empty %v), upstream %q (empty %v)", ls, got, got.Empty(), want, want.Empty())
	}
	sets := []labels.Set{nil, {"app": "x"}, {"other": "y"}}
	if ls != nil {
		sets = append(sets, ls.MatchLabels)
	}
	for _, set := range sets {
		if got.Matches(set) != want.Matches(set) {
			t.Fatalf("SelectorOf(%v) matches %v: %v, upstream %v", ls, set, got.Matches(set), want.Matches(set))
		}
	}
}

func TestSelectorOfSpecialCases(t *testing.T) {
	for _, ls := range []*metav1.LabelSelector{
		nil,
		{},
		{MatchLabels: map[string]string{}},
		{MatchLabels: map[string]string{"b": "2", "a": "1", "c": ""}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn, Values: []string{"1"}}}},
		{MatchLabels: map[string]string{"a": "1"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "b", Operator: metav1.LabelSelectorOpExists}}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "b", Operator: "Bogus"}}},
		{MatchLabels: map[string]string{"bad key": "1"}},
	} {
		compareSelectors(t, ls)
	}
}
