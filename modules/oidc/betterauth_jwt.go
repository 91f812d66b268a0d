package oidc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The jwt plugin's token comes with every get-session (set-auth-jwt) and
// every /token, so a front end polling its session would have the
// provider sign an RS256 token each time: about a millisecond of CPU, most
// of what the call costs. A token whose claims have not changed is reused
// for the first half of its life instead, so what a client receives is
// always valid for at least half of baJWTTTL. The key covers everything
// the token says except its times, and the signing key: a changed role,
// ban, name or address, or a rotated key, makes a new token at once.

// baJWTCacheMax bounds the cache; past it, spent entries are dropped, and
// if that is not enough the cache starts again empty.
const baJWTCacheMax = 10000

type baJWTCache struct {
	mu sync.Mutex
	m  map[[32]byte]baCachedJWT
}

type baCachedJWT struct {
	token      string
	reuseUntil time.Time
}

var baJWTs = &baJWTCache{m: map[[32]byte]baCachedJWT{}}

// baJWTClaims are the jwt plugin's claims: the user object and the
// registered claims.
type baJWTClaims struct {
	baUserObject
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
	Iss string `json:"iss"`
	Aud string `json:"aud"`
}

// jwt returns the user's token: a reused one while it has more than half
// its life left, else a new one from jwtFor.
func (a *baRequest) jwt(u *storage.User) (string, error) {
	signer, err := a.p.keys.signer(a.r.Context())
	if err != nil {
		return "", err
	}
	key := baJWTKey(signer.kid, a.p.issuer, u)
	now := a.p.now()
	if tok, ok := baJWTs.get(key, now); ok {
		return tok, nil
	}
	tok, err := a.jwtFor(u)
	if err != nil {
		return "", err
	}
	baJWTs.put(key, baCachedJWT{token: tok, reuseUntil: now.Add(baJWTTTL / 2)}, now)
	return tok, nil
}

// baJWTKey is the cache key of a user's token: the signing key, the
// issuer and every user field the token carries, each length-prefixed so
// no two different sets of values write the same bytes.
func baJWTKey(kid, issuer string, u *storage.User) [32]byte {
	var buf [512]byte
	b := buf[:0]
	for _, s := range [...]string{kid, issuer, u.ID, u.Name, u.Email, u.Image, u.Role, u.BanReason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, t := range [...]time.Time{u.CreatedAt, u.UpdatedAt, u.BanExpires} {
		b = binary.AppendVarint(b, t.UnixMilli())
	}
	var flags byte
	if u.EmailVerified {
		flags |= 1
	}
	if u.Banned {
		flags |= 2
	}
	return sha256.Sum256(append(b, flags))
}

func (c *baJWTCache) get(key [32]byte, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.reuseUntil) {
		return "", false
	}
	return e.token, true
}

func (c *baJWTCache) put(key [32]byte, e baCachedJWT, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= baJWTCacheMax {
		for k, old := range c.m {
			if !now.Before(old.reuseUntil) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= baJWTCacheMax {
			clear(c.m)
		}
	}
	c.m[key] = e
}

// jwtFor is the jwt plugin's token: the user object plus iat, exp (15
// minutes), sub, iss and aud (the provider's issuer), signed with the
// provider's own keys (header kid; RS256 unless signing_alg says
// otherwise), verifiable with its JWKS.
func (a *baRequest) jwtFor(u *storage.User) (string, error) {
	now := a.p.now()
	payload, err := json.Marshal(baJWTClaims{baUser(u), now.Unix(), now.Add(baJWTTTL).Unix(), u.ID, a.p.issuer, a.p.issuer})
	if err != nil {
		return "", err
	}
	tok, _, err := a.p.keys.sign(a.r.Context(), "JWT", payload)
	if err == nil {
		tokensIssuedTotal.WithLabelValues(grantBetterAuthJWT).Inc()
	}
	return tok, err
}

func (a *baRequest) token() {
	_, _, u, ok := a.mustSession()
	if !ok {
		return
	}
	tok, err := a.jwt(u)
	if err != nil {
		a.internal("signing token", err)
		return
	}
	a.json(http.StatusOK, map[string]string{"token": tok})
}

func (a *baRequest) jwks() {
	_, jwks, err := a.p.keys.published(a.r.Context())
	if err != nil {
		a.internal("loading signing keys", err)
		return
	}
	a.w.Header().Set("Content-Type", "application/json")
	a.w.Header().Set("Cache-Control", jwksMaxAge)
	a.w.WriteHeader(http.StatusOK)
	_, _ = a.w.Write(jwks)
}
