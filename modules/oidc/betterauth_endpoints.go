package oidc

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
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
	"/sign-up/email":  {"POST", true, (*baRequest).signUp},
	"/sign-in/email":  {"POST", true, (*baRequest).signIn},
	"/sign-in/social": {"POST", false, (*baRequest).signInSocial},
	"/error":          {"GET", false, (*baRequest).errorPage},
	"/sign-out":       {"POST", false, (*baRequest).signOut},
	"/get-session":    {"GET", false, (*baRequest).getSession},
	// Better-Auth's list-sessions needs a fresh session
	// (freshSessionMiddleware).
	"/list-sessions":           {"GET", false, (*baRequest).listSessionsFresh},
	"/revoke-session":          {"POST", false, (*baRequest).revokeSession},
	"/revoke-sessions":         {"POST", false, (*baRequest).revokeSessions},
	"/revoke-other-sessions":   {"POST", false, (*baRequest).revokeOtherSessions},
	"/change-password":         {"POST", false, (*baRequest).changePassword},
	"/update-user":             {"POST", false, (*baRequest).updateUser},
	"/change-email":            {"POST", false, (*baRequest).changeEmail},
	"/delete-user":             {"POST", false, (*baRequest).deleteUser},
	"/delete-user/callback":    {"GET", false, (*baRequest).deleteUserCallback},
	"/token":                   {"GET", false, (*baRequest).token},
	"/jwks":                    {"GET", false, (*baRequest).jwks},
	"/request-password-reset":  {"POST", false, (*baRequest).requestPasswordReset},
	"/reset-password":          {"POST", false, (*baRequest).resetPassword},
	"/send-verification-email": {"POST", false, (*baRequest).sendVerificationEmail},
	// change-email's links come here too, as Better-Auth's do (front ends
	// hand the token to authClient.verifyEmail).
	"/verify-email": {"GET", false, (*baRequest).verifyEmailOrChange},
	"/ok":           {"GET", false, func(a *baRequest) { a.json(http.StatusOK, map[string]bool{"ok": true}) }},

	// The admin plugin: betterauth_admin.go and betterauth_admin_more.go.
	"/admin/list-users":           {"GET", false, (*baRequest).adminListUsers},
	"/admin/get-user":             {"GET", false, (*baRequest).adminGetUser},
	"/admin/set-role":             {"POST", false, (*baRequest).adminSetRole},
	"/admin/ban-user":             {"POST", false, (*baRequest).adminBanUser},
	"/admin/unban-user":           {"POST", false, (*baRequest).adminUnbanUser},
	"/admin/list-user-sessions":   {"POST", false, (*baRequest).adminListUserSessions},
	"/admin/revoke-user-sessions": {"POST", false, (*baRequest).adminRevokeUserSessions},
	"/admin/remove-user":          {"POST", false, (*baRequest).adminRemoveUser},
	"/admin/create-user":          {"POST", false, (*baRequest).adminCreateUser},
	"/admin/update-user":          {"POST", false, (*baRequest).adminUpdateUser},
	"/admin/set-user-password":    {"POST", false, (*baRequest).adminSetUserPassword},
	"/admin/revoke-user-session":  {"POST", false, (*baRequest).adminRevokeUserSession},
	"/admin/has-permission":       {"POST", false, (*baRequest).adminHasPermission},
	"/admin/impersonate-user":     {"POST", false, (*baRequest).adminImpersonateUser},
	"/admin/stop-impersonating":   {"POST", false, (*baRequest).adminStopImpersonating},
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
	if store.Unavailable(err) {
		// The database cannot serve now (restarting, unreachable, disk
		// full): say so, so that clients retry instead of reporting a bug.
		a.fail(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The authentication service is temporarily unavailable; try again shortly")
		return
	}
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

// tooMany answers a brute-force refusal as Better-Auth's rate limiter does.
func (a *baRequest) tooMany(retry string) {
	a.w.Header().Set("X-Retry-After", retry)
	a.w.Header().Set("Retry-After", retry)
	b, _ := json.Marshal(map[string]string{"message": "Too many requests. Please try again later."})
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(http.StatusTooManyRequests)
	_, _ = a.w.Write(b)
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
