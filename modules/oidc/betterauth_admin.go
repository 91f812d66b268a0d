package oidc

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The admin plugin's endpoints of better_auth_api, on the provider's roles
// and admin storage (the same operations as the provider's admin API and
// `intellistack user`, with Better-Auth's paths, shapes and codes). The
// caller is the session's user and must hold the role admin; roles are the
// provider's (set-role refuses a role it does not know).

// admin is the calling admin: without a session 401 with an empty JSON
// body (as Better-Auth's admin middleware), without the role 403 with the
// endpoint's code.
func (a *baRequest) admin(code, message string) (*storage.User, bool) {
	s, _, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return nil, false
	}
	if s == nil {
		a.w.Header().Set("Content-Type", "application/json")
		a.w.WriteHeader(http.StatusUnauthorized)
		return nil, false
	}
	if !hasRole(u.Role, roleAdmin) {
		a.fail(http.StatusForbidden, code, message)
		return nil, false
	}
	return u, true
}

// audit records an admin's action on u.
func (a *baRequest) audit(admin *storage.User, event string, u *storage.User, detail string) {
	a.p.record(a.r, storage.Event{Event: event, Outcome: "success", ActorID: admin.ID, UserID: u.ID, Email: u.Email,
		Detail: strings.TrimSpace("better_auth_api " + detail)})
}

// target reads userId and loads the user: 404 USER_NOT_FOUND.
// adminOn is admin, then target: the acting admin and the user the request
// names, or false once the answer is written.
func (a *baRequest) adminOn(code, message string) (admin, u *storage.User, ok bool) {
	if admin, ok = a.admin(code, message); !ok {
		return nil, nil, false
	}
	u, ok = a.target()
	return admin, u, ok
}

func (a *baRequest) target() (*storage.User, bool) {
	f, ok := a.required("userId")
	if !ok {
		return nil, false
	}
	return a.userByID(f[0])
}

func (a *baRequest) userByID(id string) (*storage.User, bool) {
	u, err := a.st.UserByID(a.r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && id == "") {
		a.fail(http.StatusNotFound, "USER_NOT_FOUND", "User not found")
		return nil, false
	}
	if err != nil {
		a.internal("user lookup", err)
		return nil, false
	}
	return u, true
}

func (a *baRequest) adminListUsers() {
	if _, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users"); !ok {
		return
	}
	q := a.r.URL.Query()
	num := func(name string, def, maxV int) (int, bool, bool) {
		s := q.Get(name)
		if s == "" {
			return def, false, true
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxV {
			a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[query."+name+"] Invalid input")
			return 0, true, false
		}
		return n, true, true
	}
	limit, hasLimit, ok := num("limit", 100, 500)
	if !ok {
		return
	}
	offset, hasOffset, ok := num("offset", 0, 1<<30)
	if !ok {
		return
	}
	if hasLimit && limit == 0 {
		limit = 1
	}
	// The provider's search is a case-insensitive substring of the e-mail
	// address or the name (Better-Auth's default operator, contains).
	users, total, err := a.st.ListUsers(a.r.Context(), storage.UserQuery{Search: q.Get("searchValue"), Limit: limit, Offset: offset})
	if err != nil {
		a.internal("listing users", err)
		return
	}
	list := make([]baUserObject, 0, len(users))
	for _, u := range users {
		list = append(list, baUser(u))
	}
	out := map[string]any{"users": list, "total": total}
	if hasLimit {
		out["limit"] = limit
	}
	if hasOffset {
		out["offset"] = offset
	}
	a.json(http.StatusOK, out)
}

func (a *baRequest) adminGetUser() {
	if _, ok := a.admin("YOU_ARE_NOT_ALLOWED_TO_GET_USER", "You are not allowed to get user"); !ok || !a.queryPresent("id") {
		return
	}
	if u, ok := a.userByID(a.r.URL.Query().Get("id")); ok {
		a.json(http.StatusOK, baUser(u))
	}
}

