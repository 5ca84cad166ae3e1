package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/inventory/inventorytest"
	"github.com/redline-dev/redline/internal/store"
)

var (
	frontendEP = flow.WorkloadEndpoint("shop", "Deployment", "frontend")
	cartEP     = flow.WorkloadEndpoint("shop", "Deployment", "cart")
)

// hubbleLine is a TCP SYN from frontend to cart as `hubble observe -o
// json` prints it, at the source node.
func hubbleLine(at time.Time, sport int) string {
	ts := at.UTC().Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"flow":{"time":%q,"verdict":"FORWARDED","IP":{"source":"10.244.1.23","destination":"10.244.2.41","ipVersion":"IPv4"},`+
		`"l4":{"TCP":{"source_port":%d,"destination_port":8080,"flags":{"SYN":true}}},`+
		`"source":{"ID":1734,"identity":31245,"namespace":"shop","labels":["k8s:app=frontend","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"frontend-7d9c8b6f5-x2kqp","workloads":[{"name":"frontend","kind":"Deployment"}]},`+
		`"destination":{"ID":2291,"identity":18211,"namespace":"shop","labels":["k8s:app=cart","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"cart-5b7f9d8c6-9hzlw","workloads":[{"name":"cart","kind":"Deployment"}]},`+
		`"Type":"L3_L4","node_name":"kind-kind/kind-worker","destination_service":{"name":"cart","namespace":"shop"},"traffic_direction":"EGRESS","is_reply":false,"Summary":"TCP Flags: SYN"},`+
		`"node_name":"kind-kind/kind-worker","time":%q}`, ts, sport, ts)
}

// nativeLine is a connection from frontend to the cart Service's
// ClusterIP, in the native format.
func nativeLine(at time.Time, sport int) string {
	return fmt.Sprintf(`{"time":%q,"src":"10.244.1.23","src_port":%d,"dst":"10.96.0.10","port":80,"protocol":"TCP","tcp_flags":["SYN"]}`,
		at.UTC().Format(time.RFC3339Nano), sport)
}

func recent() time.Time { return time.Now().Add(-5 * time.Minute) }

// flowsEnv is a FlowsHandler over the real pipeline and a real store.
type flowsEnv struct {
	store   *store.Store
	handler *FlowsHandler
}

func newFlowsEnv(t testing.TB, maxBody int64) *flowsEnv {
	t.Helper()
	ctx := context.Background()
	inv := inventorytest.LoadShop(t)
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	pipe := ingest.New(ingest.Options{Resolver: inventory.FromInventory(inv, inventory.Options{}), Recorder: st})
	return &flowsEnv{store: st, handler: &FlowsHandler{Ingester: pipe, MaxBodyBytes: maxBody}}
}

// egress flushes the store and returns frontend's egress edges.
func (e *flowsEnv) egress(t *testing.T) []flow.Edge {
	t.Helper()
	ctx := context.Background()
	if err := e.store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, out, err := e.store.WorkloadEdges(ctx, frontendEP, now.Add(-2*time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// request is one POST /api/v1/flows.
type request struct {
	method          string // default POST
	query           string
	body            []byte
	contentType     string
	contentEncoding string
}

// response is what came back, its JSON decoded.
type response struct {
	status int
	header http.Header
	body   FlowsResponse
	raw    string
}

func serve(t testing.TB, h http.Handler, req request) response {
	t.Helper()
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	target := "/api/v1/flows"
	if req.query != "" {
		target += "?" + req.query
	}
	r := httptest.NewRequest(method, target, bytes.NewReader(req.body))
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	if req.contentEncoding != "" {
		r.Header.Set("Content-Encoding", req.contentEncoding)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, resp.raw)
	}
	dec := json.NewDecoder(strings.NewReader(resp.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp.body); err != nil {
		t.Errorf("response is not a FlowsResponse: %v: %q", err, resp.raw)
	}
	return resp
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeIngester records what it was given and reads the body to the end,
// as the pipeline does.
type fakeIngester struct {
	mu   sync.Mutex
	body []byte
	opts ingest.StreamOptions
	err  error // returned after reading
}

func (f *fakeIngester) Ingest(_ context.Context, r io.Reader, opts ingest.StreamOptions) (ingest.Result, error) {
	data, err := io.ReadAll(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.opts = data, opts
	n := bytes.Count(data, []byte("\n"))
	if err != nil {
		return ingest.Result{Lines: n}, err
	}
	return ingest.Result{Lines: n, Recorded: n}, f.err
}

func TestFlowsHandlerPassesBodyAndOptions(t *testing.T) {
	body := lines(`{"a":1}`, `{"b":2}`)
	for _, tc := range []struct {
		name       string
		req        request
		wantFormat flow.Format
	}{
		{"plain, auto", request{body: body}, flow.FormatAuto},
		{"ndjson, hubble", request{body: body, query: "format=hubble", contentType: "application/x-ndjson"}, flow.FormatHubble},
		{"parameters on the media type", request{body: body, query: "format=Native", contentType: "application/json; charset=utf-8"}, flow.FormatNative},
		{"gzip", request{body: gzipped(t, body), contentEncoding: "gzip", contentType: "text/plain"}, flow.FormatAuto},
		{"x-gzip, any case", request{body: gzipped(t, body), contentEncoding: " X-GZIP "}, flow.FormatAuto},
		{"identity", request{body: body, contentEncoding: "identity"}, flow.FormatAuto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeIngester{}
			resp := serve(t, &FlowsHandler{Ingester: fake}, tc.req)
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.status, resp.raw)
			}
			if !bytes.Equal(fake.body, body) {
				t.Errorf("ingester read %q, want %q", fake.body, body)
			}
			if fake.opts.Format != tc.wantFormat || fake.opts.KeepErrors != 20 {
				t.Errorf("options = %+v, want format %s and 20 errors kept", fake.opts, tc.wantFormat)
			}
			if resp.body.Lines != 2 || resp.body.Recorded != 2 || resp.body.Truncated || resp.body.Message != "" {
				t.Errorf("response = %+v", resp.body)
			}
		})
	}

	t.Run("KeepErrors", func(t *testing.T) {
		fake := &fakeIngester{}
		serve(t, &FlowsHandler{Ingester: fake, KeepErrors: 3}, request{body: body})
		if fake.opts.KeepErrors != 3 {
			t.Errorf("KeepErrors = %d, want 3", fake.opts.KeepErrors)
		}
	})
	t.Run("read error", func(t *testing.T) {
		fake := &fakeIngester{err: errors.New("disk on fire")}
		resp := serve(t, &FlowsHandler{Ingester: fake}, request{body: body})
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.body.Message, "disk on fire") {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})
}

func TestFlowsHandlerRejects(t *testing.T) {
	fake := &fakeIngester{}
	h := &FlowsHandler{Ingester: fake}
	for _, tc := range []struct {
		name       string
		req        request
		wantStatus int
		wantMsg    string
	}{
		{"GET", request{method: http.MethodGet}, http.StatusMethodNotAllowed, "use POST"},
		{"PUT", request{method: http.MethodPut, body: lines(`{}`)}, http.StatusMethodNotAllowed, "use POST"},
		{"unknown format", request{query: "format=pcap", body: lines(`{}`)}, http.StatusBadRequest, `unknown flow format "pcap"`},
		{"Content-Type xml", request{contentType: "application/xml", body: lines(`{}`)}, http.StatusUnsupportedMediaType, "application/x-ndjson"},
		{"Content-Type form", request{contentType: "application/x-www-form-urlencoded", body: lines(`{}`)}, http.StatusUnsupportedMediaType, "Content-Type"},
		{"malformed Content-Type", request{contentType: "application/json; charset", body: lines(`{}`)}, http.StatusUnsupportedMediaType, "Content-Type"},
		{"Content-Encoding br", request{contentEncoding: "br", body: lines(`{}`)}, http.StatusUnsupportedMediaType, `Content-Encoding "br"`},
		{"Content-Encoding deflate", request{contentEncoding: "deflate", body: lines(`{}`)}, http.StatusUnsupportedMediaType, "send gzip"},
		{"Content-Encoding gzip twice", request{contentEncoding: "gzip, gzip", body: gzipped(t, gzipped(t, lines(`{}`)))}, http.StatusUnsupportedMediaType, "Content-Encoding"},
		{"not gzip", request{contentEncoding: "gzip", body: lines(`{}`)}, http.StatusBadRequest, "not valid gzip"},
		{"empty gzip", request{contentEncoding: "gzip"}, http.StatusBadRequest, "not valid gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.body = nil
			resp := serve(t, h, tc.req)
			if resp.status != tc.wantStatus || !strings.Contains(resp.body.Message, tc.wantMsg) {
				t.Errorf("status %d, message %q; want %d and %q", resp.status, resp.body.Message, tc.wantStatus, tc.wantMsg)
			}
			if fake.body != nil {
				t.Errorf("the ingester was called with %q", fake.body)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed && resp.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", resp.header.Get("Allow"))
			}
		})
	}
}

func TestFlowsHandlerIngests(t *testing.T) {
	at := recent()
	t.Run("good lines", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		resp := serve(t, env.handler, request{body: lines(hubbleLine(at, 40000), hubbleLine(at, 40000), nativeLine(at, 40001)), contentType: "application/x-ndjson"})
		if resp.status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.status, resp.raw)
		}
		if b := resp.body; b.Lines != 3 || b.Recorded != 2 || b.Duplicates != 1 || b.Errors != 0 || b.Message != "" || b.Truncated {
			t.Errorf("response = %+v", b)
		}
		out := env.egress(t)
		if len(out) != 1 || out[0].Dst != cartEP || out[0].Port != 8080 || out[0].Count != 2 || out[0].Service == nil || out[0].Service.Name != "cart" {
			t.Errorf("stored = %+v, want 2 connections frontend → cart TCP/8080 through shop/cart", out)
		}
	})

	t.Run("some bad lines", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		body := lines(hubbleLine(at, 40000), `{"flow":{}}`, "", `not json`, nativeLine(at, 40001), `{"src":"10.0.0.1"}`)
		resp := serve(t, env.handler, request{body: body})
		if resp.status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.status, resp.raw)
		}
		b := resp.body
		if b.Lines != 5 || b.Recorded != 2 || b.Errors != 3 || len(b.FirstErrors) != 3 {
			t.Fatalf("response = %+v", b)
		}
		for i, want := range []int{2, 4, 6} {
			if b.FirstErrors[i].Line != want || b.FirstErrors[i].Error == "" {
				t.Errorf("firstErrors[%d] = %+v, want line %d", i, b.FirstErrors[i], want)
			}
		}
		if !strings.Contains(b.Message, "3 of 5 lines were rejected") || !strings.Contains(b.Message, "the others were kept") {
			t.Errorf("message %q", b.Message)
		}
		// The raw JSON names the fields as docs/api.md does.
		for _, key := range []string{`"lines": 5`, `"errors": 3`, `"firstErrors"`, `"line": 2`} {
			if !strings.Contains(resp.raw, key) {
				t.Errorf("response lacks %s: %s", key, resp.raw)
			}
		}
		if out := env.egress(t); len(out) != 1 || out[0].Count != 2 {
			t.Errorf("stored = %+v, want the 2 good connections", out)
		}
	})

	t.Run("every line bad", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		resp := serve(t, env.handler, request{body: lines(`{`, `[]`, `{"src":"10.0.0.1"}`)})
		if resp.status != http.StatusBadRequest || resp.body.Errors != 3 || resp.body.Lines != 3 || !strings.Contains(resp.body.Message, "no line is a valid flow record") {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("empty body", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		resp := serve(t, env.handler, request{})
		if resp.status != http.StatusOK || resp.body.Lines != 0 {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("only ignored records", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		icmp := `{"time":"` + at.UTC().Format(time.RFC3339) + `","src":"10.244.1.23","dst":"10.244.2.41","protocol":"ICMP"}`
		resp := serve(t, env.handler, request{body: lines(icmp, icmp)})
		if resp.status != http.StatusOK || resp.body.Ignored["icmp"] != 2 || resp.body.Errors != 0 {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("format=native rejects a Hubble line", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		resp := serve(t, env.handler, request{query: url.Values{"format": {"native"}}.Encode(), body: lines(hubbleLine(at, 40000))})
		if resp.status != http.StatusBadRequest || resp.body.Errors != 1 || len(resp.body.FirstErrors) != 1 || resp.body.FirstErrors[0].Line != 1 {
			t.Fatalf("status %d, %+v", resp.status, resp.body)
		}
		if !strings.Contains(resp.body.FirstErrors[0].Error, "Hubble") {
			t.Errorf("error %q does not say the line is a Hubble record", resp.body.FirstErrors[0].Error)
		}
		// format=hubble takes it, and rejects a native line.
		resp = serve(t, env.handler, request{query: "format=hubble", body: lines(hubbleLine(at, 40000), nativeLine(at, 40001))})
		if resp.status != http.StatusOK || resp.body.Recorded != 1 || resp.body.Errors != 1 || resp.body.FirstErrors[0].Line != 2 {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("gzip", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		resp := serve(t, env.handler, request{contentEncoding: "gzip", body: gzipped(t, lines(hubbleLine(at, 40000), nativeLine(at, 40001)))})
		if resp.status != http.StatusOK || resp.body.Recorded != 2 {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
		if out := env.egress(t); len(out) != 1 || out[0].Count != 2 {
			t.Errorf("stored = %+v", out)
		}
	})

	t.Run("corrupt gzip", func(t *testing.T) {
		env := newFlowsEnv(t, 0)
		var body []string
		for i := range 200 {
			body = append(body, hubbleLine(at, 30000+i))
		}
		z := gzipped(t, lines(body...))
		// A valid header, then the deflate stream cut short.
		resp := serve(t, env.handler, request{contentEncoding: "gzip", body: z[:len(z)/2]})
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.body.Message, "reading the body failed") {
			t.Errorf("truncated: status %d, %+v", resp.status, resp.body)
		}
		// A flipped byte in the compressed data (or its checksum).
		bad := bytes.Clone(z)
		bad[len(bad)-6] ^= 0xff
		resp = serve(t, env.handler, request{contentEncoding: "gzip", body: bad})
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.body.Message, "reading the body failed") {
			t.Errorf("corrupt: status %d, %+v", resp.status, resp.body)
		}
	})
}

func TestFlowsHandlerBodyLimit(t *testing.T) {
	at := recent()
	one := hubbleLine(at, 40000) + "\n"
	const limit = 64 << 10

	// exactly builds a body of exactly n bytes of whole lines: n/len(one)
	// records, then one padded with spaces (JSON allows them) to fill.
	exactly := func(n int) []byte {
		k := n / len(one)
		body := bytes.Repeat([]byte(one), k-1)
		pad := n - len(body) - len(one)
		return append(body, []byte(strings.TrimSuffix(one, "\n")+strings.Repeat(" ", pad)+"\n")...)
	}

	t.Run("plain body at the limit", func(t *testing.T) {
		env := newFlowsEnv(t, limit)
		body := exactly(limit)
		if len(body) != limit {
			t.Fatalf("body is %d bytes", len(body))
		}
		resp := serve(t, env.handler, request{body: body})
		if resp.status != http.StatusOK || resp.body.Errors != 0 || resp.body.Lines != limit/len(one) {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("gzip body inflating to the limit", func(t *testing.T) {
		env := newFlowsEnv(t, limit)
		resp := serve(t, env.handler, request{contentEncoding: "gzip", body: gzipped(t, exactly(limit))})
		if resp.status != http.StatusOK || resp.body.Errors != 0 || resp.body.Truncated {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})

	t.Run("plain body over the limit", func(t *testing.T) {
		env := newFlowsEnv(t, limit)
		body := exactly(limit + 1)
		resp := serve(t, env.handler, request{body: body})
		checkTruncated(t, env, resp, limit)
	})

	t.Run("gzip bomb", func(t *testing.T) {
		env := newFlowsEnv(t, limit)
		var raw bytes.Buffer
		for i := 0; raw.Len() < 64*limit; i++ {
			raw.WriteString(hubbleLine(at, 40000+i%4) + "\n")
		}
		z := gzipped(t, raw.Bytes())
		if len(z) >= limit {
			t.Fatalf("compressed body is %d bytes: not a bomb", len(z))
		}
		resp := serve(t, env.handler, request{contentEncoding: "gzip", body: z})
		checkTruncated(t, env, resp, limit)
	})

	// Incompressible data: the gzip body is over the limit, what it
	// inflates to is not (it is at the limit).
	t.Run("compressed body over the limit", func(t *testing.T) {
		env := newFlowsEnv(t, limit)
		raw := make([]byte, limit)
		_, _ = rand.NewChaCha8([32]byte{1}).Read(raw)
		z := gzipped(t, raw)
		if len(z) <= limit {
			t.Fatalf("compressed body is %d bytes", len(z))
		}
		resp := serve(t, env.handler, request{contentEncoding: "gzip", body: z})
		if resp.status != http.StatusRequestEntityTooLarge || !resp.body.Truncated {
			t.Errorf("status %d, %+v", resp.status, resp.body)
		}
	})
}

// checkTruncated: 413, truncated, and the whole lines before the limit
// were ingested and stored.
func checkTruncated(t *testing.T, env *flowsEnv, resp response, limit int) {
	t.Helper()
	if resp.status != http.StatusRequestEntityTooLarge || !resp.body.Truncated {
		t.Fatalf("status %d, %+v", resp.status, resp.body)
	}
	if !strings.Contains(resp.body.Message, fmt.Sprintf("larger than %d bytes", limit)) || !strings.Contains(resp.body.Message, "send smaller batches") {
		t.Errorf("message %q", resp.body.Message)
	}
	if resp.body.Lines == 0 || resp.body.Errors != 0 || resp.body.Recorded == 0 {
		t.Errorf("response = %+v, want the lines before the limit ingested", resp.body)
	}
	if out := env.egress(t); len(out) != 1 || out[0].Count != uint64(resp.body.Recorded) {
		t.Errorf("stored = %+v, want %d connections", out, resp.body.Recorded)
	}
}

func TestReadyGate(t *testing.T) {
	fake := &fakeIngester{}
	next := &FlowsHandler{Ingester: fake}
	var mu sync.Mutex
	readyErr := errors.New("inventory caches not synced")
	ready := func() error {
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	}
	h := readyGate(ready, next)

	resp := serve(t, h, request{body: lines(`{}`)})
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" ||
		!strings.Contains(resp.body.Message, "not ready: inventory caches not synced") {
		t.Errorf("not ready: status %d, Retry-After %q, %+v", resp.status, resp.header.Get("Retry-After"), resp.body)
	}
	if fake.body != nil {
		t.Error("the body was ingested before the API was ready")
	}

	mu.Lock()
	readyErr = nil
	mu.Unlock()
	resp = serve(t, h, request{body: lines(`{}`)})
	if resp.status != http.StatusOK || resp.header.Get("Retry-After") != "" || string(fake.body) != "{}\n" {
		t.Errorf("ready: status %d, %+v", resp.status, resp.body)
	}

	if readyGate(nil, next) != http.Handler(next) {
		t.Error("readyGate(nil) should be the handler itself")
	}
}

// FuzzFlowsHandler sends random bodies and headers through the handler
// and the real pipeline: it never panics and always answers JSON with a
// 2xx or 4xx status whose counts add up.
func FuzzFlowsHandler(f *testing.F) {
	at := recent()
	f.Add([]byte(hubbleLine(at, 40000)+"\n"+nativeLine(at, 40001)+"\n"), "", "", "", false)
	f.Add([]byte(hubbleLine(at, 40000)+"\nnot json\n"), "application/x-ndjson", "", "hubble", true)
	f.Add([]byte(nativeLine(at, 40001)), "application/json; charset=utf-8", "gzip", "native", true)
	f.Add([]byte("\xef\xbb\xbf{}\r\n\r\n[1]"), "text/plain", "identity", "auto", false)
	f.Add(bytes.Repeat([]byte(nativeLine(at, 40001)+"\n"), 100), "", "gzip", "", true)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, "", "gzip", "", false)

	env := newFlowsEnv(f, 4<<10)
	f.Fuzz(func(t *testing.T, body []byte, contentType, contentEncoding, format string, compress bool) {
		if compress {
			body = gzipped(t, body)
		}
		req := httptest.NewRequest(http.MethodPost, "/api/v1/flows?"+url.Values{"format": {format}}.Encode(), bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Encoding", contentEncoding)
		w := httptest.NewRecorder()
		env.handler.ServeHTTP(w, req)

		if w.Code < 200 || w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var resp FlowsResponse
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("not JSON: %v: %q", err, w.Body)
		}
		if w.Code >= 400 && resp.Message == "" {
			t.Fatalf("status %d without a message: %s", w.Code, w.Body)
		}
		ignored := 0
		for _, n := range resp.Ignored {
			ignored += n
		}
		if got := resp.Recorded + resp.Duplicates + resp.Replies + ignored + resp.Errors; got != resp.Lines {
			t.Fatalf("counts add up to %d, not %d lines: %s", got, resp.Lines, w.Body)
		}
		if len(resp.FirstErrors) > min(resp.Errors, 20) {
			t.Fatalf("%d errors listed of %d", len(resp.FirstErrors), resp.Errors)
		}
		for i, le := range resp.FirstErrors {
			if le.Line < 1 || (i > 0 && le.Line <= resp.FirstErrors[i-1].Line) || le.Error == "" {
				t.Fatalf("bad line error %+v: %s", le, w.Body)
			}
		}
	})
}
