package bearer

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// LocalJWKS returns the current JWKS document of an issuer served by this
// same process.
type LocalJWKS func(ctx context.Context) ([]byte, error)

// LocalIssuer is an OpenID provider served in-process (oidc_provider):
// bearer_jwt configured with its issuer and no jwks_url reads the keys
// directly instead of fetching its own discovery document over HTTPS
// (which, with `tls internal`, the process may not even trust).
type LocalIssuer struct {
	// JWKS returns the provider's published keys.
	JWKS LocalJWKS
	// ClientIDs are the provider's OAuth client ids. Its ID tokens name
	// the client as aud (OpenID Connect Core 1.0 §2); bearer_jwt refuses a
	// token whose aud is one of these unless its `audience` lists it, so
	// an ID token cannot pass for an access token even where the typ check
	// is relaxed.
	ClientIDs []string
	// Revoked, when set, reports whether the provider has revoked a token
	// it issued: by its jti, by its session (sid), or because its user's
	// tokens issued before some time (iat) were all revoked. bearer_jwt
	// asks on every request, cached verdicts included, so it must be
	// cheap (an in-memory lookup) and safe for concurrent use.
	Revoked RevokedFunc
}

// RevokedFunc reports whether the token with these claims is revoked. sid
// is empty for a token without a session; iat is the zero time without an
// iat claim.
type RevokedFunc func(jti, sid, sub string, iat time.Time) bool

// LocalIssuers is a registry of in-process issuers by issuer URL (a
// trailing slash does not count). bearer_jwt keeps one per Caddy config
// (the bearer_jwt_issuers app), so two configs, and two tests, never see
// each other's keys. Safe for concurrent use; the zero value is ready.
type LocalIssuers struct {
	mu sync.Mutex
	m  map[string][]*LocalIssuer
}

// Register makes li the source of issuer's keys. When several register the
// same issuer (a site Caddy serves on several listeners gets one provider
// per listener, all on the same database), the newest answers until it is
// unregistered.
func (r *LocalIssuers) Register(issuer string, li LocalIssuer) (unregister func()) {
	key := strings.TrimSuffix(issuer, "/")
	entry := &li
	entry.ClientIDs = slices.Clone(li.ClientIDs)
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string][]*LocalIssuer{}
	}
	r.m[key] = append(r.m[key], entry)
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			list := slices.DeleteFunc(r.m[key], func(e *LocalIssuer) bool { return e == entry })
			if len(list) == 0 {
				delete(r.m, key)
			} else {
				r.m[key] = list
			}
		})
	}
}

// Lookup returns the newest registration for issuer.
func (r *LocalIssuers) Lookup(issuer string) (*LocalIssuer, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.m[strings.TrimSuffix(issuer, "/")]
	if len(list) == 0 {
		return nil, false
	}
	return list[len(list)-1], true
}
