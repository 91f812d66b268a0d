// Package identity is the one typed value for "who is making this request".
//
// An authentication handler (bearer_jwt) verifies a credential and calls Set
// once; every other module (request_quota, chatkit, the tutor, usage) reads
// it with FromRequest and never re-parses {http.auth.user.*} strings. Roles
// are a list, parsed once by ParseRoles from whatever shape the token used.
//
// Requests authenticated by Caddy's own providers (basic_auth, or any other
// caddyauth provider) carry no typed value; FromRequest then builds one from
// the {http.auth.user.id} and {http.auth.user.role} placeholders those
// providers set, with the same role parser, so every module still agrees.
package identity

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/intellistack/intellistack/identity/roles"
)

// varName is the caddyhttp request variable holding the *Identity. Variables
// are shared by every handler of one request, which the request context is
// not: caddyauth calls the provider with the request and passes the same
// request on, so a value put in a derived context would be lost.
const varName = "intellistack.identity"

// Identity is an authenticated user.
type Identity struct {
	// ID is the stable user id (the token's sub).
	ID string
	// Email and EmailVerified come from the email and email_verified claims.
	Email         string
	EmailVerified bool
	// Roles are the user's roles, in the order the credential listed them,
	// without duplicates or empty entries.
	Roles []string
	// Claims holds the custom claims the authenticator was configured to
	// pass on, as their JSON values (a string claim keeps its quotes).
	Claims map[string]json.RawMessage
}

// HasRole reports whether the identity holds at least one of roles.
func (id *Identity) HasRole(roles ...string) bool {
	if id == nil {
		return false
	}
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return true
		}
	}
	return false
}

// Claim returns a custom claim as a string: a JSON string unquoted, any
// other JSON value as its compact text. ok is false when the claim is absent
// or null.
func (id *Identity) Claim(name string) (string, bool) {
	if id == nil {
		return "", false
	}
	raw, ok := id.Claims[name]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

// ParseRoles reads a role claim in any of the shapes issuers use: a JSON
// array of strings, or one string holding a single role or several
// separated by commas and/or white space. Anything else (numbers, objects)
// yields no roles: a malformed claim never grants one. (The parser lives
// in identity/roles, so that Caddy-free code shares it.)
func ParseRoles(raw json.RawMessage) []string { return roles.Parse(raw) }

// SplitRoles splits a role string on commas and white space.
func SplitRoles(s string) []string { return roles.Split(s) }

// Set records the identity for the rest of the request's handlers.
func Set(r *http.Request, id *Identity) {
	caddyhttp.SetVar(r.Context(), varName, id)
}

// FromRequest returns the request's identity: the one an authenticator Set,
// else one built from {http.auth.user.id} and {http.auth.user.role} (Caddy's
// own authentication providers). ok is false when nobody is authenticated.
func FromRequest(r *http.Request) (*Identity, bool) {
	if id, ok := caddyhttp.GetVar(r.Context(), varName).(*Identity); ok && id != nil && id.ID != "" {
		return id, true
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return nil, false
	}
	userID, _ := repl.GetString("http.auth.user.id")
	if strings.TrimSpace(userID) == "" {
		return nil, false
	}
	id := &Identity{ID: userID}
	id.Email, _ = repl.GetString("http.auth.user.email")
	role, _ := repl.GetString("http.auth.user.role")
	id.Roles = SplitRoles(role)
	verified, _ := repl.GetString("http.auth.user.email_verified")
	id.EmailVerified = verified == "true"
	return id, true
}
