package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/store"
)

// dummyHash is verified when the e-mail is unknown, so a sign-in takes as
// long for an unknown address as for a wrong password. It is made on first
// use, not at init, so binaries that never sign anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := password.Hash("unused-Dummy-1!", password.DefaultParams)
	return h
})

// pageRequest reads the request_id of a hosted page and the client it is for.
func (p *provider) pageRequest(ctx context.Context, db *store.DB, id string) (*authRequest, string) {
	if id == "" {
		return nil, ""
	}
	req, err := p.loadAuthRequest(ctx, db, id)
	if err != nil {
		return nil, ""
	}
	return req, p.clients[req.ClientID].displayName()
}

func (p *provider) pageDB(w http.ResponseWriter, r *http.Request) *store.DB {
	db, err := p.database(r.Context())
	if err != nil {
		p.errorPage(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is starting; try again"))
		return nil
	}
	return db
}

// handleSignIn shows and processes the sign-in form.
func (p *provider) handleSignIn(w http.ResponseWriter, r *http.Request) {
	db := p.pageDB(w, r)
	if db == nil {
		return
	}
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return
	}
	req, clientName := p.pageRequest(r.Context(), db, form.Get("request_id"))
	reqID := ""
	if req != nil {
		reqID = req.ID
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
	pw := form.Get("password")
	u, err := p.checkPassword(r.Context(), db, email, pw)
	if err != nil {
		if errors.Is(err, errBadCredentials) || errors.Is(err, errBanned) {
			p.record(r, authEvent{Event: evSignIn, Outcome: "failure", Email: email, Detail: err.Error()})
			msg := "Invalid e-mail or password."
			if errors.Is(err, errBanned) {
				msg = "This account is suspended."
			}
			show(http.StatusUnauthorized, email, msg)
			return
		}
		p.logger.Error("sign-in", zap.Error(err))
		p.errorPage(w, errServer("sign-in failed"))
		return
	}
	p.signedIn(w, r, db, u, req, evSignIn)
}

var (
	errBadCredentials = errors.New("invalid e-mail or password")
	errBanned         = errors.New("user is banned")
)

// checkPassword verifies credentials; the hash runs in a bounded pool so a
// burst of sign-ins cannot starve the token endpoints.
func (p *provider) checkPassword(ctx context.Context, db *store.DB, email, pw string) (*user, error) {
	if email == "" || pw == "" || len(pw) > 4*password.MaxLength {
		return nil, errBadCredentials
	}
	u, hash, err := p.userWithPassword(ctx, db, email)
	if err != nil && !errors.Is(err, errNoUser) {
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
	if u.isBanned(p.now()) {
		return nil, errBanned
	}
	if stale {
		if h, err := password.Hash(pw, p.hashParams); err == nil {
			_ = p.updatePasswordHash(ctx, db, u.ID, h)
		}
	}
	return u, nil
}

// signedIn starts the session and continues the authorization request, or
// shows a confirmation when there is none.
func (p *provider) signedIn(w http.ResponseWriter, r *http.Request, db *store.DB, u *user, req *authRequest, event string) {
	if _, err := p.startSession(r.Context(), db, w, r, u.ID); err != nil {
		p.logger.Error("starting session", zap.Error(err))
		p.errorPage(w, errServer("could not start a session"))
		return
	}
	clientID := ""
	if req != nil {
		clientID = req.ClientID
	}
	p.record(r, authEvent{Event: event, Outcome: "success", UserID: u.ID, Email: u.Email, ClientID: clientID})
	if req != nil {
		p.redirect(w, r, p.url(pathContinue)+"?request_id="+url.QueryEscape(req.ID))
		return
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed in", "Message": "You are signed in as " + u.Email + "."})
}

func (p *provider) forbidden(w http.ResponseWriter) {
	p.render(w, http.StatusForbidden, "error", map[string]any{"Title": "Request refused", "Code": "invalid_request",
		"Error": "The form has expired or did not come from this site. Go back, reload the page and try again."})
}

// handleSignUp shows and processes the registration form.
func (p *provider) handleSignUp(w http.ResponseWriter, r *http.Request) {
	db := p.pageDB(w, r)
	if db == nil {
		return
	}
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return
	}
	req, _ := p.pageRequest(r.Context(), db, form.Get("request_id"))
	reqID := ""
	if req != nil {
		reqID = req.ID
	}
	show := func(status int, msg string, violations []password.Violation) {
		csrf, err := p.csrfToken(w, r, "sign-up", reqID)
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, status, "sign-up", map[string]any{
			"Title": "Create an account", "Action": p.url(pathSignUp), "CSRF": csrf, "RequestID": reqID,
			"Email": form.Get("email"), "Name": form.Get("name"), "Error": msg, "Violations": violations,
			"SignInURL": p.url(pathSignIn) + "?request_id=" + url.QueryEscape(reqID),
		})
	}
	if r.Method == http.MethodGet {
		show(http.StatusOK, "", nil)
		return
	}
	if !p.checkCSRF(r, form, "sign-up", form.Get("request_id")) {
		p.forbidden(w)
		return
	}
	email := normalizeEmail(form.Get("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		show(http.StatusBadRequest, "Enter a valid e-mail address.", nil)
		return
	}
	name := strings.TrimSpace(form.Get("name"))
	if len(name) > 200 {
		show(http.StatusBadRequest, "The name is too long.", nil)
		return
	}
	pw := form.Get("password")
	if v := password.Check(pw); v != nil {
		show(http.StatusBadRequest, "", v)
		return
	}
	p.hashSlots <- struct{}{}
	hash, err := password.Hash(pw, p.hashParams)
	<-p.hashSlots
	if err != nil {
		p.errorPage(w, errServer("could not hash the password"))
		return
	}
	u, err := p.createUser(r.Context(), db, email, name, hash)
	if errors.Is(err, errEmailTaken) {
		p.record(r, authEvent{Event: evSignUp, Outcome: "failure", Email: email, Detail: "email taken"})
		show(http.StatusConflict, "An account with this e-mail address already exists. Sign in instead.", nil)
		return
	}
	if err != nil {
		p.logger.Error("creating user", zap.Error(err))
		p.errorPage(w, errServer("could not create the account"))
		return
	}
	p.signedIn(w, r, db, u, req, evSignUp)
}

// handleConsent shows the consent page and records the decision.
func (p *provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	db := p.pageDB(w, r)
	if db == nil {
		return
	}
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return
	}
	req, clientName := p.pageRequest(r.Context(), db, form.Get("request_id"))
	if req == nil {
		p.errorPage(w, errInvalidRequest("the authorization request has expired or is unknown; start again from the application"))
		return
	}
	sess, err := p.currentSession(r.Context(), db, r)
	if err != nil || sess == nil {
		p.redirect(w, r, p.url(pathSignIn)+"?request_id="+url.QueryEscape(req.ID))
		return
	}
	if r.Method == http.MethodGet {
		csrf, err := p.csrfToken(w, r, "consent", req.ID)
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, http.StatusOK, "consent", map[string]any{"Title": "Allow access?", "Action": p.url(pathConsent),
			"CSRF": csrf, "RequestID": req.ID, "Client": clientName, "Scopes": describeScopes(req.Scopes)})
		return
	}
	if !p.checkCSRF(r, form, "consent", req.ID) {
		p.forbidden(w)
		return
	}
	if form.Get("decision") != "allow" {
		_, _ = db.Exec(r.Context(), "DELETE FROM oidc_auth_requests WHERE id = ?", req.ID)
		p.redirectError(w, r, req, newError(http.StatusBadRequest, "access_denied", "the user denied the request"))
		return
	}
	now := p.now().UnixMilli()
	scope := strings.Join(req.Scopes, " ")
	if _, err := db.Exec(r.Context(), `INSERT INTO oidc_consents (user_id, client_id, scope, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at`,
		sess.UserID, req.ClientID, scope, now, now); err != nil {
		p.logger.Error("storing consent", zap.Error(err))
	}
	p.decide(w, r, req, sess.AuthTime.UnixMilli() >= req.CreatedAt, true)
}

func describeScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "openid":
			out = append(out, "Know who you are")
		case "profile":
			out = append(out, "See your name and role")
		case "email":
			out = append(out, "See your e-mail address")
		case "offline_access":
			out = append(out, "Stay signed in when you are away")
		}
	}
	return out
}

// handleSignOut: GET shows a confirmation form, POST (with CSRF) revokes the
// session server-side.
func (p *provider) handleSignOut(w http.ResponseWriter, r *http.Request) {
	db := p.pageDB(w, r)
	if db == nil {
		return
	}
	form, oerr := parseForm(w, r)
	if oerr != nil {
		p.errorPage(w, oerr)
		return
	}
	if r.Method == http.MethodGet {
		csrf, err := p.csrfToken(w, r, "sign-out", "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, http.StatusOK, "message", map[string]any{"Title": "Sign out", "Message": "Sign out of this site?",
			"Action": p.url(pathSignOut), "CSRF": csrf})
		return
	}
	if !p.checkCSRF(r, form, "sign-out", "") {
		p.forbidden(w)
		return
	}
	p.signOut(w, r, db, "")
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed out", "Message": "You are signed out."})
}

// signOut ends the browser's session and records it.
func (p *provider) signOut(w http.ResponseWriter, r *http.Request, db *store.DB, clientID string) {
	userID, err := p.endSession(r.Context(), db, w, r)
	if err != nil {
		p.logger.Error("ending session", zap.Error(err))
	}
	if userID != "" {
		email := ""
		if u, err := p.userByID(r.Context(), db, userID); err == nil {
			email = u.Email
		}
		p.record(r, authEvent{Event: evSignOut, Outcome: "success", UserID: userID, Email: email, ClientID: clientID})
	}
}
