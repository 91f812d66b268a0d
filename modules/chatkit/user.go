package chatkit

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/intellistack/intellistack/identity"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

// userFromRequest is the request's identity (identity.FromRequest) in the
// form responders get it; ok is false when nobody is authenticated.
func userFromRequest(r *http.Request) (responder.User, bool) {
	id, ok := identity.FromRequest(r)
	if !ok {
		return responder.User{}, false
	}
	u := responder.User{
		ID: id.ID, Email: id.Email, EmailVerified: id.EmailVerified,
		Roles: id.Roles, Claims: id.Claim,
	}
	if id.Claims == nil {
		// An identity built from placeholders (an authenticator that does
		// not set the typed identity) carries no claims; the ones it passed
		// on are only {http.auth.user.<name>} values.
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		u.Claims = func(name string) (string, bool) {
			if repl == nil {
				return "", false
			}
			v, ok := repl.GetString("http.auth.user." + name)
			return v, ok && v != ""
		}
	}
	return u, true
}
