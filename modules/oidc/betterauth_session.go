package oidc

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The session side of better_auth_api: its cookie (Better-Auth's name and
// signature), starting, refreshing, reading, listing and ending sessions.

// baUserObject is Better-Auth's user object (with the admin plugin's
// fields), in a struct so that get-session, polled by front ends, encodes
// it without reflection over a map.
type baUserObject struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     string  `json:"createdAt"`
	UpdatedAt     string  `json:"updatedAt"`
	Role          string  `json:"role"`
	Banned        bool    `json:"banned"`
	BanReason     *string `json:"banReason"`
	BanExpires    *string `json:"banExpires"`
}

// baUser is u as Better-Auth's user object: empty optional fields are null.
func baUser(u *storage.User) baUserObject {
	o := baUserObject{ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		CreatedAt: isoTime(u.CreatedAt), UpdatedAt: isoTime(u.UpdatedAt), Role: u.Role, Banned: u.Banned}
	if u.Image != "" {
		o.Image = &u.Image
	}
	if u.BanReason != "" {
		o.BanReason = &u.BanReason
	}
	if !u.BanExpires.IsZero() {
		t := isoTime(u.BanExpires)
		o.BanExpires = &t
	}
	return o
}

// baSessionObject is Better-Auth's session object.
type baSessionObject struct {
	ID             string  `json:"id"`
	Token          string  `json:"token"`
	UserID         string  `json:"userId"`
	ExpiresAt      string  `json:"expiresAt"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	IPAddress      string  `json:"ipAddress"`
	UserAgent      string  `json:"userAgent"`
	ImpersonatedBy *string `json:"impersonatedBy"`
}

// baSession is s as Better-Auth's session object; its token is the raw
// token when known (the caller's own session), else the session id.
func baSession(s *storage.Session, token string) baSessionObject {
	if token == "" {
		token = s.ID
	}
	return baSessionObject{ID: s.ID, Token: token, UserID: s.UserID, ExpiresAt: isoTime(s.ExpiresAt),
		CreatedAt: isoTime(s.CreatedAt), UpdatedAt: isoTime(s.CreatedAt), IPAddress: s.IP, UserAgent: s.UserAgent}
}

// cookieName is the shared session cookie of the provider.
func (a *baRequest) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: a.p.sessionCookieName(), Value: value, Path: "/", MaxAge: maxAge, Domain: a.h.CookieDomain,
		HttpOnly: true, Secure: a.p.secure, SameSite: http.SameSiteLaxMode}
}

// signCookie signs a session token with Better-Auth's secret when one is
// set, else with the provider's cookie key.
func (a *baRequest) signCookie(token string) (string, error) {
	if a.h.secret == nil {
		return a.p.signCookieValue(token)
	}
	return signedCookieValue(a.h.secret, token), nil
}

// expireCookies is Better-Auth's sign-out set of deletions.
func (a *baRequest) expireCookies() {
	http.SetCookie(a.w, a.cookie("", -1))
	prefix := strings.TrimSuffix(a.p.sessionCookieName(), "session_token")
	for _, n := range []string{"session_data", "dont_remember"} {
		c := a.cookie("", -1)
		c.Name = prefix + n
		http.SetCookie(a.w, c)
	}
}

// dontRememberCookie is Better-Auth's marker of a rememberMe=false
// session (its value the signed literal "true").
func (a *baRequest) dontRememberCookie() string {
	return strings.TrimSuffix(a.p.sessionCookieName(), "session_token") + "dont_remember"
}

// dontRemember reports whether the request carries a valid dont_remember
// cookie.
func (a *baRequest) dontRemember() bool {
	c, err := a.r.Cookie(a.dontRememberCookie())
	if err != nil {
		return false
	}
	want, err := a.signCookie("true")
	return err == nil && hmac.Equal([]byte(c.Value), []byte(want))
}

// startSession creates a session of the provider for u and sets the cookie
// (rememberMe false: a one-day session in a cookie that dies with the
// browser, plus dont_remember); it returns the raw token.
func (a *baRequest) startSession(u *storage.User) (*storage.Session, string, error) {
	token := randomToken(32)
	value, err := a.signCookie(token)
	if err != nil {
		return nil, "", err
	}
	remember := a.boolean("rememberMe", true)
	now := a.p.now()
	ttl := a.p.sessionTTL
	if !remember {
		ttl = min(ttl, 24*time.Hour)
	}
	ua := a.r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	s, err := a.st.CreateSession(a.r.Context(), hashToken(token), storage.Session{UserID: u.ID, AuthTime: now,
		ExpiresAt: now.Add(ttl), IP: a.p.requestIP(a.r), UserAgent: ua, CreatedAt: now})
	if err != nil {
		return nil, "", err
	}
	if remember {
		http.SetCookie(a.w, a.cookie(value, int(ttl.Seconds())))
		if a.dontRemember() {
			c := a.cookie("", -1)
			c.Name = a.dontRememberCookie()
			http.SetCookie(a.w, c)
		}
		return s, token, nil
	}
	http.SetCookie(a.w, a.cookie(value, 0))
	marker, err := a.signCookie("true")
	if err != nil {
		return nil, "", err
	}
	c := a.cookie(marker, 0)
	c.Name = a.dontRememberCookie()
	http.SetCookie(a.w, c)
	return s, token, nil
}

// refresh is Better-Auth's session refresh on get-session: once a day of
// use (at most every half session), the session lives a full session_ttl
// again and the cookie is re-issued. Not for rememberMe=false sessions.
func (a *baRequest) refresh(s *storage.Session, token string) {
	if a.dontRemember() || a.r.URL.Query().Get("disableRefresh") == "true" {
		return
	}
	now := a.p.now()
	updateAge := min(24*time.Hour, a.p.sessionTTL/2)
	if s.ExpiresAt.Add(-a.p.sessionTTL).Add(updateAge).After(now) {
		return
	}
	expires := now.Add(a.p.sessionTTL)
	if err := a.st.ExtendSession(a.r.Context(), s.ID, expires, now); err != nil {
		a.p.logger.Warn("better_auth_api: refreshing a session", zap.Error(err))
		return
	}
	s.ExpiresAt = expires
	if value, err := a.signCookie(token); err == nil {
		http.SetCookie(a.w, a.cookie(value, int(a.p.sessionTTL.Seconds())))
	}
}

// session is the caller's live session, its raw token and user; nil when
// signed out (the caller answers).
func (a *baRequest) session() (*storage.Session, string, *storage.User, error) {
	token := a.p.cookieToken(a.r)
	if token == "" {
		return nil, "", nil, nil
	}
	s, u, err := a.st.SessionWithUser(a.r.Context(), hashToken(token), a.p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", nil, nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	if u.IsBanned(a.p.now()) {
		return nil, "", nil, nil
	}
	return s, token, u, nil
}

// mustSession is session for the endpoints that need one: 401
// UNAUTHORIZED without.
func (a *baRequest) mustSession() (*storage.Session, string, *storage.User, bool) {
	s, token, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return nil, "", nil, false
	}
	if s == nil {
		a.fail(http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
		return nil, "", nil, false
	}
	return s, token, u, true
}

func (a *baRequest) signOut() {
	a.p.signOut(noCookies{a.w}, a.r, a.st, "")
	a.expireCookies()
	a.json(http.StatusOK, map[string]bool{"success": true})
}

// noCookies lets the provider's signOut run without its own cookie
// deletions (the API writes Better-Auth's set, with the cookie domain).
type noCookies struct{ http.ResponseWriter }

func (d noCookies) Header() http.Header { return http.Header{} }

func (a *baRequest) getSession() {
	h := a.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	s, token, u, err := a.session()
	if err != nil {
		a.internal("session lookup", err)
		return
	}
	if s == nil {
		if a.r.Header.Get("Cookie") != "" && a.p.cookieToken(a.r) != "" {
			a.expireCookies()
		}
		a.json(http.StatusOK, nil)
		return
	}
	a.refresh(s, token)
	if jwt, err := a.jwt(u); err == nil {
		h.Set("Set-Auth-Jwt", jwt)
		h.Add("Access-Control-Expose-Headers", "set-auth-jwt")
	}
	a.json(http.StatusOK, struct {
		Session baSessionObject `json:"session"`
		User    baUserObject    `json:"user"`
	}{baSession(s, token), baUser(u)})
}

func (a *baRequest) listSessions() {
	s, token, _, ok := a.mustSession()
	if !ok {
		return
	}
	list, err := a.st.UserSessions(a.r.Context(), s.UserID, a.p.now())
	if err != nil {
		a.internal("listing sessions", err)
		return
	}
	out := make([]baSessionObject, 0, len(list))
	for _, x := range list {
		t := ""
		if x.ID == s.ID {
			t = token
		}
		out = append(out, baSession(x, t))
	}
	a.json(http.StatusOK, out)
}

// endSessions revokes the tokens issued in ended sessions and records it.
func (a *baRequest) endSessions(ended []*storage.Session, detail string) {
	for _, x := range ended {
		if err := a.p.revokeSessionTokens(a.r.Context(), a.st, x.ID); err != nil {
			a.p.logger.Error("revoking the session's tokens", zap.Error(err))
		}
	}
	if len(ended) > 0 {
		a.p.record(a.r, storage.Event{Event: evSignOut, Outcome: "success", UserID: ended[0].UserID,
			Detail: detail + " (" + strconv.Itoa(len(ended)) + " sessions)"})
	}
}

func (a *baRequest) revokeSession() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	f, ok := a.required("token")
	if !ok {
		return
	}
	t := f[0]
	if len(t) > maxTokenLen {
		a.json(http.StatusOK, map[string]bool{"status": true})
		return
	}
	// A raw token (matched by its hash) or a session id, as list-sessions
	// gives for the caller's other sessions.
	x, err := a.st.DeleteUserSession(a.r.Context(), s.UserID, t)
	if errors.Is(err, storage.ErrNotFound) {
		x, err = a.st.DeleteUserSession(a.r.Context(), s.UserID, hashToken(t))
	}
	switch {
	case err == nil:
		a.endSessions([]*storage.Session{x}, "better_auth_api revoke-session")
	case !errors.Is(err, storage.ErrNotFound):
		a.internal("revoking session", err)
		return
	}
	a.json(http.StatusOK, map[string]bool{"status": true})
}

func (a *baRequest) revokeSessions() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	ended, err := a.st.DeleteOtherSessions(a.r.Context(), s.UserID, "")
	if err != nil {
		a.internal("revoking sessions", err)
		return
	}
	a.endSessions(ended, "better_auth_api revoke-sessions")
	a.expireCookies()
	a.json(http.StatusOK, map[string]bool{"status": true})
}

func (a *baRequest) revokeOtherSessions() {
	s, _, _, ok := a.mustSession()
	if !ok {
		return
	}
	ended, err := a.st.DeleteOtherSessions(a.r.Context(), s.UserID, s.ID)
	if err != nil {
		a.internal("revoking sessions", err)
		return
	}
	a.endSessions(ended, "better_auth_api revoke-other-sessions")
	a.json(http.StatusOK, map[string]bool{"status": true})
}
