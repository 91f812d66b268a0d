package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The rest of the admin plugin's endpoints of better_auth_api (Better-Auth
// 1.7.25's plugins/admin/routes.mjs): create-user, update-user,
// set-user-password, revoke-user-session and has-permission on the
// provider's users and roles, checked in Better-Auth's order (body schema,
// then session, then permission, then the rest).
//
// Impersonation is not offered: a session acting as another user would be
// a session of the hosted pages and of every relying party too, and the
// provider's sessions have no record of who is really behind one
// (Better-Auth's session.impersonatedBy). impersonate-user answers as a
// Better-Auth whose roles do not grant "impersonate" (403
// YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS), stop-impersonating as to a
// session that impersonates nobody, and has-permission says no to
// "impersonate".

// evUserUpdated is an admin's change of a user's profile fields.
const evUserUpdated = "user_updated"

// baAdminPermissions are the admin plugin's default statements of the
// role admin (access/statement.mjs), less "impersonate"; every other
// role, Better-Auth's "user" (our student) included, has none.
var baAdminPermissions = map[string][]string{
	"user":    {"create", "list", "set-role", "ban", "delete", "set-password", "set-email", "set-phone", "get", "update"},
	"session": {"list", "revoke", "delete"},
}

// coerced reads a field as zod's z.coerce.string() does: a string as it
// is, a missing field as "undefined", anything else as its JSON text.
func (a *baRequest) coerced(name string) string {
	raw, ok := a.body[name]
	if !ok {
		return "undefined"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// object reads an object field: present false when absent, ok false when
// it is not an object.
func (a *baRequest) object(name string) (m map[string]json.RawMessage, present, ok bool) {
	raw, present := a.body[name]
	if !present {
		return nil, false, true
	}
	if jsonType(raw) != "object" || json.Unmarshal(raw, &m) != nil {
		return nil, true, false
	}
	return m, true, true
}

// baRole reads a role given as a string or an array of strings, with
// Better-Auth's "user" read as student, answering INVALID_ROLE_TYPE or
// YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE.
func (a *baRequest) baRole(raw json.RawMessage) (string, bool) {
	roles, ok := rolesFrom(raw)
	if !ok {
		a.fail(http.StatusBadRequest, "INVALID_ROLE_TYPE", "Invalid role type")
		return "", false
	}
	role, err := parseRoles(betterAuthRoles(roles))
	if err != nil || role == "" {
		a.fail(http.StatusBadRequest, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", "You are not allowed to set a non-existent role value")
		return "", false
	}
	return role, true
}

func (a *baRequest) adminCreateUser() {
	var problems []string
	email, emailPresent, emailOK := a.str("email")
	pw, _, pwOK := a.str("password")
	name, namePresent, nameOK := a.str("name")
	roleRaw, rolePresent := a.body["role"]
	data, _, dataOK := a.object("data")
	for _, c := range []struct {
		name string
		ok   bool
	}{{"email", emailPresent && emailOK}, {"password", pwOK}, {"name", namePresent && nameOK}} {
		if !c.ok {
			problems = append(problems, "[body."+c.name+"] Invalid input: expected string, received "+jsonType(a.body[c.name]))
		}
	}
	if rolePresent && string(roleRaw) != "null" {
		if _, ok := rolesFrom(roleRaw); !ok {
			problems = append(problems, "[body.role] Invalid input")
		}
	}
	if !dataOK {
		problems = append(problems, "[body.data] Invalid input: expected record, received "+jsonType(a.body["data"]))
	}
	if problems != nil {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", strings.Join(problems, "; "))
		return
	}
	admin, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS", "You are not allowed to create users")
	if !ok {
		return
	}
	if !rolePresent || string(roleRaw) == "null" {
		roleRaw, rolePresent = data["role"], data["role"] != nil
	}
	role := storage.DefaultRole
	if rolePresent && string(roleRaw) != "null" {
		if role, ok = a.baRole(roleRaw); !ok {
			return
		}
	}
	email = normalizeEmail(email)
	if !validEmail(email) {
		a.fail(http.StatusBadRequest, "INVALID_EMAIL", "Invalid email")
		return
	}
	if pw != "" && !a.passwordOK(pw) {
		return
	}
	name, e := checkName(name)
	if e != nil {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.name] Too long")
		return
	}
	u := storage.User{Email: email, Name: name, Role: role}
	// The extra fields of data that are user columns; others are ignored.
	if raw, ok := data["image"]; ok && string(raw) != "null" && json.Unmarshal(raw, &u.Image) != nil {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.data.image] Invalid input: expected string")
		return
	}
	if raw, ok := data["emailVerified"]; ok && json.Unmarshal(raw, &u.EmailVerified) != nil {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.data.emailVerified] Invalid input: expected boolean")
		return
	}
	ctx := a.r.Context()
	hash := ""
	if pw != "" {
		var err error
		if hash, err = a.p.hash(ctx, pw); err != nil {
			a.internal("hashing", err)
			return
		}
	}
	now := a.p.now()
	u.CreatedAt, u.UpdatedAt = now, now
	created, err := a.st.CreateUserNoPassword(ctx, u, hash)
	if errors.Is(err, storage.ErrEmailTaken) {
		a.fail(http.StatusBadRequest, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
		return
	}
	if err != nil {
		a.internal("creating user", err)
		return
	}
	detail := "role " + created.Role
	if hash == "" {
		detail += ", no password"
	}
	a.audit(admin, evUserCreated, created, detail)
	a.json(http.StatusOK, map[string]any{"user": baUser(created)})
}

// adminUpdateUser sets the user columns named in data (name, image, email,
// emailVerified, role, banned, banReason, banExpires; other keys are
// ignored) and answers the user itself, not wrapped.
func (a *baRequest) adminUpdateUser() {
	userID := a.coerced("userId")
	data, present, ok := a.object("data")
	if !present || !ok {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.data] Invalid input: expected record, received "+jsonType(a.body["data"]))
		return
	}
	admin, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS", "You are not allowed to update users")
	if !ok {
		return
	}
	if len(data) == 0 {
		a.fail(http.StatusBadRequest, "NO_DATA_TO_UPDATE", "No data to update")
		return
	}
	if _, ok := data["password"]; ok {
		a.fail(http.StatusBadRequest, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
			"Password cannot be updated through update-user. Use the set-user-password endpoint instead")
		return
	}
	if _, ok := data["id"]; ok {
		a.fail(http.StatusBadRequest, "USER_ID_CANNOT_BE_UPDATED", "User id cannot be updated")
		return
	}
	var f storage.UserFields
	var changed []string
	invalid := func(key, want string) {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.data."+key+"] Invalid input: expected "+want)
	}
	if raw, ok := data["role"]; ok {
		role, ok := a.baRole(raw)
		if !ok {
			return
		}
		if userID == admin.ID && !hasRole(role, roleAdmin) {
			a.fail(http.StatusBadRequest, "YOU_CANNOT_REMOVE_YOUR_OWN_ADMIN_ROLE", "You cannot remove your own admin role")
			return
		}
		f.Role, changed = &role, append(changed, "role "+role)
	}
	if raw, ok := data["banned"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			invalid("banned", "boolean")
			return
		}
		if b && userID == admin.ID {
			a.fail(http.StatusBadRequest, "YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself")
			return
		}
		f.Banned, changed = &b, append(changed, "banned "+strconv.FormatBool(b))
	}
	if raw, ok := data["banReason"]; ok {
		var s string
		if string(raw) != "null" && json.Unmarshal(raw, &s) != nil || len(s) > maxBanReasonLen || strings.ContainsRune(s, 0) {
			invalid("banReason", "string")
			return
		}
		f.BanReason, changed = &s, append(changed, "banReason")
	}
	if raw, ok := data["banExpires"]; ok {
		t, ok := baDate(raw)
		if !ok {
			invalid("banExpires", "date")
			return
		}
		f.BanExpires, changed = &t, append(changed, "banExpires")
	}
	if raw, ok := data["email"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // Better-Auth: String(email)
		}
		s = normalizeEmail(s)
		if !validEmail(s) {
			a.fail(http.StatusBadRequest, "INVALID_EMAIL", "Invalid email")
			return
		}
		f.Email, changed = &s, append(changed, "email")
	}
	if raw, ok := data["emailVerified"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			invalid("emailVerified", "boolean")
			return
		}
		f.EmailVerified, changed = &b, append(changed, "emailVerified "+strconv.FormatBool(b))
	}
	if raw, ok := data["name"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			invalid("name", "string")
			return
		}
		name, e := checkName(s)
		if e != nil {
			invalid("name", "at most 200 characters on one line")
			return
		}
		f.Name, changed = &name, append(changed, "name")
	}
	if raw, ok := data["image"]; ok {
		var s string
		if string(raw) != "null" && json.Unmarshal(raw, &s) != nil || len(s) > 2048 {
			invalid("image", "string")
			return
		}
		f.Image, changed = &s, append(changed, "image")
	}
	ctx := a.r.Context()
	updated, err := a.st.UpdateUserFields(ctx, userID, f, a.p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		a.fail(http.StatusNotFound, "USER_NOT_FOUND", "User not found")
		return
	case errors.Is(err, storage.ErrEmailTaken):
		a.fail(http.StatusBadRequest, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
		return
	case err != nil:
		a.internal("updating user", err)
		return
	}
	event := evUserUpdated
	switch {
	case f.Banned != nil && *f.Banned:
		a.p.applyRevocations(ctx) // the user's access tokens, at bearer_jwt
		event = evUserBanned
	case f.Banned != nil:
		event = evUserUnbanned
	case f.Role != nil:
		event = evRoleChanged
	}
	a.audit(admin, event, updated, "update-user: "+strings.Join(changed, ", "))
	a.json(http.StatusOK, baUser(updated))
}

