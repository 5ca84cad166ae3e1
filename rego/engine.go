// Package rego holds Redline's default admission decision policies (embedded
// *.rego files, package redline.admission) and the Engine that compiles them,
// together with user modules from a ConfigMap, and evaluates them.
//
// The package is named after its directory; it imports OPA's rego package as
// oparego.
package rego

import (
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"
	"github.com/prometheus/client_golang/prometheus"
)

// policyFS holds the default policies and their unit tests. Only the modules
// that do not end in _test.rego are compiled into the decision set.
//
//go:embed *.rego
var policyFS embed.FS

// DefaultMaxConnections is how many red connections Decide passes to the
// policies when Options.MaxConnections is zero.
const DefaultMaxConnections = 20

// embeddedPrefix names the default modules in compile errors and in
// Engine.Modules: "embedded/admission.rego".
const embeddedPrefix = "embedded/"

// Event reasons passed to Options.EventSink.
const (
	ReasonCompileFailed = "RegoCompileFailed"
	ReasonPolicyUpdated = "RegoPolicyUpdated"
)

var (
	// ErrCompile wraps every error from Update about modules that do not
	// compile or break the output contract; the last good set stays active.
	ErrCompile = errors.New("rego modules rejected, the previous policy set stays active")
	// ErrOutput is returned by Decide when deny or warn is not a set of
	// messages at evaluation time.
	ErrOutput = errors.New("rego decision output is not a set of messages")
)

// query evaluates both outputs in one pass. Each binding is a list of zero
// values (no such rule) or one (the rule's value), so a missing deny or warn
// is no message rather than an undefined result.
const query = `deny := [x | x := data.redline.admission.deny]; ` +
	`warn := [x | x := data.redline.admission.warn]`

// Decision is the policies' verdict. Both lists are sorted, with continuation
// lines ("and K more") after the others, so the same input always gives the
// same output.
type Decision struct {
	Deny []string `json:"deny,omitempty"`
	Warn []string `json:"warn,omitempty"`
}

// Denied reports whether the request must be rejected.
func (d Decision) Denied() bool { return len(d.Deny) > 0 }

// Options configure an Engine.
type Options struct {
	// Logger gets compile results (default slog.Default()).
	Logger *slog.Logger
	// Registerer, if set, gets redline_rego_compile_errors_total,
	// redline_rego_policy_version and redline_rego_evaluation_duration_seconds.
	Registerer prometheus.Registerer
	// EventSink, if set, is told about rejected and applied policy sets
	// (reasons ReasonCompileFailed, ReasonPolicyUpdated); the caller turns
	// them into Kubernetes Events.
	EventSink func(reason, message string)
	// MaxConnections caps Input.Impact.TurnsRed (default DefaultMaxConnections).
	MaxConnections int
	// Now is the clock for lastSeenText (default time.Now).
	Now func() time.Time
}

// Engine evaluates the active policy set. Decide may run concurrently with
// itself and with Update.
type Engine struct {
	opts    Options
	log     *slog.Logger
	current atomic.Pointer[policySet]

	mu      sync.Mutex // serialises Update and guards lastErr
	lastErr error

	// endpoints are the input terms of recent endpoints, shared by inputs.
	endpoints endpointCache

	compileErrors prometheus.Counter
	version       *prometheus.GaugeVec
	evalDuration  prometheus.Histogram
}

// policySet is one compiled, prepared set of modules. It never changes after
// it is built.
type policySet struct {
	version string
	sources map[string]string // module file name → text
	query   oparego.PreparedEvalQuery
}

// NewEngine compiles the default policies and registers the metrics.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{
		opts: opts,
		log:  opts.Logger.With("component", "rego"),
		compileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redline_rego_compile_errors_total",
			Help: "Rego policy sets rejected because a module does not compile or breaks the output contract.",
		}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redline_rego_policy_version",
			Help: "The active Rego policy set: 1 for its version (a hash of its modules).",
		}, []string{"version"}),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redline_rego_evaluation_duration_seconds",
			Help:    "Time to evaluate the Rego decision for one admission request.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
		}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.compileErrors, e.version, e.evalDuration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register rego metrics: %w", err)
			}
		}
	}
	set, err := e.build(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("compile the embedded default policies: %w", err)
	}
	e.activate(set)
	return e, nil
}

