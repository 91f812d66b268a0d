package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// grant is what a token response is issued for.
type grant struct {
	ID       string // the family of tokens (oidc_codes.grant_id)
	ClientID string
	User     *storage.User
	Scopes   []string
	AuthTime time.Time
	Nonce    string
	SID      string
}

func (g *grant) has(scope string) bool { return slices.Contains(g.Scopes, scope) }

// accessClaims is an RFC 9068 JWT access token.
type accessClaims struct {
	Iss           string   `json:"iss"`
	Sub           string   `json:"sub"`
	Aud           []string `json:"aud"`
	Exp           int64    `json:"exp"`
	Iat           int64    `json:"iat"`
	Jti           string   `json:"jti"`
	ClientID      string   `json:"client_id"`
	Scope         string   `json:"scope"`
	AuthTime      int64    `json:"auth_time,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Role          string   `json:"role,omitempty"`
	Sid           string   `json:"sid,omitempty"` // the sign-in session, so that ending it revokes the token

	// extra are the user's custom claims the operator lists (claims …).
	extra map[string]json.RawMessage
}

// MarshalJSON writes the registered claims, then the custom ones.
func (c *accessClaims) MarshalJSON() ([]byte, error) {
	type plain accessClaims
	b, err := json.Marshal((*plain)(c))
	if err != nil {
		return nil, err
	}
	return withClaims(b, c.extra), nil
}

// accessClaims are the claims of the access token with jti, issued at now
// for g.
func (p *provider) accessClaims(g *grant, jti string, now time.Time) *accessClaims {
	return &accessClaims{
		Iss: p.issuer, Sub: g.User.ID, Aud: p.audience, Iat: now.Unix(), Exp: now.Add(p.accessTTL).Unix(),
		Jti: jti, Sid: g.SID, ClientID: g.ClientID, Scope: strings.Join(g.Scopes, " "), AuthTime: g.AuthTime.Unix(),
		Email: g.User.Email, EmailVerified: &g.User.EmailVerified, Name: g.User.Name, Role: g.User.Role,
		extra: p.tokenClaims(g.User),
	}
}

// signAccessToken signs claims with typ at+jwt (RFC 9068 §2.1).
func (p *provider) signAccessToken(ctx context.Context, c *accessClaims) (string, *signingKey, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	return p.keys.sign(ctx, "at+jwt", payload)
}

// idToken builds and signs the ID token (OpenID Connect Core §2, §3.1.3.6).
func (p *provider) idToken(ctx context.Context, g *grant, accessToken string, key *signingKey) (string, error) {
	now := p.now()
	c := map[string]any{
		"iss": p.issuer, "sub": g.User.ID, "aud": g.ClientID, "azp": g.ClientID,
		"iat": now.Unix(), "exp": now.Add(p.idTTL).Unix(), "auth_time": g.AuthTime.Unix(),
		"at_hash": halfHash(key.alg, accessToken),
	}
	if g.Nonce != "" {
		c["nonce"] = g.Nonce
	}
	if g.SID != "" {
		c["sid"] = g.SID
	}
	// Only the claims the scopes ask for (OpenID Connect Core §5.4); the
	// role and the custom claims the operator lists come with profile.
	if g.has("profile") {
		c["name"] = g.User.Name
		c["role"] = g.User.Role
		for k, v := range p.tokenClaims(g.User) {
			c[k] = v
		}
	}
	if g.has("email") {
		c["email"] = g.User.Email
		c["email_verified"] = g.User.EmailVerified
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	tok, _, err := p.keys.sign(ctx, "JWT", payload)
	return tok, err
}

// halfHash is at_hash: the left half of the token's hash, with the hash of
// the signing algorithm (SHA-256 for RS256/ES256, SHA-512 for Ed25519).
func halfHash(alg jwa.SignatureAlgorithm, token string) string {
	var h hash.Hash = sha256.New()
	if alg == jwa.EdDSA {
		h = sha512.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

var errBadToken = errors.New("the access token is invalid")

// verifyAccessToken checks signature, type, issuer and expiry of a JWT
// access token of ours; the caller checks revocation.
func (p *provider) verifyAccessToken(ctx context.Context, token string) (*accessClaims, error) {
	if len(token) > 8192 || strings.Count(token, ".") != 2 {
		return nil, errBadToken
	}
	payload, typ, err := p.keys.verify(ctx, token)
	if err != nil || !strings.EqualFold(typ, "at+jwt") {
		return nil, errBadToken
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != p.issuer || c.Jti == "" || c.Sub == "" {
		return nil, errBadToken
	}
	if p.now().Unix() >= c.Exp {
		return nil, errBadToken
	}
	return &c, nil
}

// idTokenHint validates an ID token we issued (an expired one is fine, as
// OpenID Connect Core §3.1.2.1 allows for id_token_hint) and returns its sub
// and its (first) audience.
func (p *provider) idTokenHint(ctx context.Context, token string) (sub, aud string, err error) {
	if len(token) > 8192 || strings.Count(token, ".") != 2 {
		return "", "", errBadToken
	}
	payload, typ, err := p.keys.verify(ctx, token)
	if err != nil || strings.EqualFold(typ, "at+jwt") {
		return "", "", errBadToken
	}
	var c struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != p.issuer || c.Sub == "" {
		return "", "", errBadToken
	}
	switch a := c.Aud.(type) {
	case string:
		aud = a
	case []any:
		if len(a) > 0 {
			aud, _ = a[0].(string)
		}
	}
	return c.Sub, aud, nil
}
