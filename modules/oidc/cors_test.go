package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func init() {
	conformanceCases = append(conformanceCases, conformanceCase{"browser clients: CORS and public Basic with an empty secret", testBrowserClients})
}

// testBrowserClients: a single-page app (public client) can redeem its code
// from script: token, userinfo and revocation answer CORS preflights and
// carry Access-Control-Allow-Origin; the hosted pages do not.
func testBrowserClients(t *testing.T, e *env) {
	b := &browser{t: t, client: e.c.Client}
	for _, path := range []string{"/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/jwks"} {
		req, _ := http.NewRequest(http.MethodOptions, e.issuer+path, nil)
		req.Header.Set("Origin", "https://app.test")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		p := b.do(req)
		if p.status != http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(p.header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("preflight %s: %d %v", path, p.status, p.header)
		}
	}
	if p := b.get(e.issuer + "/oauth2/sign-in"); p.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("hosted page allows cross-origin reads")
	}
	br := e.signedIn("spa@example.com")
	pk := newPKCE()
	cb := e.code(br, e.authParams("spa", &pk, nil))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {spaRedirect},
		"code_verifier": {pk.verifier}}
	p := postForm(t, e.c.Client, e.issuer+"/oauth2/token", form, "spa", "")
	if p.status != 200 || p.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("public client with Basic and no secret: %d %s", p.status, p.body)
	}
	p = postForm(t, e.c.Client, e.issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "spa", "guess")
	wantOAuthError(t, p, 401, "invalid_client")
}
