package oidc

import (
	"context"
	"errors"
	"maps"
	"net/http"
	netmail "net/mail"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// E-mail verification, password reset and password change: the hosted pages
// behind the mail block. Tokens are 256-bit random values mailed as links and
// stored only as SHA-256 hashes in verifications, with Better-Auth's
// identifiers ("email-verification:<hash>", "reset-password:<hash>", value
// the user id); each is spent once, in the same transaction as its effect.

const (
	verifyTTL = 24 * time.Hour
	resetTTL  = time.Hour
	// maxTokenLen bounds a token read from a link (ours are 43 characters).
	maxTokenLen = 128
)

// mailLimit bounds the mails one address can trigger (verification resends,
// reset links, "your address is taken" notices); past it, requests are
// answered as usual and no mail is sent, so the limit reveals nothing.
var mailLimit = struct {
	count  int
	window time.Duration
}{3, 15 * time.Minute}

// mailAllowed counts a mail to email against its limit.
func (p *provider) mailAllowed(ctx context.Context, email string) bool {
	if p.mail.limit == nil {
		return true
	}
	d, err := p.mail.limit.Allow(ctx, email)
	if err != nil {
		p.logger.Error("mail limiter", zap.Error(err))
		return true
	}
	return d.Allowed
}

// sendVerification mails u a fresh verification link; requestID, when set,
// is resumed once the link is followed.
func (p *provider) sendVerification(ctx context.Context, st storage.Storage, u *storage.User, requestID string) error {
	token := randomToken(32)
	now := p.now()
	if err := st.CreateVerification(ctx, storage.PurposeEmailVerification+hashToken(token), u.ID, now.Add(verifyTTL), now); err != nil {
		return err
	}
	link := p.url(pathVerifyEmail) + "?token=" + token
	if requestID != "" {
		link += "&request_id=" + url.QueryEscape(requestID)
	}
	return p.mail.send(ctx, mail.KindVerifyEmail, u.Email, u.Name, link, "24 hours")
}

// showCheckInbox is the answer to a sign-up (new address or taken) and to a
// resend: the same page either way.
func (p *provider) showCheckInbox(w http.ResponseWriter, r *http.Request, status int, email, reqID, errMsg string) {
	csrf, err := p.csrfToken(w, r, "resend", reqID)
	if err != nil {
		p.errorPage(w, errServer("not ready"))
		return
	}
	msg := "We sent a link to confirm your address. Open it to continue; it works for 24 hours."
	if email != "" {
		msg = "We sent a link to " + email + " to confirm the address. Open it to continue; it works for 24 hours."
	}
	p.render(w, status, "check-inbox", map[string]any{"Title": "Check your inbox", "Message": msg, "Error": errMsg,
		"Action": p.url(pathCheckInbox), "CSRF": csrf, "RequestID": reqID, "Email": email})
}

// handleCheckInbox shows "check your inbox" (GET) and sends the link again
// (POST), for the signed-in user or the address of the form.
func (p *provider) handleCheckInbox(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	if p.mail == nil {
		p.errorPage(w, errNotFoundPage())
		return
	}
	req, _ := p.pageRequest(r.Context(), st, form.Get("request_id"))
	reqID := ""
	if req != nil {
		reqID = req.ID
	}
	var u *storage.User
	if sess, _ := p.currentSession(r.Context(), st, r); sess != nil {
		u, _ = st.UserByID(r.Context(), sess.UserID)
	}
	if r.Method == http.MethodGet {
		if u != nil && u.EmailVerified && req != nil {
			p.redirect(w, r, p.url(pathContinue)+"?request_id="+url.QueryEscape(req.ID))
			return
		}
		email := form.Get("email")
		if u != nil {
			email = u.Email
		}
		if len(email) > 254 {
			email = ""
		}
		p.showCheckInbox(w, r, http.StatusOK, email, reqID, "")
		return
	}
	if !p.checkCSRF(r, form, "resend", form.Get("request_id")) {
		p.forbidden(w)
		return
	}
	email := normalizeEmail(form.Get("email"))
	if u != nil {
		email = u.Email
	}
	if len(email) > 254 {
		p.showCheckInbox(w, r, http.StatusBadRequest, "", reqID, "Enter a valid e-mail address.")
		return
	}
	if d, refused := p.brute.ipRefused(r.Context(), p.clientIP(r)); refused {
		p.record(r, storage.Event{Event: evVerifySent, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		p.showCheckInbox(w, r, http.StatusTooManyRequests, email, reqID, retryMessage("Too many requests from your network.", d))
		return
	}
	if u == nil && email != "" {
		if found, _, err := st.UserWithPassword(r.Context(), email); err == nil {
			u = found
		}
	}
	switch {
	case u == nil || u.EmailVerified:
		// Nothing to send; the answer is the same.
	case !p.mailAllowed(r.Context(), u.Email):
		p.record(r, storage.Event{Event: evVerifySent, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: "mail limit reached"})
	default:
		if err := p.sendVerification(r.Context(), st, u, reqID); err != nil {
			p.logger.Error("sending verification", zap.Error(err))
			p.errorPage(w, errStorage(err, "could not send the mail"))
			return
		}
		p.record(r, storage.Event{Event: evVerifySent, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "resend"})
	}
	p.showCheckInbox(w, r, http.StatusOK, email, reqID, "")
}

// handleVerifyEmail spends a verification link, marks the address verified
// and signs the user in (resuming the authorization request, if any).
func (p *provider) handleVerifyEmail(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	bad := func(detail string) {
		p.record(r, storage.Event{Event: evEmailVerified, Outcome: "failure", Detail: detail})
		p.render(w, http.StatusBadRequest, "message", map[string]any{"Title": "Link not valid",
			"Message": "This verification link is invalid, has expired or was already used. Sign in to get a new one.",
			"Link":    p.url(pathSignIn), "LinkText": "Sign in"})
	}
	token := form.Get("token")
	if token == "" || len(token) > maxTokenLen {
		bad("malformed token")
		return
	}
	u, err := st.VerifyEmail(r.Context(), storage.PurposeEmailVerification+hashToken(token), p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrUserBlocked):
		bad(err.Error())
		return
	case err != nil:
		p.logger.Error("verifying e-mail", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not verify the address"))
		return
	}
	if u.IsBanned(p.now()) {
		p.render(w, http.StatusForbidden, "message", map[string]any{"Title": "Address verified", "Message": "This account is suspended."})
		return
	}
	req, _ := p.pageRequest(r.Context(), st, form.Get("request_id"))
	p.signedIn(w, r, st, u, req, evEmailVerified)
}

// handleForgotPassword asks for an address and mails a reset link; the
// answer is the same whether or not the account exists.
func (p *provider) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	if p.mail == nil {
		p.errorPage(w, errNotFoundPage())
		return
	}
	show := func(status int, email, msg string) {
		csrf, err := p.csrfToken(w, r, "forgot-password", "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, status, "forgot-password", map[string]any{"Title": "Reset your password", "Action": p.url(pathForgotPassword),
			"CSRF": csrf, "Email": email, "Error": msg, "SignInURL": p.url(pathSignIn)})
	}
	if r.Method == http.MethodGet {
		hint := form.Get("email")
		if len(hint) > 254 {
			hint = ""
		}
		show(http.StatusOK, hint, "")
		return
	}
	if !p.checkCSRF(r, form, "forgot-password", "") {
		p.forbidden(w)
		return
	}
	email := normalizeEmail(form.Get("email"))
	if !validEmail(email) {
		show(http.StatusBadRequest, "", "Enter a valid e-mail address.")
		return
	}
	if d, refused := p.brute.ipRefused(r.Context(), p.clientIP(r)); refused {
		p.record(r, storage.Event{Event: evResetRequested, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		show(http.StatusTooManyRequests, email, retryMessage("Too many requests from your network.", d))
		return
	}
	u, hash, err := st.UserWithPassword(r.Context(), email)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && hash == ""):
		p.record(r, storage.Event{Event: evResetRequested, Outcome: "failure", Email: email, Detail: "no such account"})
	case err != nil:
		p.logger.Error("password reset", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not send the mail"))
		return
	case u.IsBanned(p.now()):
		p.record(r, storage.Event{Event: evResetRequested, Outcome: "failure", UserID: u.ID, Email: email, Detail: "user is banned"})
	case !p.mailAllowed(r.Context(), email):
		p.record(r, storage.Event{Event: evResetRequested, Outcome: "failure", UserID: u.ID, Email: email, Detail: "mail limit reached"})
	default:
		if err := p.sendReset(r.Context(), st, u); err != nil {
			p.logger.Error("password reset", zap.Error(err))
			p.errorPage(w, errStorage(err, "could not send the mail"))
			return
		}
		p.record(r, storage.Event{Event: evResetRequested, Outcome: "success", UserID: u.ID, Email: email})
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Check your inbox",
		"Message": "If an account exists for " + email + ", we sent it a link to choose a new password. The link works for 1 hour.",
		"Link":    p.url(pathSignIn), "LinkText": "Back to sign-in"})
}

// sendReset voids u's older reset links and mails a new one.
func (p *provider) sendReset(ctx context.Context, st storage.Storage, u *storage.User) error {
	if err := st.DeleteVerifications(ctx, storage.PurposeResetPassword, u.ID); err != nil {
		return err
	}
	token := randomToken(32)
	now := p.now()
	if err := st.CreateVerification(ctx, storage.PurposeResetPassword+hashToken(token), u.ID, now.Add(resetTTL), now); err != nil {
		return err
	}
	return p.mail.send(ctx, mail.KindResetPassword, u.Email, u.Name, p.url(pathResetPassword)+"?token="+token, "1 hour")
}

// handleResetPassword shows the new-password form of a reset link and
// applies it: the password policy, then, in one transaction, the token is
// spent, the hash replaced, and every session and token of the user ended.
func (p *provider) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	token := form.Get("token")
	invalid := func(detail string) {
		p.record(r, storage.Event{Event: evPasswordReset, Outcome: "failure", Detail: detail})
		p.render(w, http.StatusBadRequest, "message", map[string]any{"Title": "Link not valid",
			"Message": "This password reset link is invalid, has expired or was already used. Ask for a new one.",
			"Link":    p.url(pathForgotPassword), "LinkText": "Reset your password"})
	}
	if token == "" || len(token) > maxTokenLen {
		invalid("malformed token")
		return
	}
	_, pw, ok := p.passwordForm(w, r, form, "reset-password", "password", map[string]any{
		"Title": "Choose a new password", "Action": p.url(pathResetPassword), "Token": token})
	if !ok {
		return
	}
	hash, err := p.hash(r.Context(), pw)
	if err != nil {
		p.errorPage(w, errServer("could not hash the password"))
		return
	}
	u, err := st.ResetPassword(r.Context(), storage.PurposeResetPassword+hashToken(token), hash, p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrUserBlocked):
		invalid(err.Error())
		return
	case err != nil:
		p.logger.Error("password reset", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not change the password"))
		return
	}
	// The user's access tokens, at bearer_jwt.
	p.revocationsChanged(r.Context(), st)
	p.brute.succeeded(r.Context(), u.Email) // the owner proved control of the address
	p.record(r, storage.Event{Event: evPasswordReset, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "every session and refresh token revoked"})
	if _, err := p.endSession(r.Context(), st, w, r); err != nil {
		p.logger.Warn("ending session after reset", zap.Error(err))
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Password changed",
		"Message": "Your password has been changed and every device signed out. Sign in with the new password.",
		"Link":    p.url(pathSignIn) + "?login_hint=" + url.QueryEscape(u.Email), "LinkText": "Sign in"})
}

