package webhook

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/rego"
)

// Event reasons on the admitted object.
const (
	ReasonWarned = "RedlineWarning" // allowed with warnings
	ReasonDenied = "RedlineDenied"  // rejected
	eventAction  = "Admit"
)

// WarningDecisionFailed starts the warning of a request allowed because the
// Rego evaluation failed.
const WarningDecisionFailed = "redline: decision failed, change allowed: "

// Limits of what the API server passes on (k8s.io/apiserver
// pkg/endpoints/filters/warning.go): warnings with control characters are
// dropped; past 4096 runes in all, every warning is cut to 256 runes and
// later ones are dropped. Each warning is kept within 256 runes, and
// Redline's within 3072 runes in all, leaving room for other webhooks'.
const (
	maxWarningRunes  = 256
	maxWarningsRunes = 3072
	// maxDenialBytes bounds the denial message (kubectl prints it whole).
	maxDenialBytes = 8192
	// maxReasonBytes bounds an unknown-impact reason inside a warning.
	maxReasonBytes = 160
	// maxExplanationBytes bounds a connection's explanation.
	maxExplanationBytes = 240
)

// analyzeFunc computes the impact of one request over the namespace's
// edges.
type analyzeFunc func(ctx context.Context, a *impact.Analyzer, edges []flow.Edge) (impact.Impact, error)

// subject is what one request is about, as the shared decision needs it.
type subject struct {
	// namespace is the namespace whose mode applies and whose observed
	// edges are read; labels are its labels (before the change).
	namespace string
	labels    map[string]string
	// object is the admitted object (the old one on DELETE), for Events.
	object  runtime.Object
	analyze analyzeFunc
}

// decide computes the impact within the budget, asks the Decider and turns
// its decision into the response, describing the Event for withDryRun.
func (v *Validator) decide(ctx context.Context, req admission.Request, s subject) admission.Response {
	out := outcomeOf(ctx)
	mode, modeWarning := rego.ResolveMode(s.namespace, s.labels, v.opts.GlobalMode)
	out.mode = string(mode)
	in := rego.Input{
		Request:     requestOf(&req),
		Object:      req.Object.Raw,
		OldObject:   req.OldObject.Raw,
		Namespace:   rego.Namespace{Name: s.namespace, Labels: s.labels},
		Mode:        mode,
		ModeWarning: modeWarning,
	}
	if mode == rego.ModeOff {
		in.Impact = rego.Impact{Unknown: true, UnknownReason: "not computed in mode off", Window: v.opts.Window}
	} else {
		in.Impact = v.impactWithin(ctx, s)
		out.evaluated = !in.Impact.Unknown && !in.Impact.Incomplete
		out.red = in.Impact.TurnsRedTotal
		out.failedOpen = in.Impact.Incomplete
	}

	d, err := v.deps.Decider.Decide(ctx, in)
	if err != nil {
		v.log.Error("rego decision failed; allowed", "uid", req.UID, "kind", req.Kind.Kind,
			"namespace", req.Namespace, "name", req.Name, "err", err)
		out.failedOpen = true
		return admission.Allowed("").WithWarnings(sanitize(truncateRunes(WarningDecisionFailed+err.Error(), maxWarningRunes)))
	}
	warnings := fitWarnings(d.Warn)
	ev := eventOf(ctx)
	// The Event's note is written only when the Event is recorded.
	op, kind, name, user := string(req.Operation), req.Kind.Kind, objectName(&req), req.UserInfo.Username
	who := func() string {
		return fmt.Sprintf("%s of %s %s by %s", strings.ToLower(op), kind, name, user)
	}
	if d.Denied() {
		resp := admission.Denied(truncate(strings.Join(d.Deny, "\n"), maxDenialBytes))
		resp.Warnings = warnings
		*ev = pendingEvent{set: true, object: s.object, warning: true, reason: ReasonDenied, action: eventAction,
			note: func() string { return "denied " + who() + ": " + strings.Join(d.Deny, "; ") }}
		return resp
	}
	resp := admission.Allowed("")
	resp.Warnings = warnings
	if len(warnings) > 0 {
		*ev = pendingEvent{set: true, object: s.object, warning: true, reason: ReasonWarned, action: eventAction,
			note: func() string { return "allowed " + who() + " with warnings: " + strings.Join(d.Warn, "; ") }}
	}
	return resp
}

