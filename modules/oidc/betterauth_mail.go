package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// What better_auth_api sends by mail and the links that come back:
// password reset and e-mail verification.

func (a *baRequest) requestPasswordReset() {
	if a.p.mail == nil {
		a.fail(http.StatusBadRequest, "RESET_PASSWORD_DISABLED", "Reset password isn't enabled")
		return
	}
	f, ok := a.required("email")
	if !ok {
		return
	}
	email := normalizeEmail(f[0])
	if !validEmail(email) {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.email] Invalid email address")
		return
	}
	redirectTo, _, _ := a.str("redirectTo")
	if !a.callbackOK(redirectTo) {
		a.fail(http.StatusForbidden, "INVALID_REDIRECT_URL", "Invalid redirectURL")
		return
	}
	ctx := a.r.Context()
	if d, refused := a.p.brute.ipRefused(ctx, a.p.clientIP(a.r)); refused {
		a.tooMany(retryAfterSeconds(d))
		return
	}
	u, hash, err := a.st.UserWithPassword(ctx, email)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && hash == ""):
		a.p.record(a.r, storage.Event{Event: evResetRequested, Outcome: "failure", Email: email, Detail: "no such account"})
	case err != nil:
		a.internal("password reset", err)
		return
	case u.IsBanned(a.p.now()):
		a.p.record(a.r, storage.Event{Event: evResetRequested, Outcome: "failure", UserID: u.ID, Email: email, Detail: "user is banned"})
	case !a.p.mailAllowed(ctx, email):
		a.p.record(a.r, storage.Event{Event: evResetRequested, Outcome: "failure", UserID: u.ID, Email: email, Detail: "mail limit reached"})
	default:
		if err := a.sendReset(u, redirectTo); err != nil {
			a.internal("password reset", err)
			return
		}
		a.p.record(a.r, storage.Event{Event: evResetRequested, Outcome: "success", UserID: u.ID, Email: email, Detail: "better_auth_api"})
	}
	a.json(http.StatusOK, map[string]any{"status": true, "message": msgResetSent})
}

// sendReset voids u's older reset links and mails Better-Auth's link,
// `<base>/reset-password/<token>?callbackURL=<redirectTo>`; the token is
// stored hashed like the hosted pages' ones, so either page may spend it.
func (a *baRequest) sendReset(u *storage.User, redirectTo string) error {
	ctx := a.r.Context()
	if err := a.st.DeleteVerifications(ctx, storage.PurposeResetPassword, u.ID); err != nil {
		return err
	}
	token := randomToken(32)
	now := a.p.now()
	if err := a.st.CreateVerification(ctx, storage.PurposeResetPassword+hashToken(token), u.ID, now.Add(resetTTL), now); err != nil {
		return err
	}
	link := a.apiURL("/reset-password/"+token) + "?callbackURL=" + url.QueryEscape(redirectTo)
	return a.p.mail.send(ctx, mail.KindResetPassword, u.Email, u.Name, link, "1 hour")
}