// Update replaces the active set with the default modules plus userModules
// (ConfigMap data: key = file name, value = Rego source). Keys that do not
// end in ".rego", or that end in "_test.rego", are ignored. A user module
// named like a default one ("admission.rego") replaces it; every other
// module is added. An empty map restores the defaults alone.
//
// If the modules do not compile, or deny or warn in package redline.admission
// is not a multi-value rule, the active set is kept, the error (wrapping
// ErrCompile, naming file and line) is returned and reported through the
// metric, the log and the event sink. Applying the set that is already active
// does nothing.
func (e *Engine) Update(userModules map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	sources := e.sources(userModules)
	if cur := e.current.Load(); cur != nil && cur.version == versionOf(sources) {
		e.lastErr = nil
		return nil
	}
	set, err := e.build(context.Background(), sources)
	if err != nil {
		e.lastErr = err
		e.compileErrors.Inc()
		active := e.Version()
		e.log.Error("rejected Rego policy modules; keeping the active set", "activeVersion", active, "err", err)
		e.event(ReasonCompileFailed, fmt.Sprintf("%v (still using policy set %s)", err, active))
		return err
	}
	e.lastErr = nil
	e.activate(set)
	e.log.Info("activated Rego policy set", "version", set.version, "modules", slices.Sorted(maps.Keys(set.sources)))
	e.event(ReasonPolicyUpdated, fmt.Sprintf("policy set %s active (%d modules)", set.version, len(set.sources)))
	return nil
}

// Decide evaluates the active policies for in. The caller's deadline in ctx
// bounds the evaluation. An error means no decision (evaluation failed, or
// the policies broke the output contract); the caller decides how to fail.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("evaluate rego decision: %w", err)
	}
	set := e.current.Load()
	if limit := e.opts.MaxConnections; len(in.Impact.TurnsRed) > limit {
		in.Impact.TurnsRed = in.Impact.TurnsRed[:limit]
	}
	if in.Impact.TurnsRedTotal < len(in.Impact.TurnsRed) {
		in.Impact.TurnsRedTotal = len(in.Impact.TurnsRed)
	}
	if _, err := ParseMode(string(in.Mode)); err != nil {
		return Decision{}, fmt.Errorf("evaluate rego decision: %w", err)
	}
	value, err := in.valueWith(e.opts.Now(), &e.endpoints)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate rego decision: %w", err)
	}

	start := time.Now()
	rs, err := set.query.Eval(ctx, oparego.EvalParsedInput(value))
	e.evalDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate rego policy set %s: %w", set.version, err)
	}
	if len(rs) != 1 {
		return Decision{}, fmt.Errorf("evaluate rego policy set %s: %d results, want 1", set.version, len(rs))
	}
	b := rs[0].Bindings
	var d Decision
	if d.Deny, err = messages("deny", b["deny"]); err != nil {
		return Decision{}, fmt.Errorf("policy set %s: %w", set.version, err)
	}
	if d.Warn, err = messages("warn", b["warn"]); err != nil {
		return Decision{}, fmt.Errorf("policy set %s: %w", set.version, err)
	}
	return d, nil
}

// Version names the active policy set: a hash of its module names and
// sources, the same in every replica that loaded the same modules.
func (e *Engine) Version() string {
	if set := e.current.Load(); set != nil {
		return set.version
	}
	return ""
}

// Ready reports whether a policy set is active (for a healthz checker). A
// rejected update does not make the engine unready: the last good set serves.
func (e *Engine) Ready() error {
	if e.current.Load() == nil {
		return errors.New("no Rego policy set compiled yet")
	}
	return nil
}

// LastUpdateError is the error of the most recent Update, nil if it applied.
func (e *Engine) LastUpdateError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

// Modules returns the active set's module file names and sources.
func (e *Engine) Modules() map[string]string {
	return maps.Clone(e.current.Load().sources)
}

// DefaultModules returns the embedded default policies (without tests), keyed
// by file name ("admission.rego").
func DefaultModules() map[string]string {
	out := map[string]string{}
	for name, src := range embedded() {
		if !strings.HasSuffix(name, "_test.rego") {
			out[name] = src
		}
	}
	return out
}

// embedded returns every embedded .rego file, tests included.
func embedded() map[string]string {
	out := map[string]string{}
	files, _ := fs.Glob(policyFS, "*.rego")
	for _, name := range files {
		b, err := policyFS.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("read embedded %s: %v", name, err)) // cannot happen: the file is in the binary
		}
		out[name] = string(b)
	}
	return out
}

