package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// A signed-in user's own account in better_auth_api: /change-email and
// /delete-user (+ /delete-user/callback), both off unless the Caddyfile
// turns them on, as Better-Auth has them off by default
// (user.changeEmail.enabled, user.deleteUser.enabled). Better-Auth 1.7.25's
// api/routes/update-user.mjs and email-verification.mjs are the reference
// for paths, shapes, codes and their order.

// baFreshAge is Better-Auth's session.freshAge: list-sessions, and
// delete-user without the password, need a session created less than this
// long ago.
const baFreshAge = 24 * time.Hour

// Audit events of a user's own account changes.
const (
	evEmailChangeRequested = "email_change_requested"
	evEmailChanged         = "email_changed"
)

// failMessage is Better-Auth's error without a code (APIError.fromStatus
// with only a message).
func (a *baRequest) failMessage(status int, message string) {
	a.json(status, map[string]string{"message": message})
}

// failEmpty is Better-Auth's error without a body (APIError.fromStatus
// with none): the status and a JSON content type.
func (a *baRequest) failEmpty(status int) {
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(status)
}

// optionalStrings reads optional string fields of the body, answering
// VALIDATION_ERROR with every mistyped one.
func (a *baRequest) optionalStrings(names ...string) ([]string, bool) {
	out := make([]string, len(names))
	var problems []string
	for i, n := range names {
		s, _, ok := a.str(n)
		if !ok {
			problems = append(problems, "[body."+n+"] Invalid input: expected string, received "+jsonType(a.body[n]))
			continue
		}
		out[i] = s
	}
	if problems != nil {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", strings.Join(problems, "; "))
		return nil, false
	}
	return out, true
}

// jsonType names a JSON value's type as zod's messages do.
func jsonType(raw []byte) string {
	if len(raw) == 0 {
		return "undefined"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// changeEmail is Better-Auth's change-email without
// updateEmailWithoutVerification or sendChangeEmailConfirmation: the
// verification mail goes to the new address, and the address changes when
// its link is followed. A taken address answers as a free one, without a
// mail, so the answer tells nothing about other accounts.
func (a *baRequest) changeEmail() {
	raw, present, ok := a.str("newEmail")
	if !present || !ok {
		got := "undefined"
		if present {
			got = jsonType(a.body["newEmail"])
		}
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.newEmail] Invalid input: expected string, received "+got)
		return
	}
	newEmail := normalizeEmail(raw)
	if !validEmail(newEmail) {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.newEmail] Invalid email address")
		return
	}
	callback, _, _ := a.str("callbackURL") // checked by checkCallbacks
	_, _, u, ok := a.mustSession()
	if !ok {
		return
	}
	if !a.h.ChangeEmail {
		a.fail(http.StatusBadRequest, "CHANGE_EMAIL_DISABLED", "Change email is disabled")
		return
	}
	if newEmail == u.Email {
		a.failMessage(http.StatusBadRequest, "Email is the same")
		return
	}
	if a.p.mail == nil {
		a.failMessage(http.StatusBadRequest, "Verification email isn't enabled")
		return
	}
	ctx := a.r.Context()
	// Each request mails an address of the caller's choosing: the per-IP
	// limit of sign-up and reset applies, counted before the address is
	// looked up so that a taken one costs the same.
	if d, refused := a.p.brute.ipRefused(ctx, a.p.clientIP(a.r)); refused {
		a.p.record(a.r, storage.Event{Event: evEmailChangeRequested, Outcome: "failure", UserID: u.ID, Email: u.Email,
			Detail: "too many attempts from this address"})
		a.tooMany(retryAfterSeconds(d))
		return
	}
	_, err := a.st.UserByEmail(ctx, newEmail)
	switch {
	case err == nil:
		a.p.record(a.r, storage.Event{Event: evEmailChangeRequested, Outcome: "failure", UserID: u.ID, Email: u.Email,
			Detail: "better_auth_api: the new address is taken"})
		a.json(http.StatusOK, map[string]bool{"status": true})
		return
	case !errors.Is(err, storage.ErrNotFound):
		a.internal("change email", err)
		return
	}
	if !a.p.mailAllowed(ctx, newEmail) {
		a.p.record(a.r, storage.Event{Event: evEmailChangeRequested, Outcome: "failure", UserID: u.ID, Email: u.Email,
			Detail: "better_auth_api: mail limit reached"})
		a.json(http.StatusOK, map[string]bool{"status": true})
		return
	}
	token := randomToken(32)
	now := a.p.now()
	change := storage.EmailChange{UserID: u.ID, From: u.Email, To: newEmail}
	if err := a.st.CreateEmailChange(ctx, storage.PurposeChangeEmail+hashToken(token), change, now.Add(verifyTTL), now); err != nil {
		a.internal("change email", err)
		return
	}
	if callback == "" {
		callback = "/"
	}
	link := a.apiURL("/verify-email") + "?token=" + token + "&callbackURL=" + url.QueryEscape(callback)
	if err := a.p.mail.send(ctx, mail.KindVerifyEmail, newEmail, u.Name, link, "24 hours"); err != nil {
		a.internal("change email", err)
		return
	}
	a.p.record(a.r, storage.Event{Event: evEmailChangeRequested, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "better_auth_api: link mailed to the new address"})
	a.json(http.StatusOK, map[string]bool{"status": true})
}

