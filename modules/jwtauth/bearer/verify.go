package bearer

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// KeySource hands out verification keys: Current blocks for the first fetch
// when none was obtained yet and returns nil when there still are none;
// RefreshUnknown asks for a (rate-limited, single-flight) refresh because a
// token names a key the current set lacks, and returns the newest set.
type KeySource interface {
	Current(ctx context.Context) *KeySet
	RefreshUnknown(ctx context.Context) *KeySet
}

// Verifier checks a bearer JWT: shape, allowed algorithm, token type,
// signature against the key source, then the time, issuer and audience
// claims. It holds no Caddy state, so tests drive it directly with a fake
// clock and keys.
type Verifier struct {
	Issuer     string          // required iss; empty: not checked
	Audiences  []string        // the token's aud must contain one; empty: not checked
	Algorithms map[string]bool // allowed JWS algorithms
	// AnyType accepts any JOSE typ header. By default typ must say
	// at+jwt (RFC 9068 §2.1), so an ID token (typ JWT, or none) signed by
	// the same issuer is not taken for an access token.
	AnyType bool
	// ClientIDs returns the OAuth client ids of the issuer when it is known
	// (an in-process provider), else nil. A token whose aud names one of
	// them is meant for that client, as an ID token is (OpenID Connect
	// Core 1.0 §2), and is refused unless Audiences lists that id.
	ClientIDs func() []string
	Leeway    time.Duration // clock skew tolerated on exp, nbf and iat
	Claims    []string      // custom claims to copy into Identity.Extra and Identity.Claims
	Keys      KeySource
	Now       func() time.Time
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
	Role          string   // the roles joined with ","
	Roles         []string // the role claim read by the platform's one parser (identity/roles)
	Scope         string
	ClientID      string
	Extra         map[string]string          // configured custom claims that are present, as text
	Claims        map[string]json.RawMessage // the same claims as their JSON values
	Expiry        time.Time
	TokenID       string    // jti
	SessionID     string    // sid
	IssuedAt      time.Time // iat; zero without one
}

// Verify checks token and returns who it identifies, or why it is refused.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, *Refusal) {
	p, err := parseToken(token)
	if err != nil {
		return nil, RefuseMalformed
	}
	if !v.Algorithms[p.alg] || !supportedAlgorithms[p.alg] {
		return nil, RefuseAlgorithm
	}
	if !v.AnyType && !IsAccessTokenType(p.typ) {
		return nil, RefuseTokenType
	}
	keys := v.Keys.Current(ctx)
	if keys == nil {
		return nil, RefuseNoKeys
	}
	cands := keys.candidates(p.kid, p.alg)
	if len(cands) == 0 {
		// A new kid usually means the issuer rotated keys since our last
		// fetch; the source decides whether a refresh is allowed now.
		if keys = v.Keys.RefreshUnknown(ctx); keys != nil {
			cands = keys.candidates(p.kid, p.alg)
		}
		if len(cands) == 0 {
			return nil, RefuseUnknownKey
		}
	}
	// jwx verifies with the algorithm we checked, never one it reads.
	alg := jwa.SignatureAlgorithm(p.alg)
	payload, err := jws.Verify(p.raw, jws.WithCompact(), jws.WithKeyProvider(jws.KeyProviderFunc(
		func(_ context.Context, sink jws.KeySink, _ *jws.Signature, _ *jws.Message) error {
			for _, k := range cands {
				sink.Key(alg, k.pub)
			}
			return nil
		})))
	if err != nil {
		return nil, RefuseSignature
	}

	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, RefuseMalformed
	}
	now := v.Now()
	if c.Expiry == nil || c.Subject == "" {
		return nil, RefuseMissingClaim
	}
	if !now.Before(c.Expiry.Add(v.Leeway)) {
		return nil, RefuseExpired
	}
	if c.NotBefore != nil && now.Add(v.Leeway).Before(c.NotBefore.Time) {
		return nil, RefuseNotYetValid
	}
	if c.IssuedAt != nil && now.Add(v.Leeway).Before(c.IssuedAt.Time) {
		return nil, RefuseNotYetValid
	}
	if v.Issuer != "" && c.Issuer != v.Issuer {
		return nil, RefuseIssuer
	}
	if len(v.Audiences) > 0 && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.Audiences, a) }) {
		return nil, RefuseAudience
	}
	if v.ClientIDs != nil {
		if ids := v.ClientIDs(); len(ids) > 0 && slices.ContainsFunc(c.Audience, func(a string) bool {
			return slices.Contains(ids, a) && !slices.Contains(v.Audiences, a)
		}) {
			return nil, RefuseAudience
		}
	}

	id := &Identity{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: bool(c.EmailVerified),
		Roles:         c.roles(),
		Scope:         strings.Join(c.Scope, " "),
		ClientID:      c.ClientID,
		Expiry:        c.Expiry.Time,
		TokenID:       c.ID,
		SessionID:     c.SessionID,
	}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
	}
	id.Role = strings.Join(id.Roles, ",")
	if id.ClientID == "" {
		id.ClientID = c.AuthorizedFor
	}
	if len(v.Claims) > 0 {
		var all map[string]json.RawMessage
		if err := json.Unmarshal(payload, &all); err != nil {
			return nil, RefuseMalformed
		}
		for _, name := range v.Claims {
			if raw, ok := all[name]; ok {
				if id.Extra == nil {
					id.Extra = make(map[string]string, len(v.Claims))
					id.Claims = make(map[string]json.RawMessage, len(v.Claims))
				}
				id.Extra[name] = claimString(raw)
				id.Claims[name] = raw
			}
		}
	}
	return id, nil
}

// IsAccessTokenType reports whether a JOSE typ header names a JWT access
// token: "at+jwt" (RFC 9068 §2.1), also written with the "application/"
// prefix RFC 7515 §4.1.9 lets issuers omit, in any case (media types are
// case-insensitive, RFC 6838 §4.2).
func IsAccessTokenType(typ string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, "at+jwt")
}
