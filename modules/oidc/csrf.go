package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
)

// CSRF protection for the hosted forms (RFC 9700 §4.7, RFC 6749 §10.12): a
// random value in a cookie (HttpOnly, SameSite=Lax, __Host- on HTTPS) and,
// in each form, an HMAC of that value, the form's purpose and the pending
// authorization request. A POST must carry both and they must agree, so a
// form cannot be forged from another site, and a consent POST is bound to
// the request it was shown for. An Origin header, when present, must be the
// issuer's.

func (p *provider) csrfCookieName() string {
	if p.secure {
		return "__Host-oidc_csrf"
	}
	return "oidc_csrf"
}

// csrfToken returns the token for a form, setting the cookie when needed.
func (p *provider) csrfToken(w http.ResponseWriter, r *http.Request, purpose, requestID string) (string, error) {
	var seed string
	if c, err := r.Cookie(p.csrfCookieName()); err == nil && len(c.Value) >= 32 {
		seed = c.Value
	} else {
		seed = randomToken(32)
		http.SetCookie(w, &http.Cookie{Name: p.csrfCookieName(), Value: seed, Path: "/",
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	}
	return p.csrfMAC(seed, purpose, requestID)
}

func (p *provider) csrfMAC(seed, purpose, requestID string) (string, error) {
	key, err := p.key("oidc.csrf")
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(seed + "\x00" + purpose + "\x00" + requestID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// checkCSRF verifies a POSTed form's token in constant time.
func (p *provider) checkCSRF(r *http.Request, form url.Values, purpose, requestID string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != p.origin {
		return false
	}
	c, err := r.Cookie(p.csrfCookieName())
	if err != nil || len(c.Value) < 32 {
		return false
	}
	want, err := p.csrfMAC(c.Value, purpose, requestID)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(form.Get("csrf_token")), []byte(want))
}

// rotateCSRF gives the browser a new CSRF seed. It runs whenever the
// session changes (sign-in, sign-out), so a seed planted or read before
// sign-in cannot forge a form of the signed-in user. The request's own
// Cookie header is updated too, so a form rendered later in the same
// response matches the new cookie.
func (p *provider) rotateCSRF(w http.ResponseWriter, r *http.Request) {
	seed := randomToken(32)
	http.SetCookie(w, &http.Cookie{Name: p.csrfCookieName(), Value: seed, Path: "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != p.csrfCookieName() {
			r.AddCookie(c)
		}
	}
	r.AddCookie(&http.Cookie{Name: p.csrfCookieName(), Value: seed})
}
