package oidc

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/intellistack/intellistack/internal/apierror"
)

// registeredTokenErrors are the codes the token endpoint may answer with
// (RFC 6749 §5.2).
var registeredTokenErrors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope"}

func fuzzProvider() *provider {
	web := &Client{ID: "web", RedirectURIs: []string{webRedirect}, Secret: webSecret, secretHash: sha256Sum(webSecret)}
	spa := &Client{ID: "spa", RedirectURIs: []string{spaRedirect}, Public: true}
	p := &provider{issuer: "https://op.test", clients: map[string]*Client{"web": web, "spa": spa}, now: timeNow}
	p.keys = memoryKeyring(p.now)
	return p
}

// memoryKeyring is a keyring with one EdDSA key loaded and no database, for
// tests that never reach the key table.
func memoryKeyring(now func() time.Time) *keyring {
	priv, _ := generateKey(jwa.EdDSA)
	pub, _ := publicJWK(priv.Public(), "test-kid", jwa.EdDSA)
	t0 := now()
	k := newKeyring(keyringConfig{alg: jwa.EdDSA, rotation: 24 * time.Hour, lead: time.Hour, retain: time.Hour, now: now})
	k.keys = []*signingKey{{kid: "test-kid", alg: jwa.EdDSA, private: priv, public: priv.Public(), publicJWK: pub,
		signFrom: t0.Add(-time.Hour), signUntil: t0.Add(1000 * time.Hour), publishUntil: t0.Add(2000 * time.Hour)}}
	k.jwks, _ = buildJWKS(k.keys)
	k.loadedAt, k.static = t0, true
	return k
}

// FuzzTokenRequest feeds arbitrary bodies, content types and Authorization
// headers through the token request parsing: body limits, form decoding,
// repeated parameters, client authentication and grant validation. It must
// never panic, and every refusal is a 4xx with a registered error code and a
// header-safe description.
func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.test%2Fcallback&code_verifier="+strings.Repeat("a", 43),
		"application/x-www-form-urlencoded", "Basic d2ViOndlYi1jbGllbnQtc2VjcmV0LXZhbHVlLTAxMjM0NTY3ODk=")
	f.Add("grant_type=refresh_token&refresh_token=x&scope=openid+email&client_id=spa", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=refresh_token&grant_type=refresh_token", "application/x-www-form-urlencoded; charset=utf-8", "")
	f.Add(`{"grant_type":"authorization_code"}`, "application/json", "")
	f.Add("%zz=%", "application/x-www-form-urlencoded", "Basic !!!")
	f.Add("client_id=web&client_secret=x&grant_type=password", "application/x-www-form-urlencoded", "Basic d2ViOng=")
	f.Add("grant_type=authorization_code&code=&code_verifier=%00", "multipart/form-data; boundary=x", "Bearer x")
	f.Fuzz(func(t *testing.T, body, contentType, authorization string) {
		p := fuzzProvider()
		r := httptest.NewRequest(http.MethodPost, "https://op.test/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		check := func(e *apierror.OAuth) {
			if e.Status < 400 || e.Status > 499 || !slices.Contains(registeredTokenErrors, e.Code) ||
				strings.ContainsAny(e.Description, "\r\n\t\"\\") {
				t.Fatalf("bad refusal %d %q %q", e.Status, e.Code, e.Description)
			}
		}
		form, e := parseForm(w, r)
		if e != nil {
			check(e)
			return
		}
		if _, e := p.authenticateClient(r, form); e != nil {
			check(e)
		}
		treq, e := parseTokenRequest(form)
		if e != nil {
			check(e)
			return
		}
		if treq.GrantType != "authorization_code" && treq.GrantType != "refresh_token" {
			t.Fatalf("accepted grant type %q", treq.GrantType)
		}
		if treq.CodeVerifier != "" && !validVerifier(treq.CodeVerifier) {
			t.Fatalf("accepted verifier %q", treq.CodeVerifier)
		}
	})
}

// FuzzAuthorizeParse feeds arbitrary query strings to the authorization
// request validation: no panic, and an error before the redirect URI is
// trusted is never a redirect.
func FuzzAuthorizeParse(f *testing.F) {
	f.Add("client_id=web&redirect_uri=https%3A%2F%2Fapp.test%2Fcallback&response_type=code&scope=openid&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=S256")
	f.Add("client_id=spa&response_type=code&scope=openid+email&prompt=none+login&max_age=-1")
	f.Add("client_id=web&redirect_uri=https%3A%2F%2Fapp.test%2Fcallback%2F..&request=x")
	f.Add("client_id=web&response_type=code&scope=openid&id_token_hint=eyJhbGciOiJFZERTQSIsImtpZCI6InRlc3Qta2lkIn0.e30.AAAA")
	f.Fuzz(func(t *testing.T, query string) {
		form, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p := fuzzProvider()
		req, perr, rerr := p.parseAuthRequest(t.Context(), form)
		switch {
		case perr != nil:
			if perr.Status < 400 || perr.Status > 499 {
				t.Fatalf("page error status %d", perr.Status)
			}
		case rerr != nil:
			if !p.clients[rerr.req.ClientID].allowsRedirect(rerr.req.RedirectURI) {
				t.Fatalf("redirect error to unregistered %q", rerr.req.RedirectURI)
			}
		case req != nil:
			c := p.clients[req.ClientID]
			if !c.allowsRedirect(req.RedirectURI) || (c.Public && req.CodeChallenge == "") {
				t.Fatalf("accepted %+v", req)
			}
		}
	})
}