// sources merges the defaults with the user modules into the set to compile.
func (e *Engine) sources(user map[string]string) map[string]string {
	out := map[string]string{}
	for name, src := range DefaultModules() {
		if _, replaced := user[name]; !replaced {
			out[embeddedPrefix+name] = src
		}
	}
	for name, src := range user {
		if path.Ext(name) != ".rego" || strings.HasSuffix(name, "_test.rego") {
			e.log.Debug("ignoring ConfigMap key that is not a Rego policy module", "key", name)
			continue
		}
		out[name] = src
	}
	return out
}

// build compiles and prepares sources (nil: the defaults).
func (e *Engine) build(ctx context.Context, sources map[string]string) (*policySet, error) {
	if sources == nil {
		sources = e.sources(nil)
	}
	compiler, err := compile(sources)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	if err := checkOutputRules(compiler); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	pq, err := oparego.New(
		oparego.Compiler(compiler),
		oparego.Query(query),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: prepare query: %w", ErrCompile, err)
	}
	return &policySet{version: versionOf(sources), sources: sources, query: pq}, nil
}

// compile parses (Rego v1 syntax) and compiles the modules.
func compile(sources map[string]string) (*ast.Compiler, error) {
	modules := make(map[string]*ast.Module, len(sources))
	var parseErrs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		m, err := ast.ParseModuleWithOpts(name, sources[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			var errs ast.Errors
			if errors.As(err, &errs) {
				parseErrs = append(parseErrs, errs...)
				continue
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if m == nil {
			parseErrs = append(parseErrs, ast.NewError(ast.ParseErr, &ast.Location{File: name, Row: 1}, "empty module"))
			continue
		}
		modules[name] = m
	}
	if len(parseErrs) > 0 {
		return nil, parseErrs
	}
	c := newCompiler()
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// newCompiler is the compiler for decision sets and their tests: every
// built-in except those that reach the network, which have no place in an
// admission decision.
func newCompiler() *ast.Compiler {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		return b.Name == "http.send" || b.Name == "net.lookup_ip_addr"
	})
	return ast.NewCompiler().WithCapabilities(caps).WithDefaultRegoVersion(ast.RegoV1)
}

// checkOutputRules rejects deny and warn rules that are not multi-value
// ("deny contains msg if ..."): a boolean `deny if ...` would otherwise never
// deny anything.
func checkOutputRules(c *ast.Compiler) error {
	var errs ast.Errors
	for _, name := range []string{"deny", "warn"} {
		ref := ast.MustParseRef("data.redline.admission." + name)
		for _, rule := range c.GetRules(ref) {
			if rule.Head.RuleKind() == ast.MultiValue && len(rule.Head.Ref()) == 1 {
				continue
			}
			errs = append(errs, ast.NewError(ast.CompileErr, rule.Location,
				"%s must be a set of messages: write `%s contains msg if { ... }`", name, name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// messages turns one output into sorted strings. Elements that are strings
// are used as they are; objects with a string "msg" (conftest style) give
// that; anything else is written as JSON so a denial never disappears.
func messages(name string, binding any) ([]string, error) {
	values, _ := binding.([]any)
	if len(values) == 0 {
		return nil, nil // no such rule
	}
	list, ok := values[0].([]any) // a set (or array) of messages
	if !ok {
		return nil, fmt.Errorf("%w: %s is %s, not a set (write `%s contains msg if { ... }`)", ErrOutput, name, jsonType(values[0]), name)
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(list))
	for _, m := range list {
		out = append(out, message(m))
	}
	sortMessages(out)
	return slices.Compact(out), nil
}

func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

func message(m any) string {
	switch m := m.(type) {
	case string:
		return m
	case map[string]any:
		if s, ok := m["msg"].(string); ok {
			return s
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(m)
	}
	return string(b)
}

// sortMessages sorts lexically, continuation lines ("and 5 more") last.
func sortMessages(msgs []string) {
	slices.SortFunc(msgs, func(a, b string) int {
		ca, cb := strings.HasPrefix(a, "and "), strings.HasPrefix(b, "and ")
		if ca != cb {
			if ca {
				return 1
			}
			return -1
		}
		return cmp.Compare(a, b)
	})
}

func (e *Engine) activate(set *policySet) {
	e.current.Store(set)
	e.version.Reset()
	e.version.WithLabelValues(set.version).Set(1)
}

func (e *Engine) event(reason, msg string) {
	if e.opts.EventSink != nil {
		e.opts.EventSink(reason, msg)
	}
}

func versionOf(sources map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		fmt.Fprintf(h, "%d:%s%d:%s", len(name), name, len(sources[name]), sources[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
