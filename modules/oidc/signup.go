package oidc

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// handleSignUp shows and processes the registration form.
func (p *provider) handleSignUp(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	req, _ := p.pageRequest(r.Context(), st, form.Get("request_id"))
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
	if d, refused := p.brute.ipRefused(r.Context(), p.clientIP(r)); refused {
		p.record(r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		show(http.StatusTooManyRequests, retryMessage("Too many attempts from your network.", d), nil)
		return
	}
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
	now := p.now()
	u, err := st.CreateUser(r.Context(), storage.User{Email: email, Name: name, CreatedAt: now, UpdatedAt: now}, hash)
	if errors.Is(err, storage.ErrEmailTaken) {
		p.record(r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "email taken"})
		show(http.StatusConflict, "An account with this e-mail address already exists. Sign in instead.", nil)
		return
	}
	if err != nil {
		p.logger.Error("creating user", zap.Error(err))
		p.errorPage(w, errServer("could not create the account"))
		return
	}
	p.signedIn(w, r, st, u, req, evSignUp)
}