func objectName(req *admission.Request) string {
	if req.Namespace == "" {
		return req.Name
	}
	return req.Namespace + "/" + req.Name
}

// impactResult is the outcome of one impact computation.
type impactResult struct {
	imp impact.Impact
	// unknown, when set, says why the impact could not be computed.
	unknown string
}

// impactWithin computes the impact, giving up at the request's budget
// (the result is then Incomplete: the Rego policy allows with a warning).
// The computation is not interruptible once the edges are read: it goes on
// in the background and its result is dropped.
func (v *Validator) impactWithin(ctx context.Context, s subject) rego.Impact {
	ctx, cancel := context.WithDeadline(ctx, v.budgetOf(ctx))
	defer cancel()
	done := make(chan impactResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				v.log.Error("panic while computing the impact", "namespace", s.namespace, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				done <- impactResult{unknown: "internal error (see the redline logs)"}
			}
		}()
		done <- v.computeImpact(ctx, s)
	}()
	select {
	case r := <-done:
		return v.regoImpact(r)
	case <-ctx.Done():
		v.log.Warn("impact not computed within the budget; allowed with a warning", "namespace", s.namespace, "budget", v.opts.Budget)
		return rego.Impact{Incomplete: true, Window: v.opts.Window}
	}
}

// computeImpact reads the edges and runs the analysis.
func (v *Validator) computeImpact(ctx context.Context, s subject) impactResult {
	if !v.deps.Cluster.Synced() {
		return impactResult{unknown: "cluster inventory not synced yet"}
	}
	a, err := v.analyzer()
	if err != nil {
		return impactResult{unknown: err.Error()}
	}
	now := v.opts.Now()
	edges, err := v.deps.Edges.NamespaceEdges(ctx, s.namespace, now.Add(-v.opts.Window), now.Add(futureSlack))
	if err != nil {
		if ctx.Err() != nil {
			<-ctx.Done() // out of budget: impactWithin reports it
			return impactResult{}
		}
		v.log.Error("read observed edges", "namespace", s.namespace, "err", err)
		return impactResult{unknown: "flow store unavailable: " + err.Error()}
	}
	imp, err := s.analyze(ctx, a, edges)
	if err != nil {
		if errors.Is(err, netpol.ErrInvalidPolicy) || errors.Is(err, impact.ErrInvalidChange) {
			return impactResult{unknown: err.Error()}
		}
		v.log.Error("impact analysis failed", "namespace", s.namespace, "err", err)
		return impactResult{unknown: "analysis failed: " + err.Error()}
	}
	return impactResult{imp: imp}
}

// regoImpact turns an impact into the Rego input's.
func (v *Validator) regoImpact(r impactResult) rego.Impact {
	if r.unknown != "" {
		return rego.Impact{Unknown: true, UnknownReason: oneLine(r.unknown, maxReasonBytes), Window: v.opts.Window}
	}
	imp := r.imp
	out := rego.Impact{
		TurnsRedTotal:   imp.Totals.TurnsRed.Connections,
		TurnsGreenTotal: imp.Totals.TurnsGreen.Connections,
		StaysRedTotal:   imp.Totals.StaysRed.Connections,
		Unknown:         imp.Unknown,
		Window:          imp.Window,
	}
	if imp.Unknown {
		out.UnknownReason = oneLine(imp.Reason, maxReasonBytes)
	}
	listed := imp.TurnsRed[:min(len(imp.TurnsRed), v.opts.MaxListed)]
	out.TurnsRed = make([]rego.Connection, len(listed))
	for i := range listed {
		out.TurnsRed[i] = connectionOf(&listed[i])
	}
	return out
}

func connectionOf(c *impact.Connection) rego.Connection {
	rc := rego.Connection{
		Src:      endpointOf(c.Src),
		Dst:      endpointOf(c.Dst),
		Protocol: c.Protocol.String(),
		Port:     int32(c.Port),
		Count:    int64(min(c.Count, math.MaxInt64)),
		LastSeen: c.LastSeen,
	}
	if c.Service != nil {
		rc.Service = c.Service.Namespace + "/" + c.Service.Name
	}
	if c.Explanation != nil {
		rc.Explanation = explanationLine(c.Explanation)
	}
	return rc
}

