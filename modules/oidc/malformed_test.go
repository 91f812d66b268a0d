package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func init() {
	conformanceCases = append(conformanceCases, conformanceCase{"malformed input gets RFC errors, never 5xx", testMalformed})
}

// testMalformed sends bad JSON, wrong content types, huge bodies, missing
// parameters, unknown clients and garbage tokens to every endpoint.
func testMalformed(t *testing.T, e *env) {
	raw := func(method, path, contentType, body string, basic bool) *page {
		t.Helper()
		req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if basic {
			req.SetBasicAuth("web", webSecret)
		}
		p := (&browser{t: t, client: e.c.Client}).do(req)
		if p.status >= 500 {
			t.Fatalf("%s %s (%s) answered %d: %s", method, path, contentType, p.status, p.body)
		}
		return p
	}
	form := "application/x-www-form-urlencoded"
	huge := "grant_type=authorization_code&code=" + strings.Repeat("a", 100<<10)
	for _, tc := range []struct {
		method, path, ct, body string
		basic                  bool
		status                 int
		code                   string
	}{
		{"GET", "/oauth2/token", "", "", true, 405, "invalid_request"},
		{"POST", "/oauth2/token", "application/json", `{"grant_type":"authorization_code",`, true, 400, "invalid_request"},
		{"POST", "/oauth2/token", "application/json", `{"grant_type":"authorization_code"}`, true, 400, "invalid_request"},
		{"POST", "/oauth2/token", "text/plain", "grant_type=refresh_token", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", "", "grant_type=refresh_token", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, huge, true, 413, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=%zz", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=password&username=a&password=b", true, 400, "unsupported_grant_type"},
		{"POST", "/oauth2/token", form, "grant_type=client_credentials", true, 400, "unsupported_grant_type"},
		{"POST", "/oauth2/token", form, "grant_type=authorization_code", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=authorization_code&code=garbage", true, 400, "invalid_grant"},
		{"POST", "/oauth2/token", form, "grant_type=authorization_code&code=" + strings.Repeat("x", 5000), true, 400, "invalid_grant"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=garbage", true, 400, "invalid_grant"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x", true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=x&client_id=nobody&client_secret=x", false, 401, "invalid_client"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=x", false, 401, "invalid_client"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=x&client_id=web", false, 401, "invalid_client"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=x&client_secret=" + webSecret, true, 400, "invalid_request"},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=x&client_id=spa&client_secret=x", false, 401, "invalid_client"},
		{"POST", "/oauth2/revoke", form, "", true, 400, "invalid_request"},
		{"POST", "/oauth2/revoke", "application/json", `{"token":"x"}`, true, 400, "invalid_request"},
		{"POST", "/oauth2/revoke", form, "token=x", false, 401, "invalid_client"},
		{"GET", "/oauth2/revoke", "", "", true, 405, "invalid_request"},
		{"POST", "/oauth2/introspect", form, "", true, 400, "invalid_request"},
		{"POST", "/oauth2/introspect", form, huge, true, 413, "invalid_request"},
		{"POST", "/oauth2/userinfo", "application/json", `{"access_token":`, false, 401, "invalid_request"},
		{"PUT", "/oauth2/userinfo", "", "", false, 405, "invalid_request"},
		{"POST", "/.well-known/openid-configuration", "", "", false, 405, "invalid_request"},
		{"DELETE", "/jwks", "", "", false, 405, "invalid_request"},
	} {
		p := raw(tc.method, tc.path, tc.ct, tc.body, tc.basic)
		func() {
			defer func() {
				if t.Failed() {
					t.Logf("case: %s %s %s %.80s", tc.method, tc.path, tc.ct, tc.body)
				}
			}()
			wantOAuthError(t, p, tc.status, tc.code)
		}()
	}
	// Malformed Basic credentials.
	req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=refresh_token&refresh_token=x"))
	req.Header.Set("Content-Type", form)
	req.Header.Set("Authorization", "Basic !!!not-base64")
	wantOAuthError(t, (&browser{t: t, client: e.c.Client}).do(req), 401, "invalid_client")
	req, _ = http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=refresh_token&refresh_token=x"))
	req.Header.Set("Content-Type", form)
	req.SetBasicAuth("web%zz", "x")
	wantOAuthError(t, (&browser{t: t, client: e.c.Client}).do(req), 401, "invalid_client")

	// Authorization requests: page errors before the redirect URI is
	// trusted, redirect errors after.
	br := newBrowser(t, e.c)
	for _, q := range []string{"%zz", "client_id=web&client_id=web", "client_id=" + strings.Repeat("x", 3000)} {
		p := br.get(e.issuer + "/oauth2/authorize?" + q)
		if p.status != 400 || p.location != "" {
			t.Fatalf("authorize ?%.40s: %d %q", q, p.status, p.location)
		}
	}
	p := raw("POST", "/oauth2/authorize", "application/json", `{"client_id":"web"}`, false)
	if p.status != 400 || p.location != "" {
		t.Fatalf("JSON authorize: %d", p.status)
	}
	for extra, code := range map[string]string{"max_age": "invalid_request", "prompt": "invalid_request",
		"scope": "invalid_scope", "response_mode": "invalid_request", "code_challenge_method": "invalid_request"} {
		params := e.authParams("other", nil, nil)
		params.Set(extra, map[string]string{"max_age": "-1", "prompt": "none login", "scope": "openid admin",
			"response_mode": "fragment", "code_challenge_method": "S256"}[extra])
		wantRedirectError(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, code)
	}
	params := e.authParams("other", nil, url.Values{"scope": {""}})
	wantRedirectError(t, br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), params, "invalid_scope")
	for _, path := range []string{"/oauth2/continue?request_id=nope", "/oauth2/consent?request_id=nope", "/oauth2/continue"} {
		if p := br.get(e.issuer + path); p.status != 400 || p.location != "" {
			t.Fatalf("%s: %d %q", path, p.status, p.location)
		}
	}
	if p := raw("POST", "/oauth2/sign-in", "text/plain", "email=a", false); p.status != 400 {
		t.Fatalf("sign-in with text/plain: %d", p.status)
	}
	if p := raw("POST", "/oauth2/sign-up", form, strings.Repeat("a=b&", 30000), false); p.status != 413 {
		t.Fatalf("huge sign-up: %d", p.status)
	}
}
