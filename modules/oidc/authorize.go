package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// authRequest is a validated authorization request (RFC 6749 §4.1.1,
// OpenID Connect Core §3.1.2.1), kept in storage (as JSON) while the user
// signs in or consents.
type authRequest struct {
	ID            string   `json:"-"`
	ClientID      string   `json:"client_id"`
	RedirectURI   string   `json:"redirect_uri"`  // the one to use
	RedirectSent  bool     `json:"redirect_sent"` // whether the request named it
	ResponseMode  string   `json:"response_mode"` // query | form_post
	Scopes        []string `json:"scopes"`
	State         string   `json:"state,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	CodeChallenge string   `json:"code_challenge,omitempty"`
	Prompt        []string `json:"prompt,omitempty"`
	MaxAge        int64    `json:"max_age"` // -1: none
	HintSubject   string   `json:"hint_sub,omitempty"`
	LoginHint     string   `json:"login_hint,omitempty"`
	CreatedAt     int64    `json:"created_at"`
}

func (a *authRequest) hasPrompt(v string) bool { return slices.Contains(a.Prompt, v) }

// authError is an error that goes back to the client's redirect URI.
type authError struct {
	*apierror.OAuth
	req *authRequest
}

// handleAuthorize is the authorization endpoint, for GET and POST (OpenID
// Connect Core §3.1.2.1).
func (p *provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return
	}
	req, perr, rerr := p.parseAuthRequest(r.Context(), form)
	if perr != nil {
		p.errorPage(w, perr) // never redirect before the redirect URI is trusted (RFC 6749 §4.1.2.1, RFC 9700 §4.11)
		return
	}
	if rerr != nil {
		p.redirectError(w, r, rerr.req, rerr.OAuth)
		return
	}
	p.decide(w, r, req, false, false)
}

// parseAuthRequest validates the request. Errors about the client or the
// redirect URI come back as the first error (shown on a page); all others
// as the second (sent to the redirect URI).
func (p *provider) parseAuthRequest(ctx context.Context, f url.Values) (*authRequest, *apierror.OAuth, *authError) {
	client := p.clients[f.Get("client_id")]
	if f.Get("client_id") == "" {
		return nil, errInvalidRequest("client_id is missing"), nil
	}
	if client == nil {
		return nil, apierror.NewOAuth(http.StatusBadRequest, "invalid_client", "unknown client_id"), nil
	}
	req := &authRequest{ClientID: client.ID, ResponseMode: "query", MaxAge: -1, CreatedAt: p.now().UnixMilli()}
	if uri, ok := f["redirect_uri"]; ok {
		if !client.allowsRedirect(uri[0]) {
			return nil, errInvalidRequest("redirect_uri is not registered for this client"), nil
		}
		req.RedirectURI, req.RedirectSent = uri[0], true
	} else if len(client.RedirectURIs) == 1 {
		req.RedirectURI = client.RedirectURIs[0]
	} else {
		return nil, errInvalidRequest("redirect_uri is missing"), nil
	}
	req.State = f.Get("state")
	switch m := f.Get("response_mode"); m {
	case "", "query":
	case "form_post":
		req.ResponseMode = m
	default:
		return nil, nil, &authError{errInvalidRequest("unsupported response_mode"), req}
	}
	fail := func(code, desc string) (*authRequest, *apierror.OAuth, *authError) {
		return nil, nil, &authError{apierror.NewOAuth(http.StatusBadRequest, code, desc), req}
	}
	if f.Has("request") {
		return fail("request_not_supported", "request objects are not supported")
	}
	if f.Has("request_uri") {
		return fail("request_uri_not_supported", "request_uri is not supported")
	}
	switch rt := f.Get("response_type"); rt {
	case "code":
	case "":
		return fail("invalid_request", "response_type is missing")
	default:
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	req.Scopes = strings.Fields(f.Get("scope"))
	if len(req.Scopes) == 0 {
		return fail("invalid_scope", "scope is missing")
	}
	for _, s := range req.Scopes {
		if !slices.Contains(supportedScopes, s) {
			return fail("invalid_scope", "unsupported scope "+safeName(s))
		}
	}
	if s, ok := client.allowsScopes(req.Scopes); !ok {
		return fail("invalid_scope", "scope "+s+" is not allowed for this client")
	}
	req.Scopes = dedupe(req.Scopes)
	req.Nonce = f.Get("nonce")
	if len(req.Nonce) > 512 || len(req.State) > 2048 {
		return fail("invalid_request", "state or nonce is too long")
	}

	// PKCE (RFC 7636): S256 only, required for public clients (RFC 9700
	// §2.1.1).
	challenge, method := f.Get("code_challenge"), f.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case challenge == "" && client.Public:
		return fail("invalid_request", "PKCE with code_challenge_method=S256 is required for public clients")
	case challenge != "" && method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !validChallenge(challenge):
		return fail("invalid_request", "code_challenge must be 43 base64url characters")
	}
	req.CodeChallenge = challenge

	req.Prompt = strings.Fields(f.Get("prompt"))
	if req.hasPrompt("none") && len(req.Prompt) > 1 {
		return fail("invalid_request", "prompt=none cannot be combined with other values")
	}
	if v := f.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fail("invalid_request", "max_age must be a non-negative integer")
		}
		req.MaxAge = n
	}
	if hint := f.Get("id_token_hint"); hint != "" {
		sub, _, err := p.idTokenHint(ctx, hint)
		if err != nil {
			return fail("invalid_request", "id_token_hint is not a valid ID token from this provider")
		}
		req.HintSubject = sub
	}
	req.LoginHint = f.Get("login_hint")
	if len(req.LoginHint) > 320 {
		req.LoginHint = ""
	}
	return req, nil, nil
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// validChallenge: an S256 challenge is the base64url of a SHA-256, 43 chars.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// decide moves a request on: to sign-in, to consent, or to a code. fresh
// says the user has just signed in for this request (satisfying prompt=login
// and max_age); consented that they have just approved it.
func (p *provider) decide(w http.ResponseWriter, r *http.Request, req *authRequest, fresh, consented bool) {
	ctx := r.Context()
	st, err := p.storage(ctx)
	if err != nil {
		p.redirectError(w, r, req, errUnavailable("the provider is starting"))
		return
	}
	sess, err := p.currentSession(ctx, st, r)
	if err != nil {
		p.logger.Error("reading session", zap.Error(err))
		p.redirectError(w, r, req, errStorage(err, "session lookup failed"))
		return
	}
	var u *storage.User
	if sess != nil {
		if u, err = st.UserByID(ctx, sess.UserID); err != nil || u.IsBanned(p.now()) {
			sess = nil
		}
	}
	if sess != nil && !fresh {
		switch {
		case req.hasPrompt("login"):
			sess = nil
		case req.MaxAge >= 0 && p.now().Sub(sess.AuthTime) > time.Duration(req.MaxAge)*time.Second:
			sess = nil
		case req.HintSubject != "" && req.HintSubject != sess.UserID:
			sess = nil
		}
	}
	if sess == nil {
		if req.hasPrompt("none") {
			p.redirectError(w, r, req, apierror.NewOAuth(http.StatusBadRequest, "login_required", "the user is not signed in"))
			return
		}
		p.pause(w, r, st, req, pathSignIn)
		return
	}
	if p.requireVerified && !u.EmailVerified {
		if req.hasPrompt("none") {
			p.redirectError(w, r, req, apierror.NewOAuth(http.StatusBadRequest, "interaction_required", "the user has not verified their e-mail address"))
			return
		}
		p.pause(w, r, st, req, pathCheckInbox)
		return
	}
	client := p.clients[req.ClientID]
	if !consented && (req.hasPrompt("consent") || (!client.SkipConsent && !p.hasConsent(ctx, st, u.ID, client.ID, req.Scopes))) {
		if req.hasPrompt("none") {
			p.redirectError(w, r, req, apierror.NewOAuth(http.StatusBadRequest, "consent_required", "the user has not approved this client"))
			return
		}
		p.pause(w, r, st, req, pathConsent)
		return
	}
	code := randomToken(32)
	now := p.now()
	redirectParam := ""
	if req.RedirectSent {
		redirectParam = req.RedirectURI
	}
	err = st.CreateCode(ctx, storage.Code{Hash: hashToken(code), ClientID: req.ClientID, UserID: u.ID, SessionID: sess.ID,
		RedirectURI: redirectParam, Scopes: req.Scopes, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		AuthTime: sess.AuthTime, CreatedAt: now, ExpiresAt: now.Add(p.codeTTL)})
	if err != nil {
		p.logger.Error("storing authorization code", zap.Error(err))
		p.redirectError(w, r, req, errStorage(err, "could not issue a code"))
		return
	}
	if req.ID != "" {
		_ = st.DeleteAuthRequest(ctx, req.ID)
	}
	p.redirectResult(w, r, req, url.Values{"code": {code}})
}

// pause stores the request (once) and sends the browser to a hosted page.
func (p *provider) pause(w http.ResponseWriter, r *http.Request, st storage.Storage, req *authRequest, page string) {
	if req.ID == "" {
		params, _ := json.Marshal(req)
		req.ID = randomToken(24)
		now := p.now()
		if err := st.CreateAuthRequest(r.Context(), storage.AuthRequest{ID: req.ID, ClientID: req.ClientID, Params: string(params),
			CreatedAt: now, ExpiresAt: now.Add(p.requestTTL)}); err != nil {
			p.logger.Error("storing authorization request", zap.Error(err))
			p.redirectError(w, r, req, errStorage(err, "could not store the request"))
			return
		}
	}
	target := p.url(page) + "?request_id=" + url.QueryEscape(req.ID)
	if page == pathSignIn && req.LoginHint != "" {
		target += "&login_hint=" + url.QueryEscape(req.LoginHint)
	}
	p.redirect(w, r, target)
}

// loadAuthRequest returns a stored request that has not expired, or
// storage.ErrNotFound.
func (p *provider) loadAuthRequest(ctx context.Context, st storage.Storage, id string) (*authRequest, error) {
	if id == "" {
		return nil, storage.ErrNotFound
	}
	stored, err := st.AuthRequest(ctx, id, p.now())
	if err != nil {
		return nil, err
	}
	var req authRequest
	if err := json.Unmarshal([]byte(stored.Params), &req); err != nil {
		return nil, err
	}
	if p.clients[req.ClientID] == nil { // the client left the config
		return nil, storage.ErrNotFound
	}
	req.ID = id
	return &req, nil
}

// handleContinue resumes a request after sign-in.
func (p *provider) handleContinue(w http.ResponseWriter, r *http.Request) {
	st, err := p.storage(r.Context())
	if err != nil {
		p.errorPage(w, errUnavailable("the provider is starting"))
		return
	}
	req, err := p.loadAuthRequest(r.Context(), st, r.URL.Query().Get("request_id"))
	if err != nil {
		p.errorPage(w, errInvalidRequest("the sign-in request has expired or is unknown; start again from the application"))
		return
	}
	sess, _ := p.currentSession(r.Context(), st, r)
	fresh := sess != nil && sess.AuthTime.UnixMilli() >= req.CreatedAt
	p.decide(w, r, req, fresh, false)
}

// hasConsent reports whether the user has granted the client every scope.
func (p *provider) hasConsent(ctx context.Context, st storage.Storage, userID, clientID string, scopes []string) bool {
	have, err := st.ConsentedScopes(ctx, userID, clientID)
	if err != nil {
		return false
	}
	for _, s := range scopes {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// redirect sends the browser on: 303 after a POST, so a browser never
// re-posts credentials to the target (RFC 9700 §4.12); 302 after a GET.
func (p *provider) redirect(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// redirectError sends an error to the client (RFC 6749 §4.1.2.1) with state
// and iss (RFC 9207).
func (p *provider) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, e *apierror.OAuth) {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	p.redirectResult(w, r, req, v)
}

// redirectResult adds state and iss (RFC 9207) and delivers the response
// in the requested mode.
func (p *provider) redirectResult(w http.ResponseWriter, r *http.Request, req *authRequest, v url.Values) {
	if req.State != "" {
		v.Set("state", req.State)
	}
	v.Set("iss", p.issuer)
	if req.ResponseMode == "form_post" {
		hidden := map[string]string{}
		for k := range v {
			hidden[k] = v.Get(k)
		}
		p.render(w, http.StatusOK, "form-post", map[string]any{"Action": req.RedirectURI, "Hidden": hidden, "Nonce": randomToken(16)})
		return
	}
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		p.errorPage(w, errServer("bad redirect URI"))
		return
	}
	q := u.Query()
	for k := range v {
		q.Set(k, v.Get(k))
	}
	u.RawQuery = q.Encode()
	p.redirect(w, r, u.String())
}
