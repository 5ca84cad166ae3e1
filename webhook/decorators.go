package webhook

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Warnings of the decorators, for people running kubectl.
const (
	WarningBusy  = "redline: impact not evaluated: server busy, change allowed"
	WarningPanic = "redline: internal error, change allowed without evaluation (see the redline logs)"
)

// decorator wraps a handler with one concern.
type decorator func(admission.Handler) admission.Handler

// chain applies decorators, the first one outermost.
func chain(h admission.Handler, ds ...decorator) admission.Handler {
	for i := len(ds) - 1; i >= 0; i-- {
		h = ds[i](h)
	}
	return h
}

// handlerChain is the chain every admitted kind gets (see the package
// documentation).
func (v *Validator) handlerChain(kind string, core admission.Handler) admission.Handler {
	return chain(core,
		v.withMetrics(kind),
		v.withRecover,
		v.withExemptions,
		v.withSemaphore,
		v.withDryRun,
	)
}

// budgetKey holds the time by which the impact must be known.
type budgetKey struct{}

func withBudget(ctx context.Context, deadline time.Time) context.Context {
	return context.WithValue(ctx, budgetKey{}, deadline)
}

// budgetOf is the impact deadline of the request: Budget after it reached
// the first decorator that set it, else after now.
func (v *Validator) budgetOf(ctx context.Context) time.Time {
	if d, ok := ctx.Value(budgetKey{}).(time.Time); ok {
		return d
	}
	return time.Now().Add(v.opts.Budget)
}

// withMetrics counts and times every request, and starts its budget.
func (v *Validator) withMetrics(kind string) decorator {
	return func(next admission.Handler) admission.Handler {
		return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
			start := time.Now()
			ctx, out := withOutcome(ctx)
			if _, ok := ctx.Value(budgetKey{}).(time.Time); !ok {
				ctx = withBudget(ctx, start.Add(v.opts.Budget))
			}
			resp := next.Handle(ctx, req)

			decision := decisionAllowed
			switch {
			case !resp.Allowed:
				decision = decisionDenied
			case out.exempt:
				decision = decisionExempt
			case out.failedOpen:
				decision = decisionFailedOpen
			case len(resp.Warnings) > 0:
				decision = decisionWarned
			}
			dryRun := req.DryRun != nil && *req.DryRun
			v.metrics.requests.WithLabelValues(string(req.Operation), decision, out.mode, boolLabel(dryRun)).Inc()
			v.metrics.seen.Add(1)
			v.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
			if out.evaluated {
				v.metrics.red.WithLabelValues(kind).Observe(float64(out.red))
			}
			return resp
		})
	}
}

// withRecover turns a panic into an allowed response with a warning: a bug
// in Redline must not block changes to the cluster. The panic is logged
// with its stack.
func (v *Validator) withRecover(next admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) (resp admission.Response) {
		defer func() {
			if r := recover(); r != nil {
				v.log.Error("panic while deciding an admission request; allowed",
					"uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name,
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				outcomeOf(ctx).failedOpen = true
				resp = admission.Allowed("").WithWarnings(WarningPanic)
			}
		}()
		return next.Handle(ctx, req)
	})
}

// requestNamespace is the namespace a request is about: the object's, or
// the Namespace's own name.
func requestNamespace(req *admission.Request) string {
	if req.Namespace == "" && req.Kind.Group == "" && req.Kind.Kind == "Namespace" {
		return req.Name
	}
	return req.Namespace
}

// withExemptions allows, without evaluating, requests in exempt namespaces
// and those of Redline's own service account.
func (v *Validator) withExemptions(next admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if ns := requestNamespace(&req); v.exempt[ns] {
			outcomeOf(ctx).exempt = true
			return admission.Allowed("namespace " + ns + " is exempt from redline")
		}
		if req.UserInfo.Username == v.opts.OwnServiceAccount {
			outcomeOf(ctx).exempt = true
			return admission.Allowed("redline's own request")
		}
		return next.Handle(ctx, req)
	})
}

// withSemaphore bounds the evaluations in flight. A request that cannot get
// a slot within its budget, or whose context ends first, is allowed with
// WarningBusy.
func (v *Validator) withSemaphore(next admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		select {
		case v.slots <- struct{}{}:
		default:
			wait := time.NewTimer(time.Until(v.budgetOf(ctx)))
			defer wait.Stop()
			select {
			case v.slots <- struct{}{}:
			case <-wait.C:
				return v.busy(ctx, req, "budget")
			case <-ctx.Done():
				return v.busy(ctx, req, "context")
			}
		}
		defer func() { <-v.slots }()
		return next.Handle(ctx, req)
	})
}

func (v *Validator) busy(ctx context.Context, req admission.Request, why string) admission.Response {
	v.log.Warn("no evaluation slot; allowed without evaluation", "uid", req.UID, "kind", req.Kind.Kind,
		"namespace", req.Namespace, "name", req.Name, "gaveUpOn", why, "maxConcurrent", v.opts.MaxConcurrent)
	outcomeOf(ctx).failedOpen = true
	return admission.Allowed("").WithWarnings(WarningBusy)
}

// eventKey carries the Event a handler wants for its decision.
type eventKey struct{}

// pendingEvent is the Event of one decision; withDryRun records it.
type pendingEvent struct {
	set     bool
	object  runtime.Object
	warning bool // Warning or Normal
	reason  string
	action  string
	// note writes the Event's note (only when the Event is recorded).
	note func() string
}

func withPendingEvent(ctx context.Context) (context.Context, *pendingEvent) {
	e := &pendingEvent{}
	return context.WithValue(ctx, eventKey{}, e), e
}

// eventOf returns where the handler puts its Event, a throwaway one outside
// withDryRun.
func eventOf(ctx context.Context) *pendingEvent {
	if e, ok := ctx.Value(eventKey{}).(*pendingEvent); ok {
		return e
	}
	return &pendingEvent{}
}

// withDryRun keeps dry-run requests free of side effects: the handler only
// describes the Event of its decision, and withDryRun records it when the
// request is not a dry run (sideEffects: None in the configuration).
func (v *Validator) withDryRun(next admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		ctx, ev := withPendingEvent(ctx)
		resp := next.Handle(ctx, req)
		if !ev.set || ptr.Deref(req.DryRun, false) || v.opts.EventRecorder == nil || ev.object == nil {
			return resp
		}
		typ := "Normal"
		if ev.warning {
			typ = "Warning"
		}
		v.opts.EventRecorder.Eventf(ev.object, nil, typ, ev.reason, ev.action, "%s", truncate(ev.note(), maxEventNote))
		return resp
	})
}

// maxEventNote is the longest Event note the events.k8s.io API accepts
// (1 kB).
const maxEventNote = 1024

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + mark
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
