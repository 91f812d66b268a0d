package oidc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// baRequest is one request to better_auth_api.
type baRequest struct {
	h    *BetterAuthAPI
	p    *provider
	w    http.ResponseWriter
	r    *http.Request
	st   storage.Storage
	body map[string]json.RawMessage
}

// baRoute is one endpoint: its method and whether it reads form bodies.
type baRoute struct {
	method string
	form   bool // also application/x-www-form-urlencoded (sign-in, sign-up)
	serve  func(*baRequest)
}

var baRoutes = map[string]baRoute{
	"/sign-up/email":           {"POST", true, (*baRequest).signUp},
	"/sign-in/email":           {"POST", true, (*baRequest).signIn},
	"/sign-in/social":          {"POST", false, (*baRequest).signInSocial},
	"/error":                   {"GET", false, (*baRequest).errorPage},
	"/sign-out":                {"POST", false, (*baRequest).signOut},
	"/get-session":             {"GET", false, (*baRequest).getSession},
	"/list-sessions":           {"GET", false, (*baRequest).listSessions},
	"/revoke-session":          {"POST", false, (*baRequest).revokeSession},
	"/revoke-sessions":         {"POST", false, (*baRequest).revokeSessions},
	"/revoke-other-sessions":   {"POST", false, (*baRequest).revokeOtherSessions},
	"/change-password":         {"POST", false, (*baRequest).changePassword},
	"/update-user":             {"POST", false, (*baRequest).updateUser},
	"/token":                   {"GET", false, (*baRequest).token},
	"/jwks":                    {"GET", false, (*baRequest).jwks},
	"/request-password-reset":  {"POST", false, (*baRequest).requestPasswordReset},
	"/reset-password":          {"POST", false, (*baRequest).resetPassword},
	"/send-verification-email": {"POST", false, (*baRequest).sendVerificationEmail},
	"/verify-email":            {"GET", false, (*baRequest).verifyEmail},
	"/ok":                      {"GET", false, func(a *baRequest) { a.json(http.StatusOK, map[string]bool{"ok": true}) }},
}

// Better-Auth's answers that the client and front ends depend on.
const (
	msgInvalidCredentials = "Invalid email or password"
	msgResetSent          = "If this email exists in our system, check your email for the reset link"
	baBannedMessage       = "You have been banned from this application. Please contact support if you believe this is an error."
	baJWTTTL              = 15 * time.Minute
)

// baError writes Better-Auth's error envelope {message, code}.
func baError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(map[string]string{"message": message, "code": code})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (a *baRequest) fail(status int, code, message string) { baError(a.w, status, code, message) }

func (a *baRequest) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal server error")
		return
	}
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(status)
	_, _ = a.w.Write(b)
}

func (a *baRequest) internal(what string, err error) {
	a.p.logger.Error("better_auth_api: "+what, zap.Error(err))
	a.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal server error")
}

// serve routes path (below the base path).
func (a *baRequest) serve(path string) {
	if strings.HasPrefix(path, "/reset-password/") && a.r.Method == http.MethodGet {
		a.resetPasswordLink(strings.TrimPrefix(path, "/reset-password/"))
		return
	}
	if name, ok := strings.CutPrefix(path, "/callback/"); ok && (a.r.Method == http.MethodGet || a.r.Method == http.MethodPost) {
		// The upstream's redirect: no Origin to check (a top-level
		// navigation); the flow cookie and state bind it instead.
		if a.useStorage() {
			a.socialCallback(name)
		}
		return
	}
	route, ok := baRoutes[path]
	if !ok {
		a.w.WriteHeader(http.StatusNotFound) // Better-Auth: empty body, no content type
		return
	}
	if path == "/get-session" && a.r.Method == http.MethodPost {
		a.fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
			"POST method requires deferSessionRefresh to be enabled in session config")
		return
	}
	if a.r.Method != route.method && !(route.method == "GET" && a.r.Method == http.MethodHead) {
		a.w.Header().Set("Allow", route.method)
		a.w.WriteHeader(http.StatusNotFound)
		return
	}
	if route.method == "POST" {
		if !a.checkOrigin(route.form) || !a.readBody(route.form) || !a.checkCallbacks() {
			return
		}
	}
	if a.useStorage() {
		route.serve(a)
	}
}

