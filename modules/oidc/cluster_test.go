package oidc

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// TestTwoNodes runs two Caddy processes on one PostgreSQL database, as two
// nodes behind a load balancer (issuer https://op.test for both): they
// publish the same keys, a session started on one node is known to the
// other, a code issued by one is redeemed on the other, and tokens issued by
// one are accepted and refreshed by the other.
func TestTwoNodes(t *testing.T) {
	pg := testutil.PostgresURL(t)
	cf := fmt.Sprintf(`{
	intellistack {
		database %s
		secret %s
	}
}

https://localhost {
	oidc_provider {
		issuer https://op.test
		client other {
			redirect_uri https://other.test/callback
			secret other-secret-0123456789
			skip_consent
			offline_access
		}
	}
}
`, pg, testSecret)
	nodes := testutil.StartCaddyProcesses(t, cf, cf)
	n1, n2 := nodes[0], nodes[1]

	j1 := (&browser{t: t, client: n1.Client}).get(n1.URL("/jwks"))
	j2 := (&browser{t: t, client: n2.Client}).get(n2.URL("/jwks"))
	if j1.status != 200 || j1.body != j2.body {
		t.Fatalf("nodes publish different keys:\n%s\n%s", j1.body, j2.body)
	}

	// Sign up on node 1 (one cookie jar for both nodes: same host name).
	br := &browser{t: t, client: n1.NewClient()}
	p := br.get(n1.URL("/oauth2/sign-up"))
	_, vals := p.form(t, "sign-up")
	vals.Set("email", "cluster@example.com")
	vals.Set("password", testPassword)
	if p = br.post(n1.URL("/oauth2/sign-up"), vals); p.status != 200 {
		t.Fatalf("sign-up on node 1: %d", p.status)
	}
	// Authorize silently on node 2 with node 1's session cookie (cookies
	// are per host, not per port: the same jar serves both nodes).
	br2 := &browser{t: t, client: n2.NewClient()}
	br2.client.Jar = br.client.Jar
	q := url.Values{"client_id": {"other"}, "redirect_uri": {"https://other.test/callback"}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "prompt": {"none"}, "state": {"s"}}
	p = br2.get(n2.URL("/oauth2/authorize?" + q.Encode()))
	cb, _ := url.Parse(p.location)
	if !strings.HasPrefix(p.location, "https://other.test/callback?") || cb.Query().Get("code") == "" {
		t.Fatalf("node 2 did not know node 1's session: %d %q", p.status, p.location)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {"https://other.test/callback"}}
	p = postForm(t, n1.Client, n1.URL("/oauth2/token"), form, "other", "other-secret-0123456789")
	if p.status != 200 {
		t.Fatalf("node 1 redeeming node 2's code: %d %s", p.status, p.body)
	}
	tok := mustTokens(t, p)
	req, _ := http.NewRequest("GET", n2.URL("/oauth2/userinfo"), nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"])
	if p := (&browser{t: t, client: n2.Client}).do(req); p.status != 200 || !strings.Contains(p.body, "cluster@example.com") {
		t.Fatalf("node 2 userinfo with node 1's token: %d %s", p.status, p.body)
	}
	p = postForm(t, n2.Client, n2.URL("/oauth2/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"]}},
		"other", "other-secret-0123456789")
	if p.status != 200 {
		t.Fatalf("node 2 refreshing node 1's token: %d %s", p.status, p.body)
	}
	// Replaying the rotated token on node 1 is detected there.
	p = postForm(t, n1.Client, n1.URL("/oauth2/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"]}},
		"other", "other-secret-0123456789")
	wantOAuthError(t, p, 400, "invalid_grant")
}

func mustTokens(t *testing.T, p *page) map[string]string {
	t.Helper()
	var m map[string]any
	if err := jsonUnmarshal(p.body, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