// baDate reads a date as Better-Auth's adapters take one: an ISO string, a
// number of milliseconds, or null (no date).
func baDate(raw json.RawMessage) (time.Time, bool) {
	if string(raw) == "null" {
		return time.Time{}, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var ms float64
	if json.Unmarshal(raw, &ms) == nil && ms > 0 && ms < 1e15 {
		return time.UnixMilli(int64(ms)), true
	}
	return time.Time{}, false
}

// adminSetUserPassword sets a user's password (adding the credential
// account a social-only user lacks) under the provider's password policy,
// and, as every password change here, ends the user's sessions and
// tokens.
func (a *baRequest) adminSetUserPassword() {
	pw, present, ok := a.str("newPassword")
	userID := a.coerced("userId")
	switch {
	case !present || !ok:
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.newPassword] Invalid input: expected string, received "+jsonType(a.body["newPassword"]))
		return
	case pw == "":
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.newPassword] newPassword cannot be empty")
		return
	case userID == "":
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.userId] userId cannot be empty")
		return
	}
	admin, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD", "You are not allowed to set users password")
	if !ok || !a.passwordOK(pw) {
		return
	}
	u, ok := a.userByID(userID)
	if !ok {
		return
	}
	ctx := a.r.Context()
	hash, err := a.p.hash(ctx, pw)
	if err != nil {
		a.internal("hashing", err)
		return
	}
	if err := a.st.AdminSetPassword(ctx, u.ID, hash, a.p.now()); errors.Is(err, storage.ErrNotFound) {
		a.fail(http.StatusNotFound, "USER_NOT_FOUND", "User not found")
		return
	} else if err != nil {
		a.internal("setting the password", err)
		return
	}
	a.p.revocationsChanged(ctx, a.st)
	a.p.brute.succeeded(ctx, u.Email)
	a.audit(admin, evPasswordChanged, u, "set-user-password: every session and refresh token revoked")
	a.json(http.StatusOK, map[string]bool{"status": true})
}