func (a *baRequest) adminSetRole() {
	admin, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE", "You are not allowed to change users role")
	if !ok {
		return
	}
	roles, ok := rolesFrom(a.body["role"])
	if !ok || len(roles) == 0 {
		a.fail(http.StatusBadRequest, "INVALID_ROLE_TYPE", "Invalid role type")
		return
	}
	role, err := parseRoles(betterAuthRoles(roles))
	if err != nil || role == "" {
		a.fail(http.StatusBadRequest, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", "You are not allowed to set a non-existent role value")
		return
	}
	if u.ID == admin.ID && !hasRole(role, roleAdmin) {
		a.fail(http.StatusBadRequest, "YOU_CANNOT_REMOVE_YOUR_OWN_ADMIN_ROLE", "You cannot remove your own admin role")
		return
	}
	updated, err := a.st.SetRole(a.r.Context(), u.ID, role, a.p.now())
	if err != nil {
		a.internal("setting the role", err)
		return
	}
	a.audit(admin, evRoleChanged, updated, u.Role+" -> "+role)
	a.json(http.StatusOK, map[string]any{"user": baUser(updated)})
}

func (a *baRequest) adminBanUser() {
	admin, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users")
	if !ok {
		return
	}
	if u.ID == admin.ID {
		a.fail(http.StatusBadRequest, "YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself")
		return
	}
	reason, _, ok := a.str("banReason")
	if !ok || len(reason) > maxBanReasonLen || strings.ContainsRune(reason, 0) {
		a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.banReason] Invalid input")
		return
	}
	if reason == "" {
		reason = "No reason"
	}
	now := a.p.now()
	var expires time.Time
	if raw, present := a.body["banExpiresIn"]; present && string(raw) != "null" {
		secs, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || secs <= 0 || secs > 100*365*24*3600 {
			a.fail(http.StatusBadRequest, "VALIDATION_ERROR", "[body.banExpiresIn] Invalid input: expected a positive number")
			return
		}
		expires = now.Add(time.Duration(secs * float64(time.Second)))
	}
	updated, err := a.st.BanUser(a.r.Context(), u.ID, reason, expires, now)
	if err != nil {
		a.internal("banning", err)
		return
	}
	a.p.applyRevocations(a.r.Context()) // the user's access tokens, at bearer_jwt
	a.audit(admin, evUserBanned, updated, reason)
	a.json(http.StatusOK, map[string]any{"user": baUser(updated)})
}

func (a *baRequest) adminUnbanUser() {
	admin, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users")
	if !ok {
		return
	}
	updated, err := a.st.UnbanUser(a.r.Context(), u.ID, a.p.now())
	if err != nil {
		a.internal("unbanning", err)
		return
	}
	a.audit(admin, evUserUnbanned, updated, "")
	a.json(http.StatusOK, map[string]any{"user": baUser(updated)})
}

func (a *baRequest) adminListUserSessions() {
	_, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS", "You are not allowed to list users sessions")
	if !ok {
		return
	}
	list, err := a.st.UserSessions(a.r.Context(), u.ID, a.p.now())
	if err != nil {
		a.internal("listing sessions", err)
		return
	}
	out := make([]baSessionObject, 0, len(list))
	for _, s := range list {
		out = append(out, baSession(s, ""))
	}
	a.json(http.StatusOK, map[string]any{"sessions": out})
}

func (a *baRequest) adminRevokeUserSessions() {
	admin, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS", "You are not allowed to revoke users sessions")
	if !ok {
		return
	}
	n, err := a.st.RevokeUserSessions(a.r.Context(), u.ID, a.p.now())
	if err != nil {
		a.internal("revoking sessions", err)
		return
	}
	a.p.applyRevocations(a.r.Context())
	a.audit(admin, evSessionsRevoked, u, strconv.Itoa(n)+" sessions")
	a.json(http.StatusOK, map[string]bool{"success": true})
}

func (a *baRequest) adminRemoveUser() {
	admin, u, ok := a.adminOn("YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS", "You are not allowed to delete users")
	if !ok {
		return
	}
	if u.ID == admin.ID {
		a.fail(http.StatusBadRequest, "YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself")
		return
	}
	if err := a.st.DeleteUser(a.r.Context(), u.ID, a.p.now()); err != nil {
		a.internal("deleting", err)
		return
	}
	a.p.applyRevocations(a.r.Context())
	a.audit(admin, evUserDeleted, u, "")
	a.json(http.StatusOK, map[string]bool{"success": true})
}

// betterAuthRoles reads Better-Auth's default role "user" as a student: front
// ends written for it set "user" (the importer maps it the same way).
func betterAuthRoles(roles []string) []string {
	var out []string
	for _, r := range roles {
		for _, part := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' }) {
			if part == "user" {
				part = storage.DefaultRole
			}
			out = append(out, part)
		}
	}
	return out
}
