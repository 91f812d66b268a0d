package oidc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// TestConformance holds the protocol conformance tests, on SQLite and
// PostgreSQL: OpenID Connect Core and Discovery, RFC 6749 and its
// extensions, and the security recommendations of RFC 9700 and RFC 6819.
// Each subtest is named for what it checks and cites the sections.
func TestConformance(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		e := newEnv(t, database)
		for _, tc := range conformanceCases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				tc.run(t, e)
			})
		}
	})
}

type conformanceCase struct {
	name string
	run  func(t *testing.T, e *env)
}

var conformanceCases = []conformanceCase{
	{"discovery document (OpenID Connect Discovery §3, §4)", func(t *testing.T, e *env) {
		p := newBrowser(t, e.c).get(e.issuer + "/.well-known/openid-configuration")
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
			t.Fatalf("discovery: %d %s", p.status, p.header.Get("Content-Type"))
		}
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("discovery Cache-Control %q", cc)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(p.body), &m); err != nil {
			t.Fatal(err)
		}
		if m["issuer"] != e.issuer {
			t.Errorf("issuer %v, want %s byte for byte (OpenID Connect Discovery §4.3)", m["issuer"], e.issuer)
		}
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
			"revocation_endpoint", "introspection_endpoint", "end_session_endpoint"} {
			s, _ := m[k].(string)
			if !strings.HasPrefix(s, "https://") {
				t.Errorf("%s = %q: missing or not https (OpenID Connect Discovery §3)", k, s)
			}
		}
		list := func(k string) []string {
			var out []string
			for _, v := range m[k].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		if !slices.Contains(list("response_types_supported"), "code") || !slices.Contains(list("subject_types_supported"), "public") ||
			!slices.Contains(list("id_token_signing_alg_values_supported"), "RS256") || len(list("grant_types_supported")) == 0 {
			t.Errorf("required members (OpenID Connect Discovery §3): %v", m)
		}
		if !slices.Contains(list("scopes_supported"), "openid") {
			t.Error("scopes_supported lacks openid (OpenID Connect Discovery §3)")
		}
		if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported %v (RFC 8414 §2)", got)
		}
		if m["authorization_response_iss_parameter_supported"] != true {
			t.Error("iss not advertised (RFC 9207 §3)")
		}
	}},
	{"jwks: distinct kids, public members only, cached (RFC 7517 §4, §5)", func(t *testing.T, e *env) {
		br := newBrowser(t, e.c)
		p := br.get(e.issuer + "/jwks")
		p2 := br.get(e.issuer + "/.well-known/jwks.json")
		if p.status != 200 || p2.body != p.body {
			t.Fatalf("jwks: %d; the two paths differ", p.status)
		}
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("jwks Cache-Control %q", cc)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal([]byte(p.body), &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("jwks body %q", p.body)
		}
		kids := map[any]bool{}
		for _, k := range set.Keys {
			if k["kid"] == nil || kids[k["kid"]] {
				t.Errorf("key without kid or duplicate kid: %v", k)
			}
			kids[k["kid"]] = true
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS publishes private member %s", private)
				}
			}
			if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" {
				t.Errorf("key %v", k)
			}
		}
	}},
	{"form_post response mode (OAuth 2.0 Form Post Response Mode §2)", func(t *testing.T, e *env) {
		br := e.signedIn("b1@example.com")
		params := e.authParams("other", nil, url.Values{"response_mode": {"form_post"}})
		p := br.get(e.issuer + "/oauth2/authorize?" + params.Encode())
		if p.status != 200 || p.location != "" {
			t.Fatalf("form_post: %d %q", p.status, p.location)
		}
		action, vals := p.form(t, "form-post")
		if action != params.Get("redirect_uri") || vals.Get("code") == "" || vals.Get("state") != params.Get("state") || vals.Get("iss") != e.issuer {
			t.Fatalf("form_post form: %s %v", action, vals)
		}
	}},
	{"client_secret_post and the token response (RFC 6749 §2.3.1, §5.1; OpenID Connect Core §3.1.3.3)", func(t *testing.T, e *env) {
		br := e.signedIn("b4@example.com")
		params := e.authParams("other", nil, nil)
		cb := e.code(br, params)
		if len(cb.Query().Get("code")) < 22 {
			t.Fatal("code shorter than 128 bits (RFC 6819 §5.1.4.2.2)")
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {params.Get("redirect_uri")},
			"client_id": {"other"}, "client_secret": {"other-secret-0123456789"}}
		p := postForm(t, e.c.Client, e.issuer+"/oauth2/token", form, "", "")
		if p.status != 200 || p.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
			t.Fatalf("token via client_secret_post: %d %v %s", p.status, p.header, p.body)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(p.body), &body)
		if body["token_type"] != "Bearer" || body["access_token"] == nil || body["id_token"] == nil {
			t.Fatalf("token response %v (RFC 6749 §5.1)", body)
		}
		if exp, _ := body["expires_in"].(float64); exp <= 0 || exp > 365*24*3600 {
			t.Fatalf("expires_in %v (RFC 6749 §5.1)", body["expires_in"])
		}
		idt := decodeJWT(t, body["id_token"].(string))
		c := idt.payload
		now := float64(time.Now().Unix())
		if c["iss"] != e.issuer || c["aud"] != "other" || c["sub"] == nil || c["nonce"] != params.Get("nonce") ||
			c["exp"].(float64) <= now || c["iat"].(float64) < now-300 || c["iat"].(float64) > now+300 || c["auth_time"] == nil {
			t.Fatalf("ID token claims %v (OpenID Connect Core §2, §3.1.3.7)", c)
		}
		if idt.header["alg"] != "RS256" || idt.header["kid"] == nil {
			t.Fatalf("ID token header %v (OpenID Connect Core §3.1.3.7, §10.1)", idt.header)
		}
		if c["at_hash"] != halfHash("RS256", body["access_token"].(string)) {
			t.Fatal("at_hash wrong (OpenID Connect Core §3.1.3.6)")
		}
	}},
	{"scope openid only: no profile claims (OpenID Connect Core §5.4)", func(t *testing.T, e *env) {
		br := e.signedIn("b11@example.com")
		params := e.authParams("other", nil, url.Values{"scope": {"openid"}})
		body := e.exchange("other", e.code(br, params), nil)
		c := idClaims(t, body)
		for _, k := range []string{"name", "email", "role", "email_verified"} {
			if _, ok := c[k]; ok {
				t.Errorf("ID token for scope=openid carries %s", k)
			}
		}
		p := userinfo(t, e, body["access_token"].(string), "GET")
		var ui map[string]any
		_ = json.Unmarshal([]byte(p.body), &ui)
		if len(ui) != 1 || ui["sub"] != c["sub"] {
			t.Errorf("userinfo for scope=openid: %v", ui)
		}
	}},
	{"no nonce, scope order, unknown and display parameters (OpenID Connect Core §3.1.2.1)", func(t *testing.T, e *env) {
		br := e.signedIn("b12@example.com")
		params := e.authParams("other", nil, url.Values{"scope": {"email profile openid"}, "extra": {"foobar"},
			"display": {"popup"}, "login_hint": {"b12@example.com"}, "ui_locales": {"de-CH"}, "claims_locales": {"fr"},
			"acr_values": {"1 2"}})
		params.Del("nonce")
		body := e.exchange("other", e.code(br, params), nil)
		if _, ok := idClaims(t, body)["nonce"]; ok {
			t.Error("nonce in ID token although none was sent")
		}
	}},
	{"POST authorization request (OpenID Connect Core §3.1.2.1)", func(t *testing.T, e *env) {
		br := e.signedIn("b15@example.com")
		params := e.authParams("other", nil, nil)
		p := br.post(e.issuer+"/oauth2/authorize", params)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, params.Get("redirect_uri")+"?") {
			t.Fatalf("POST authorize: %d %q", p.status, p.location)
		}
		u, _ := url.Parse(p.location)
		e.exchange("other", u, nil)
	}},
	{"missing response_type (RFC 6749 §4.1.2.1)", func(t *testing.T, e *env) {
		params := e.authParams("other", nil, nil)
		params.Del("response_type")
		wantRedirectError(t, newBrowser(t, e.c).get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "invalid_request")
		params.Set("response_type", "token")
		wantRedirectError(t, newBrowser(t, e.c).get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "unsupported_response_type")
	}},
	{"redirect_uri exact match and no open redirect (RFC 6749 §4.1.2.1; RFC 9700 §4.1, §4.11)", func(t *testing.T, e *env) {
		br := newBrowser(t, e.c)
		for _, bad := range []string{webRedirect + "/x", webRedirect + "?a=b", "https://app.test/x/../callback",
			"HTTPS://APP.TEST/callback", "https://evil@app.test/callback", webRedirect + "#", webRedirect + "/",
			"https://evil.test/callback", "javascript:alert(1)", ""} {
			params := e.authParams("web", nil, url.Values{"redirect_uri": {bad}})
			wantErrorPage(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), "invalid_request")
		}
		params := e.authParams("nobody", nil, url.Values{"redirect_uri": {"https://evil.test/cb"}})
		wantErrorPage(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), "invalid_client")
		params.Del("client_id")
		wantErrorPage(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), "invalid_request")
	}},
	{"prompt=none without session or consent (OpenID Connect Core §3.1.2.6)", func(t *testing.T, e *env) {
		params := e.authParams("other", nil, url.Values{"prompt": {"none"}})
		wantRedirectError(t, newBrowser(t, e.c).get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "login_required")
		pk := newPKCE()
		params = e.authParams("web", &pk, url.Values{"prompt": {"none"}})
		wantRedirectError(t, e.signedIn("b20@example.com").get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "consent_required")
	}},
	{"prompt=none, max_age=10000 and id_token_hint with a session (OpenID Connect Core §3.1.2.1)", func(t *testing.T, e *env) {
		br := e.signedIn("b21@example.com")
		first := idClaims(t, e.exchange("other", e.code(br, e.authParams("other", nil, nil)), nil))
		advanceClock(2 * time.Second)
		for _, extra := range []url.Values{{"prompt": {"none"}}, {"max_age": {"10000"}}} {
			params := e.authParams("other", nil, extra)
			p := br.get(e.issuer + "/oauth2/authorize?" + params.Encode())
			if !strings.HasPrefix(p.location, params.Get("redirect_uri")+"?code=") && !strings.Contains(p.location, "code=") {
				t.Fatalf("%v: no silent code: %d %q", extra, p.status, p.location)
			}
			u, _ := url.Parse(p.location)
			c := idClaims(t, e.exchange("other", u, nil))
			if c["sub"] != first["sub"] || c["auth_time"] != first["auth_time"] {
				t.Fatalf("%v: sub/auth_time changed: %v vs %v", extra, c, first)
			}
		}
		hintBody := e.exchange("other", e.code(br, e.authParams("other", nil, nil)), nil)
		params := e.authParams("other", nil, url.Values{"prompt": {"none"}, "id_token_hint": {hintBody["id_token"].(string)}})
		p := br.get(e.issuer + "/oauth2/authorize?" + params.Encode())
		if !strings.Contains(p.location, "code=") {
			t.Fatalf("id_token_hint + prompt=none: %d %q", p.status, p.location)
		}
	}},
	{"prompt=login and max_age=1 re-authenticate (OpenID Connect Core §3.1.2.1)", func(t *testing.T, e *env) {
		br := e.signedIn("b22@example.com")
		first := idClaims(t, e.exchange("other", e.code(br, e.authParams("other", nil, nil)), nil))
		for _, extra := range []url.Values{{"prompt": {"login"}}, {"max_age": {"1"}}} {
			advanceClock(2 * time.Second)
			params := e.authParams("other", nil, extra)
			p := br.follow(br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params.Get("redirect_uri"))
			if !strings.Contains(p.body, `id="sign-in"`) {
				t.Fatalf("%v: sign-in page not shown again: %d %q", extra, p.status, p.location)
			}
			action, vals := p.form(t, "sign-in")
			vals.Set("email", "b22@example.com")
			vals.Set("password", testPassword)
			p = br.follow(br.post(action, vals), params.Get("redirect_uri"))
			u, _ := url.Parse(p.location)
			c := idClaims(t, e.exchange("other", u, nil))
			if c["sub"] != first["sub"] || c["auth_time"] == nil || c["auth_time"].(float64) <= first["auth_time"].(float64) {
				t.Fatalf("%v: auth_time %v not later than %v", extra, c["auth_time"], first["auth_time"])
			}
			first = c
		}
	}},
	{"code single use and expiry (RFC 6749 §4.1.2)", func(t *testing.T, e *env) {
		br := e.signedIn("b27@example.com")
		cb := e.code(br, e.authParams("other", nil, nil))
		body := e.exchange("other", cb, nil)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {"https://other.test/callback"}}
		p, _ := e.token("other", form)
		wantOAuthError(t, p, 400, "invalid_grant")
		if p := userinfo(t, e, body["access_token"].(string), "GET"); p.status != 401 {
			t.Fatalf("access token from a reused code still works: %d", p.status)
		}
		cb = e.code(br, e.authParams("other", nil, nil))
		advanceClock(61 * time.Second)
		form.Set("code", cb.Query().Get("code"))
		p, _ = e.token("other", form)
		wantOAuthError(t, p, 400, "invalid_grant")
	}},
	{"userinfo GET, POST and bad tokens (OpenID Connect Core §5.3; RFC 6750 §3)", func(t *testing.T, e *env) {
		br := e.signedIn("b29@example.com")
		body := e.exchange("other", e.code(br, e.authParams("other", nil, nil)), nil)
		sub := idClaims(t, body)["sub"]
		for _, m := range []string{"GET", "POST"} {
			p := userinfo(t, e, body["access_token"].(string), m)
			var ui map[string]any
			_ = json.Unmarshal([]byte(p.body), &ui)
			if p.status != 200 || ui["sub"] != sub || ui["email"] != "b29@example.com" || p.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("userinfo %s: %d %v", m, p.status, ui)
			}
			if _, ok := ui["updated_at"].(float64); !ok {
				t.Fatalf("updated_at is not a number: %v", ui["updated_at"])
			}
		}
		at := body["access_token"].(string)
		tampered := at[:len(at)-4] + "AAAA"
		for _, bad := range []string{"garbage", "a.b.c", tampered, body["id_token"].(string), strings.Repeat("x", 10000)} {
			p := userinfo(t, e, bad, "GET")
			if p.status != 401 || !strings.Contains(p.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("bad token: %d %q", p.status, p.header.Get("WWW-Authenticate"))
			}
			wantOAuthError(t, p, 401, "invalid_token")
		}
		p := newBrowser(t, e.c).get(e.issuer + "/oauth2/userinfo")
		if p.status != 401 || !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("no token: %d %q", p.status, p.header.Get("WWW-Authenticate"))
		}
		advanceClock(7 * time.Hour)
		if p := userinfo(t, e, at, "GET"); p.status != 401 {
			t.Fatalf("expired access token accepted: %d", p.status)
		}
	}},
	{"request objects refused (OpenID Connect Core §3.1.2.6, §6)", func(t *testing.T, e *env) {
		params := e.authParams("other", nil, url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}})
		wantRedirectError(t, newBrowser(t, e.c).get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "request_not_supported")
		params = e.authParams("other", nil, url.Values{"request_uri": {"https://evil.test/req"}})
		wantRedirectError(t, newBrowser(t, e.c).get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "request_uri_not_supported")
	}},
	{"refresh token entropy, rotation, client binding, reuse (RFC 6749 §6; RFC 9700 §4.14)", func(t *testing.T, e *env) {
		br := e.signedIn("b35@example.com")
		pk := newPKCE()
		body := e.exchange("web", e.code(br, e.authParams("web", &pk, url.Values{"scope": {"openid offline_access"}, "prompt": {"consent"}})), &pk)
		rt := body["refresh_token"].(string)
		if len(rt) < 22 || strings.Trim(rt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("refresh token %q (RFC 6819 §5.1.4.2.2)", rt)
		}
		p, _ := e.token("other", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		wantOAuthError(t, p, 400, "invalid_grant") // bound to its client (RFC 6819 §5.2.2.2)
		p, next := e.token("web", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if p.status != 200 || p.header.Get("Cache-Control") != "no-store" || next["refresh_token"] == rt {
			t.Fatalf("refresh: %d %s (RFC 6749 §6)", p.status, p.body)
		}
		a, b := idClaims(t, body), idClaims(t, next)
		for _, k := range []string{"iss", "sub", "aud", "azp", "auth_time"} {
			if a[k] != b[k] {
				t.Errorf("refreshed ID token changed %s: %v -> %v", k, a[k], b[k])
			}
		}
		p, _ = e.token("web", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid"}})
		wantOAuthError(t, p, 400, "invalid_grant") // replay of the rotated token
		p, _ = e.token("web", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}})
		wantOAuthError(t, p, 400, "invalid_grant") // the family is revoked (RFC 9700 §4.14)
		if p := userinfo(t, e, next["access_token"].(string), "GET"); p.status != 401 {
			t.Fatal("access token of a revoked family still accepted")
		}
	}},
	{"PKCE required for public clients, S256 only (RFC 7636 §4.3; RFC 9700 §2.1.1)", func(t *testing.T, e *env) {
		br := e.signedIn("p1@example.com")
		params := e.authParams("spa", nil, nil)
		wantRedirectError(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "invalid_request")
		pk := newPKCE()
		for _, m := range []string{"plain", "", "S512"} {
			params = e.authParams("spa", &pk, url.Values{"code_challenge_method": {m}})
			if m == "" {
				params.Del("code_challenge_method")
			}
			wantRedirectError(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "invalid_request")
		}
		params = e.authParams("spa", &pk, url.Values{"code_challenge": {"short"}})
		wantRedirectError(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "invalid_request")
	}},
	{"verifier checks, downgrade and code injection (RFC 7636 §4.1, §4.6; RFC 9700 §4.5, §4.8)", func(t *testing.T, e *env) {
		br := e.signedIn("p3@example.com")
		pk := newPKCE()
		code := func(client string, pk *pkcePair) string {
			return e.code(br, e.authParams(client, pk, nil)).Query().Get("code")
		}
		tryCode := func(client, c, redirect, verifier string) *page {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}}
			if verifier != "" {
				form.Set("code_verifier", verifier)
			}
			p, _ := e.token(client, form)
			return p
		}
		wantOAuthError(t, tryCode("spa", code("spa", &pk), spaRedirect, ""), 400, "invalid_grant")                 // no verifier
		wantOAuthError(t, tryCode("spa", code("spa", &pk), spaRedirect, newPKCE().verifier), 400, "invalid_grant") // wrong verifier
		wantOAuthError(t, tryCode("spa", code("spa", &pk), spaRedirect, "too-short"), 400, "invalid_grant")        // malformed verifier
		wantOAuthError(t, tryCode("spa", code("spa", &pk), spaRedirect, strings.Repeat("a", 42)+"!"), 400, "invalid_grant")
		wantOAuthError(t, tryCode("other", code("other", nil), "https://other.test/callback", pk.verifier), 400, "invalid_grant") // downgrade
		c := code("web", &pk)
		wantOAuthError(t, tryCode("other", c, webRedirect, pk.verifier), 400, "invalid_grant") // injected into another client
		wantOAuthError(t, tryCode("web", c, spaRedirect, pk.verifier), 400, "invalid_grant")   // another redirect URI
		if p := tryCode("web", c, webRedirect, pk.verifier); p.status != 200 {                 // still usable by its owner
			t.Fatalf("legitimate redemption after failed attempts: %d %s", p.status, p.body)
		}
	}},
	{"pages: 303 after POST, no framing, no referrer, cookie attributes (RFC 9700 §4.2, §4.12, §4.16)", func(t *testing.T, e *env) {
		br := newBrowser(t, e.c)
		for _, path := range []string{"/oauth2/sign-in", "/oauth2/sign-up", "/oauth2/sign-out"} {
			p := br.get(e.issuer + path)
			csp := p.header.Get("Content-Security-Policy")
			if p.status != 200 || p.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") ||
				p.header.Get("Referrer-Policy") != "strict-origin" || p.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s headers: %d %v", path, p.status, p.header)
			}
		}
		params := e.authParams("other", nil, nil)
		p := br.follow(br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), "https://other.test")
		_, vals := p.form(t, "sign-in")
		p = br.get(e.issuer + "/oauth2/sign-up?request_id=" + url.QueryEscape(vals.Get("request_id")))
		action, vals := p.form(t, "sign-up")
		vals.Set("email", "s3@example.com")
		vals.Set("password", testPassword)
		p = br.post(action, vals)
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign-up POST answered %d, want 303 (RFC 9700 §4.12)", p.status)
		}
		cookie := ""
		for _, sc := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, "__Secure-better-auth.session_token=") {
				cookie = sc
			}
		}
		for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("session cookie %q lacks %s", cookie, attr)
			}
		}
	}},
	{"CSRF on sign-in, consent and sign-out (RFC 9700 §4.7)", func(t *testing.T, e *env) {
		e.signedIn("s12@example.com")
		br := newBrowser(t, e.c)
		p := br.get(e.issuer + "/oauth2/sign-in")
		action, vals := p.form(t, "sign-in")
		vals.Set("email", "s12@example.com")
		vals.Set("password", testPassword)
		noToken := url.Values{"email": vals["email"], "password": vals["password"]}
		if p := br.post(action, noToken); p.status != 403 {
			t.Fatalf("sign-in without CSRF token: %d", p.status)
		}
		if p := newBrowser(t, e.c).post(action, vals); p.status != 403 {
			t.Fatalf("sign-in with a token from another browser: %d", p.status)
		}
		req, _ := http.NewRequest("POST", action, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.test")
		if p := br.do(req); p.status != 403 {
			t.Fatalf("sign-in from a foreign Origin: %d", p.status)
		}
		// Consent: a token shown for request A does not approve request B.
		pA := br.follow(br.get(e.issuer+"/oauth2/authorize?"+e.authParams("web", &pkcePair{"", newPKCE().challenge}, nil).Encode()), webRedirect)
		_, signVals := pA.form(t, "sign-in")
		signVals.Set("email", "s12@example.com")
		signVals.Set("password", testPassword)
		pA = br.follow(br.post(e.issuer+"/oauth2/sign-in", signVals), webRedirect)
		_, consentA := pA.form(t, "consent")
		pB := br.follow(br.get(e.issuer+"/oauth2/authorize?"+e.authParams("web", &pkcePair{"", newPKCE().challenge}, nil).Encode()), webRedirect)
		_, consentB := pB.form(t, "consent")
		forged := url.Values{"csrf_token": consentA["csrf_token"], "request_id": consentB["request_id"], "decision": {"allow"}}
		if p := br.post(e.issuer+"/oauth2/consent", forged); p.status != 403 {
			t.Fatalf("consent with another request's token: %d", p.status)
		}
		consentB.Set("decision", "deny")
		p = br.post(e.issuer+"/oauth2/consent", consentB)
		if u, _ := url.Parse(p.location); p.status != http.StatusSeeOther || u.Query().Get("error") != "access_denied" {
			t.Fatalf("deny: %d %q", p.status, p.location)
		}
		if p := br.post(e.issuer+"/oauth2/sign-out", url.Values{}); p.status != 403 {
			t.Fatalf("sign-out without CSRF token: %d", p.status)
		}
	}},
	{"sign-out revokes the session server-side", func(t *testing.T, e *env) {
		br := e.signedIn("out@example.com")
		p := br.get(e.issuer + "/oauth2/sign-out")
		action, vals := p.form(t, "sign-out")
		// Keep the cookie to replay it after sign-out.
		u, _ := url.Parse(e.issuer)
		cookies := br.client.Jar.Cookies(u)
		if p = br.post(action, vals); p.status != 200 {
			t.Fatalf("sign-out: %d", p.status)
		}
		replay := newBrowser(t, e.c)
		replay.client.Jar.SetCookies(u, cookies)
		params := e.authParams("other", nil, url.Values{"prompt": {"none"}})
		wantRedirectError(t, replay.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "login_required")
	}},
	{"end-session validates post_logout_redirect_uri (OpenID Connect RP-Initiated Logout §3)", func(t *testing.T, e *env) {
		br := e.signedIn("logout@example.com")
		for _, q := range []url.Values{
			{"client_id": {"web"}, "post_logout_redirect_uri": {"https://evil.test/"}},
			{"post_logout_redirect_uri": {logoutLanding}},
			{"client_id": {"nobody"}, "post_logout_redirect_uri": {logoutLanding}},
			{"id_token_hint": {"garbage"}, "post_logout_redirect_uri": {logoutLanding}},
		} {
			p := br.get(e.issuer + "/oauth2/end-session?" + q.Encode())
			if p.status != 400 || p.location != "" {
				t.Fatalf("%v: %d %q", q, p.status, p.location)
			}
		}
		// Without a hint the user confirms (a third party cannot sign them out).
		p := br.get(e.issuer + "/oauth2/end-session?" + url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {logoutLanding}}.Encode())
		action, vals := p.form(t, "logout")
		p = br.post(action, vals)
		if p.status != http.StatusSeeOther || p.location != logoutLanding {
			t.Fatalf("confirmed logout: %d %q", p.status, p.location)
		}
	}},
	{"client auth, revocation and introspection (RFC 6749 §5.2; RFC 7009; RFC 7662)", func(t *testing.T, e *env) {
		p := postForm(t, e.c.Client, e.issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "web", "wrong")
		wantOAuthError(t, p, 401, "invalid_client")
		if !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("no Basic challenge: %v", p.header)
		}
		p = postForm(t, e.c.Client, e.issuer+"/oauth2/revoke", url.Values{"token": {"unknown-token"}}, "web", webSecret)
		if p.status != 200 {
			t.Fatalf("revoke unknown: %d", p.status)
		}
		p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {"whatever"}}, "", "")
		wantOAuthError(t, p, 401, "invalid_client")
		p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {"x"}, "client_id": {"spa"}}, "", "")
		wantOAuthError(t, p, 401, "invalid_client")
		p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {"garbage"}}, "web", webSecret)
		if p.status != 200 || strings.TrimSpace(p.body) != `{"active":false}` {
			t.Fatalf("introspect inactive: %d %s", p.status, p.body)
		}
		br := e.signedIn("x4@example.com")
		body := e.exchange("other", e.code(br, e.authParams("other", nil, url.Values{"scope": {"openid offline_access"}})), nil)
		// Another client learns nothing of the token (RFC 7662 §4); its own
		// client and a resource server (introspect) do.
		for _, tok := range []string{body["access_token"].(string), body["refresh_token"].(string)} {
			p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {tok}}, "web", webSecret)
			if p.status != 200 || strings.TrimSpace(p.body) != `{"active":false}` {
				t.Fatalf("introspect another client's token: %d %s", p.status, p.body)
			}
		}
		for _, caller := range [][2]string{{"other", "other-secret-0123456789"}, {"api", "api-secret-0123456789"}} {
			p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {body["access_token"].(string)}}, caller[0], caller[1])
			var in map[string]any
			_ = json.Unmarshal([]byte(p.body), &in)
			if in["active"] != true || in["client_id"] != "other" || in["aud"] == nil || in["sub"] == nil {
				t.Fatalf("introspect active (as %s): %s", caller[0], p.body)
			}
			p = postForm(t, e.c.Client, e.issuer+"/oauth2/introspect", url.Values{"token": {body["refresh_token"].(string)}}, caller[0], caller[1])
			if !strings.Contains(p.body, `"active":true`) {
				t.Fatalf("introspect refresh token (as %s): %s", caller[0], p.body)
			}
		}
		// Revoking an access token revokes that token (RFC 7009 §2.1).
		p = postForm(t, e.c.Client, e.issuer+"/oauth2/revoke", url.Values{"token": {body["access_token"].(string)}, "token_type_hint": {"access_token"}},
			"other", "other-secret-0123456789")
		if p.status != 200 || userinfo(t, e, body["access_token"].(string), "GET").status != 401 {
			t.Fatal("revoked access token still accepted")
		}
	}},
	{"password policy and sign-in failures", func(t *testing.T, e *env) {
		br := newBrowser(t, e.c)
		p := br.get(e.issuer + "/oauth2/sign-up")
		action, vals := p.form(t, "sign-up")
		vals.Set("email", "weak@example.com")
		vals.Set("password", "short")
		p = br.post(action, vals)
		for _, code := range []string{"PASSWORD_TOO_SHORT", "PASSWORD_NO_UPPERCASE", "PASSWORD_NO_DIGIT", "PASSWORD_NO_SPECIAL"} {
			if !strings.Contains(p.body, `data-code="`+code+`"`) {
				t.Errorf("sign-up with a weak password: %d, no %s in\n%s", p.status, code, p.body)
			}
		}
		if p.status != 400 {
			t.Fatalf("weak password: %d", p.status)
		}
		e.signedIn("taken@example.com")
		p = br.get(e.issuer + "/oauth2/sign-up")
		action, vals = p.form(t, "sign-up")
		vals.Set("email", "Taken@Example.com")
		vals.Set("password", testPassword)
		if p = br.post(action, vals); p.status != http.StatusConflict {
			t.Fatalf("duplicate e-mail: %d", p.status)
		}
		p = br.get(e.issuer + "/oauth2/sign-in")
		action, vals = p.form(t, "sign-in")
		vals.Set("email", "taken@example.com")
		vals.Set("password", "Wrong-Password-1")
		if p = br.post(action, vals); p.status != 401 || !strings.Contains(p.body, "Invalid e-mail or password") {
			t.Fatalf("wrong password: %d", p.status)
		}
		vals.Set("email", "nobody@example.com")
		if p = br.post(action, vals); p.status != 401 || !strings.Contains(p.body, "Invalid e-mail or password") {
			t.Fatalf("unknown e-mail: %d", p.status)
		}
		var n int
		_ = openDB(t, e.database).QueryRow(t.Context(), "SELECT COUNT(*) FROM auth_events WHERE event = 'sign_in' AND outcome = 'failure'").Scan(&n)
		if n < 2 {
			t.Fatalf("sign-in failures recorded: %d", n)
		}
	}},
}

func userinfo(t *testing.T, e *env, token, method string) *page {
	t.Helper()
	req, _ := http.NewRequest(method, e.issuer+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return (&browser{t: t, client: e.c.Client}).do(req)
}
