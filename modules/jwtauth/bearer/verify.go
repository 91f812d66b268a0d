package bearer

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// KeySource hands out verification keys: Current blocks for the first fetch
// when none was obtained yet and returns nil when there still are none;
// RefreshUnknown asks for a (rate-limited, single-flight) refresh because a
// token names a key the current set lacks, and returns the newest set.
type KeySource interface {
	Current(ctx context.Context) *KeySet
	RefreshUnknown(ctx context.Context) *KeySet
}

// Verifier checks a bearer JWT: shape, allowed algorithm, signature against
// the key source, then the time, issuer and audience claims. It holds no
// Caddy state, so tests drive it directly with a fake clock and keys.
type Verifier struct {
	Issuer     string          // required iss; empty: not checked
	Audiences  []string        // the token's aud must contain one; empty: not checked
	Algorithms map[string]bool // allowed JWS algorithms
	Leeway     time.Duration   // clock skew tolerated on exp, nbf and iat
	Claims     []string        // custom claims to copy into Identity.Extra
	Keys       KeySource
	Now        func() time.Time
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
	Role          string   // the role claim as sent (roles joined with ",")
	Roles         []string // the role claim split into roles
	Scope         string
	ClientID      string
	Extra         map[string]string // configured custom claims that are present
	Expiry        time.Time
}

// Verify checks token and returns who it identifies, or why it is refused.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, *Refusal) {
	p, err := parseToken(token)
	if err != nil {
		return nil, RefuseMalformed
	}
	alg := p.header.Alg
	if !v.Algorithms[alg] || !supportedAlgorithms[alg] {
		return nil, RefuseAlgorithm
	}
	keys := v.Keys.Current(ctx)
	if keys == nil {
		return nil, RefuseNoKeys
	}
	cands := keys.candidates(p.header.Kid, alg)
	if len(cands) == 0 {
		// A new kid usually means the issuer rotated keys since our last
		// fetch; the source decides whether a refresh is allowed now.
		if keys = v.Keys.RefreshUnknown(ctx); keys != nil {
			cands = keys.candidates(p.header.Kid, alg)
		}
		if len(cands) == 0 {
			return nil, RefuseUnknownKey
		}
	}
	verifier := verifiers[alg]
	verified := false
	for _, k := range cands {
		if verifier.Verify(p.signingInput, p.signature, k.pub) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, RefuseSignature
	}

	var c claims
	if err := json.Unmarshal(p.payload, &c); err != nil {
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

	id := &Identity{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: bool(c.EmailVerified),
		Roles:         c.roles(),
		Scope:         joinList(c.Scope, " "),
		ClientID:      c.ClientID,
		Expiry:        c.Expiry.Time,
	}
	id.Role = joinList(stringList(id.Roles), ",")
	if id.ClientID == "" {
		id.ClientID = c.AuthorizedFor
	}
	if len(v.Claims) > 0 {
		var all map[string]json.RawMessage
		if err := json.Unmarshal(p.payload, &all); err != nil {
			return nil, RefuseMalformed
		}
		for _, name := range v.Claims {
			if raw, ok := all[name]; ok {
				if id.Extra == nil {
					id.Extra = make(map[string]string, len(v.Claims))
				}
				id.Extra[name] = claimString(raw)
			}
		}
	}
	return id, nil
}

func joinList(l stringList, sep string) string {
	switch len(l) {
	case 0:
		return ""
	case 1:
		return l[0]
	}
	out := l[0]
	for _, s := range l[1:] {
		out += sep + s
	}
	return out
}
