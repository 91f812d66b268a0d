package oidc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// revocationSite is a provider with a bearer_jwt route on the same issuer
// (in-process keys and revocations).
func revocationSite(database, issuer string) string {
	return fmt.Sprintf(`{
	intellistack {
		database %s
		secret %s
	}
}

https://localhost {
	oidc_provider {
		issuer %s
		client other {
			redirect_uri https://other.test/callback
			secret other-secret-0123456789
			skip_consent
			offline_access
		}
	}
	handle /api {
		bearer_jwt {
			issuer %s
		}
		respond "api {http.auth.user.id}"
	}
}
`, database, testSecret, issuer, issuer)
}

type apiReply struct {
	status int
	reason string
	body   string
}

func callAPI(t *testing.T, client *http.Client, u, token string) apiReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	p := (&browser{t: t, client: client}).do(req)
	var refusal struct {
		Error struct{ Reason string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(p.body), &refusal)
	return apiReply{p.status, refusal.Error.Reason, p.body}
}

// codeFor signs up (or in) on the hosted pages and returns a code for the
// client "other".
func codeFor(t *testing.T, br *browser, base, email string, signUp bool) string {
	t.Helper()
	q := url.Values{"client_id": {"other"}, "redirect_uri": {"https://other.test/callback"}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"s"}}
	cb := br.login(base+"/oauth2/authorize?"+q.Encode(), email, "https://other.test/callback", signUp)
	code := cb.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", cb)
	}
	return code
}

func redeem(t *testing.T, client *http.Client, base, code string) *page {
	t.Helper()
	return postForm(t, client, base+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {"https://other.test/callback"}}, "other", "other-secret-0123456789")
}

func wantRevoked(t *testing.T, r apiReply, what string) {
	t.Helper()
	if r.status != http.StatusUnauthorized || r.reason != "revoked" {
		t.Fatalf("%s: want 401 revoked, got %d %s", what, r.status, r.body)
	}
}

// A revoked access token is refused at once by bearer_jwt on the node that
// revoked it, although bearer_jwt had cached its verdict: after
// /oauth2/revoke of the access token, of the refresh token (its family),
// and after a replayed code (RFC 6749 §4.1.2).
func TestRevokedTokensRefusedByBearerJWT(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, revocationSite(database, "https://localhost:__HTTPS_PORT__"))
		base := c.URL("")
		api := c.URL("/api")
		br := &browser{t: t, client: c.NewClient()}
		revoke := func(token string) {
			t.Helper()
			p := postForm(t, c.Client, base+"/oauth2/revoke", url.Values{"token": {token}}, "other", "other-secret-0123456789")
			if p.status != 200 {
				t.Fatalf("revoke: %d %s", p.status, p.body)
			}
		}

		// 1. The access token itself.
		tok := mustTokens(t, redeem(t, c.Client, base, codeFor(t, br, base, "revoke@example.com", true)))
		if r := callAPI(t, c.Client, api, tok["access_token"]); r.status != 200 {
			t.Fatalf("fresh token: %d %s", r.status, r.body)
		}
		revoke(tok["access_token"])
		wantRevoked(t, callAPI(t, c.Client, api, tok["access_token"]), "revoked access token")

		// 2. The refresh token: its family's access tokens go too.
		p := postForm(t, c.Client, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"]}},
			"other", "other-secret-0123456789")
		if p.status != 200 {
			t.Fatalf("refresh: %d %s", p.status, p.body)
		}
		next := mustTokens(t, p)
		if r := callAPI(t, c.Client, api, next["access_token"]); r.status != 200 {
			t.Fatalf("refreshed token: %d %s", r.status, r.body)
		}
		revoke(next["refresh_token"])
		wantRevoked(t, callAPI(t, c.Client, api, next["access_token"]), "access token of a revoked family")

		// 3. A replayed code revokes what its first redemption issued.
		code := codeFor(t, br, base, "revoke@example.com", false)
		first := mustTokens(t, redeem(t, c.Client, base, code))
		if r := callAPI(t, c.Client, api, first["access_token"]); r.status != 200 {
			t.Fatalf("token of the code: %d %s", r.status, r.body)
		}
		wantOAuthError(t, redeem(t, c.Client, base, code), 400, "invalid_grant")
		wantRevoked(t, callAPI(t, c.Client, api, first["access_token"]), "access token of a replayed code")
	})
}

