// Package kubeauth guards Redline's HTTP APIs with the cluster's own
// identities: bearer tokens are authenticated with a TokenReview and requests
// authorised with a SubjectAccessReview against virtual resources in the
// redline.io group, so access is granted with ordinary RBAC. Decisions are
// cached briefly, as kube-rbac-proxy and controller-runtime's metrics filter
// do, so that a busy client costs the API server little.
package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
)

// Group is the API group of Redline's virtual resources.
const Group = "redline.io"

// Permission is a virtual resource and verb, checked with a
// SubjectAccessReview as if it were a Kubernetes API request.
type Permission struct {
	Verb     string
	Resource string
	// Namespace is empty for cluster-wide permissions.
	Namespace string
}

func (p Permission) String() string {
	s := fmt.Sprintf("%s %s.%s", p.Verb, p.Resource, Group)
	if p.Namespace != "" {
		s += " in namespace " + p.Namespace
	}
	return s
}

// The permissions Redline's APIs check.
var (
	// IngestFlows allows POST /api/v1/flows.
	IngestFlows = Permission{Verb: "create", Resource: "flows"}
)

// ReadTraffic allows reading a namespace's observed traffic, and what is
// derived from it (suggestions).
func ReadTraffic(namespace string) Permission {
	return Permission{Verb: "get", Resource: "traffic", Namespace: namespace}
}

// Options configure a Guard.
type Options struct {
	Client kubernetes.Interface
	// Audiences the token must be meant for; empty accepts the API
	// server's default audience.
	Audiences []string
	// CacheTTL is how long an authenticated token is remembered.
	CacheTTL time.Duration
	// AllowCacheTTL and DenyCacheTTL are how long authorisation decisions
	// are remembered.
	AllowCacheTTL, DenyCacheTTL time.Duration
}

// Guard authenticates and authorises requests.
type Guard struct {
	authn authenticator.Request
	authz authorizer.Authorizer
}

// Sentinel errors callers map to HTTP statuses.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// New builds a Guard that asks the API server behind opts.Client.
func New(opts Options) (*Guard, error) {
	if opts.Client == nil {
		return nil, errors.New("kubeauth: a Kubernetes client is required")
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.AllowCacheTTL == 0 {
		opts.AllowCacheTTL = time.Minute
	}
	if opts.DenyCacheTTL == 0 {
		opts.DenyCacheTTL = 10 * time.Second
	}
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 3}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 opts.CacheTTL,
		TokenAccessReviewClient:  opts.Client.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		APIAudiences:             authenticator.Audiences(opts.Audiences),
		WebhookRetryBackoff:      backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("kubeauth: build authenticator: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: opts.Client.AuthorizationV1(),
		AllowCacheTTL:             opts.AllowCacheTTL,
		DenyCacheTTL:              opts.DenyCacheTTL,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("kubeauth: build authorizer: %w", err)
	}
	return &Guard{authn: authn, authz: authz}, nil
}

// Check authenticates the request's bearer token and authorises perm. The
// error wraps ErrUnauthenticated or ErrForbidden when the caller is at
// fault; any other error means the API server could not be asked.
func (g *Guard) Check(r *http.Request, perm Permission) (user.Info, error) {
	res, ok, err := g.authn.AuthenticateRequest(r)
	if err != nil && !ok {
		// The token authenticator reports invalid tokens as errors too;
		// a missing header never reaches the API server.
		if r.Header.Get("Authorization") == "" {
			return nil, fmt.Errorf("%w: no bearer token: send Authorization: Bearer <token> (kubectl create token <serviceaccount>)", ErrUnauthenticated)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: no valid bearer token: send Authorization: Bearer <token> (kubectl create token <serviceaccount>)", ErrUnauthenticated)
	}
	decision, reason, err := g.authz.Authorize(r.Context(), attributes(res.User, perm))
	if err != nil {
		return res.User, fmt.Errorf("authorise %s for %s: %w", perm, res.User.GetName(), err)
	}
	if decision != authorizer.DecisionAllow {
		msg := fmt.Sprintf("%s may not %s", res.User.GetName(), perm)
		if reason != "" {
			msg += ": " + reason
		}
		return res.User, fmt.Errorf("%w: %s", ErrForbidden, msg)
	}
	return res.User, nil
}

// Allowed reports whether an already authenticated user holds perm.
func (g *Guard) Allowed(ctx context.Context, u user.Info, perm Permission) (bool, error) {
	decision, _, err := g.authz.Authorize(ctx, attributes(u, perm))
	return decision == authorizer.DecisionAllow, err
}

func attributes(u user.Info, perm Permission) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User:            u,
		Verb:            perm.Verb,
		APIGroup:        Group,
		APIVersion:      "v1",
		Resource:        perm.Resource,
		Namespace:       perm.Namespace,
		ResourceRequest: true,
	}
}

// Middleware runs next only for callers holding perm; others get 401 or
// 403 with a message that says what to do, and API server trouble a 503.
func (g *Guard) Middleware(perm Permission, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := g.Check(r, perm)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="redline"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case errors.Is(err, ErrForbidden):
			http.Error(w, err.Error(), http.StatusForbidden)
		default:
			http.Error(w, "cannot check access with the Kubernetes API: "+err.Error(), http.StatusServiceUnavailable)
		}
	})
}
