package oidc

import (
	"bytes"
	"context"
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

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The admin API: JSON below the issuer, for a bearer access token of this
// provider whose user holds the role admin (checked against the token and
// the user's current role, so a demoted admin's token stops working). The
// shapes follow Better-Auth's admin plugin where they overlap (user object,
// {users, total, limit, offset}); errors use the platform envelope
// {"error":{"code","message"}}: 401 (with WWW-Authenticate) without a valid
// token, 403 for a user who is not an admin, 400/404/409/413/415 for bad
// requests, never a half-written row.
//
//	GET    <issuer>/oauth2/admin/users?search=&limit=&offset=   list (search: e-mail or name substring)
//	POST   <issuer>/oauth2/admin/users                          create {email, password, name?, role?, emailVerified?, claims?}
//	GET    <issuer>/oauth2/admin/users/{id}                     get ({id} may be an e-mail address)
//	DELETE <issuer>/oauth2/admin/users/{id}                     delete (tokens revoked)
//	PUT    <issuer>/oauth2/admin/users/{id}/role                {role: "instructor" | ["student","instructor"]}
//	PUT    <issuer>/oauth2/admin/users/{id}/claims              {claims: {…}} replaces every claim
//	PATCH  <issuer>/oauth2/admin/users/{id}/claims              {claims: {…}} sets these keys (null deletes one)
//	POST   <issuer>/oauth2/admin/users/{id}/verify-email
//	POST   <issuer>/oauth2/admin/users/{id}/ban                 {reason?, expiresIn? (seconds) | expiresAt? (RFC 3339)}
//	POST   <issuer>/oauth2/admin/users/{id}/unban
//	POST   <issuer>/oauth2/admin/users/{id}/unlock              clears the failed sign-in lockout
//	POST   <issuer>/oauth2/admin/users/{id}/revoke-sessions     sessions, refresh families and access tokens
//	GET    <issuer>/oauth2/admin/events?user=&type=&since=&until=&limit=&offset=
//
// Every call writes an auth_events row whose actor_id is the admin's id.
const pathAdmin = "/oauth2/admin"

// Audit events of account administration (the API and the CLI).
const (
	evUserCreated     = "user_created"
	evRoleChanged     = "role_changed"
	evClaimsChanged   = "claims_changed"
	evAdminVerified   = "email_verified_by_admin"
	evUserBanned      = "user_banned"
	evUserUnbanned    = "user_unbanned"
	evUserUnlocked    = "user_unlocked"
	evSessionsRevoked = "sessions_revoked"
	evUserDeleted     = "user_deleted"
	evAdminRead       = "admin_read"
)

// Bounds on what the admin API and the CLI accept.
const (
	maxEmailLen     = 254
	maxNameLen      = 200
	maxBanReasonLen = 500
	maxAdminBody    = 64 << 10
)

// adminUser is a user as the admin API returns it: Better-Auth's user
// object with the admin plugin's fields (better_auth_api's), plus claims.
type adminUser struct {
	baUserObject
	Claims map[string]json.RawMessage `json:"claims"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func toAdminUser(u *storage.User) adminUser {
	claims := u.Claims
	if claims == nil {
		claims = map[string]json.RawMessage{}
	}
	return adminUser{baUser(u), claims}
}

type adminEvent struct {
	ID        string `json:"id"`
	CreatedAt string `json:"createdAt"`
	Event     string `json:"event"`
	Outcome   string `json:"outcome"`
	UserID    string `json:"userId"`
	Email     string `json:"email"`
	ClientID  string `json:"clientId"`
	IP        string `json:"ip"`
	UserAgent string `json:"userAgent"`
	Detail    string `json:"detail"`
	ActorID   string `json:"actorId"`
}

// serveAdmin answers a path below pathAdmin.
func (p *provider) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	defer func() {
		if v := recover(); v != nil {
			p.logger.Error("panic in admin API", zap.Any("panic", v), zap.String("path", path))
			apierror.New(http.StatusInternalServerError, "internal_error", "internal error").Write(w)
		}
	}()
	w.Header().Set("Cache-Control", "no-store")
	admin, st, ok := p.adminAuth(w, r)
	if !ok {
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, pathAdmin+"/"), "/")
	call := &adminCall{p: p, w: w, r: r, admin: admin, st: st, a: st}
	switch {
	case len(parts) == 1 && parts[0] == "users":
		call.route(map[string]func(){"GET": call.listUsers, "POST": call.createUser})
	case len(parts) == 1 && parts[0] == "events":
		call.route(map[string]func(){"GET": call.listEvents})
	case len(parts) == 2 && parts[0] == "users":
		call.route(map[string]func(){
			"GET":    func() { call.withUser(parts[1], call.getUser) },
			"DELETE": func() { call.withUser(parts[1], call.deleteUser) },
		})
	case len(parts) == 3 && parts[0] == "users":
		actions := map[string]map[string]func(*storage.User){
			"role":            {"PUT": call.setRole},
			"claims":          {"PUT": call.setClaims(false), "PATCH": call.setClaims(true)},
			"verify-email":    {"POST": call.verifyEmail},
			"ban":             {"POST": call.ban},
			"unban":           {"POST": call.unban},
			"unlock":          {"POST": call.unlock},
			"revoke-sessions": {"POST": call.revokeSessions},
		}
		methods, ok := actions[parts[2]]
		if !ok {
			apierror.New(http.StatusNotFound, "not_found", "no such admin endpoint").Write(w)
			return
		}
		handlers := map[string]func(){}
		for m, h := range methods {
			handlers[m] = func() { call.withUser(parts[1], h) }
		}
		call.route(handlers)
	default:
		apierror.New(http.StatusNotFound, "not_found", "no such admin endpoint").Write(w)
	}
}

// adminAuth checks the bearer token: an access token of this provider,
// live (not revoked), of a user who exists, is not banned and holds the
// role admin both in the token and now.
func (p *provider) adminAuth(w http.ResponseWriter, r *http.Request) (*storage.User, storage.Storage, bool) {
	challenge := func(code, msg string) {
		h := `Bearer realm="` + p.issuer + `"`
		if code != "" {
			h += `, error="` + code + `", error_description="` + msg + `"`
		}
		w.Header().Set("WWW-Authenticate", h)
		apierror.New(http.StatusUnauthorized, "unauthorized", msg).Write(w)
	}
	auth := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(auth, " ")
	if auth == "" || !found || !strings.EqualFold(scheme, "Bearer") {
		challenge("", "an admin access token is required (Authorization: Bearer)")
		return nil, nil, false
	}
	c, err := p.verifyAccessToken(r.Context(), strings.TrimSpace(token))
	if err != nil {
		challenge("invalid_token", "the access token is invalid or expired")
		return nil, nil, false
	}
	st, err := p.storage(r.Context())
	if err != nil {
		apierror.New(http.StatusServiceUnavailable, "unavailable", "the provider is starting").Write(w)
		return nil, nil, false
	}
	active, err := st.AccessTokenActive(r.Context(), c.Jti, p.now())
	if err != nil {
		p.logger.Error("admin token lookup", zap.Error(err))
		apierror.New(http.StatusInternalServerError, "internal_error", "token lookup failed").Write(w)
		return nil, nil, false
	}
	if !active {
		challenge("invalid_token", "the access token has been revoked")
		return nil, nil, false
	}
	u, err := st.UserByID(r.Context(), c.Sub)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.IsBanned(p.now())) {
		challenge("invalid_token", "the token's user may no longer sign in")
		return nil, nil, false
	}
	if err != nil {
		p.logger.Error("admin user lookup", zap.Error(err))
		apierror.New(http.StatusInternalServerError, "internal_error", "user lookup failed").Write(w)
		return nil, nil, false
	}
	if !hasRole(c.Role, roleAdmin) || !hasRole(u.Role, roleAdmin) {
		apierror.New(http.StatusForbidden, "forbidden", "the admin API needs the role admin").Write(w)
		return nil, nil, false
	}
	return u, st, true
}

// adminCall is one admin request.
type adminCall struct {
	p     *provider
	w     http.ResponseWriter
	r     *http.Request
	admin *storage.User
	st    storage.Storage
	a     storage.Admin
}

func (c *adminCall) route(methods map[string]func()) {
	if h, ok := methods[c.r.Method]; ok {
		h()
		return
	}
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	c.w.Header().Set("Allow", strings.Join(allow, ", "))
	apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed").Write(c.w)
}

func (c *adminCall) fail(status int, code, msg string) { apierror.New(status, code, msg).Write(c.w) }

func (c *adminCall) serverError(what string, err error) {
	c.p.logger.Error("admin API: "+what, zap.Error(err))
	c.fail(http.StatusInternalServerError, "internal_error", what+" failed")
}

// failed answers a storage error about a user (404 when there is no such
// user, else 500) and reports whether there was one.
func (c *adminCall) failed(err error, what string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrNotFound):
		c.fail(http.StatusNotFound, "user_not_found", "no such user")
	default:
		c.serverError(what, err)
	}
	return true
}

// audit records an admin action on u (nil for none).
func (c *adminCall) audit(event string, u *storage.User, detail string) {
	e := storage.Event{Event: event, Outcome: "success", ActorID: c.admin.ID, Detail: detail}
	if u != nil {
		e.UserID, e.Email = u.ID, u.Email
	}
	c.p.record(c.r, e)
}

// body decodes a JSON object body strictly into v; false after writing
// the error.
func (c *adminCall) body(v any) bool {
	ct, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		c.fail(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
		return false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxAdminBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.fail(http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds 64 KiB")
			return false
		}
		c.fail(http.StatusBadRequest, "invalid_body", "could not read the body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.fail(http.StatusBadRequest, "invalid_json", "malformed JSON body: "+apierror.CleanDescription(clip(err.Error(), 200)))
		return false
	}
	if dec.More() {
		c.fail(http.StatusBadRequest, "invalid_json", "one JSON object expected")
		return false
	}
	return true
}

// withUser loads the user named by an id or an e-mail address in the
// path, or answers 404.
func (c *adminCall) withUser(ref string, h func(*storage.User)) {
	ref, err := url.PathUnescape(ref)
	if err != nil || ref == "" || len(ref) > maxEmailLen {
		c.fail(http.StatusNotFound, "user_not_found", "no such user")
		return
	}
	var u *storage.User
	if strings.Contains(ref, "@") {
		u, err = c.a.UserByEmail(c.r.Context(), strings.ToLower(ref))
	} else {
		u, err = c.st.UserByID(c.r.Context(), ref)
	}
	if c.failed(err, "user lookup") {
		return
	}
	h(u)
}

// done answers with the user after a change, or the error of the change.
func (c *adminCall) done(u *storage.User, err error, what string) bool {
	if c.failed(err, what) {
		return false
	}
	apierror.JSON(c.w, http.StatusOK, map[string]any{"user": toAdminUser(u)})
	return true
}

// queryInt reads a non-negative integer parameter (default def, at most
// maxV); false after writing the error.
func (c *adminCall) queryInt(q url.Values, name string, def, maxV int) (int, bool) {
	s := q.Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxV {
		c.fail(http.StatusBadRequest, "invalid_parameter", name+" must be an integer from 0 to "+strconv.Itoa(maxV))
		return 0, false
	}
	return n, true
}

// page reads the limit (default 100, 0 also meaning the default, at most
// maxLimit) and offset query parameters of a list.
func (c *adminCall) page(q url.Values, maxLimit int) (limit, offset int, ok bool) {
	if limit, ok = c.queryInt(q, "limit", 100, maxLimit); !ok {
		return 0, 0, false
	}
	if offset, ok = c.queryInt(q, "offset", 0, 1<<30); !ok {
		return 0, 0, false
	}
	if limit == 0 {
		limit = 100
	}
	return limit, offset, true
}

func (c *adminCall) listUsers() {
	q := c.r.URL.Query()
	limit, offset, ok := c.page(q, 500)
	if !ok {
		return
	}
	search := q.Get("search")
	if search == "" {
		search = q.Get("searchValue") // Better-Auth's name
	}
	if len(search) > maxEmailLen {
		c.fail(http.StatusBadRequest, "invalid_parameter", "search is too long")
		return
	}
	users, total, err := c.a.ListUsers(c.r.Context(), storage.UserQuery{Search: search, Limit: limit, Offset: offset})
	if err != nil {
		c.serverError("listing users", err)
		return
	}
	out := make([]adminUser, len(users))
	for i, u := range users {
		out[i] = toAdminUser(u)
	}
	c.audit(evAdminRead, nil, "list users")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"users": out, "total": total, "limit": limit, "offset": offset})
}

func (c *adminCall) getUser(u *storage.User) {
	c.audit(evAdminRead, u, "get user")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"user": toAdminUser(u)})
}

// rolesFrom reads a role given as a string or an array of strings.
func rolesFrom(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}

// newAccount is what creating a user needs, checked by checkNewAccount.
type newAccount struct {
	Email         string                     `json:"email"`
	Password      string                     `json:"password"`
	Name          string                     `json:"name"`
	Role          json.RawMessage            `json:"role"`
	EmailVerified bool                       `json:"emailVerified"`
	Claims        map[string]json.RawMessage `json:"claims"`
}

// accountError is a refused input: an HTTP status, a code and a message
// for the admin API, and the message for the CLI.
type accountError struct {
	status  int
	code    string
	message string
}

func (e *accountError) Error() string { return e.message }

func badInput(code, msg string) *accountError {
	return &accountError{status: http.StatusBadRequest, code: code, message: msg}
}

// checkEmail normalizes and checks an e-mail address.
func checkEmail(email string) (string, *accountError) {
	email = strings.ToLower(strings.TrimSpace(email))
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(email, " \t\r\n<>,;\"") || strings.Count(email, "@") != 1 {
		return "", badInput("invalid_email", "the e-mail address is invalid")
	}
	if len(email) > maxEmailLen {
		return "", badInput("invalid_email", "the e-mail address is longer than 254 characters")
	}
	return email, nil
}

// checkName checks a display name.
func checkName(name string) (string, *accountError) {
	name = strings.TrimSpace(name)
	if len(name) > maxNameLen || strings.ContainsAny(name, "\x00\r\n") {
		return "", badInput("invalid_name", "the name must be at most 200 characters on one line")
	}
	return name, nil
}

// prepareAccount validates a new account and hashes its password.
func (p *provider) prepareAccount(n *newAccount, now time.Time) (storage.User, string, *accountError) {
	email, e := checkEmail(n.Email)
	if e != nil {
		return storage.User{}, "", e
	}
	name, e := checkName(n.Name)
	if e != nil {
		return storage.User{}, "", e
	}
	role := storage.DefaultRole
	if len(n.Role) > 0 && string(n.Role) != "null" {
		roles, ok := rolesFrom(n.Role)
		if !ok {
			return storage.User{}, "", badInput("invalid_role", "role must be a string or an array of strings")
		}
		var err error
		if role, err = parseRoles(roles); err != nil {
			return storage.User{}, "", badInput("invalid_role", err.Error())
		}
	}
	if err := checkClaims(n.Claims); err != nil {
		return storage.User{}, "", badInput("invalid_claims", err.Error())
	}
	if len(n.Password) > 4*password.MaxLength {
		return storage.User{}, "", badInput("invalid_password", "the password is too long")
	}
	if v := password.Check(n.Password); v != nil {
		return storage.User{}, "", badInput("invalid_password", "the password does not meet the policy: "+password.Summary(v))
	}
	if p.hashSlots != nil {
		p.hashSlots <- struct{}{}
		defer func() { <-p.hashSlots }()
	}
	hash, err := password.Hash(n.Password, p.hashParams)
	if err != nil {
		return storage.User{}, "", &accountError{status: http.StatusInternalServerError, code: "internal_error", message: "hashing the password failed"}
	}
	return storage.User{Email: email, Name: name, Role: role, EmailVerified: n.EmailVerified, Claims: n.Claims,
		CreatedAt: now, UpdatedAt: now}, hash, nil
}

func (c *adminCall) createUser() {
	var n newAccount
	if !c.body(&n) {
		return
	}
	u, hash, e := c.p.prepareAccount(&n, c.p.now())
	if e != nil {
		c.fail(e.status, e.code, e.message)
		return
	}
	created, err := c.st.CreateUser(c.r.Context(), u, hash)
	if errors.Is(err, storage.ErrEmailTaken) {
		c.fail(http.StatusConflict, "user_already_exists", "an account with this e-mail address already exists")
		return
	}
	if err != nil {
		c.serverError("creating the user", err)
		return
	}
	c.audit(evUserCreated, created, "role "+created.Role)
	apierror.JSON(c.w, http.StatusCreated, map[string]any{"user": toAdminUser(created)})
}

func (c *adminCall) setRole(u *storage.User) {
	var req struct {
		Role json.RawMessage `json:"role"`
	}
	if !c.body(&req) {
		return
	}
	roles, ok := rolesFrom(req.Role)
	if !ok {
		c.fail(http.StatusBadRequest, "invalid_role", "role must be a string or an array of strings")
		return
	}
	role, err := parseRoles(roles)
	if err != nil {
		c.fail(http.StatusBadRequest, "invalid_role", err.Error())
		return
	}
	if u.ID == c.admin.ID && !hasRole(role, roleAdmin) {
		c.fail(http.StatusBadRequest, "cannot_demote_yourself", "you cannot remove your own admin role")
		return
	}
	updated, err := c.a.SetRole(c.r.Context(), u.ID, role, c.p.now())
	if c.done(updated, err, "setting the role") {
		c.audit(evRoleChanged, updated, u.Role+" -> "+role)
	}
}

func (c *adminCall) setClaims(merge bool) func(*storage.User) {
	return func(u *storage.User) {
		var req struct {
			Claims json.RawMessage `json:"claims"`
		}
		if !c.body(&req) {
			return
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(req.Claims, &claims); err != nil || claims == nil {
			c.fail(http.StatusBadRequest, "invalid_claims", "claims must be a JSON object")
			return
		}
		for k, v := range claims {
			if merge && string(v) == "null" {
				if err := checkClaimName(k); err != nil {
					c.fail(http.StatusBadRequest, "invalid_claims", err.Error())
					return
				}
				continue
			}
			if err := checkClaims(map[string]json.RawMessage{k: v}); err != nil {
				c.fail(http.StatusBadRequest, "invalid_claims", err.Error())
				return
			}
		}
		if err := checkClaims(claims); err != nil {
			c.fail(http.StatusBadRequest, "invalid_claims", err.Error())
			return
		}
		updated, err := c.a.SetClaims(c.r.Context(), u.ID, claims, merge, c.p.now())
		if errors.Is(err, storage.ErrClaimsTooLarge) {
			c.fail(http.StatusBadRequest, "invalid_claims", err.Error())
			return
		}
		if c.done(updated, err, "setting claims") {
			keys := make([]string, 0, len(claims))
			for k := range claims {
				keys = append(keys, k)
			}
			c.audit(evClaimsChanged, updated, "keys "+strings.Join(keys, ","))
		}
	}
}

func (c *adminCall) verifyEmail(u *storage.User) {
	updated, err := c.a.MarkEmailVerified(c.r.Context(), u.ID, c.p.now())
	if c.done(updated, err, "verifying the e-mail address") {
		c.audit(evAdminVerified, updated, "")
	}
}

func (c *adminCall) ban(u *storage.User) {
	var req struct {
		Reason    string `json:"reason"`
		BanReason string `json:"banReason"` // Better-Auth's name
		ExpiresIn *int64 `json:"expiresIn"`
		ExpiresAt string `json:"expiresAt"`
	}
	if c.r.ContentLength != 0 && !c.body(&req) {
		return
	}
	reason := strings.TrimSpace(req.Reason + req.BanReason)
	if len(reason) > maxBanReasonLen || strings.ContainsRune(reason, 0) {
		c.fail(http.StatusBadRequest, "invalid_reason", "the reason must be at most 500 characters")
		return
	}
	if u.ID == c.admin.ID {
		c.fail(http.StatusBadRequest, "cannot_ban_yourself", "you cannot ban yourself")
		return
	}
	now := c.p.now()
	var expires time.Time
	switch {
	case req.ExpiresIn != nil && req.ExpiresAt != "":
		c.fail(http.StatusBadRequest, "invalid_expiry", "give expiresIn or expiresAt, not both")
		return
	case req.ExpiresIn != nil:
		if *req.ExpiresIn <= 0 || *req.ExpiresIn > 100*365*24*3600 {
			c.fail(http.StatusBadRequest, "invalid_expiry", "expiresIn must be a positive number of seconds")
			return
		}
		expires = now.Add(time.Duration(*req.ExpiresIn) * time.Second)
	case req.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil || !t.After(now) {
			c.fail(http.StatusBadRequest, "invalid_expiry", "expiresAt must be a future RFC 3339 time")
			return
		}
		expires = t
	}
	updated, err := c.a.BanUser(c.r.Context(), u.ID, reason, expires, now)
	if c.done(updated, err, "banning") {
		c.p.applyRevocations(c.r.Context()) // the user's access tokens, at bearer_jwt
		detail := reason
		if !expires.IsZero() {
			detail += " (until " + isoTime(expires) + ")"
		}
		c.audit(evUserBanned, updated, detail)
	}
}

func (c *adminCall) unban(u *storage.User) {
	updated, err := c.a.UnbanUser(c.r.Context(), u.ID, c.p.now())
	if c.done(updated, err, "unbanning") {
		c.audit(evUserUnbanned, updated, "")
	}
}

// unlockAccount clears the failed sign-in count of email.
func (p *provider) unlockAccount(ctx context.Context, email string) error {
	if p.brute == nil || p.brute.perAccount == nil {
		return nil
	}
	return p.brute.perAccount.Reset(ctx, email)
}

func (c *adminCall) unlock(u *storage.User) {
	if err := c.p.unlockAccount(c.r.Context(), u.Email); err != nil {
		c.serverError("unlocking", err)
		return
	}
	c.audit(evUserUnlocked, u, "")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"success": true, "user": toAdminUser(u)})
}

func (c *adminCall) revokeSessions(u *storage.User) {
	n, err := c.a.RevokeUserSessions(c.r.Context(), u.ID, c.p.now())
	if c.failed(err, "revoking sessions") {
		return
	}
	c.p.applyRevocations(c.r.Context()) // the user's access tokens, at bearer_jwt
	c.audit(evSessionsRevoked, u, strconv.Itoa(n)+" sessions")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"success": true, "sessions": n})
}

func (c *adminCall) deleteUser(u *storage.User) {
	if u.ID == c.admin.ID {
		c.fail(http.StatusBadRequest, "cannot_remove_yourself", "you cannot delete yourself")
		return
	}
	err := c.a.DeleteUser(c.r.Context(), u.ID, c.p.now())
	if c.failed(err, "deleting") {
		return
	}
	c.audit(evUserDeleted, u, "")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"success": true})
}

// parseSince reads a time filter: RFC 3339, a date (2026-11-29), or a
// duration back from now (24h, 90m).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("use an RFC 3339 time, a date (2006-01-02) or a duration (24h)")
}

func (c *adminCall) listEvents() {
	q := c.r.URL.Query()
	limit, offset, ok := c.page(q, 1000)
	if !ok {
		return
	}
	eq := storage.EventQuery{Event: q.Get("type"), Limit: limit, Offset: offset}
	if len(eq.Event) > 64 {
		c.fail(http.StatusBadRequest, "invalid_parameter", "type is too long")
		return
	}
	if user := q.Get("user"); user != "" {
		if len(user) > maxEmailLen {
			c.fail(http.StatusBadRequest, "invalid_parameter", "user is too long")
			return
		}
		eq.UserID = user
		if strings.Contains(user, "@") {
			u, err := c.a.UserByEmail(c.r.Context(), strings.ToLower(user))
			if c.failed(err, "user lookup") {
				return
			}
			eq.UserID = u.ID
		}
	}
	for name, dst := range map[string]*time.Time{"since": &eq.Since, "until": &eq.Until} {
		if s := q.Get(name); s != "" {
			t, err := parseSince(s, c.p.now())
			if err != nil {
				c.fail(http.StatusBadRequest, "invalid_parameter", name+": "+err.Error())
				return
			}
			*dst = t
		}
	}
	events, err := c.a.ListEvents(c.r.Context(), eq)
	if err != nil {
		c.serverError("listing events", err)
		return
	}
	out := make([]adminEvent, len(events))
	for i, e := range events {
		out[i] = adminEvent{ID: e.ID, CreatedAt: isoTime(e.CreatedAt), Event: e.Event, Outcome: e.Outcome, UserID: e.UserID,
			Email: e.Email, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail, ActorID: e.ActorID}
	}
	c.audit(evAdminRead, nil, "list events")
	apierror.JSON(c.w, http.StatusOK, map[string]any{"events": out, "limit": limit, "offset": offset})
}