// handleChangePassword lets a signed-in user change their password, old
// password required (counted against the account's lockout like a
// sign-in). Every other session and token of the user ends; this browser
// gets a new session.
func (p *provider) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	sess, err := p.currentSession(r.Context(), st, r)
	var u *storage.User
	if err == nil && sess != nil {
		u, err = st.UserByID(r.Context(), sess.UserID)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.logger.Error("change password", zap.Error(err))
		p.errorPage(w, errStorage(err, "session lookup failed"))
		return
	}
	if u == nil {
		p.render(w, http.StatusUnauthorized, "message", map[string]any{"Title": "Sign in first",
			"Message": "Sign in to change your password.", "Link": p.url(pathSignIn), "LinkText": "Sign in"})
		return
	}
	show, newPW, ok := p.passwordForm(w, r, form, "change-password", "new_password", map[string]any{
		"Title": "Change your password", "Action": p.url(pathChangePassword), "Email": u.Email})
	if !ok {
		return
	}
	d, locked := p.brute.attempt(r.Context(), u.Email)
	if locked {
		p.record(r, storage.Event{Event: evPasswordChanged, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: "account locked after failed attempts"})
		w.Header().Set("Retry-After", retryAfterSeconds(d))
		show(http.StatusTooManyRequests, retryMessage("Too many failed attempts for this account.", d), nil)
		return
	}
	if _, err := p.checkPassword(r.Context(), st, u.Email, form.Get("current_password")); err != nil {
		if errors.Is(err, errBadCredentials) || errors.Is(err, errBanned) {
			lockedOut(d)
			p.record(r, storage.Event{Event: evPasswordChanged, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: err.Error()})
			show(http.StatusUnauthorized, "The current password is wrong.", nil)
			return
		}
		p.logger.Error("change password", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not check the password"))
		return
	}
	p.brute.succeeded(r.Context(), u.Email)
	hash, err := p.hash(r.Context(), newPW)
	if err != nil {
		p.errorPage(w, errServer("could not hash the password"))
		return
	}
	if err := st.ChangePassword(r.Context(), u.ID, hash, p.now()); err != nil {
		p.logger.Error("change password", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not change the password"))
		return
	}
	p.revocationsChanged(r.Context(), st) // the user's access tokens, at bearer_jwt
	p.record(r, storage.Event{Event: evPasswordChanged, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "every session and refresh token revoked"})
	if _, err := p.startSession(r.Context(), st, w, r, u.ID); err != nil {
		p.logger.Error("starting session", zap.Error(err))
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Password changed",
		"Message": "Your password has been changed. Every other device has been signed out.",
		"Link":    p.url(pathLinkedAccounts), "LinkText": "Linked accounts"})
}