func endpointOf(e flow.Endpoint) rego.Endpoint {
	switch e.Kind {
	case flow.EndpointWorkload:
		return rego.Endpoint{Namespace: e.Namespace, Kind: e.WorkloadKind, Name: e.Name}
	case flow.EndpointNode:
		return rego.Endpoint{Kind: "Node", Name: e.Name, Text: e.Name + "[Node]"}
	default:
		out := rego.Endpoint{Alias: e.Alias}
		if e.Addr.IsValid() {
			out.Address = e.Addr.String()
			out.Class = e.Class.String()
		}
		return out
	}
}

// explanationLine says in one line which side denies a connection.
func explanationLine(e *netpol.Explanation) string {
	// The pieces, measured first: the line is written in one allocation.
	var buf [32]string
	pieces := buf[:0]
	for _, s := range [...]*netpol.Side{&e.Egress, &e.Ingress} {
		if s.Allowed || !s.Subject {
			continue
		}
		if len(pieces) > 0 {
			pieces = append(pieces, "; ")
		}
		pieces = append(pieces, lowerDirection(s.Direction), " at ", s.Endpoint)
		if len(s.IsolatedBy) == 0 {
			pieces = append(pieces, ": ", s.Reason)
			continue
		}
		by := s.IsolatedBy
		pieces = append(pieces, " isolated by ")
		for i, name := range by[:min(len(by), 3)] {
			if i > 0 {
				pieces = append(pieces, ", ")
			}
			pieces = append(pieces, name)
		}
		if len(by) > 3 {
			pieces = append(pieces, " and ", strconv.Itoa(len(by)-3), " more")
		}
		pieces = append(pieces, ", no rule allows it")
	}
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range pieces {
		b.WriteString(p)
	}
	return oneLine(b.String(), maxExplanationBytes)
}

// lowerDirection is strings.ToLower(string(d)), without allocating for
// the two directions.
func lowerDirection(d netpol.Direction) string {
	switch d {
	case netpol.Egress:
		return "egress"
	case netpol.Ingress:
		return "ingress"
	}
	return strings.ToLower(string(d))
}

func requestOf(req *admission.Request) rego.Request {
	return rego.Request{
		UID:       string(req.UID),
		Operation: string(req.Operation),
		Kind:      rego.Kind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind},
		Namespace: req.Namespace,
		Name:      req.Name,
		UserInfo:  rego.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:    ptr.Deref(req.DryRun, false),
	}
}

// fitWarnings prepares the decision's warnings for the API server: control
// characters (which make it drop a warning) become spaces, each warning is
// cut to maxWarningRunes, and warnings past maxWarningsRunes in all are
// replaced by one that counts them.
func fitWarnings(msgs []string) []string {
	if len(msgs) == 0 {
		return nil
	}
	const reserve = 64 // room for the "more" line
	out := make([]string, 0, len(msgs))
	total := 0
	for i, m := range msgs {
		m = truncateRunes(sanitize(m), maxWarningRunes)
		if m == "" {
			continue
		}
		n := utf8.RuneCountInString(m)
		last := i == len(msgs)-1
		if total+n > maxWarningsRunes-reserve && !(last && total+n <= maxWarningsRunes) {
			out = append(out, fmt.Sprintf("redline: %d more warnings not shown (see the Event on the object)", len(msgs)-i))
			break
		}
		out = append(out, m)
		total += n
	}
	return out
}

// sanitize replaces control characters, which the API server refuses in
// warnings, with spaces, and invalid UTF-8 with U+FFFD.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncateRunes cuts s to at most n runes, marking the cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// oneLine makes s a single line of at most n bytes: control characters
// and runs of white space become one space, none at either end.
func oneLine(s string, n int) string {
	if !isOneLine(s) {
		s = strings.Join(strings.Fields(sanitize(s)), " ")
	}
	return truncate(s, n)
}

// isOneLine reports whether s is printable ASCII with single spaces
// between words and none at either end: what oneLine leaves as is.
func isOneLine(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < ' ' || c >= 0x7f:
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			return false
		}
	}
	return true
}
