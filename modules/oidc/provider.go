package oidc

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// provider is the protocol core, free of Caddy: the handler builds one in
// Provision and hands it every request; it answers its own paths and reports
// whether it did.
type provider struct {
	issuer   string // exactly as configured, no trailing slash
	base     string // the issuer's path ("" or "/idp")
	origin   string // scheme://host of the issuer
	clients  map[string]*Client
	audience []string
	claims   []string // per-user claims copied into tokens (the claims option)

	accessTTL  time.Duration
	refreshTTL time.Duration
	idTTL      time.Duration
	codeTTL    time.Duration
	sessionTTL time.Duration
	requestTTL time.Duration

	openStorage func(context.Context) (storage.Storage, error)
	derive      func(purpose string) ([]byte, error)
	now         func() time.Time
	clientIP    func(*http.Request) string
	logger      *zap.Logger

	keys            *keyring
	pages           *pages
	hashParams      password.Params
	hashSlots       chan struct{} // bounds concurrent password hashes
	brute           *bruteForce   // sign-in and sign-up limits (nil: none)
	secure          bool          // cookies Secure and __Host-/__Secure- prefixed
	mail            *mailer       // nil: no mail block
	requireVerified bool          // require_verified_email
	upstreams       []*upstream   // sign-in with Google, GitHub or OpenID providers, in config order

	revocations *revocationSet    // what bearer_jwt of this config refuses
	registry    *providerRegistry // this config's providers; extra cookie secrets (better_auth_api)

	derivedMu sync.Mutex
	derived   map[string][]byte
}

// Paths below the issuer.
const (
	pathDiscovery      = "/.well-known/openid-configuration"
	pathASMetadata     = "/.well-known/oauth-authorization-server"
	pathJWKS           = "/jwks"
	pathJWKSWellKnown  = "/.well-known/jwks.json"
	pathAuthorize      = "/oauth2/authorize"
	pathContinue       = "/oauth2/continue"
	pathToken          = "/oauth2/token"
	pathUserinfo       = "/oauth2/userinfo"
	pathRevoke         = "/oauth2/revoke"
	pathIntrospect     = "/oauth2/introspect"
	pathEndSession     = "/oauth2/end-session"
	pathSignIn         = "/oauth2/sign-in"
	pathSignUp         = "/oauth2/sign-up"
	pathConsent        = "/oauth2/consent"
	pathSignOut        = "/oauth2/sign-out"
	pathVerifyEmail    = "/oauth2/verify-email"
	pathCheckInbox     = "/oauth2/check-inbox"
	pathForgotPassword = "/oauth2/forgot-password"
	pathResetPassword  = "/oauth2/reset-password"
	pathChangePassword = "/oauth2/change-password"
)

// maxBodyBytes bounds every request body we read (forms and tokens are small).
const maxBodyBytes = 64 << 10

func newHashSlots() chan struct{} { return make(chan struct{}, max(1, runtime.GOMAXPROCS(0))) }

func (p *provider) url(path string) string { return p.issuer + path }