// passwordForm is what the reset and change pages share: on GET the form
// (data plus a fresh CSRF token), on POST the CSRF check and the password
// policy applied to the new password in field. ok is false when it has
// answered; show renders the form again with a message.
func (p *provider) passwordForm(w http.ResponseWriter, r *http.Request, form url.Values, page, field string, data map[string]any) (show func(status int, msg string, violations []password.Violation), pw string, ok bool) {
	show = func(status int, msg string, violations []password.Violation) {
		csrf, err := p.csrfToken(w, r, page, "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		d := maps.Clone(data)
		d["CSRF"], d["Error"], d["Violations"] = csrf, msg, violations
		p.render(w, status, page, d)
	}
	if r.Method == http.MethodGet {
		show(http.StatusOK, "", nil)
		return show, "", false
	}
	if !p.checkCSRF(r, form, page, "") {
		p.forbidden(w)
		return show, "", false
	}
	pw = form.Get(field)
	if v := password.Check(pw); v != nil {
		show(http.StatusBadRequest, "", v)
		return show, "", false
	}
	return show, pw, true
}

// hash hashes a new password in the bounded pool.
func (p *provider) hash(ctx context.Context, pw string) (string, error) {
	select {
	case p.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-p.hashSlots }()
	return password.Hash(pw, p.hashParams)
}

// errNotFoundPage answers the mail pages of a provider without mail.
func errNotFoundPage() *apierror.OAuth {
	return apierror.NewOAuth(http.StatusNotFound, "not_found", "e-mail verification and password reset are not set up on this site")
}

// validEmail is the sign-up check of an address (already normalized).
func validEmail(email string) bool {
	a, err := netmail.ParseAddress(email)
	return err == nil && a.Address == email && len(email) <= 254
}
