// Package ingest is the path from a flow record to a stored edge: decode,
// dedupe, resolve both ends to workloads or classified addresses, and hand
// the connection to the store's in-memory aggregate.
package ingest

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redline-dev/redline/internal/flow"
)

// Resolver maps a flow peer, at the time of the flow, to an endpoint and the
// Service it was reached through (inventory.Cluster does this).
type Resolver interface {
	Resolve(p flow.Peer, at time.Time) (flow.Endpoint, *flow.ServiceRef)
}

// PortTranslator, when the Resolver implements it, maps a Service port to
// the port the backend listens on: a flow seen before DNAT (to a ClusterIP)
// is recorded on the target port, the one NetworkPolicies judge.
type PortTranslator interface {
	TargetPort(svc *flow.ServiceRef, proto flow.Protocol, port uint16, backend flow.Endpoint) (uint16, bool)
}

// Recorder aggregates connections (store.Store does this).
type Recorder interface {
	Record(key flow.EdgeKey, at time.Time, verdict flow.Verdict, svc *flow.ServiceRef, names []string)
}

// VerdictRecorder, when the Recorder implements it, also learns that a
// connection already counted got a more severe verdict elsewhere (forwarded
// at the source node, dropped at the destination).
type VerdictRecorder interface {
	RecordVerdict(key flow.EdgeKey, at time.Time, verdict flow.Verdict)
}

// Options configure a Pipeline.
type Options struct {
	Resolver Resolver
	Recorder Recorder
	Dedupe   flow.DedupeOptions
	// Registerer, if set, gets redline_flows_ingested_total.
	Registerer prometheus.Registerer
}

// Pipeline ingests flow streams. It is safe for concurrent use: streams
// decode in parallel; the dedupe memory is shared, so a connection reported
// by two nodes in two requests still counts once.
type Pipeline struct {
	resolver Resolver
	ports    PortTranslator
	recorder Recorder
	verdicts VerdictRecorder

	mu     sync.Mutex
	dedupe *flow.Deduper

	ingested *prometheus.CounterVec
}

// New builds a Pipeline.
func New(opts Options) *Pipeline {
	p := &Pipeline{
		resolver: opts.Resolver,
		recorder: opts.Recorder,
		dedupe:   flow.NewDeduper(opts.Dedupe),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redline_flows_ingested_total",
			Help: "Flow records ingested, by source format and result (recorded, duplicate, reply, ignored, error).",
		}, []string{"source", "result"}),
	}
	p.verdicts, _ = opts.Recorder.(VerdictRecorder)
	p.ports, _ = opts.Resolver.(PortTranslator)
	if opts.Registerer != nil {
		// A second pipeline on the same registry (tests, restarts in one
		// process) shares the first one's counters.
		if err := opts.Registerer.Register(p.ingested); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				p.ingested = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return p
}

// Result counts what a stream held and what became of it.
type Result struct {
	// Lines is the number of non-blank lines.
	Lines int `json:"lines"`
	// Recorded connections were new and reached the store.
	Recorded int `json:"recorded"`
	// Duplicates were connections already counted (the other end's
	// report, later packets; one with a more severe verdict adds that
	// verdict to the stored edge); Replies the reply direction.
	Duplicates int `json:"duplicates"`
	Replies    int `json:"replies"`
	// Ignored records are not connections (ICMP, L7-only, ...), by reason.
	Ignored map[string]int `json:"ignored,omitempty"`
	// Errors is the number of bad lines; the first ones are listed.
	Errors      int         `json:"errors"`
	FirstErrors []LineError `json:"firstErrors,omitempty"`
}

// IgnoredTotal is the number of ignored records, all reasons together.
func (r Result) IgnoredTotal() int {
	n := 0
	for _, c := range r.Ignored {
		n += c
	}
	return n
}

// LineError is a bad line, for people and for JSON.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// StreamOptions describe one stream.
type StreamOptions struct {
	Format flow.Format
	// MaxLineBytes bounds a line (0: flow.DefaultMaxLineBytes).
	MaxLineBytes int
	// DefaultTime stamps records without a time.
	DefaultTime time.Time
	// KeepErrors is how many line errors the Result lists (0: 10).
	KeepErrors int
}

// Ingest reads a stream of flow records. Bad lines are counted and listed
// with their numbers while good lines are kept; the error is only for a
// failed read or a cancelled context, and what was read before it is kept.
func (p *Pipeline) Ingest(ctx context.Context, r io.Reader, opts StreamOptions) (Result, error) {
	var res Result
	counts := make(map[flow.Format]*[4]int) // recorded, duplicate, reply, verdict
	st, err := flow.ReadFlows(ctx, r, flow.ReadOptions{
		Format:       opts.Format,
		MaxLineBytes: opts.MaxLineBytes,
		DefaultTime:  opts.DefaultTime,
		KeepErrors:   opts.KeepErrors,
	}, func(f *flow.Flow) error {
		c := counts[flow.Format(f.Source)]
		if c == nil {
			c = new([4]int)
			counts[flow.Format(f.Source)] = c
		}
		c[p.Handle(f)-1]++
		return nil
	})
	res.Lines, res.Errors = st.Lines, st.Errors
	for _, le := range st.FirstErrors {
		res.FirstErrors = append(res.FirstErrors, LineError{Line: le.Line, Error: le.Err.Error()})
	}
	for reason, n := range st.Ignored {
		if res.Ignored == nil {
			res.Ignored = map[string]int{}
		}
		res.Ignored[string(reason)] += n
	}
	for format, c := range counts {
		// A verdict escalation is another report of a connection already
		// counted: it adds its verdict to the edge, not a connection.
		res.Recorded += c[0]
		res.Duplicates += c[1] + c[3]
		res.Replies += c[2]
		source := string(format)
		p.ingested.WithLabelValues(source, "recorded").Add(float64(c[0]))
		p.ingested.WithLabelValues(source, "duplicate").Add(float64(c[1]))
		p.ingested.WithLabelValues(source, "reply").Add(float64(c[2]))
		p.ingested.WithLabelValues(source, "verdict").Add(float64(c[3]))
	}
	stream := string(opts.Format)
	if stream == "" {
		stream = string(flow.FormatAuto)
	}
	p.ingested.WithLabelValues(stream, "ignored").Add(float64(st.IgnoredTotal()))
	p.ingested.WithLabelValues(stream, "error").Add(float64(st.Errors))
	return res, err
}

// Handle processes one decoded flow: dedupe, resolve, record. It returns
// what the dedupe made of it.
func (p *Pipeline) Handle(f *flow.Flow) flow.Seen {
	p.mu.Lock()
	seen := p.dedupe.Observe(f)
	p.mu.Unlock()
	if seen != flow.SeenNew && seen != flow.SeenVerdict {
		return seen
	}
	src, _ := p.resolver.Resolve(f.Src, f.Time)
	dst, svc := p.resolver.Resolve(f.Dst, f.Time)
	port := f.DstPort
	switch {
	case svc == nil:
		// Seen after DNAT (as Hubble reports): the port is the backend's.
		svc = f.Service
	case p.ports != nil:
		// The address was the Service's own: translate its port.
		if target, ok := p.ports.TargetPort(svc, f.Protocol, port, dst); ok {
			port = target
		}
	}
	key := flow.EdgeKey{Src: src, Dst: dst, Protocol: f.Protocol, Port: port}
	if seen == flow.SeenVerdict {
		if p.verdicts != nil {
			p.verdicts.RecordVerdict(key, f.Time, f.Verdict)
		}
		return seen
	}
	p.recorder.Record(key, f.Time, f.Verdict, svc, f.Dst.Names)
	return seen
}
