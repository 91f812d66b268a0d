package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Sign-up, sign-in and the signed-in user's own changes (password,
// profile) in better_auth_api, on the provider's accounts and policy.

// passwordOK applies the provider's password policy with Better-Auth's
// codes (PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG; the provider's other rules
// keep their own codes, e.g. PASSWORD_NO_DIGIT).
func (a *baRequest) passwordOK(pw string) bool {
	v := password.Check(pw)
	if v == nil {
		return true
	}
	msg := v[0].Message
	switch v[0].Code {
	case password.TooShort:
		msg = "Password too short"
	case password.TooLong:
		msg = "Password too long"
	}
	a.fail(http.StatusBadRequest, v[0].Code, msg)
	return false
}

func (a *baRequest) signUp() {
	f, ok := a.required("name", "email", "password")
	if !ok {
		return
	}
	name, email, pw := strings.TrimSpace(f[0]), normalizeEmail(f[1]), f[2]
	if !validEmail(email) {
		// Better-Auth's body schema (z.email()) refuses it before anything
		// else, as a validation error (sign-in answers INVALID_EMAIL).
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.email] Invalid email address")
		return
	}
	for _, field := range []string{"role", "banned", "banReason", "banExpires", "emailVerified"} {
		if raw, ok := a.body[field]; ok && string(raw) != "null" && string(raw) != "false" && string(raw) != `""` {
			a.fail(http.StatusBadRequest, "FIELD_NOT_ALLOWED", field+" is not allowed to be set")
			return
		}
	}
	if len(name) > 200 {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.name] Too long")
		return
	}
	ctx := a.r.Context()
	if d, refused := a.p.brute.ipRefused(ctx, a.p.clientIP(a.r)); refused {
		a.p.record(a.r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		a.tooMany(retryAfterSeconds(d))
		return
	}
	if !a.passwordOK(pw) {
		return
	}
	image, _, _ := a.str("image")
	hash, err := a.p.hash(ctx, pw)
	if err != nil {
		a.internal("hashing", err)
		return
	}
	now := a.p.now()
	u, err := a.st.CreateUser(ctx, storage.User{Email: email, Name: name, Image: image, CreatedAt: now, UpdatedAt: now}, hash)
	if errors.Is(err, storage.ErrEmailTaken) {
		a.p.record(a.r, storage.Event{Event: evSignUp, Outcome: "failure", Email: email, Detail: "email taken"})
		if a.h.HideExistingUsers || a.p.requireVerified {
			fake := &storage.User{ID: storage.NewID(), Email: email, Name: name, Image: image, Role: storage.DefaultRole,
				CreatedAt: now, UpdatedAt: now}
			a.json(http.StatusOK, map[string]any{"token": nil, "user": baUser(fake)})
			return
		}
		a.fail(http.StatusUnprocessableEntity, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
		return
	}
	if err != nil {
		a.internal("creating user", err)
		return
	}
	a.p.record(a.r, storage.Event{Event: evSignUp, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "better_auth_api"})
	if a.p.mail != nil && a.p.mailAllowed(ctx, email) {
		callback, _, _ := a.str("callbackURL")
		if err := a.sendVerification(u, callback); err != nil {
			a.p.logger.Error("mailing verification", zap.Error(err))
		}
	}
	if a.p.requireVerified {
		a.json(http.StatusOK, map[string]any{"token": nil, "user": baUser(u)})
		return
	}
	_, token, err := a.startSession(u)
	if err != nil {
		a.internal("starting session", err)
		return
	}
	a.json(http.StatusOK, map[string]any{"token": token, "user": baUser(u)})
}

func (a *baRequest) signIn() {
	f, ok := a.required("email", "password")
	if !ok {
		return
	}
	email, pw := normalizeEmail(f[0]), f[1]
	if !validEmail(email) {
		a.fail(http.StatusBadRequest, "INVALID_EMAIL", "Invalid email")
		return
	}
	if len([]rune(pw)) > password.MaxLength {
		a.fail(http.StatusBadRequest, "PASSWORD_TOO_LONG", "Password too long")
		return
	}
	ctx := a.r.Context()
	if d, refused := a.p.brute.ipRefused(ctx, a.p.clientIP(a.r)); refused {
		a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: "too many attempts from this address"})
		a.tooMany(retryAfterSeconds(d))
		return
	}
	d, locked := a.p.brute.attempt(ctx, email)
	if locked {
		a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: "account locked after failed sign-ins"})
		a.tooMany(retryAfterSeconds(d))
		return
	}
	u, err := a.p.checkPassword(ctx, a.st, email, pw)
	switch {
	case errors.Is(err, errBadCredentials):
		lockedOut(d)
		a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: err.Error()})
		a.fail(http.StatusUnauthorized, "INVALID_EMAIL_OR_PASSWORD", msgInvalidCredentials)
		return
	case errors.Is(err, errBanned):
		lockedOut(d)
		a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "failure", Email: email, Detail: err.Error()})
		a.fail(http.StatusForbidden, "BANNED_USER", baBannedMessage)
		return
	case err != nil:
		a.internal("sign-in", err)
		return
	}
	a.p.brute.succeeded(ctx, email)
	if a.p.requireVerified && !u.EmailVerified {
		a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "failure", UserID: u.ID, Email: email, Detail: "email not verified"})
		a.fail(http.StatusForbidden, "EMAIL_NOT_VERIFIED", "Email not verified")
		return
	}
	_, token, err := a.startSession(u)
	if err != nil {
		a.internal("starting session", err)
		return
	}
	a.p.record(a.r, storage.Event{Event: evSignIn, Outcome: "success", UserID: u.ID, Email: u.Email, Detail: "better_auth_api"})
	out := map[string]any{"redirect": false, "token": token, "user": baUser(u)}
	if cb, _, _ := a.str("callbackURL"); cb != "" {
		out["redirect"], out["url"] = true, cb
		a.w.Header().Set("Location", cb)
	}
	a.json(http.StatusOK, out)
}