// useStorage sets a.st, or answers 503 when the store is not ready.
func (a *baRequest) useStorage() bool {
	st, err := a.p.storage(a.r.Context())
	if err != nil {
		a.fail(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The authentication service is starting")
		return false
	}
	a.st = st
	return true
}

// checkOrigin is Better-Auth's origin check: a POST that carries cookies
// must come from a trusted origin (Origin, else Referer); sign-in and
// sign-up also refuse an untrusted Origin without cookies and cross-site
// navigations (form CSRF).
func (a *baRequest) checkOrigin(formCSRF bool) bool {
	r := a.r
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = originOf(r.Header.Get("Referer"))
	}
	if r.Header.Get("Cookie") != "" {
		if origin == "" || origin == "null" {
			a.fail(http.StatusForbidden, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin")
			return false
		}
		if !a.h.originTrusted(a.p, r, origin) {
			a.fail(http.StatusForbidden, "INVALID_ORIGIN", "Invalid origin")
			return false
		}
		return true
	}
	if !formCSRF {
		return true
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" && r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		a.fail(http.StatusForbidden, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked")
		return false
	}
	if r.Header.Get("Origin") != "" && !a.h.originTrusted(a.p, r, r.Header.Get("Origin")) {
		a.fail(http.StatusForbidden, "INVALID_ORIGIN", "Invalid origin")
		return false
	}
	return true
}

// checkCallbacks is the rest of Better-Auth's origin middleware: the URLs
// a request asks to be sent to (body or query) must be relative or of a
// trusted origin.
func (a *baRequest) checkCallbacks() bool {
	for _, f := range []struct{ name, code, msg string }{
		{"callbackURL", "INVALID_CALLBACK_URL", "Invalid callbackURL"},
		{"redirectTo", "INVALID_REDIRECT_URL", "Invalid redirectURL"},
		{"errorCallbackURL", "INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL"},
		{"newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL"},
	} {
		v, _, ok := a.str(f.name)
		if q := a.r.URL.Query().Get(f.name); v == "" && q != "" {
			v = q
		}
		if !ok || !a.callbackOK(v) {
			a.fail(http.StatusForbidden, f.code, f.msg)
			return false
		}
	}
	return true
}

// readBody reads a JSON object (or, where allowed, a form) into a.body.
func (a *baRequest) readBody(form bool) bool {
	a.body = map[string]json.RawMessage{}
	raw, err := io.ReadAll(http.MaxBytesReader(a.w, a.r.Body, maxBodyBytes))
	if err != nil {
		a.fail(http.StatusRequestEntityTooLarge, "BAD_REQUEST", "Request body too large")
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return true
	}
	ct, _, _ := mime.ParseMediaType(a.r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || ct == "":
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			a.fail(http.StatusBadRequest, "BAD_REQUEST", "Invalid JSON in request body")
			return false
		}
		if _, ok := v.(map[string]any); !ok {
			a.fail(http.StatusBadRequest, "BODY_MUST_BE_AN_OBJECT", "Body must be an object")
			return false
		}
		_ = json.Unmarshal(raw, &a.body)
		return true
	case ct == "application/x-www-form-urlencoded" && form:
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			a.fail(http.StatusBadRequest, "BAD_REQUEST", "Invalid form body")
			return false
		}
		for k := range vals {
			v := vals.Get(k)
			switch v {
			case "true", "false":
				a.body[k] = json.RawMessage(v)
			default:
				b, _ := json.Marshal(v)
				a.body[k] = b
			}
		}
		return true
	}
	allowed := "application/json"
	if form {
		allowed = "application/x-www-form-urlencoded, application/json"
	}
	a.fail(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
		"Content-Type \""+ct+"\" is not allowed. Allowed types: "+allowed)
	return false
}

// str reads a string field of the body: ok false when present and not a
// string.
func (a *baRequest) str(name string) (s string, present, ok bool) {
	raw, present := a.body[name]
	if !present || string(raw) == "null" {
		return "", false, true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, false
	}
	return s, true, true
}

func (a *baRequest) boolean(name string, def bool) bool {
	var b bool
	if raw, ok := a.body[name]; ok && json.Unmarshal(raw, &b) == nil {
		return b
	}
	return def
}

