package webhook

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redline-dev/redline/internal/netpol"
)

// explanationLineSprintf is explanationLine as first written (with
// fmt.Sprintf and strings.Join), which the faster one must match.
func explanationLineSprintf(e *netpol.Explanation) string {
	var parts []string
	for _, s := range []netpol.Side{e.Egress, e.Ingress} {
		if s.Allowed || !s.Subject {
			continue
		}
		dir := strings.ToLower(string(s.Direction))
		if len(s.IsolatedBy) == 0 {
			parts = append(parts, fmt.Sprintf("%s at %s: %s", dir, s.Endpoint, s.Reason))
			continue
		}
		by := s.IsolatedBy
		more := ""
		if len(by) > 3 {
			by, more = by[:3], fmt.Sprintf(" and %d more", len(by)-3)
		}
		parts = append(parts, fmt.Sprintf("%s at %s isolated by %s%s, no rule allows it", dir, s.Endpoint, strings.Join(by, ", "), more))
	}
	return oneLineSlow(strings.Join(parts, "; "), maxExplanationBytes)
}

// oneLineSlow is oneLine without its shortcut.
func oneLineSlow(s string, n int) string {
	return truncate(strings.Join(strings.Fields(sanitize(s)), " "), n)
}

// TestExplanationLine: explanationLine and oneLine write what the plain
// versions do, over random explanations and strings (spaces, control
// characters, invalid UTF-8, long ones).
func TestExplanationLine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	words := []string{"shop/cart[Deployment]", "shop/p1", "a  b", " lead", "trail ", "tab\there", "new\nline", "\x7f", "é", "\xff", "", "x", strings.Repeat("long ", 40)}
	text := func() string {
		var b strings.Builder
		for range r.IntN(5) {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(2) == 0 {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	side := func(dir netpol.Direction) netpol.Side {
		s := netpol.Side{Direction: dir, Endpoint: text(), Subject: r.IntN(4) > 0, Allowed: r.IntN(4) == 0, Reason: text()}
		for range r.IntN(6) {
			s.IsolatedBy = append(s.IsolatedBy, text())
		}
		return s
	}
	for range 5000 {
		dirs := []netpol.Direction{netpol.Egress, netpol.Ingress, "Sideways"}
		e := &netpol.Explanation{Egress: side(dirs[r.IntN(3)]), Ingress: side(dirs[r.IntN(3)])}
		if got, want := explanationLine(e), explanationLineSprintf(e); got != want {
			t.Fatalf("explanationLine(%+v) = %q, want %q", e, got, want)
		}
		s, n := text(), 8+r.IntN(300) // truncate needs room for its mark
		if got, want := oneLine(s, n), oneLineSlow(s, n); got != want {
			t.Fatalf("oneLine(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
}