// changePassword checks the current password and replaces it. The
// provider ends every session of the user on a password change (stricter
// than Better-Auth's default), so the caller always gets a new session
// and its token.
func (a *baRequest) changePassword() {
	_, _, u, ok := a.mustSession()
	if !ok {
		return
	}
	f, ok := a.required("newPassword", "currentPassword")
	if !ok {
		return
	}
	ctx := a.r.Context()
	if !a.passwordOK(f[0]) {
		return
	}
	if !a.confirmPassword(u, f[1], evPasswordChanged, "change password") {
		return
	}
	hash, err := a.p.hash(ctx, f[0])
	if err != nil {
		a.internal("hashing", err)
		return
	}
	if err := a.st.ChangePassword(ctx, u.ID, hash, a.p.now()); err != nil {
		a.internal("change password", err)
		return
	}
	a.p.revocationsChanged(ctx, a.st)
	a.p.record(a.r, storage.Event{Event: evPasswordChanged, Outcome: "success", UserID: u.ID, Email: u.Email,
		Detail: "better_auth_api: every session and refresh token revoked"})
	_, token, err := a.startSession(u)
	if err != nil {
		a.internal("starting session", err)
		return
	}
	a.json(http.StatusOK, map[string]any{"token": token, "user": baUser(u)})
}

func (a *baRequest) updateUser() {
	s, token, _, ok := a.mustSession()
	if !ok {
		return
	}
	if _, ok := a.body["email"]; ok {
		a.fail(http.StatusBadRequest, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated")
		return
	}
	for _, field := range []string{"role", "banned", "banReason", "banExpires", "emailVerified", "password"} {
		if _, ok := a.body[field]; ok {
			a.fail(http.StatusBadRequest, "FIELD_NOT_ALLOWED", field+" is not allowed to be set")
			return
		}
	}
	var name, image *string
	if s, present, ok := a.str("name"); !ok {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.name] Invalid input: expected string")
		return
	} else if present {
		s = strings.TrimSpace(s)
		if len(s) > 200 {
			a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.name] Too long")
			return
		}
		name = &s
	}
	if raw, present := a.body["image"]; present {
		var img string
		if string(raw) != "null" && json.Unmarshal(raw, &img) != nil {
			a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.image] Invalid input: expected string")
			return
		}
		if len(img) > 2048 {
			a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.image] Too long")
			return
		}
		image = &img
	}
	if name == nil && image == nil {
		b, _ := json.Marshal(map[string]string{"message": "No fields to update"})
		a.w.Header().Set("Content-Type", "application/json")
		a.w.WriteHeader(http.StatusBadRequest)
		_, _ = a.w.Write(b)
		return
	}
	if _, err := a.st.UpdateProfile(a.r.Context(), s.UserID, name, image, a.p.now()); err != nil {
		a.internal("updating user", err)
		return
	}
	if value, err := a.signCookie(token); err == nil {
		http.SetCookie(a.w, a.cookie(value, int(time.Until(s.ExpiresAt).Seconds())))
	}
	a.json(http.StatusOK, map[string]bool{"status": true})
}

// confirmPassword checks the signed-in user's current password before a
// sensitive change, under the account's brute-force limit: it answers
// Better-Auth's errors itself (CREDENTIAL_ACCOUNT_NOT_FOUND,
// INVALID_PASSWORD, the 429) and records a failure under event.
func (a *baRequest) confirmPassword(u *storage.User, pw, event, what string) bool {
	ctx := a.r.Context()
	if has, err := a.st.HasPassword(ctx, u.ID); err != nil {
		a.internal(what, err)
		return false
	} else if !has {
		a.fail(http.StatusBadRequest, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found")
		return false
	}
	d, locked := a.p.brute.attempt(ctx, u.Email)
	if locked {
		a.p.record(a.r, storage.Event{Event: event, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: "account locked after failed attempts"})
		a.tooMany(retryAfterSeconds(d))
		return false
	}
	if _, err := a.p.checkPassword(ctx, a.st, u.Email, pw); err != nil {
		if errors.Is(err, errBadCredentials) || errors.Is(err, errBanned) {
			lockedOut(d)
			a.p.record(a.r, storage.Event{Event: event, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: err.Error()})
			a.fail(http.StatusBadRequest, "INVALID_PASSWORD", "Invalid password")
			return false
		}
		a.internal(what, err)
		return false
	}
	a.p.brute.succeeded(ctx, u.Email)
	return true
}
