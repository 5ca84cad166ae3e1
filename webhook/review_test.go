package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func reviewJSON(t testing.TB, req *admissionv1.AdmissionRequest) []byte {
	return mustJSON(t, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
}

// reviewSeeds are valid and broken reviews for both handlers.
func reviewSeeds(t testing.TB) [][]byte {
	np := policyRequest(t, admissionv1.Create, nil, denyAllIngress("strict", "deny"))
	upd := policyRequest(t, admissionv1.Update, allowCart("shop", "cart"), denyAllIngress("shop", "cart"))
	del := policyRequest(t, admissionv1.Delete, allowCart("shop", "cart"), nil)
	ns := namespaceRequest(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "b"}}})
	weird := policyRequest(t, admissionv1.Create, nil, denyAllIngress("shop", "x"))
	weird.Object.Raw = []byte(`{"spec":{"podSelector":{"matchExpressions":[{"key":"a","operator":"Bogus"}]},"ingress":[{"ports":[{"port":"http","endPort":-4}]}]}}`)
	return [][]byte{
		reviewJSON(t, &np.AdmissionRequest),
		reviewJSON(t, &upd.AdmissionRequest),
		reviewJSON(t, &del.AdmissionRequest),
		reviewJSON(t, &ns.AdmissionRequest),
		reviewJSON(t, &weird.AdmissionRequest),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"NetworkPolicy","group":"networking.k8s.io"},"operation":"CREATE","object":[1,2]}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Namespace"},"operation":"UPDATE","object":{"metadata":{"labels":7}}}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`),
		[]byte(`{} {}`),
		[]byte(`null`),
		[]byte(``),
		[]byte("\xff\xfe"),
	}
}

// serveReview posts body to a handler and checks the invariants: 200 with
// a review answering the request's uid, or 400; never a panic.
func serveReview(t testing.TB, h http.Handler, body []byte) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, PathNetworkPolicy, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	switch w.Code {
	case http.StatusOK:
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("200 without a review: %v %s", err, w.Body)
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("200 for a body that does not decode: %v", err)
		}
		if out.Response.UID != in.Request.UID {
			t.Fatalf("response uid %q for request %q", out.Response.UID, in.Request.UID)
		}
		for _, w := range out.Response.Warnings {
			if w == WarningPanic || strings.Contains(w, "internal error") {
				t.Fatalf("the handler panicked: %q", w)
			}
		}
		if !out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Code != http.StatusForbidden) {
			t.Fatalf("refused without a denial: %+v", out.Response.Result)
		}
	case http.StatusBadRequest:
		var st metav1.Status
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Code != http.StatusBadRequest {
			t.Fatalf("400 without a Status: %v %s", err, w.Body)
		}
	default:
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return w.Code
}

func TestReviewHandler(t *testing.T) {
	s := newUnit(t, Options{}, nil)
	for name, h := range map[string]http.Handler{
		"networkpolicy": ReviewHandler(s.v.NetworkPolicyHandler(), s.v.log),
		"namespace":     ReviewHandler(s.v.NamespaceHandler(), s.v.log),
	} {
		t.Run(name, func(t *testing.T) {
			codes := map[int]int{}
			for _, seed := range reviewSeeds(t) {
				codes[serveReview(t, h, seed)]++
			}
			if codes[200] == 0 || codes[400] == 0 {
				t.Errorf("status counts %v: want both 200 and 400", codes)
			}
		})
	}

	h := ReviewHandler(s.v.NetworkPolicyHandler(), s.v.log)
	for _, tc := range []struct {
		method, contentType string
		body                string
		want                int
	}{
		{http.MethodGet, "application/json", "", http.StatusMethodNotAllowed},
		{http.MethodPost, "application/yaml", "{}", http.StatusUnsupportedMediaType},
		{http.MethodPost, "application/json; charset=utf-8", "{}", http.StatusBadRequest},
		{http.MethodPost, "application/json", strings.Repeat(" ", maxReviewBytes+1), http.StatusRequestEntityTooLarge},
	} {
		r := httptest.NewRequest(tc.method, PathNetworkPolicy, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.contentType, w.Code, tc.want)
		}
	}
}

// FuzzAdmissionReview feeds arbitrary bodies through the HTTP path of both
// handlers: the server answers 200 or 400 and never panics (withRecover
// would hide a handler panic as a warning: the fuzzer fails on it too).
func FuzzAdmissionReview(f *testing.F) {
	for _, seed := range reviewSeeds(f) {
		f.Add(seed)
	}
	setup := newUnit(f, Options{}, nil)
	handlers := []http.Handler{
		ReviewHandler(setup.v.NetworkPolicyHandler(), setup.v.log),
		ReviewHandler(setup.v.NamespaceHandler(), setup.v.log),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range handlers {
			serveReview(t, h, body)
		}
		setup.events() // drain
	})
}
