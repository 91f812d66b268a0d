package oidc

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Better-Auth's social sign-in on the provider's upstreams: POST
// /sign-in/social {provider} answers the upstream's authorization URL, the
// upstream sends the browser back to <base>/callback/<provider> (the URL a
// Better-Auth deployment registered with it), and the callback signs in
// (or signs up, or links by verified address) exactly as the hosted
// pages' upstream leg does, then redirects to the front end's callbackURL.
// The leg is bound to the browser by the same sealed flow cookie.

// signInSocial is POST /sign-in/social.
func (a *baRequest) signInSocial() {
	f, ok := a.required("provider")
	if !ok {
		return
	}
	if _, present := a.body["idToken"]; present {
		// Sign-in with an ID token the front end got itself (Google One
		// Tap): not served, said plainly rather than ignored.
		a.fail(http.StatusBadRequest, "ID_TOKEN_NOT_SUPPORTED", "Sign-in with an ID token is not supported; use the redirect flow")
		return
	}
	u := a.p.upstream(f[0])
	if u == nil {
		a.fail(http.StatusNotFound, "PROVIDER_NOT_FOUND", "Provider not found")
		return
	}
	cb, _, _ := a.str("callbackURL")
	errURL, _, _ := a.str("errorCallbackURL")
	newUserURL, _, _ := a.str("newUserCallbackURL")
	flow := upstreamFlow{Upstream: u.name, State: randomToken(32), Nonce: randomToken(32), Verifier: oauth2.GenerateVerifier(),
		Expires: a.p.now().Add(upstreamFlowTTL).UnixMilli(), Redirect: a.apiURL("/callback/" + u.name),
		CallbackURL: cb, ErrorURL: errURL, NewUserURL: newUserURL}
	ctx, cancel := context.WithTimeout(a.r.Context(), upstreamLegTimeout)
	defer cancel()
	cfg, err := u.oauth2Config(ctx, flow.Redirect)
	if err != nil {
		_, detail := upstreamFailure(err)
		a.p.record(a.r, storage.Event{Event: evUpstreamSignIn, Outcome: "failure", Detail: u.name + ": upstream error: discovery: " + detail})
		a.fail(http.StatusBadGateway, "PROVIDER_UNAVAILABLE", u.label+" could not be reached")
		return
	}
	sealed, err := a.p.sealFlow(flow)
	if err != nil {
		a.internal("sealing the social sign-in state", err)
		return
	}
	a.p.setFlowCookie(a.w, sealed, int(upstreamFlowTTL.Seconds()))
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(flow.Verifier)}
	if u.kind == kindOIDC {
		opts = append(opts, gooidc.Nonce(flow.Nonce))
	}
	target := cfg.AuthCodeURL(flow.State, opts...)
	a.w.Header().Set("Location", target)
	a.json(http.StatusOK, map[string]any{"url": target, "redirect": !a.boolean("disableRedirect", false)})
}

// socialCallback is GET (or form_post POST) /callback/<provider>.
func (a *baRequest) socialCallback(name string) {
	if a.r.Method == http.MethodPost {
		// form_post upstreams: Better-Auth turns the POST into a GET of
		// the same callback, so the cookies (SameSite=Lax) come along.
		if err := a.r.ParseForm(); err != nil {
			a.fail(http.StatusBadRequest, "INVALID_CALLBACK_REQUEST", "Invalid callback request")
			return
		}
		http.Redirect(a.w, a.r, a.apiURL("/callback/"+url.PathEscape(name))+"?"+a.r.PostForm.Encode(), http.StatusFound)
		return
	}
	form := a.r.URL.Query()
	flow := a.p.openFlow(a.r)
	a.p.setFlowCookie(a.w, "", -1) // one use, whatever happens
	u := a.p.upstream(name)
	if u == nil || !flow.answers(u, form.Get("state")) || flow.Redirect == "" {
		a.socialFailed(nil, u, name, &refusal{event: evUpstreamSignIn, detail: "state mismatch", code: "state_mismatch"})
		return
	}
	code, ref := legAnswer(u, form)
	if ref != nil {
		ref.event = evUpstreamSignIn
		a.socialFailed(flow, u, name, ref)
		return
	}
	ctx, cancel := context.WithTimeout(a.r.Context(), upstreamLegTimeout)
	defer cancel()
	id, ref := a.p.upstreamIdentity(ctx, u, code, flow)
	if ref != nil {
		ref.event = evUpstreamSignIn
		a.socialFailed(flow, u, name, ref)
		return
	}
	user, event, ref, err := a.p.upstreamUser(a.r, a.st, u, id)
	if err != nil {
		a.p.logger.Error("better_auth_api: social sign-in", zap.String("upstream", u.name), zap.Error(err))
		a.socialFailed(flow, u, name, &refusal{event: evUpstreamSignIn, detail: "storage error", code: "internal_server_error"})
		return
	}
	if ref != nil {
		a.socialFailed(flow, u, name, ref)
		return
	}
	if _, _, err := a.startSession(user); err != nil {
		a.p.logger.Error("better_auth_api: starting a session", zap.Error(err))
		a.socialFailed(flow, u, name, &refusal{event: event, detail: "storage error", code: "internal_server_error", userID: user.ID})
		return
	}
	a.p.record(a.r, storage.Event{Event: event, Outcome: "success", UserID: user.ID, Email: user.Email, Detail: u.name + ": better_auth_api"})
	target := flow.CallbackURL
	if event == evUpstreamSignUp && flow.NewUserURL != "" {
		target = flow.NewUserURL
	}
	if target == "" {
		target = requestOrigin(a.r) + "/"
	}
	http.Redirect(a.w, a.r, target, http.StatusFound)
}

// socialFailed records the refusal and sends the browser where Better-Auth
// does: the errorCallbackURL (else the callbackURL, else the API's /error
// page) with ?error=<code>.
func (a *baRequest) socialFailed(flow *upstreamFlow, u *upstream, name string, f *refusal) {
	if u != nil {
		name = u.name
	}
	a.p.record(a.r, storage.Event{Event: f.event, Outcome: "failure", UserID: f.userID, Email: f.email, Detail: safeName(name) + ": " + f.detail})
	code := f.code
	if code == "" {
		code = "unable_to_get_user_info"
	}
	target := a.apiURL("/error")
	if flow != nil && flow.ErrorURL != "" {
		target = flow.ErrorURL
	} else if flow != nil && flow.CallbackURL != "" {
		target = flow.CallbackURL
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	target += sep + "error=" + url.QueryEscape(code)
	if f.message != "" && f.code != "state_mismatch" {
		target += "&error_description=" + url.QueryEscape(f.message)
	}
	http.Redirect(a.w, a.r, target, http.StatusFound)
}

// errorPage is GET /error?error=<code>: Better-Auth's plain page for a
// social sign-in that failed with nowhere else to go.
var baErrorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><h1>Sign-in error</h1><p>The sign-in did not complete{{if .}} ({{.}}){{end}}. Go back and try again.</p></body></html>
`))

func (a *baRequest) errorPage() {
	a.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	a.w.Header().Set("Cache-Control", "no-store")
	if err := baErrorPage.Execute(a.w, safeName(a.r.URL.Query().Get("error"))); err != nil {
		a.p.logger.Debug("better_auth_api: writing the error page", zap.Error(err))
	}
}
