package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The upstream leg: /oauth2/upstream/<name> sends the browser to the
// upstream with state, nonce and a PKCE S256 challenge, kept in a sealed,
// short-lived cookie that binds the leg to this browser; the callback
// checks them, gets the identity, finds or creates the user and resumes
// the authorization request that was waiting on the sign-in page.

const (
	pathUpstream       = "/oauth2/upstream"
	pathLinkedAccounts = "/oauth2/linked-accounts"

	upstreamFlowTTL = 10 * time.Minute
	// upstreamLegTimeout bounds the callback's upstream calls together
	// (each is bounded by the upstream's timeout too).
	upstreamLegTimeout = 30 * time.Second
)

// Audit events of upstream sign-in; Detail starts with the upstream's name.
const (
	evUpstreamSignUp = "upstream_sign_up"
	evUpstreamSignIn = "upstream_sign_in"
	evUpstreamLink   = "upstream_link"
	evUpstreamUnlink = "upstream_unlink"
)

// upstreamFlow is what the flow cookie carries, sealed (AES-GCM) so the
// browser can neither read the nonce and PKCE verifier nor change them.
type upstreamFlow struct {
	Upstream  string `json:"u"`
	State     string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	RequestID string `json:"r,omitempty"`
	LinkUser  string `json:"l,omitempty"` // linking to this signed-in user
	Expires   int64  `json:"e"`

	// Set by better_auth_api's /sign-in/social: the leg's redirect_uri
	// (its /callback/<name>) and where its callback sends the browser.
	Redirect    string `json:"ru,omitempty"`
	CallbackURL string `json:"cb,omitempty"`
	ErrorURL    string `json:"eu,omitempty"`
	NewUserURL  string `json:"nu,omitempty"`
}

// redirectURL is the redirect_uri the leg was started with.
func (p *provider) redirectURL(u *upstream, f *upstreamFlow) string {
	if f.Redirect != "" {
		return f.Redirect
	}
	return p.upstreamCallbackURL(u)
}

func (p *provider) flowCookieName() string {
	if p.secure {
		return "__Host-oidc_upstream"
	}
	return "oidc_upstream"
}

func (p *provider) sealFlow(f upstreamFlow) (string, error) {
	key, err := p.key("oidc.upstream-flow")
	if err != nil {
		return "", err
	}
	aead, err := newGCM(key)
	if err != nil {
		return "", err
	}
	plain, _ := json.Marshal(f)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(p.flowCookieName()))), nil
}

// openFlow reads the request's flow cookie; nil when absent, forged or
// expired.
func (p *provider) openFlow(r *http.Request) *upstreamFlow {
	c, err := r.Cookie(p.flowCookieName())
	if err != nil || len(c.Value) > 4096 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	key, kerr := p.key("oidc.upstream-flow")
	if err != nil || kerr != nil {
		return nil
	}
	aead, err := newGCM(key)
	if err != nil || len(raw) < aead.NonceSize() {
		return nil
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(p.flowCookieName()))
	if err != nil {
		return nil
	}
	var f upstreamFlow
	if json.Unmarshal(plain, &f) != nil || p.now().UnixMilli() > f.Expires {
		return nil
	}
	return &f
}

func (p *provider) setFlowCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: p.flowCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
}

// serveUpstream answers /oauth2/upstream/<name> and its /callback.
func (p *provider) serveUpstream(w http.ResponseWriter, r *http.Request, path string) {
	rest := strings.TrimPrefix(path, pathUpstream+"/")
	name, callback := strings.CutSuffix(rest, "/callback")
	u := p.upstream(name)
	if u == nil {
		p.errorPage(w, errNotFoundUpstream())
		return
	}
	if callback {
		p.handleUpstreamCallback(w, r, u)
		return
	}
	p.handleUpstreamStart(w, r, u)
}

func (p *provider) upstream(name string) *upstream {
	for _, u := range p.upstreams {
		if u.name == name {
			return u
		}
	}
	return nil
}

