package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// session is a signed-in browser: a row of sessions.
type session struct {
	ID       string
	UserID   string
	AuthTime time.Time
	Expires  time.Time
}

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
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(token))
	return url.QueryEscape(token + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil))), nil
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
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(token))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return ""
	}
	return token
}

// currentSession returns the request's live session, or nil.
func (p *provider) currentSession(ctx context.Context, db *store.DB, r *http.Request) (*session, error) {
	token := p.cookieToken(r)
	if token == "" {
		return nil, nil
	}
	var s session
	var authTime, expires int64
	err := db.QueryRow(ctx, "SELECT id, user_id, auth_time, expires_at FROM sessions WHERE token_hash = ?", hashToken(token)).
		Scan(&s.ID, &s.UserID, &authTime, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.AuthTime, s.Expires = time.UnixMilli(authTime), time.UnixMilli(expires)
	if !p.now().Before(s.Expires) {
		return nil, nil
	}
	return &s, nil
}

// startSession creates a session after a password check and sets the cookie
// (HttpOnly, Secure, SameSite=Lax).
func (p *provider) startSession(ctx context.Context, db *store.DB, w http.ResponseWriter, r *http.Request, userID string) (*session, error) {
	token := randomToken(32)
	value, err := p.signCookieValue(token)
	if err != nil {
		return nil, err
	}
	now := p.now()
	s := &session{ID: newID(), UserID: userID, AuthTime: now, Expires: now.Add(p.sessionTTL)}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	if _, err := db.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, expires_at, auth_time, ip_address, user_agent, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, hashToken(token), userID, s.Expires.UnixMilli(), now.UnixMilli(),
		p.requestIP(r), ua, now.UnixMilli(), now.UnixMilli()); err != nil {
		return nil, err
	}
	// A previous session of this browser ends here: one browser, one session.
	if old := p.cookieToken(r); old != "" {
		_, _ = db.Exec(ctx, "DELETE FROM sessions WHERE token_hash = ?", hashToken(old))
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.sessionCookieName(), Value: value, Path: "/", MaxAge: int(p.sessionTTL.Seconds()),
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
	return s, nil
}

// endSession deletes the browser's session server-side and expires the
// cookie; it returns the user id it signed out ("" if none).
func (p *provider) endSession(ctx context.Context, db *store.DB, w http.ResponseWriter, r *http.Request) (string, error) {
	http.SetCookie(w, &http.Cookie{Name: p.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	token := p.cookieToken(r)
	if token == "" {
		return "", nil
	}
	var userID string
	err := db.QueryRow(ctx, "SELECT user_id FROM sessions WHERE token_hash = ?", hashToken(token)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_, err = db.Exec(ctx, "DELETE FROM sessions WHERE token_hash = ?", hashToken(token))
	return userID, err
}
