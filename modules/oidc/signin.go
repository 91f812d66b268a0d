package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/ratelimit"
)

// dummyHash is verified when the e-mail is unknown, so a sign-in takes as
// long for an unknown address as for a wrong password. It is made on first
// use, not at init, so binaries that never sign anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := password.Hash("unused-Dummy-1!", password.DefaultParams)
	return h
})

// pageRequest reads the request_id of a hosted page and the client it is for.
func (p *provider) pageRequest(ctx context.Context, st storage.Storage, id string) (*authRequest, string) {
	if id == "" {
		return nil, ""
	}
	req, err := p.loadAuthRequest(ctx, st, id)
	if err != nil {
		return nil, ""
	}
	return req, p.clients[req.ClientID].displayName()
}

// pageInput is how every hosted page starts: the storage and the parsed
// form (query or body). On failure it has shown the error page and returns
// ok false.
func (p *provider) pageInput(w http.ResponseWriter, r *http.Request) (st storage.Storage, form url.Values, ok bool) {
	st, err := p.storage(r.Context())
	if err != nil {
		p.errorPage(w, errUnavailable("the provider is starting; try again"))
		return nil, nil, false
	}
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return nil, nil, false
	}
	return st, form, true
}

// handleSignIn shows and processes the sign-in form.
func (p *provider) handleSignIn(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	req, clientName := p.pageRequest(r.Context(), st, form.Get("request_id"))
	reqID := ""
	if req != nil {
		reqID = req.ID
	}
	forgotURL := ""
	if p.mail != nil {
		forgotURL = p.url(pathForgotPassword)
	}
	show := func(status int, email, msg string) {
		csrf, err := p.csrfToken(w, r, "sign-in", reqID)
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, status, "sign-in", map[string]any{
			"Title": "Sign in", "Action": p.url(pathSignIn), "CSRF": csrf, "RequestID": reqID, "Email": email,
			"Error": msg, "Client": clientName, "SignUpURL": p.url(pathSignUp) + "?request_id=" + url.QueryEscape(reqID),
			"ForgotURL": forgotURL, "Upstreams": p.upstreamButtons(reqID, ""),
		})
	}
	if r.Method == http.MethodGet {
		show(http.StatusOK, form.Get("login_hint"), "")
		return
	}
	if !p.checkCSRF(r, form, "sign-in", form.Get("request_id")) {
		p.forbidden(w)
		return
	}
	email := normalizeEmail(form.Get("email"))
	if d, refused := p.brute.ipRefused(r.Context(), p.clientIP(r)); refused {
		p.record(r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		show(http.StatusTooManyRequests, email, retryMessage("Too many sign-in attempts from your network.", d))
		return
	}
	d, locked := p.brute.attempt(r.Context(), email)
	if locked {
		p.record(r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: "account locked after failed sign-ins"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		show(http.StatusTooManyRequests, email, retryMessage("Too many failed sign-ins for this account.", d))
		return
	}
	pw := form.Get("password")
	u, err := p.checkPassword(r.Context(), st, email, pw)
	if err != nil {
		if errors.Is(err, errBadCredentials) || errors.Is(err, errBanned) {
			lockedOut(d)
			p.record(r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: err.Error()})
			msg := "Invalid e-mail or password."
			if errors.Is(err, errBanned) {
				msg = "This account is suspended."
			}
			show(http.StatusUnauthorized, email, msg)
			return
		}
		p.logger.Error("sign-in", zap.Error(err))
		p.errorPage(w, errStorage(err, "sign-in failed"))
		return
	}
	p.brute.succeeded(r.Context(), email)
	p.signedIn(w, r, st, u, req, evSignIn)
}

// retryAfterSeconds is the Retry-After value of a refusal.
func retryAfterSeconds(d ratelimit.Decision) string {
	return strconv.Itoa(int(max(1, (d.RetryAfter+time.Second-1)/time.Second)))
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

var (
	errBadCredentials = errors.New("invalid e-mail or password")
	errBanned         = errors.New("user is banned")
)

// checkPassword verifies credentials; the hash runs in a bounded pool so a
// burst of sign-ins cannot starve the token endpoints.
func (p *provider) checkPassword(ctx context.Context, st storage.Storage, email, pw string) (*storage.User, error) {
	if email == "" || pw == "" || len(pw) > 4*password.MaxLength {
		return nil, errBadCredentials
	}
	u, hash, err := st.UserWithPassword(ctx, email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	dummy := u == nil || hash == ""
	if dummy {
		hash = dummyHash()
	}
	select {
	case p.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	stale, verr := password.VerifyAny(pw, hash, p.hashParams)
	<-p.hashSlots
	if dummy || verr != nil {
		if verr != nil && !errors.Is(verr, password.ErrMismatch) && u != nil {
			p.logger.Warn("unreadable password hash", zap.String("user_id", u.ID), zap.Error(verr))
		}
		return nil, errBadCredentials
	}
	if u.IsBanned(p.now()) {
		return nil, errBanned
	}
	if stale {
		if h, err := password.Hash(pw, p.hashParams); err == nil {
			_ = st.SetPassword(ctx, u.ID, h, p.now())
		}
	}
	return u, nil
}

// signedIn starts the session and continues the authorization request, or
// shows a confirmation when there is none.
func (p *provider) signedIn(w http.ResponseWriter, r *http.Request, st storage.Storage, u *storage.User, req *authRequest, event string) {
	if _, err := p.startSession(r.Context(), st, w, r, u.ID); err != nil {
		p.logger.Error("starting session", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not start a session"))
		return
	}
	clientID := ""
	if req != nil {
		clientID = req.ClientID
	}
	p.record(r, storage.Event{Event: event, Outcome: "success", UserID: u.ID, Email: u.Email, ClientID: clientID})
	if req != nil {
		p.redirect(w, r, p.url(pathContinue)+"?request_id="+url.QueryEscape(req.ID))
		return
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed in", "Message": "You are signed in as " + u.Email + ".",
		"Link": p.url(pathLinkedAccounts), "LinkText": "Linked accounts"})
}

func (p *provider) forbidden(w http.ResponseWriter) {
	p.render(w, http.StatusForbidden, "error", map[string]any{"Title": "Request refused", "Code": "invalid_request",
		"Error": "The form has expired or did not come from this site. Go back, reload the page and try again."})
}