func (p *provider) upstreamCallbackURL(u *upstream) string {
	return p.url(pathUpstream + "/" + u.name + "/callback")
}

// upstreamButton is one "Continue with …" of the hosted pages.
type upstreamButton struct{ Name, Label, URL string }

// upstreamButtons are the buttons of a page for a pending request (reqID
// may be empty); except names one to leave out.
func (p *provider) upstreamButtons(reqID, except string) []upstreamButton {
	var out []upstreamButton
	for _, u := range p.upstreams {
		if u.name == except {
			continue
		}
		target := p.url(pathUpstream + "/" + u.name)
		if reqID != "" {
			target += "?request_id=" + url.QueryEscape(reqID)
		}
		out = append(out, upstreamButton{Name: u.name, Label: u.label, URL: target})
	}
	return out
}

// handleUpstreamStart sends the browser upstream.
func (p *provider) handleUpstreamStart(w http.ResponseWriter, r *http.Request, u *upstream) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	req, _ := p.pageRequest(r.Context(), st, form.Get("request_id"))
	flow := upstreamFlow{Upstream: u.name, State: randomToken(32), Nonce: randomToken(32), Verifier: oauth2.GenerateVerifier(),
		Expires: p.now().Add(upstreamFlowTTL).UnixMilli()}
	if req != nil {
		flow.RequestID = req.ID
	}
	if form.Get("link") == "1" {
		sess, err := p.currentSession(r.Context(), st, r)
		if err != nil || sess == nil {
			p.render(w, http.StatusUnauthorized, "message", map[string]any{"Title": "Sign in first",
				"Message": "Sign in to link another way of signing in.", "Link": p.url(pathSignIn), "LinkText": "Sign in"})
			return
		}
		flow.LinkUser = sess.UserID
	}
	ctx, cancel := context.WithTimeout(r.Context(), upstreamLegTimeout)
	defer cancel()
	cfg, err := u.oauth2Config(ctx, p.upstreamCallbackURL(u))
	if err != nil {
		status, detail := upstreamFailure(err)
		p.upstreamRefused(w, r, u, req, refusal{event: evUpstreamSignIn, status: status, detail: "upstream error: discovery: " + detail,
			message: u.label + " could not be reached. Try again in a moment, or sign in another way."})
		return
	}
	sealed, err := p.sealFlow(flow)
	if err != nil {
		p.errorPage(w, errServer("not ready"))
		return
	}
	p.setFlowCookie(w, sealed, int(upstreamFlowTTL.Seconds()))
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(flow.Verifier)}
	if u.kind == kindOIDC {
		opts = append(opts, gooidc.Nonce(flow.Nonce))
	}
	p.redirect(w, r, cfg.AuthCodeURL(flow.State, opts...))
}

// refusal is an upstream sign-in that ends on the error page (or, for
// better_auth_api, in a redirect with its error code).
type refusal struct {
	event   string
	status  int
	detail  string // audit detail, after the upstream's name; no secret
	message string // for the user
	code    string // Better-Auth's callback error code
	userID  string
	email   string
}

// upstreamRefused records the refusal and shows what happened with the
// other ways to sign in. Nothing has been written before it runs.
func (p *provider) upstreamRefused(w http.ResponseWriter, r *http.Request, u *upstream, req *authRequest, f refusal) {
	clientID, reqID := "", ""
	if req != nil {
		clientID, reqID = req.ClientID, req.ID
	}
	p.record(r, storage.Event{Event: f.event, Outcome: "failure", UserID: f.userID, Email: f.email, ClientID: clientID,
		Detail: u.name + ": " + f.detail})
	signIn := p.url(pathSignIn) + "?request_id=" + url.QueryEscape(reqID)
	if f.email != "" {
		signIn += "&login_hint=" + url.QueryEscape(f.email)
	}
	p.render(w, f.status, "upstream-error", map[string]any{"Title": "Sign-in with " + u.label + " did not work",
		"Message": f.message, "Upstreams": p.upstreamButtons(reqID, ""), "SignInURL": signIn,
		"SignUpURL": p.url(pathSignUp) + "?request_id=" + url.QueryEscape(reqID)})
}

