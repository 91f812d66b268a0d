package oidc

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"go.uber.org/zap"

	oidcmail "github.com/intellistack/intellistack/modules/oidc/mail"
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
			"Upstreams": p.upstreamButtons(reqID, ""),
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
	if p.mail != nil && (err == nil || errors.Is(err, storage.ErrEmailTaken)) {
		p.signedUpWithMail(w, r, st, u, email, reqID, err != nil)
		return
	}
	if errors.Is(err, storage.ErrEmailTaken) {
		p.record(r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "email taken"})
		show(http.StatusConflict, "An account with this e-mail address already exists. Sign in instead.", nil)
		return
	}
	if err != nil {
		p.logger.Error("creating user", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not create the account"))
		return
	}
	p.signedIn(w, r, st, u, req, evSignUp)
}

// signedUpWithMail answers a sign-up when mail is configured, the same way
// whether the address was new (u created: a verification link is mailed) or
// taken (the owner is mailed an "account exists" notice instead): the same
// status, page and cookies, so the form cannot tell who has an account
// (Better-Auth does the same when e-mail verification is required). The
// user signs in by following the link.
func (p *provider) signedUpWithMail(w http.ResponseWriter, r *http.Request, st storage.Storage, u *storage.User, email, reqID string, taken bool) {
	ctx := r.Context()
	if taken {
		p.record(r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "email taken"})
		if owner, _, err := st.UserWithPassword(ctx, email); err == nil && p.mailAllowed(ctx, email) {
			link := p.url(pathSignIn)
			if err := p.mail.send(ctx, oidcmail.KindAccountExists, owner.Email, owner.Name, link, ""); err != nil {
				p.logger.Error("mailing account-exists notice", zap.Error(err))
			} else {
				p.record(r, storage.Event{Event: evAccountExists, Outcome: "success", UserID: owner.ID, Email: owner.Email})
			}
		}
	} else {
		p.record(r, storage.Event{Event: evSignUp, Outcome: "success", UserID: u.ID, Email: u.Email})
		p.mailAllowed(ctx, email) // counts against the address like the notice does
		if err := p.sendVerification(ctx, st, u, reqID); err != nil {
			// The account exists; the user can ask for the link again.
			p.logger.Error("mailing verification", zap.Error(err))
		} else {
			p.record(r, storage.Event{Event: evVerifySent, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "sign-up"})
		}
	}
	p.showCheckInbox(w, r, http.StatusOK, email, reqID, "")
}