// verifyEmailOrChange serves /verify-email: the link of a pending change
// of address, or else an ordinary verification (verifyEmail).
func (a *baRequest) verifyEmailOrChange() {
	if !a.queryPresent("token") {
		return
	}
	token := a.r.URL.Query().Get("token")
	if token == "" || len(token) > maxTokenLen {
		a.verifyEmail()
		return
	}
	id := storage.PurposeChangeEmail + hashToken(token)
	c, err := a.st.PendingEmailChange(a.r.Context(), id, a.p.now())
	if errors.Is(err, storage.ErrNotFound) {
		a.verifyEmail()
		return
	}
	if err != nil {
		a.internal("verify email", err)
		return
	}
	a.followEmailChange(id, c)
}

// followEmailChange is Better-Auth's change-email-verification: the link
// must be the signed-in user's (if anyone is signed in) and the address
// still the one the change was asked from; then the new address is set.
// Errors redirect to callbackURL with ?error=<code> when there is one,
// else 401 with the code, as verify-email's.
func (a *baRequest) followEmailChange(id string, c storage.EmailChange) {
	cb := a.r.URL.Query().Get("callbackURL")
	if cb != "" && !a.callbackOK(cb) {
		a.fail(http.StatusForbidden, "INVALID_CALLBACK_URL", "Invalid callbackURL")
		return
	}
	refuse := func(code, msg string) {
		if cb != "" {
			sep := "?"
			if strings.Contains(cb, "?") {
				sep = "&"
			}
			http.Redirect(a.w, a.r, cb+sep+"error="+code, http.StatusFound)
			return
		}
		a.fail(http.StatusUnauthorized, code, msg)
	}
	ctx := a.r.Context()
	s, _, signedIn, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s != nil && signedIn.ID != c.UserID {
		refuse("INVALID_USER", "Invalid user")
		return
	}
	if u, err := a.st.UserByID(ctx, c.UserID); errors.Is(err, storage.ErrNotFound) || (err == nil && u.IsBanned(a.p.now())) {
		refuse("USER_NOT_FOUND", "User not found")
		return
	} else if err != nil {
		a.internal("verify email", err)
		return
	}
	u, err := a.st.ChangeEmail(ctx, id, a.p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrEmailChanged):
		a.p.record(a.r, storage.Event{Event: evEmailChanged, Outcome: "failure", UserID: c.UserID, Detail: "better_auth_api: " + err.Error()})
		refuse("INVALID_TOKEN", "Invalid token")
		return
	case errors.Is(err, storage.ErrExpired):
		refuse("TOKEN_EXPIRED", "Token expired")
		return
	case errors.Is(err, storage.ErrUserBlocked):
		refuse("USER_NOT_FOUND", "User not found")
		return
	case errors.Is(err, storage.ErrEmailTaken):
		// Taken since the link was mailed; whoever follows the link holds
		// that mailbox, so saying so tells them nothing new.
		a.p.record(a.r, storage.Event{Event: evEmailChanged, Outcome: "failure", UserID: c.UserID, Detail: "better_auth_api: the new address was taken"})
		refuse("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
		return
	case err != nil:
		a.internal("change email", err)
		return
	}
	a.p.record(a.r, storage.Event{Event: evEmailChanged, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "better_auth_api: from " + c.From})
	if cb != "" {
		http.Redirect(a.w, a.r, cb, http.StatusFound)
		return
	}
	a.json(http.StatusOK, map[string]any{"status": true, "user": baUser(u)})
}