// handleUpstreamCallback finishes the upstream leg.
func (p *provider) handleUpstreamCallback(w http.ResponseWriter, r *http.Request, u *upstream) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	flow := p.openFlow(r)
	p.setFlowCookie(w, "", -1) // one use, whatever happens
	if !flow.answers(u, form.Get("state")) || flow.Redirect != "" {
		p.upstreamRefused(w, r, u, nil, refusal{event: evUpstreamSignIn, status: http.StatusBadRequest, detail: "state mismatch",
			message: "This sign-in was not started in this browser, was already used or has expired. Start again."})
		return
	}
	req, _ := p.pageRequest(r.Context(), st, flow.RequestID)
	event := evUpstreamSignIn
	if flow.LinkUser != "" {
		event = evUpstreamLink
	}
	code, ref := legAnswer(u, form)
	if ref != nil {
		ref.event = event
		p.upstreamRefused(w, r, u, req, *ref)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), upstreamLegTimeout)
	defer cancel()
	id, ref := p.upstreamIdentity(ctx, u, code, flow)
	if ref != nil {
		ref.event = event
		p.upstreamRefused(w, r, u, req, *ref)
		return
	}
	if flow.LinkUser != "" {
		p.upstreamLinked(w, r, st, u, req, flow.LinkUser, id)
		return
	}
	p.upstreamSignIn(w, r, st, u, req, id)
}

// answers reports whether a callback with this state finishes the leg the
// flow cookie describes (nil: no live leg in this browser).
func (f *upstreamFlow) answers(u *upstream, state string) bool {
	return f != nil && f.Upstream == u.name && state != "" && hmac.Equal([]byte(state), []byte(f.State))
}

// legAnswer reads the upstream's answer at a callback whose state matched:
// its error, its issuer (RFC 9207) and the authorization code.
func legAnswer(u *upstream, form url.Values) (string, *refusal) {
	if e := form.Get("error"); e != "" {
		return "", &refusal{status: http.StatusBadGateway, detail: "upstream error: " + safeName(e),
			message: u.label + " did not sign you in (" + safeName(e) + ").", code: safeName(e)}
	}
	// An upstream that names itself must be the one this leg went to (a
	// mix-up attack sends another provider's answer here).
	if iss := form.Get("iss"); iss != "" && u.kind == kindOIDC && iss != u.issuer {
		return "", &refusal{status: http.StatusBadRequest, detail: "issuer mismatch",
			message: "The answer did not come from " + u.label + ". Start again.", code: "issuer_mismatch"}
	}
	code := form.Get("code")
	if code == "" || len(code) > 2048 {
		return "", &refusal{status: http.StatusBadRequest, detail: "upstream error: no code",
			message: u.label + " sent no authorization code.", code: "no_code"}
	}
	return code, nil
}

// upstreamIdentity is who the upstream says signed in.
type upstreamIdentity struct {
	Subject       string
	Email         string // lower-cased
	EmailVerified bool
	Name          string
}

