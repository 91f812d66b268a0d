package oidc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// sessionCookieName follows Better-Auth's cookie naming (prefix
// better-auth, __Secure- on HTTPS) so its client finds the same cookie
// later; the value is `<token>.<base64 HMAC-SHA256(token)>`, URL-encoded, the
// same shape as Better-Auth's signed cookies.
func (p *provider) sessionCookieName() string {
	if p.secure {
		return "__Secure-better-auth.session_token"
	}
	return "better-auth.session_token"
}

func (p *provider) signCookieValue(token string) (string, error) {
	key, err := p.key("oidc.session-cookie")
	if err != nil {
		return "", err
	}
	return signedCookieValue(key, token), nil
}

// signedCookieValue is a signed cookie's value: the token, a dot and the
// base64 HMAC-SHA256 of the token under key, URL-encoded (Better-Auth's
// shape).
func signedCookieValue(key []byte, token string) string {
	sig := cookieSignature(key, token)
	return url.QueryEscape(token + "." + string(sig[:]))
}

// cookieToken returns the verified session token of the request, or "".
func (p *provider) cookieToken(r *http.Request) string {
	c, err := r.Cookie(p.sessionCookieName())
	if err != nil {
		return ""
	}
	raw, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(raw, '.')
	if i <= 0 {
		return ""
	}
	token, sig := raw[:i], raw[i+1:]
	key, err := p.key("oidc.session-cookie")
	if err != nil {
		return ""
	}
	if cookieMAC(key, token, sig) {
		return token
	}
	// better_auth_api's secret (Better-Auth's), so the API's cookies and
	// those of the server it replaced are sessions here too.
	for _, k := range p.registry.secrets() {
		if cookieMAC(k, token, sig) {
			return token
		}
	}
	return ""
}

// cookieMAC checks the base64 HMAC-SHA256 of a signed cookie's token.
func cookieMAC(key []byte, token, sig string) bool {
	want := cookieSignature(key, token)
	return hmac.Equal([]byte(sig), want[:])
}

// cookieSignature is the base64 HMAC-SHA256 of token under key. Every
// get-session checks one or two (the provider's key, then
// better_auth_api's secrets), so the keyed hashes are reused rather than
// set up per call.
func cookieSignature(key []byte, token string) [44]byte { // 44: base64 of 32 bytes
	pool, _ := cookieMACs.Load(string(key))
	if pool == nil {
		k := bytes.Clone(key)
		pool, _ = cookieMACs.LoadOrStore(string(k), &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }})
	}
	mac := pool.(*sync.Pool).Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(token))
	var sum [sha256.Size]byte
	var sig [44]byte
	base64.StdEncoding.Encode(sig[:], mac.Sum(sum[:0]))
	pool.(*sync.Pool).Put(mac)
	return sig
}

// cookieMACs holds a pool of keyed HMAC-SHA256 hashes per key; keys are
// the provider's derived cookie key and better_auth_api's secrets, a
// handful per process.
var cookieMACs sync.Map

// currentSession returns the request's live session, or nil.
func (p *provider) currentSession(ctx context.Context, st storage.Storage, r *http.Request) (*storage.Session, error) {
	token := p.cookieToken(r)
	if token == "" {
		return nil, nil
	}
	s, err := st.Session(ctx, hashToken(token), p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return s, err
}

// startSession creates a session after a password check and sets the cookie
// (HttpOnly, Secure, SameSite=Lax).
func (p *provider) startSession(ctx context.Context, st storage.Storage, w http.ResponseWriter, r *http.Request, userID string) (*storage.Session, error) {
	token := randomToken(32)
	value, err := p.signCookieValue(token)
	if err != nil {
		return nil, err
	}
	now := p.now()
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	s, err := st.CreateSession(ctx, hashToken(token), storage.Session{UserID: userID, AuthTime: now,
		ExpiresAt: now.Add(p.sessionTTL), IP: p.requestIP(r), UserAgent: ua, CreatedAt: now})
	if err != nil {
		return nil, err
	}
	// A previous session of this browser ends here: one browser, one session.
	if old := p.cookieToken(r); old != "" {
		_, _ = st.DeleteSession(ctx, hashToken(old))
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.sessionCookieName(), Value: value, Path: "/", MaxAge: int(p.sessionTTL.Seconds()),
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
	p.rotateCSRF(w, r)
	return s, nil
}

// endSession deletes the browser's session server-side and expires the
// cookie; it returns the user id it signed out ("" if none).
func (p *provider) endSession(ctx context.Context, st storage.Storage, w http.ResponseWriter, r *http.Request) (string, error) {
	http.SetCookie(w, &http.Cookie{Name: p.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	token := p.cookieToken(r)
	p.rotateCSRF(w, r)
	if token == "" {
		return "", nil
	}
	s, err := st.DeleteSession(ctx, hashToken(token))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return s.UserID, nil
}