// required reads required string fields, answering VALIDATION_ERROR with
// every missing or mistyped one.
func (a *baRequest) required(names ...string) ([]string, bool) {
	out := make([]string, len(names))
	var problems []string
	for i, n := range names {
		s, present, ok := a.str(n)
		if !present || !ok {
			got := "undefined"
			if present {
				got = "non-string"
			}
			problems = append(problems, "[body."+n+"] Invalid input: expected string, received "+got)
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

// baUser is Better-Auth's user object (with the admin plugin's fields).
func baUser(u *storage.User) map[string]any {
	var image, banReason, banExpires any
	if u.Image != "" {
		image = u.Image
	}
	if u.BanReason != "" {
		banReason = u.BanReason
	}
	if !u.BanExpires.IsZero() {
		banExpires = isoTime(u.BanExpires)
	}
	return map[string]any{
		"id": u.ID, "name": u.Name, "email": u.Email, "emailVerified": u.EmailVerified, "image": image,
		"createdAt": isoTime(u.CreatedAt), "updatedAt": isoTime(u.UpdatedAt),
		"role": u.Role, "banned": u.Banned, "banReason": banReason, "banExpires": banExpires,
	}
}

// baSession is Better-Auth's session object. token is the raw token when
// the caller holds it (its own session); the provider stores only hashes,
// so other sessions carry their id as token, which revoke-session accepts.
func baSession(s *storage.Session, token string) map[string]any {
	if token == "" {
		token = s.ID
	}
	return map[string]any{
		"id": s.ID, "token": token, "userId": s.UserID, "expiresAt": isoTime(s.ExpiresAt),
		"createdAt": isoTime(s.CreatedAt), "updatedAt": isoTime(s.CreatedAt),
		"ipAddress": s.IP, "userAgent": s.UserAgent, "impersonatedBy": nil,
	}
}

// cookieName is the shared session cookie of the provider.
func (a *baRequest) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: a.p.sessionCookieName(), Value: value, Path: "/", MaxAge: maxAge, Domain: a.h.CookieDomain,
		HttpOnly: true, Secure: a.p.secure, SameSite: http.SameSiteLaxMode}
}

// signCookie signs a session token with Better-Auth's secret when one is
// set, else with the provider's cookie key.
func (a *baRequest) signCookie(token string) (string, error) {
	if a.h.secret == nil {
		return a.p.signCookieValue(token)
	}
	mac := hmac.New(sha256.New, a.h.secret)
	mac.Write([]byte(token))
	return url.QueryEscape(token + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil))), nil
}

// expireCookies is Better-Auth's sign-out set of deletions.
func (a *baRequest) expireCookies() {
	http.SetCookie(a.w, a.cookie("", -1))
	prefix := strings.TrimSuffix(a.p.sessionCookieName(), "session_token")
	for _, n := range []string{"session_data", "dont_remember"} {
		c := a.cookie("", -1)
		c.Name = prefix + n
		http.SetCookie(a.w, c)
	}
}

// dontRememberCookie is Better-Auth's marker of a rememberMe=false
// session (its value the signed literal "true").
func (a *baRequest) dontRememberCookie() string {
	return strings.TrimSuffix(a.p.sessionCookieName(), "session_token") + "dont_remember"
}

// dontRemember reports whether the request carries a valid dont_remember
// cookie.
func (a *baRequest) dontRemember() bool {
	c, err := a.r.Cookie(a.dontRememberCookie())
	if err != nil {
		return false
	}
	want, err := a.signCookie("true")
	return err == nil && hmac.Equal([]byte(c.Value), []byte(want))
}

// startSession creates a session of the provider for u and sets the cookie
// (rememberMe false: a one-day session in a cookie that dies with the
// browser, plus dont_remember); it returns the raw token.
func (a *baRequest) startSession(u *storage.User) (*storage.Session, string, error) {
	token := randomToken(32)
	value, err := a.signCookie(token)
	if err != nil {
		return nil, "", err
	}
	remember := a.boolean("rememberMe", true)
	now := a.p.now()
	ttl := a.p.sessionTTL
	if !remember {
		ttl = min(ttl, 24*time.Hour)
	}
	ua := a.r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	s, err := a.st.CreateSession(a.r.Context(), hashToken(token), storage.Session{UserID: u.ID, AuthTime: now,
		ExpiresAt: now.Add(ttl), IP: a.p.requestIP(a.r), UserAgent: ua, CreatedAt: now})
	if err != nil {
		return nil, "", err
	}
	if remember {
		http.SetCookie(a.w, a.cookie(value, int(ttl.Seconds())))
		if a.dontRemember() {
			c := a.cookie("", -1)
			c.Name = a.dontRememberCookie()
			http.SetCookie(a.w, c)
		}
		return s, token, nil
	}
	http.SetCookie(a.w, a.cookie(value, 0))
	marker, err := a.signCookie("true")
	if err != nil {
		return nil, "", err
	}
	c := a.cookie(marker, 0)
	c.Name = a.dontRememberCookie()
	http.SetCookie(a.w, c)
	return s, token, nil
}