// upstreamIdentity redeems the code (with the PKCE verifier) and reads the
// identity: a verified ID token with our nonce (OpenID Connect), or
// GitHub's /user and /user/emails.
func (p *provider) upstreamIdentity(ctx context.Context, u *upstream, code string, flow *upstreamFlow) (*upstreamIdentity, *refusal) {
	down := func(what, code string, err error) *refusal {
		status, detail := upstreamFailure(err)
		msg := u.label + " did not answer in time. Try again, or sign in another way."
		if status != http.StatusGatewayTimeout {
			msg = u.label + " could not complete the sign-in. Try again, or sign in another way."
		}
		return &refusal{status: status, detail: "upstream error: " + what + ": " + detail, message: msg, code: code}
	}
	cfg, err := u.oauth2Config(ctx, p.redirectURL(u, flow))
	if err != nil {
		return nil, down("discovery", "invalid_code", err)
	}
	tok, err := cfg.Exchange(u.context(ctx), code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return nil, down("token", "invalid_code", err)
	}
	var id *upstreamIdentity
	if u.kind == kindGitHub {
		if id, err = u.githubIdentity(ctx, tok); err != nil {
			return nil, down("api", "unable_to_get_user_info", err)
		}
	} else {
		var ref *refusal
		if id, ref = p.oidcIdentity(ctx, u, tok, flow); ref != nil {
			return nil, ref
		}
	}
	id.Email = normalizeEmail(id.Email)
	if id.Subject == "" || len(id.Subject) > 255 {
		return nil, &refusal{status: http.StatusBadGateway, detail: "upstream error: no subject",
			message: u.label + " did not say who you are.", code: "unable_to_get_user_info"}
	}
	if !validEmail(id.Email) {
		return nil, &refusal{status: http.StatusBadRequest, detail: "no usable e-mail address",
			message: u.label + " did not share a usable e-mail address with us. Sign in another way.", code: "email_not_found"}
	}
	if len(id.Name) > 200 {
		id.Name = id.Name[:200]
	}
	return id, nil
}

