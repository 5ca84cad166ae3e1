package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// maxReviewBytes bounds an AdmissionReview body: two objects of at most
// 3 MB each and the rest (controller-runtime's limit).
const maxReviewBytes = 7 << 20

// Register serves the Validator's handlers on srv at PathNetworkPolicy and
// PathNamespace. srv instruments them with controller-runtime's webhook
// metrics.
func (v *Validator) Register(srv ctrlwebhook.Server) {
	srv.Register(PathNetworkPolicy, ReviewHandler(v.NetworkPolicyHandler(), v.log))
	srv.Register(PathNamespace, ReviewHandler(v.NamespaceHandler(), v.log))
}

// ReviewHandler serves h over HTTP with a strict decoder: a POST of an
// admission.k8s.io/v1 AdmissionReview (application/json) with a request
// that has a uid. Anything else gets an HTTP error status (400, 405, 413,
// 415) and a metav1.Status body, rather than controller-runtime's HTTP 200
// with an error inside; the API server then applies the failure policy.
func ReviewHandler(h admission.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &reviewHandler{handler: h, log: log}
}

type reviewHandler struct {
	handler admission.Handler
	log     *slog.Logger
}

// errBadReview is wrapped by decodeReview's errors.
var errBadReview = errors.New("malformed AdmissionReview")

func (rh *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rh.fail(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s: POST an AdmissionReview", r.Method))
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		rh.fail(w, r, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/json", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		rh.fail(w, r, http.StatusBadRequest, fmt.Errorf("read the request body: %w", err))
		return
	}
	if len(body) > maxReviewBytes {
		rh.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", maxReviewBytes))
		return
	}
	req, err := decodeReview(body)
	if err != nil {
		rh.fail(w, r, http.StatusBadRequest, err)
		return
	}

	resp := rh.handler.Handle(r.Context(), req)
	if err := resp.Complete(req); err != nil {
		// Only JSON patches can fail here, and validators have none.
		rh.log.Error("complete admission response", "uid", req.UID, "err", err)
		resp = admission.Allowed("")
		_ = resp.Complete(req)
	}
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	b, err := json.Marshal(out)
	if err != nil {
		rh.fail(w, r, http.StatusInternalServerError, fmt.Errorf("encode the AdmissionReview response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// decodeReview reads an admission.k8s.io/v1 AdmissionReview that has a
// request with a uid, a kind and an operation.
func decodeReview(body []byte) (admission.Request, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return admission.Request{}, fmt.Errorf("%w: %w", errBadReview, err)
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return admission.Request{}, fmt.Errorf("%w: apiVersion %q kind %q, want admission.k8s.io/v1 AdmissionReview", errBadReview, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return admission.Request{}, fmt.Errorf("%w: no request", errBadReview)
	}
	if review.Request.UID == "" || review.Request.Kind.Kind == "" || review.Request.Operation == "" {
		return admission.Request{}, fmt.Errorf("%w: request without uid, kind or operation", errBadReview)
	}
	return admission.Request{AdmissionRequest: *review.Request}, nil
}

func (rh *reviewHandler) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	rh.log.Warn("refused admission review", "code", code, "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Message:  err.Error(),
		Reason:   metav1.StatusReasonBadRequest,
		Code:     int32(code),
	}
	b, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