// refresh is Better-Auth's session refresh on get-session: once a day of
// use (at most every half session), the session lives a full session_ttl
// again and the cookie is re-issued. Not for rememberMe=false sessions.
func (a *baRequest) refresh(s *storage.Session, token string) {
	if a.dontRemember() || a.r.URL.Query().Get("disableRefresh") == "true" {
		return
	}
	now := a.p.now()
	updateAge := min(24*time.Hour, a.p.sessionTTL/2)
	if s.ExpiresAt.Add(-a.p.sessionTTL).Add(updateAge).After(now) {
		return
	}
	expires := now.Add(a.p.sessionTTL)
	if err := a.st.ExtendSession(a.r.Context(), s.ID, expires, now); err != nil {
		a.p.logger.Warn("better_auth_api: refreshing a session", zap.Error(err))
		return
	}
	s.ExpiresAt = expires
	if value, err := a.signCookie(token); err == nil {
		http.SetCookie(a.w, a.cookie(value, int(a.p.sessionTTL.Seconds())))
	}
}

// session is the caller's live session, its raw token and user; nil when
// signed out (the caller answers).
func (a *baRequest) session() (*storage.Session, string, *storage.User, error) {
	token := a.p.cookieToken(a.r)
	if token == "" {
		return nil, "", nil, nil
	}
	s, u, err := a.st.SessionWithUser(a.r.Context(), hashToken(token), a.p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", nil, nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	if u.IsBanned(a.p.now()) {
		return nil, "", nil, nil
	}
	return s, token, u, nil
}

// mustSession is session for the endpoints that need one: 401
// UNAUTHORIZED without.
func (a *baRequest) mustSession() (*storage.Session, string, *storage.User, bool) {
	s, token, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return nil, "", nil, false
	}
	if s == nil {
		a.fail(http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
		return nil, "", nil, false
	}
	return s, token, u, true
}

// tooMany answers a brute-force refusal as Better-Auth's rate limiter does.
func (a *baRequest) tooMany(retry string) {
	a.w.Header().Set("X-Retry-After", retry)
	a.w.Header().Set("Retry-After", retry)
	b, _ := json.Marshal(map[string]string{"message": "Too many requests. Please try again later."})
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(http.StatusTooManyRequests)
	_, _ = a.w.Write(b)
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

func (a *baRequest) signOut() {
	a.p.signOut(noCookies{a.w}, a.r, a.st, "")
	a.expireCookies()
	a.json(http.StatusOK, map[string]bool{"success": true})
}

// noCookies lets the provider's signOut run without its own cookie
// deletions (the API writes Better-Auth's set, with the cookie domain).
type noCookies struct{ http.ResponseWriter }

func (d noCookies) Header() http.Header { return http.Header{} }

func (a *baRequest) getSession() {
	h := a.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	s, token, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s == nil {
		if a.r.Header.Get("Cookie") != "" && a.p.cookieToken(a.r) != "" {
			a.expireCookies()
		}
		a.json(http.StatusOK, nil)
		return
	}
	a.refresh(s, token)
	if jwt, err := a.jwt(u); err == nil {
		h.Set("Set-Auth-Jwt", jwt)
		h.Add("Access-Control-Expose-Headers", "set-auth-jwt")
	}
	a.json(http.StatusOK, map[string]any{"session": baSession(s, token), "user": baUser(u)})
}

func (a *baRequest) listSessions() {
	s, token, _, ok := a.mustSession()
	if !ok {
		return
	}
	list, err := a.st.UserSessions(a.r.Context(), s.UserID, a.p.now())
	if err != nil {
		a.internal("listing sessions", err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		t := ""
		if x.ID == s.ID {
			t = token
		}
		out = append(out, baSession(x, t))
	}
	a.json(http.StatusOK, out)
}

// endSessions revokes the tokens issued in ended sessions and records it.
func (a *baRequest) endSessions(ended []*storage.Session, detail string) {
	for _, x := range ended {
		if err := a.p.revokeSessionTokens(a.r.Context(), a.st, x.ID); err != nil {
			a.p.logger.Error("revoking the session's tokens", zap.Error(err))
		}
	}
	if len(ended) > 0 {
		a.p.record(a.r, storage.Event{Event: evSignOut, Outcome: "success", UserID: ended[0].UserID,
			Detail: detail + " (" + strconv.Itoa(len(ended)) + " sessions)"})
	}
}

func (a *baRequest) revokeSession() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	f, ok := a.required("token")
	if !ok {
		return
	}
	t := f[0]
	if len(t) > maxTokenLen {
		a.json(http.StatusOK, map[string]bool{"status": true})
		return
	}
	// A raw token (matched by its hash) or a session id, as list-sessions
	// gives for the caller's other sessions.
	x, err := a.st.DeleteUserSession(a.r.Context(), s.UserID, t)
	if errors.Is(err, storage.ErrNotFound) {
		x, err = a.st.DeleteUserSession(a.r.Context(), s.UserID, hashToken(t))
	}
	switch {
	case err == nil:
		a.endSessions([]*storage.Session{x}, "better_auth_api revoke-session")
	case !errors.Is(err, storage.ErrNotFound):
		a.internal("revoking session", err)
		return
	}
	a.json(http.StatusOK, map[string]bool{"status": true})
}

func (a *baRequest) revokeSessions() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	ended, err := a.st.DeleteOtherSessions(a.r.Context(), s.UserID, "")
	if err != nil {
		a.internal("revoking sessions", err)
		return
	}
	a.endSessions(ended, "better_auth_api revoke-sessions")
	a.expireCookies()
	a.json(http.StatusOK, map[string]bool{"status": true})
}