// oidcIdentity verifies the ID token (signature by the issuer's keys,
// issuer, audience, expiry) and our nonce; the e-mail comes from the token
// or, when it has none, from the userinfo endpoint.
func (p *provider) oidcIdentity(ctx context.Context, u *upstream, tok *oauth2.Token, flow *upstreamFlow) (*upstreamIdentity, *refusal) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, &refusal{status: http.StatusBadGateway, detail: "upstream error: no ID token",
			message: u.label + " did not send an ID token."}
	}
	prov, err := u.provider(ctx)
	if err != nil {
		status, detail := upstreamFailure(err)
		return nil, &refusal{status: status, detail: "upstream error: discovery: " + detail, message: u.label + " could not be reached."}
	}
	idt, err := prov.Verifier(&gooidc.Config{ClientID: u.clientID, Now: p.now}).Verify(u.context(ctx), raw)
	if err != nil {
		return nil, &refusal{status: http.StatusBadGateway, detail: "ID token refused: " + clip(err.Error(), 200),
			message: "The answer from " + u.label + " could not be verified. Sign in another way."}
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(flow.Nonce)) {
		return nil, &refusal{status: http.StatusBadRequest, detail: "nonce mismatch",
			message: "The answer from " + u.label + " does not belong to this sign-in. Start again."}
	}
	var c struct {
		Email    string `json:"email"`
		Verified any    `json:"email_verified"`
		Name     string `json:"name"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, &refusal{status: http.StatusBadGateway, detail: "upstream error: unreadable ID token claims", message: u.label + " sent an unreadable answer."}
	}
	id := &upstreamIdentity{Subject: idt.Subject, Email: c.Email, EmailVerified: truthy(c.Verified), Name: c.Name}
	if id.Email == "" && prov.UserInfoEndpoint() != "" {
		info, err := prov.UserInfo(u.context(ctx), oauth2.StaticTokenSource(tok))
		if err != nil {
			status, detail := upstreamFailure(err)
			return nil, &refusal{status: status, detail: "upstream error: userinfo: " + detail, message: u.label + " could not complete the sign-in."}
		}
		if info.Subject != idt.Subject {
			return nil, &refusal{status: http.StatusBadGateway, detail: "upstream error: userinfo for another subject", message: u.label + " sent an inconsistent answer."}
		}
		id.Email, id.EmailVerified = info.Email, info.EmailVerified
	}
	return id, nil
}

// truthy reads email_verified, a boolean or (some providers) a string.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

// githubIdentity reads GitHub's /user and /user/emails; only the primary
// address counts, and it is verified only when GitHub says so.
func (u *upstream) githubIdentity(ctx context.Context, tok *oauth2.Token) (*upstreamIdentity, error) {
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := u.githubGet(ctx, tok, "/user", &user); err != nil {
		return nil, err
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := u.githubGet(ctx, tok, "/user/emails", &emails); err != nil {
		return nil, err
	}
	id := &upstreamIdentity{Name: firstNonEmpty(user.Name, user.Login)}
	if user.ID > 0 {
		id.Subject = strconv.FormatInt(user.ID, 10)
	}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	return id, nil
}

func (u *upstream) githubGet(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.apiURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// upstreamFailure classifies an upstream call's error for the status and
// the audit detail, which never carries a token: a token endpoint's error
// is reduced to its error code.
func upstreamFailure(err error) (int, string) {
	var re *oauth2.RetrieveError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return http.StatusGatewayTimeout, "timeout"
	case errors.As(err, &re):
		code := re.ErrorCode
		if code == "" && re.Response != nil {
			code = "status " + strconv.Itoa(re.Response.StatusCode)
		}
		return http.StatusBadGateway, "refused: " + safeName(code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return http.StatusBadGateway, "unreachable"
	}
	return http.StatusBadGateway, clip(err.Error(), 200)
}

// upstreamSignIn signs in the user the identity belongs to (upstreamUser)
// and resumes the authorization request; a refusal ends on the error page.
func (p *provider) upstreamSignIn(w http.ResponseWriter, r *http.Request, st storage.Storage, u *upstream, req *authRequest, id *upstreamIdentity) {
	user, event, ref, err := p.upstreamUser(r, st, u, id)
	switch {
	case err != nil:
		p.logger.Error("upstream sign-in", zap.String("upstream", u.name), zap.Error(err))
		p.errorPage(w, errStorage(err, "could not complete the sign-in"))
	case ref != nil:
		p.upstreamRefused(w, r, u, req, *ref)
	default:
		p.upstreamSignedIn(w, r, st, u, req, user, event, "")
	}
}

// upstreamUser finds who the identity signs in: the user linked to it, the
// user with the same address when both sides verified it (linking it), or
// a new user (event is then evUpstreamSignUp). Anything else is a refusal,
// returned before any write; err is a storage failure. The hosted pages
// and better_auth_api's social callback both decide here.
func (p *provider) upstreamUser(r *http.Request, st storage.Storage, u *upstream, id *upstreamIdentity) (*storage.User, string, *refusal, error) {
	ctx := r.Context()
	refuse := func(event string, status int, detail, msg, code string, user *storage.User) (*storage.User, string, *refusal, error) {
		f := &refusal{event: event, status: status, detail: detail, message: msg, code: code, email: id.Email}
		if user != nil {
			f.userID = user.ID
		}
		return nil, "", f, nil
	}
	user, err := st.UserByAccount(ctx, u.name, id.Subject)
	switch {
	case err == nil:
		if user.IsBanned(p.now()) {
			return refuse(evUpstreamSignIn, http.StatusForbidden, "user is banned", "This account is suspended.", "banned", user)
		}
		return user, evUpstreamSignIn, nil, nil
	case !errors.Is(err, storage.ErrNotFound):
		return nil, "", nil, err
	}
	existing, _, err := st.UserWithPassword(ctx, id.Email)
	switch {
	case err == nil:
		if !existing.EmailVerified || !id.EmailVerified {
			side := "the existing account's address is not verified"
			if !id.EmailVerified {
				side = "the upstream address is not verified"
			}
			return refuse(evUpstreamLink, http.StatusConflict, "unverified e-mail: "+side, "An account with "+id.Email+
				" already exists. Sign in with your password first; you can then link "+u.label+" from your linked accounts page.",
				"account_not_linked", existing)
		}
		if existing.IsBanned(p.now()) {
			return refuse(evUpstreamSignIn, http.StatusForbidden, "user is banned", "This account is suspended.", "banned", existing)
		}
		if err := st.LinkAccount(ctx, existing.ID, u.name, id.Subject, p.now()); err != nil {
			if errors.Is(err, storage.ErrAccountTaken) { // a concurrent sign-in linked it
				return refuse(evUpstreamLink, http.StatusConflict, "account linked concurrently", "Try again.", "unable_to_link_account", existing)
			}
			return nil, "", nil, err
		}
		p.record(r, storage.Event{Event: evUpstreamLink, Outcome: "success", UserID: existing.ID, Email: existing.Email,
			Detail: u.name + ": by verified e-mail"})
		return existing, evUpstreamSignIn, nil, nil
	case errors.Is(err, storage.ErrNotFound):
		now := p.now()
		created, err := st.CreateUserWithAccount(ctx, storage.User{Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name,
			CreatedAt: now, UpdatedAt: now}, u.name, id.Subject)
		if errors.Is(err, storage.ErrEmailTaken) || errors.Is(err, storage.ErrAccountTaken) {
			return refuse(evUpstreamSignUp, http.StatusConflict, "created concurrently", "This account was just created. Try again.", "unable_to_create_user", nil)
		}
		if err != nil {
			return nil, "", nil, err
		}
		return created, evUpstreamSignUp, nil, nil
	default:
		return nil, "", nil, err
	}
}

// upstreamSignedIn starts the session, records event and resumes the
// authorization request (or says who is signed in).
func (p *provider) upstreamSignedIn(w http.ResponseWriter, r *http.Request, st storage.Storage, u *upstream, req *authRequest, user *storage.User, event, detail string) {
	if _, err := p.startSession(r.Context(), st, w, r, user.ID); err != nil {
		p.logger.Error("starting session", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not start a session"))
		return
	}
	clientID := ""
	if req != nil {
		clientID = req.ClientID
	}
	p.record(r, storage.Event{Event: event, Outcome: "success", UserID: user.ID, Email: user.Email, ClientID: clientID,
		Detail: strings.TrimSuffix(u.name+": "+detail, ": ")})
	if req != nil {
		p.redirect(w, r, p.url(pathContinue)+"?request_id="+url.QueryEscape(req.ID))
		return
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed in", "Message": "You are signed in as " + user.Email + ".",
		"Link": p.url(pathLinkedAccounts), "LinkText": "Linked accounts"})
}

// upstreamLinked links the identity to the signed-in user who started the
// leg from the linked accounts page.
func (p *provider) upstreamLinked(w http.ResponseWriter, r *http.Request, st storage.Storage, u *upstream, req *authRequest, userID string, id *upstreamIdentity) {
	ctx := r.Context()
	sess, err := p.currentSession(ctx, st, r)
	if err != nil || sess == nil || sess.UserID != userID {
		p.upstreamRefused(w, r, u, req, refusal{event: evUpstreamLink, status: http.StatusUnauthorized, detail: "session changed during linking",
			message: "You are no longer signed in as the account you were linking. Sign in and start again."})
		return
	}
	err = st.LinkAccount(ctx, userID, u.name, id.Subject, p.now())
	if errors.Is(err, storage.ErrAccountTaken) {
		if owner, oerr := st.UserByAccount(ctx, u.name, id.Subject); oerr == nil && owner.ID == userID {
			p.redirect(w, r, p.url(pathLinkedAccounts))
			return
		}
		p.upstreamRefused(w, r, u, req, refusal{event: evUpstreamLink, status: http.StatusConflict, detail: "linked to another user", userID: userID,
			message: "This " + u.label + " account is already linked to another account."})
		return
	}
	if err != nil {
		p.logger.Error("linking upstream account", zap.String("upstream", u.name), zap.Error(err))
		p.errorPage(w, errStorage(err, "could not link the account"))
		return
	}
	p.record(r, storage.Event{Event: evUpstreamLink, Outcome: "success", UserID: userID, Email: id.Email, Detail: u.name + ": from the linked accounts page"})
	p.redirect(w, r, p.url(pathLinkedAccounts))
}
