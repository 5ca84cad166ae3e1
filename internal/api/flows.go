// Package api serves Redline's HTTP API under /api/v1.
package api

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
)

// DefaultMaxFlowBodyBytes bounds one POST /api/v1/flows, decompressed.
const DefaultMaxFlowBodyBytes = 64 << 20

// Ingester is what the flows endpoint feeds (ingest.Pipeline).
type Ingester interface {
	Ingest(ctx context.Context, r io.Reader, opts ingest.StreamOptions) (ingest.Result, error)
}

// FlowsHandler serves POST /api/v1/flows: a body of flow records, one JSON
// object a line (Hubble's flow JSON or the native NDJSON, told apart line by
// line unless ?format= says), optionally gzip-compressed.
type FlowsHandler struct {
	Ingester Ingester
	// MaxBodyBytes bounds the decompressed body (0: DefaultMaxFlowBodyBytes).
	MaxBodyBytes int64
	// KeepErrors is how many line errors a response lists (0: 20).
	KeepErrors int
}

// FlowsResponse is the JSON answer of POST /api/v1/flows.
type FlowsResponse struct {
	ingest.Result
	// Truncated is set when the body went over the size limit: the lines
	// before the limit were kept.
	Truncated bool   `json:"truncated,omitempty"`
	Message   string `json:"message,omitempty"`
	// Error is set on the statuses answered before the body is read
	// (ErrorResponse).
	Error string `json:"error,omitempty"`
}

func (h *FlowsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST with flow records, one JSON object a line")
		return
	}
	format, err := flow.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !acceptedMediaType(mt) {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send application/x-ndjson (or application/json, text/plain)", ct))
			return
		}
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxFlowBodyBytes
	}
	keep := h.KeepErrors
	if keep <= 0 {
		keep = 20
	}

	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "body is not valid gzip: "+err.Error())
			return
		}
		defer zr.Close()
		// Bound what the body inflates to as well: a small gzip bomb must
		// not become gigabytes of lines.
		body = &limitedReader{r: zr, n: limit}
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q: send gzip or nothing", enc))
		return
	}

	res, err := h.Ingester.Ingest(r.Context(), body, ingest.StreamOptions{Format: format, KeepErrors: keep})
	resp := FlowsResponse{Result: res}
	status := http.StatusOK
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || errors.Is(err, errBodyTooLarge):
		status = http.StatusRequestEntityTooLarge
		resp.Truncated = true
		resp.Message = fmt.Sprintf("body larger than %d bytes: the %d lines before the limit were processed; send smaller batches", limit, res.Lines)
	case err != nil && r.Context().Err() != nil:
		return // the client went away; nothing to answer
	case err != nil:
		status = http.StatusBadRequest
		resp.Message = "reading the body failed after line " + fmt.Sprint(res.Lines) + ": " + err.Error()
	case res.Errors > 0 && res.Errors == res.Lines:
		status = http.StatusBadRequest
		resp.Message = "no line is a valid flow record; see firstErrors"
	case res.Errors > 0:
		resp.Message = fmt.Sprintf("%d of %d lines were rejected (see firstErrors); the others were kept", res.Errors, res.Lines)
	}
	writeJSON(w, status, resp)
}

func acceptedMediaType(mt string) bool {
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json", "text/plain", "application/octet-stream":
		return true
	}
	return false
}

var errBodyTooLarge = errors.New("body too large")

// limitedReader fails, rather than stopping quietly, past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: only the end of the stream is acceptable.
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// ErrorResponse is the JSON body of an error status. Message repeats
// Error for the clients of the first /api/v1 endpoints, which read it.
type ErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