// adminRevokeUserSession ends one session, named by its token or by the
// id list-user-sessions gives as token. An unknown one is not an error,
// as in Better-Auth.
func (a *baRequest) adminRevokeUserSession() {
	f, ok := a.required("sessionToken")
	if !ok {
		return
	}
	admin, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS", "You are not allowed to revoke users sessions")
	if !ok {
		return
	}
	ctx := a.r.Context()
	var x *storage.Session
	var err error
	if t := f[0]; t != "" && len(t) <= maxTokenLen {
		x, err = a.st.DeleteSessionByID(ctx, t)
		if errors.Is(err, storage.ErrNotFound) {
			x, err = a.st.DeleteSession(ctx, hashToken(t))
		}
	}
	switch {
	case err == nil && x != nil:
		if err := a.p.revokeSessionTokens(ctx, a.st, x.ID); err != nil {
			a.internal("revoking the session's tokens", err)
			return
		}
		if u, err := a.st.UserByID(ctx, x.UserID); err == nil {
			a.audit(admin, evSessionsRevoked, u, "revoke-user-session: 1 session")
		}
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		a.internal("revoking the session", err)
		return
	}
	a.json(http.StatusOK, map[string]bool{"success": true})
}

// adminHasPermission answers whether the signed-in user's roles grant
// every action asked of every resource ({success, error: null}).
func (a *baRequest) adminHasPermission() {
	_, hasPerms := a.body["permissions"]
	_, hasPerm := a.body["permission"]
	var perms map[string][]string
	bad := hasPerm == hasPerms
	if _, _, ok := a.str("role"); !ok { // role and userId only matter to server-side calls
		bad = true
	}
	for _, name := range []string{"permissions", "permission"} {
		if raw, ok := a.body[name]; ok {
			var p map[string][]string
			if json.Unmarshal(raw, &p) != nil || p == nil {
				bad = true
			} else if name == "permissions" {
				perms = p
			}
		}
	}
	if bad {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body] Invalid input")
		return
	}
	if perms == nil {
		a.failMessage(http.StatusBadRequest, "invalid permission check. no permission(s) were passed.")
		return
	}
	s, _, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s == nil {
		a.failEmpty(http.StatusUnauthorized)
		return
	}
	a.json(http.StatusOK, map[string]any{"error": nil, "success": baPermitted(u.Role, perms)})
}

// baPermitted is Better-Auth's hasPermission on the default roles: some
// role of the list must grant every requested action of every requested
// resource (an empty request grants nothing).
func baPermitted(roles string, perms map[string][]string) bool {
	if !hasRole(roles, roleAdmin) || len(perms) == 0 {
		return false
	}
	for resource, actions := range perms {
		allowed, ok := baAdminPermissions[resource]
		if !ok || len(actions) == 0 {
			return false
		}
		for _, act := range actions {
			if !slices.Contains(allowed, act) {
				return false
			}
		}
	}
	return true
}

func (a *baRequest) adminImpersonateUser() {
	const code, msg = "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS", "You are not allowed to impersonate users"
	if _, ok := a.admin(code, msg); ok {
		a.fail(http.StatusForbidden, code, msg)
	}
}

func (a *baRequest) adminStopImpersonating() {
	s, _, _, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s == nil {
		a.failEmpty(http.StatusUnauthorized)
		return
	}
	a.failMessage(http.StatusBadRequest, "You are not impersonating anyone")
}