// serve answers the provider's own paths; it returns false for any other
// request so the caller passes it on.
func (p *provider) serve(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	if p.base != "" {
		if !strings.HasPrefix(path, p.base+"/") {
			return false
		}
		path = strings.TrimPrefix(path, p.base)
	}
	var h func(http.ResponseWriter, *http.Request)
	var methods []string
	switch path {
	case pathDiscovery, pathASMetadata:
		h, methods = p.handleDiscovery, []string{"GET", "HEAD"}
	case pathJWKS, pathJWKSWellKnown:
		h, methods = p.handleJWKS, []string{"GET", "HEAD"}
	case pathAuthorize:
		h, methods = p.handleAuthorize, []string{"GET", "POST"}
	case pathContinue:
		h, methods = p.handleContinue, []string{"GET"}
	case pathToken:
		h, methods = p.handleToken, []string{"POST"}
	case pathUserinfo:
		h, methods = p.handleUserinfo, []string{"GET", "POST"}
	case pathRevoke:
		h, methods = p.handleRevoke, []string{"POST"}
	case pathIntrospect:
		h, methods = p.handleIntrospect, []string{"POST"}
	case pathEndSession:
		h, methods = p.handleEndSession, []string{"GET", "POST"}
	case pathSignIn:
		h, methods = p.handleSignIn, []string{"GET", "POST"}
	case pathSignUp:
		h, methods = p.handleSignUp, []string{"GET", "POST"}
	case pathConsent:
		h, methods = p.handleConsent, []string{"GET", "POST"}
	case pathSignOut:
		h, methods = p.handleSignOut, []string{"GET", "POST"}
	case pathVerifyEmail:
		h, methods = p.handleVerifyEmail, []string{"GET"}
	case pathCheckInbox:
		h, methods = p.handleCheckInbox, []string{"GET", "POST"}
	case pathForgotPassword:
		h, methods = p.handleForgotPassword, []string{"GET", "POST"}
	case pathResetPassword:
		h, methods = p.handleResetPassword, []string{"GET", "POST"}
	case pathChangePassword:
		h, methods = p.handleChangePassword, []string{"GET", "POST"}
	case pathLinkedAccounts:
		h, methods = p.handleLinkedAccounts, []string{"GET", "POST"}
	default:
		if strings.HasPrefix(path, pathUpstream+"/") {
			h, methods = func(w http.ResponseWriter, r *http.Request) { p.serveUpstream(w, r, path) }, []string{"GET"}
			break
		}
		if strings.HasPrefix(path, pathAdmin+"/") {
			p.serveAdmin(w, r, path)
			return true
		}
		return false
	}
	if r.Method == http.MethodOptions && corsPaths[path] {
		preflight(w, methods)
		return true
	}
	if corsPaths[path] {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	if !contains(methods, r.Method) {
		methodNotAllowed(w, methods...)
		return true
	}
	defer func() {
		// Last line of defence: a bug must not become a dropped connection
		// or a stack trace for the client.
		if v := recover(); v != nil {
			p.logger.Error("panic in OpenID provider", zap.Any("panic", v), zap.String("path", path))
			errServer("internal error").Write(w)
		}
	}()
	h(w, r)
	return true
}

// corsPaths are the endpoints a browser application (a public client) calls
// from script. None of them reads cookies, so any origin may call them;
// credentials are the tokens in the request.
var corsPaths = map[string]bool{
	pathDiscovery: true, pathASMetadata: true, pathJWKS: true, pathJWKSWellKnown: true,
	pathToken: true, pathUserinfo: true, pathRevoke: true,
}

// preflight answers a CORS preflight.
func preflight(w http.ResponseWriter, methods []string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseForm reads an application/x-www-form-urlencoded body (bounded) and
// refuses repeated parameters (RFC 6749 §3.1, §3.2: parameters MUST NOT be
// included more than once). For GET it reads the query.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, *apierror.OAuth) {
	var vals url.Values
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		var err error
		if vals, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, errInvalidRequest("malformed query string")
		}
	} else {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := readFormBody(w, r); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, apierror.NewOAuth(http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				w.Header().Set("Connection", "close")
				return nil, apierror.NewOAuth(http.StatusRequestTimeout, "invalid_request", "the request body was not sent in time")
			}
			return nil, errInvalidRequest("malformed form body")
		}
		vals = r.PostForm
	}
	for k, v := range vals {
		if len(v) > 1 {
			return nil, errInvalidRequest("parameter " + safeName(k) + " is repeated")
		}
	}
	return vals, nil
}

// safeName trims a client-supplied parameter name for an error message.
func safeName(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return apierror.CleanDescription(s)
}

// requestIP is the client address: Caddy's client IP (which honours
// trusted_proxies) when the glue provides it, else the peer address.
func (p *provider) requestIP(r *http.Request) string {
	if p.clientIP != nil {
		if ip := p.clientIP(r); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// key returns a 32-byte key for a purpose, derived once from the app's
// secret (which exists only after the app has started).
func (p *provider) key(purpose string) ([]byte, error) {
	p.derivedMu.Lock()
	defer p.derivedMu.Unlock()
	if k, ok := p.derived[purpose]; ok {
		return k, nil
	}
	k, err := p.derive(purpose)
	if err != nil {
		return nil, err
	}
	if p.derived == nil {
		p.derived = map[string][]byte{}
	}
	p.derived[purpose] = k
	return k, nil
}

// storage returns the provider's storage on the shared database, which
// exists once the app has started.
func (p *provider) storage(ctx context.Context) (storage.Storage, error) { return p.openStorage(ctx) }

// storageOr503 is storage for the JSON endpoints: while the database is not
// open it writes temporarily_unavailable and returns false.
func (p *provider) storageOr503(w http.ResponseWriter, r *http.Request) (storage.Storage, bool) {
	st, err := p.storage(r.Context())
	if err != nil {
		errUnavailable("the provider is starting").Write(w)
		return nil, false
	}
	return st, true
}