// deleteUser is Better-Auth's delete-user without
// sendDeleteAccountVerification: with the password (checked like
// change-password's, lockout included), or without it within a day of
// signing in (else 400 SESSION_EXPIRED), the user is deleted with
// everything they own in one transaction and the cookies are expired. A
// token (from a deletion mail, which this server never sends) is
// refused as an unknown one.
func (a *baRequest) deleteUser() {
	f, ok := a.optionalStrings("callbackURL", "password", "token")
	if !ok {
		return
	}
	pw, token := f[1], f[2]
	s, _, u, ok := a.mustSession()
	if !ok {
		return
	}
	if !a.h.DeleteUser {
		a.failEmpty(http.StatusNotFound)
		return
	}
	ctx := a.r.Context()
	if pw != "" {
		if len([]rune(pw)) > password.MaxLength {
			a.fail(http.StatusBadRequest, "PASSWORD_TOO_LONG", "Password too long")
			return
		}
		if !a.confirmPassword(u, pw, evUserDeleted, "delete user") {
			return
		}
	}
	if token != "" {
		a.fail(http.StatusNotFound, "INVALID_TOKEN", "Invalid token")
		return
	}
	if pw == "" && a.p.now().Sub(s.CreatedAt) >= baFreshAge {
		a.fail(http.StatusBadRequest, "SESSION_EXPIRED", "Session expired. Re-authenticate to perform this action.")
		return
	}
	if err := a.st.DeleteUser(ctx, u.ID, a.p.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.internal("delete user", err)
		return
	}
	a.p.applyRevocations(ctx) // the user's access tokens, at bearer_jwt
	a.p.record(a.r, storage.Event{Event: evUserDeleted, Outcome: "success", ActorID: u.ID, UserID: u.ID, Email: u.Email,
		Detail: "better_auth_api delete-user: own account"})
	a.expireCookies()
	a.json(http.StatusOK, map[string]any{"success": true, "message": "User deleted"})
}

// deleteUserCallback is the link of Better-Auth's deletion mail. This
// server sends none, so every token is unknown; the checks before that
// answer as Better-Auth's.
func (a *baRequest) deleteUserCallback() {
	q := a.r.URL.Query()
	if !q.Has("token") {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined")
		return
	}
	if cb := q.Get("callbackURL"); cb != "" && !a.callbackOK(cb) {
		a.fail(http.StatusForbidden, "INVALID_CALLBACK_URL", "Invalid callbackURL")
		return
	}
	if !a.h.DeleteUser {
		a.fail(http.StatusNotFound, "NOT_FOUND", "Not found")
		return
	}
	s, _, _, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s == nil {
		a.fail(http.StatusNotFound, "FAILED_TO_GET_USER_INFO", "Failed to get user info")
		return
	}
	a.fail(http.StatusNotFound, "INVALID_TOKEN", "Invalid token")
}

// listSessionsFresh is freshSessionMiddleware before listSessions: signed
// out 401 UNAUTHORIZED, a session created a day (baFreshAge) ago or more
// 403 SESSION_NOT_FRESH.
func (a *baRequest) listSessionsFresh() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	if a.p.now().Sub(s.CreatedAt) >= baFreshAge {
		a.fail(http.StatusForbidden, "SESSION_NOT_FRESH", "Session is not fresh")
		return
	}
	a.listSessions()
}

// queryPresent is Better-Auth's query schema for a required parameter:
// absent, it answers 400 VALIDATION_ERROR before anything else.
func (a *baRequest) queryPresent(name string) bool {
	if a.r.URL.Query().Has(name) {
		return true
	}
	a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[query."+name+"] Invalid input: expected string, received undefined")
	return false
}
