package oidc

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/internal/testutil"
)

// metricsSite is the provider, better_auth_api and a fake Google on SQLite
// (metrics do not depend on the database), with the provider's log lines
// written as JSON to logPath.
func metricsSite(t *testing.T, logPath string, google *fakeupstream.Server) string {
	return `{
	log auth {
		output file ` + logPath + `
		format json
		include http.handlers.oidc_provider
	}
	intellistack {
		database ` + testutil.SQLitePath(t) + `
		secret ` + testSecret + `
	}
}

https://localhost {
	better_auth_api {
		trusted_origins https://app.test
		secret ` + baSecret + `
	}
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client spa {
			redirect_uri ` + spaRedirect + `
			public
			skip_consent
			offline_access
		}
		upstream google {
			issuer ` + google.URL + `
			client_id g-client
			client_secret g-secret
			trusted_ca ` + google.CAFile(t.TempDir()) + `
		}
	}
}
`
}

// A scripted session through Caddy, then the admin endpoint's /metrics:
// each provider metric moved by exactly what the session did (deltas: the
// collectors are process-wide and other tests of this binary count into
// them). Then the "auth event" log lines: one per audit event, the user
// hashed, no e-mail, password, token or code anywhere.
func TestMetricsAndAuthLog(t *testing.T) {
	clockOffset.Store(0)
	google := fakeupstream.NewOpenID("g-client", "g-secret")
	defer google.Close()
	logPath := filepath.Join(t.TempDir(), "auth.log")
	c := testutil.StartCaddy(t, metricsSite(t, logPath, google))
	issuer := c.URL("")
	before := c.Metrics(t)
	for _, s := range []string{`intellistack_oidc_sign_ins_total{method="upstream"}`, `intellistack_oidc_sign_in_failures_total{reason="banned"}`,
		`intellistack_oidc_tokens_issued_total{grant_type="better_auth_jwt"}`, `intellistack_oidc_lockouts_total`, `intellistack_oidc_refresh_reuse_detected_total`} {
		if !before.Has(s) {
			t.Fatalf("%s is not shown before any sign-in", s)
		}
	}
	secrets := []string{testPassword, "Wrong-Horse-42"} // never in the log, nor any token or code below

	// Sign-up on the hosted pages (a sign-up, not a sign-in), then
	// code + PKCE, a refresh, and the first refresh token presented again.
	b := newBrowser(t, c)
	pk := newPKCE()
	authURL := strings.Replace(spaAuthURL(issuer, pk, "s1"), "scope=openid+email+profile", "scope=openid+email+offline_access", 1)
	cb := b.login(authURL, "alice@example.com", spaRedirect, true)
	code := cb.Query().Get("code")
	tokens := mustTokens(t, postForm(t, c.Client, issuer+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {spaRedirect}, "client_id": {"spa"}, "code_verifier": {pk.verifier}}, "", ""))
	if tokens["access_token"] == "" || tokens["refresh_token"] == "" {
		t.Fatalf("code exchange: %v", tokens)
	}
	aliceID, _ := decodeJWT(t, tokens["access_token"]).payload["sub"].(string)
	refresh := func(rt string) *page {
		return postForm(t, c.Client, issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {"spa"}}, "", "")
	}
	rotated := mustTokens(t, refresh(tokens["refresh_token"]))
	if rotated["refresh_token"] == "" {
		t.Fatalf("refresh: %v", rotated)
	}
	wantOAuthError(t, refresh(tokens["refresh_token"]), http.StatusBadRequest, "invalid_grant")
	secrets = append(secrets, code, pk.verifier, tokens["access_token"], tokens["refresh_token"], rotated["access_token"], rotated["refresh_token"])

	// Sign-in on the hosted pages in a new browser: a wrong password, then
	// the right one.
	b2 := newBrowser(t, c)
	p := b2.follow(b2.get(spaAuthURL(issuer, newPKCE(), "s2")), spaRedirect)
	action, vals := p.form(t, "sign-in")
	vals.Set("email", "alice@example.com")
	vals.Set("password", "Wrong-Horse-42")
	if p = b2.post(action, vals); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.status)
	}
	action, vals = p.form(t, "sign-in")
	vals.Set("email", "alice@example.com")
	vals.Set("password", testPassword)
	if p = b2.follow(b2.post(action, vals), spaRedirect); !strings.HasPrefix(p.location, spaRedirect) {
		t.Fatalf("sign-in: %d %s", p.status, p.location)
	}

	// better_auth_api: sign-in and its JWT; bob signs up, then five wrong
	// passwords lock his account and the sixth attempt is refused.
	a := newBAClient(t, c)
	in := a.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": testPassword}).want(t, 200, "")
	jwt := a.call("GET", "/token", nil).want(t, 200, "")
	secrets = append(secrets, in.body["token"].(string), jwt.body["token"].(string))
	bob := newBAClient(t, c)
	bob.call("POST", "/sign-up/email", map[string]any{"name": "Bob", "email": "bob@example.com", "password": testPassword}).want(t, 200, "")
	for range 5 {
		bob.call("POST", "/sign-in/email", map[string]any{"email": "bob@example.com", "password": "Wrong-Horse-42"}).want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
	}
	bob.call("POST", "/sign-in/email", map[string]any{"email": "bob@example.com", "password": testPassword}).want(t, 429, "")

	// Google: a first sign-in creates the account; its callback replayed
	// is refused.
	google.Set(fakeupstream.Identity{Subject: "g-carol", Email: "carol@example.com", EmailVerified: true, Name: "Carol"})
	b3 := newBrowser(t, c)
	p, replay := socialCallback(t, b3, issuer, "google", google, "s3")
	signedInAtRP(t, b3, p, "s3")
	if p = b3.get(replay); p.status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", p.status)
	}

	got := c.Metrics(t).Delta(before)
	want := map[string]float64{
		`intellistack_oidc_sign_ins_total{method="password"}`:                    1,
		`intellistack_oidc_sign_ins_total{method="better_auth"}`:                 1,
		`intellistack_oidc_sign_ins_total{method="upstream"}`:                    1,
		`intellistack_oidc_sign_in_failures_total{reason="bad_credentials"}`:     6,
		`intellistack_oidc_sign_in_failures_total{reason="locked"}`:              1,
		`intellistack_oidc_sign_in_failures_total{reason="invalid_request"}`:     1,
		`intellistack_oidc_sign_in_failures_total{reason="rate_limited"}`:        0,
		`intellistack_oidc_sign_in_failures_total{reason="other"}`:               0,
		`intellistack_oidc_lockouts_total`:                                       1,
		`intellistack_oidc_tokens_issued_total{grant_type="authorization_code"}`: 1,
		`intellistack_oidc_tokens_issued_total{grant_type="refresh_token"}`:      1,
		`intellistack_oidc_tokens_issued_total{grant_type="better_auth_jwt"}`:    1,
		`intellistack_oidc_refresh_reuse_detected_total`:                         1,
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s grew by %v, want %v", s, got[s], n)
		}
	}

	// The log: read once Caddy has written it (each line is written as
	// the request is answered).
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(secrets, "@example.com", "Alice", "Carol") {
		if s != "" && strings.Contains(string(raw), s) {
			t.Errorf("the provider's log holds %q", s)
		}
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["msg"] != "auth event" {
			continue
		}
		if line["level"] != "info" || line["remote_ip"] != "127.0.0.1" {
			t.Errorf("auth event line %v", line)
		}
		key := line["event"].(string) + "/" + line["outcome"].(string)
		if m, ok := line["method"].(string); ok {
			key += "/" + m
		}
		if r, ok := line["reason"].(string); ok {
			key += "/" + r
		}
		seen[key]++
		if key == "sign_in/success/password" && (line["user"] != metrics.UserHash(aliceID) || line["client_id"] != "spa") {
			t.Errorf("alice's sign-in line: %v (want user %s)", line, metrics.UserHash(aliceID))
		}
	}
	t.Logf("auth event lines: %v", seen)
	for k, n := range map[string]int{
		"sign_up/success": 2, "sign_in/success/password": 1, "sign_in/success/better_auth": 1, "upstream_sign_up/success/upstream": 1,
		"sign_in/failure/bad_credentials": 6, "sign_in/failure/locked": 1, "upstream_sign_in/failure/invalid_request": 1,
		"token_issued/success": 1, "token_refreshed/success": 1, "refresh_token_reuse/failure": 1,
	} {
		if seen[k] != n {
			t.Errorf("%d %q lines, want %d (all: %v)", seen[k], k, n, seen)
		}
	}
}
