package oidc

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Roles a user may hold (users.role, comma-separated; the token claim
// role). New accounts are students (storage.DefaultRole).
var knownRoles = []string{"student", "instructor", "admin"}

// roleAdmin is the role the admin API requires.
const roleAdmin = "admin"

// parseRoles checks a role list (a string with comma- or space-separated
// roles, or the strings of an array) and returns it deduplicated in the
// order of knownRoles, comma-joined as stored.
func parseRoles(roles []string) (string, error) {
	seen := map[string]bool{}
	for _, r := range roles {
		for _, part := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' }) {
			if !slices.Contains(knownRoles, part) {
				return "", fmt.Errorf("unknown role %q: use %s", clip(part, 40), strings.Join(knownRoles, ", "))
			}
			seen[part] = true
		}
	}
	var out []string
	for _, r := range knownRoles {
		if seen[r] {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return "", fmt.Errorf("no role given: use %s", strings.Join(knownRoles, ", "))
	}
	return strings.Join(out, ","), nil
}

// hasRole says whether a stored role list holds role.
func hasRole(stored, role string) bool {
	return slices.Contains(strings.FieldsFunc(stored, func(c rune) bool { return c == ',' || c == ' ' }), role)
}

// claimNameRE is what a custom claim may be called.
var claimNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// reservedClaims are the claims the provider sets itself (RFC 7519 §4.1,
// RFC 9068 §2.2, OpenID Connect Core §2 and §5.1); a per-user claim never
// overrides them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "client_id": true,
	"scope": true, "auth_time": true, "acr": true, "amr": true, "azp": true, "nonce": true, "sid": true,
	"at_hash": true, "c_hash": true, "cnf": true, "act": true, "may_act": true, "typ": true, "email": true,
	"email_verified": true, "name": true, "role": true, "roles": true, "picture": true, "updated_at": true,
	"groups": true, "entitlements": true,
}

// checkClaimName refuses a custom claim name that is malformed or that the
// provider sets itself.
func checkClaimName(name string) error {
	if !claimNameRE.MatchString(name) {
		return fmt.Errorf("claim name %q: use a letter, then up to 63 letters, digits, '_', '.' or '-'", clip(name, 70))
	}
	if reservedClaims[name] {
		return fmt.Errorf("claim %q is set by the provider itself", name)
	}
	return nil
}

// checkClaims validates per-user claims before they are stored: names,
// values that are JSON, and the size the storage accepts.
func checkClaims(claims map[string]json.RawMessage) error {
	size := 2
	for k, v := range claims {
		if err := checkClaimName(k); err != nil {
			return err
		}
		if !json.Valid(v) {
			return fmt.Errorf("claim %s: the value is not JSON", k)
		}
		size += len(k) + len(v) + 4
	}
	if size > storage.MaxClaimsBytes {
		return storage.ErrClaimsTooLarge
	}
	return nil
}

// tokenClaims are the user's custom claims that the operator lists (the
// `claims` option), in that order; nil when none applies.
func (p *provider) tokenClaims(u *storage.User) map[string]json.RawMessage {
	if u == nil || len(p.claims) == 0 || len(u.Claims) == 0 {
		return nil
	}
	var out map[string]json.RawMessage
	for _, name := range p.claims {
		if v, ok := u.Claims[name]; ok {
			if out == nil {
				out = map[string]json.RawMessage{}
			}
			out[name] = v
		}
	}
	return out
}

// withClaims appends extra to the JSON object obj (whose keys extra never
// shares: the names are not reserved), keys sorted.
func withClaims(obj []byte, extra map[string]json.RawMessage) []byte {
	if len(extra) == 0 || len(obj) < 2 {
		return obj
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := append([]byte(nil), obj[:len(obj)-1]...)
	for _, k := range keys {
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(k)
		out = append(append(append(out, kb...), ':'), extra[k]...)
	}
	return append(out, '}')
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