func (a *baRequest) revokeOtherSessions() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	ended, err := a.st.DeleteOtherSessions(a.r.Context(), s.UserID, s.ID)
	if err != nil {
		a.internal("revoking sessions", err)
		return
	}
	a.endSessions(ended, "better_auth_api revoke-other-sessions")
	a.json(http.StatusOK, map[string]bool{"status": true})
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
	if has, err := a.st.HasPassword(ctx, u.ID); err != nil {
		a.internal("change password", err)
		return
	} else if !has {
		a.fail(http.StatusBadRequest, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found")
		return
	}
	d, locked := a.p.brute.attempt(ctx, u.Email)
	if locked {
		a.p.record(a.r, storage.Event{Event: evPasswordChanged, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: "account locked after failed attempts"})
		a.tooMany(retryAfterSeconds(d))
		return
	}
	if _, err := a.p.checkPassword(ctx, a.st, u.Email, f[1]); err != nil {
		if errors.Is(err, errBadCredentials) || errors.Is(err, errBanned) {
			lockedOut(d)
			a.p.record(a.r, storage.Event{Event: evPasswordChanged, Outcome: "failure", UserID: u.ID, Email: u.Email, Detail: err.Error()})
			a.fail(http.StatusBadRequest, "INVALID_PASSWORD", "Invalid password")
			return
		}
		a.internal("change password", err)
		return
	}
	a.p.brute.succeeded(ctx, u.Email)
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

// jwtFor is the jwt plugin's token: the user object plus iat, exp (15
// minutes), sub, iss and aud (the provider's issuer), signed with the
// provider's own keys (header kid; RS256 unless signing_alg says
// otherwise), verifiable with its JWKS.
func (a *baRequest) jwtFor(u *storage.User) (string, error) {
	now := a.p.now()
	c := baUser(u)
	c["iat"], c["exp"], c["sub"] = now.Unix(), now.Add(baJWTTTL).Unix(), u.ID
	c["iss"], c["aud"] = a.p.issuer, a.p.issuer
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	tok, _, err := a.p.keys.sign(a.r.Context(), "JWT", payload)
	if err == nil {
		tokensIssuedTotal.WithLabelValues(grantBetterAuthJWT).Inc()
	}
	return tok, err
}

func (a *baRequest) token() {
	_, _, u, ok := a.mustSession()
	if !ok {
		return
	}
	tok, err := a.jwt(u)
	if err != nil {
		a.internal("signing token", err)
		return
	}
	a.json(http.StatusOK, map[string]string{"token": tok})
}

func (a *baRequest) jwks() {
	_, jwks, err := a.p.keys.published(a.r.Context())
	if err != nil {
		a.internal("loading signing keys", err)
		return
	}
	a.w.Header().Set("Content-Type", "application/json")
	a.w.Header().Set("Cache-Control", jwksMaxAge)
	a.w.WriteHeader(http.StatusOK)
	_, _ = a.w.Write(jwks)
}

// apiURL is an absolute URL of an endpoint, on the host the request came to.
func (a *baRequest) apiURL(path string) string { return requestOrigin(a.r) + a.h.basePath + path }

// callbackOK applies Better-Auth's callbackURL rule: relative paths, or
// absolute URLs of a trusted origin.
func (a *baRequest) callbackOK(cb string) bool {
	if cb == "" || (strings.HasPrefix(cb, "/") && !strings.HasPrefix(cb, "//") && !strings.Contains(cb, "\\")) {
		return true
	}
	return a.h.originTrusted(a.p, a.r, originOf(cb))
}

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