// On a second node (another Caddy process on the same PostgreSQL), a token
// revoked on the first is refused within 5 s, although the second node had
// accepted (and cached) it.
func TestRevocationReachesOtherNodes(t *testing.T) {
	pg := testutil.PostgresURL(t)
	cf := revocationSite(pg, "https://op.test")
	nodes := testutil.StartCaddyProcesses(t, cf, cf)
	n1, n2 := nodes[0], nodes[1]
	// Sign up on node 1 (its pages redirect to the issuer's host, so the
	// sign-up page is posted directly), then authorize silently.
	br := &browser{t: t, client: n1.NewClient()}
	p := br.get(n1.URL("/oauth2/sign-up"))
	_, vals := p.form(t, "sign-up")
	vals.Set("email", "nodes@example.com")
	vals.Set("password", testPassword)
	if p = br.post(n1.URL("/oauth2/sign-up"), vals); p.status != 200 {
		t.Fatalf("sign-up on node 1: %d", p.status)
	}
	q := url.Values{"client_id": {"other"}, "redirect_uri": {"https://other.test/callback"}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "prompt": {"none"}, "state": {"s"}}
	p = br.get(n1.URL("/oauth2/authorize?" + q.Encode()))
	cb, _ := url.Parse(p.location)
	if cb == nil || cb.Query().Get("code") == "" {
		t.Fatalf("no code: %d %q", p.status, p.location)
	}
	tok := mustTokens(t, redeem(t, n1.Client, n1.URL(""), cb.Query().Get("code")))
	if r := callAPI(t, n2.Client, n2.URL("/api"), tok["access_token"]); r.status != 200 {
		t.Fatalf("node 2 before revocation: %d %s", r.status, r.body)
	}
	p = postForm(t, n1.Client, n1.URL("/oauth2/revoke"), url.Values{"token": {tok["access_token"]}}, "other", "other-secret-0123456789")
	if p.status != 200 {
		t.Fatalf("revoke on node 1: %d %s", p.status, p.body)
	}
	wantRevoked(t, callAPI(t, n1.Client, n1.URL("/api"), tok["access_token"]), "node 1")
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for {
		r := callAPI(t, n2.Client, n2.URL("/api"), tok["access_token"])
		if r.status == http.StatusUnauthorized {
			wantRevoked(t, r, "node 2")
			t.Logf("node 2 refused the token %s after the revocation", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 still accepts the revoked token after 5 s: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Refresh tokens need the offline_access scope and a client allowed it
// (OpenID Connect Core §11); signing out and end-session revoke the
// session's refresh families and its access tokens at bearer_jwt.
func TestRefreshTokensOfflineOnlyAndEndWithTheSession(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		site := strings.Replace(revocationSite(database, "https://localhost:__HTTPS_PORT__"), "		client other {", `		client online {
			redirect_uri https://online.test/callback
			secret online-secret-0123456789
			skip_consent
		}
		client other {`, 1)
		c := testutil.StartCaddy(t, site)
		base := c.URL("")
		api := c.URL("/api")
		br := &browser{t: t, client: c.NewClient()}

		// scope=openid alone: no refresh token.
		q := url.Values{"client_id": {"other"}, "redirect_uri": {"https://other.test/callback"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s"}}
		cb := br.login(base+"/oauth2/authorize?"+q.Encode(), "offline@example.com", "https://other.test/callback", true)
		if tok := mustTokens(t, redeem(t, c.Client, base, cb.Query().Get("code"))); tok["refresh_token"] != "" || tok["access_token"] == "" {
			t.Fatalf("scope openid: %v", tok)
		}
		// offline_access for a client without the option: no refresh token.
		q = url.Values{"client_id": {"online"}, "redirect_uri": {"https://online.test/callback"}, "response_type": {"code"},
			"scope": {"openid offline_access"}, "state": {"s"}}
		cb = br.login(base+"/oauth2/authorize?"+q.Encode(), "offline@example.com", "https://online.test/callback", false)
		p := postForm(t, c.Client, base+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
			"redirect_uri": {"https://online.test/callback"}}, "online", "online-secret-0123456789")
		if tok := mustTokens(t, p); tok["refresh_token"] != "" || tok["access_token"] == "" {
			t.Fatalf("client without offline_access: %d %v", p.status, tok)
		}

		// Sign-out revokes the session's refresh family and access token.
		tok := mustTokens(t, redeem(t, c.Client, base, codeFor(t, br, base, "offline@example.com", false)))
		if tok["refresh_token"] == "" {
			t.Fatalf("offline_access: no refresh token: %v", tok)
		}
		if r := callAPI(t, c.Client, api, tok["access_token"]); r.status != 200 {
			t.Fatalf("before sign-out: %d %s", r.status, r.body)
		}
		action, vals := br.get(base+"/oauth2/sign-out").form(t, "sign-out")
		if p := br.post(action, vals); p.status != 200 {
			t.Fatalf("sign-out: %d %s", p.status, p.body)
		}
		wantRevoked(t, callAPI(t, c.Client, api, tok["access_token"]), "access token after sign-out")
		p = postForm(t, c.Client, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"]}},
			"other", "other-secret-0123456789")
		wantOAuthError(t, p, 400, "invalid_grant")

		// End-session (RP-initiated logout, confirmed) does the same.
		tok = mustTokens(t, redeem(t, c.Client, base, codeFor(t, br, base, "offline@example.com", false)))
		action, vals = br.get(base+"/oauth2/end-session").form(t, "logout")
		vals.Set("confirm", "yes")
		if p := br.post(action, vals); p.status != 200 {
			t.Fatalf("end-session: %d %s", p.status, p.body)
		}
		wantRevoked(t, callAPI(t, c.Client, api, tok["access_token"]), "access token after end-session")
		p = postForm(t, c.Client, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"]}},
			"other", "other-secret-0123456789")
		wantOAuthError(t, p, 400, "invalid_grant")
	})
}

// Changing the password revokes every token of the user, at bearer_jwt too
// (and on every node: the same revocation list).
func TestPasswordChangeRevokesAccessTokens(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, revocationSite(database, "https://localhost:__HTTPS_PORT__"))
		base := c.URL("")
		br := &browser{t: t, client: c.NewClient()}
		tok := mustTokens(t, redeem(t, c.Client, base, codeFor(t, br, base, "change@example.com", true)))
		if r := callAPI(t, c.Client, c.URL("/api"), tok["access_token"]); r.status != 200 {
			t.Fatalf("before: %d %s", r.status, r.body)
		}
		action, vals := br.get(base+"/oauth2/change-password").form(t, "change-password")
		vals.Set("current_password", testPassword)
		vals.Set("new_password", "Another-Horse-4242")
		if p := br.post(action, vals); p.status != 200 {
			t.Fatalf("change password: %d %s", p.status, p.body)
		}
		wantRevoked(t, callAPI(t, c.Client, c.URL("/api"), tok["access_token"]), "access token after a password change")
	})
}