// resetPasswordLink is the mailed link: 302 to the callbackURL with the
// token, or with error=INVALID_TOKEN. The token is checked, not spent.
func (a *baRequest) resetPasswordLink(token string) {
	q := a.r.URL.Query()
	cb := q.Get("callbackURL")
	if cb == "" || !a.callbackOK(cb) {
		a.fail(http.StatusBadRequest, "CALLBACK_URL_REQUIRED", "callbackURL is required")
		return
	}
	if strings.HasPrefix(cb, "/") {
		cb = requestOrigin(a.r) + cb
	}
	sep := "?"
	if strings.Contains(cb, "?") {
		sep = "&"
	}
	st, err := a.p.storage(a.r.Context())
	if err != nil {
		a.fail(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The authentication service is starting")
		return
	}
	if len(token) > maxTokenLen || token == "" || !a.resetTokenLive(st, token) {
		http.Redirect(a.w, a.r, cb+sep+"error=INVALID_TOKEN", http.StatusFound)
		return
	}
	http.Redirect(a.w, a.r, cb+sep+"token="+url.QueryEscape(token), http.StatusFound)
}

// resetTokenLive reports whether a reset token is unspent and unexpired.
func (a *baRequest) resetTokenLive(st storage.Storage, token string) bool {
	_, err := st.Verification(a.r.Context(), storage.PurposeResetPassword+hashToken(token), a.p.now())
	return err == nil
}

func (a *baRequest) resetPassword() {
	f, ok := a.required("newPassword")
	if !ok {
		return
	}
	token, _, _ := a.str("token")
	if token == "" {
		token = a.r.URL.Query().Get("token")
	}
	if token == "" || len(token) > maxTokenLen {
		a.fail(http.StatusBadRequest, "INVALID_TOKEN", "Invalid token")
		return
	}
	if !a.passwordOK(f[0]) {
		return
	}
	ctx := a.r.Context()
	hash, err := a.p.hash(ctx, f[0])
	if err != nil {
		a.internal("hashing", err)
		return
	}
	u, err := a.st.ResetPassword(ctx, storage.PurposeResetPassword+hashToken(token), hash, a.p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		a.p.record(a.r, storage.Event{Event: evPasswordReset, Outcome: "failure", Detail: err.Error()})
		a.fail(http.StatusBadRequest, "INVALID_TOKEN", "Invalid token")
		return
	case errors.Is(err, storage.ErrUserBlocked):
		a.fail(http.StatusBadRequest, "USER_NOT_FOUND", "User not found")
		return
	case err != nil:
		a.internal("password reset", err)
		return
	}
	a.p.revocationsChanged(ctx, a.st)
	a.p.brute.succeeded(ctx, u.Email)
	a.p.record(a.r, storage.Event{Event: evPasswordReset, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "better_auth_api: every session and refresh token revoked"})
	a.json(http.StatusOK, map[string]bool{"status": true})
}

// sendVerification mails u a verification link to this API's verify-email.
func (a *baRequest) sendVerification(u *storage.User, callbackURL string) error {
	ctx := a.r.Context()
	token := randomToken(32)
	now := a.p.now()
	if err := a.st.CreateVerification(ctx, storage.PurposeEmailVerification+hashToken(token), u.ID, now.Add(verifyTTL), now); err != nil {
		return err
	}
	if callbackURL == "" {
		callbackURL = "/"
	}
	link := a.apiURL("/verify-email") + "?token=" + token + "&callbackURL=" + url.QueryEscape(callbackURL)
	if err := a.p.mail.send(ctx, mail.KindVerifyEmail, u.Email, u.Name, link, "24 hours"); err != nil {
		return err
	}
	a.p.record(a.r, storage.Event{Event: evVerifySent, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "better_auth_api"})
	return nil
}

func (a *baRequest) sendVerificationEmail() {
	if a.p.mail == nil {
		a.fail(http.StatusBadRequest, "VERIFICATION_EMAIL_NOT_ENABLED", "Verification email isn't enabled")
		return
	}
	f, ok := a.required("email")
	if !ok {
		return
	}
	email := normalizeEmail(f[0])
	callback, _, _ := a.str("callbackURL")
	if !a.callbackOK(callback) {
		a.fail(http.StatusForbidden, "INVALID_CALLBACK_URL", "Invalid callbackURL")
		return
	}
	ctx := a.r.Context()
	s, _, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s != nil {
		if u.Email != email {
			a.fail(http.StatusBadRequest, "EMAIL_MISMATCH", "Email mismatch")
			return
		}
		if u.EmailVerified {
			a.fail(http.StatusBadRequest, "EMAIL_ALREADY_VERIFIED", "Email is already verified")
			return
		}
	} else if u, err = a.st.UserByEmail(ctx, email); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.internal("send verification", err)
		return
	}
	if u != nil && !u.EmailVerified && !u.IsBanned(a.p.now()) && a.p.mailAllowed(ctx, email) {
		if err := a.sendVerification(u, callback); err != nil {
			a.internal("send verification", err)
			return
		}
	}
	a.json(http.StatusOK, map[string]bool{"status": true})
}

func (a *baRequest) verifyEmail() {
	q := a.r.URL.Query()
	token, cb := q.Get("token"), q.Get("callbackURL")
	if cb != "" && !a.callbackOK(cb) {
		a.fail(http.StatusForbidden, "INVALID_CALLBACK_URL", "Invalid callbackURL")
		return
	}
	answer := func(status int, code, msg string) {
		if cb != "" {
			target := cb
			if code != "" {
				sep := "?"
				if strings.Contains(cb, "?") {
					sep = "&"
				}
				target += sep + "error=" + code
			}
			http.Redirect(a.w, a.r, target, http.StatusFound)
			return
		}
		if code != "" {
			a.fail(status, code, msg)
			return
		}
		a.json(http.StatusOK, map[string]any{"status": true, "user": nil})
	}
	if token == "" || len(token) > maxTokenLen {
		answer(http.StatusUnauthorized, "INVALID_TOKEN", "Invalid token")
		return
	}
	u, err := a.st.VerifyEmail(a.r.Context(), storage.PurposeEmailVerification+hashToken(token), a.p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		a.p.record(a.r, storage.Event{Event: evEmailVerified, Outcome: "failure", Detail: err.Error()})
		answer(http.StatusUnauthorized, "INVALID_TOKEN", "Invalid token")
		return
	case errors.Is(err, storage.ErrExpired):
		answer(http.StatusUnauthorized, "TOKEN_EXPIRED", "Token expired")
		return
	case errors.Is(err, storage.ErrUserBlocked):
		answer(http.StatusUnauthorized, "USER_NOT_FOUND", "User not found")
		return
	case err != nil:
		a.internal("verify email", err)
		return
	}
	a.p.record(a.r, storage.Event{Event: evEmailVerified, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "better_auth_api"})
	answer(http.StatusOK, "", "")
}
