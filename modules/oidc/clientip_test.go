package oidc

import (
	"context"
	"net/http"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// TestAuditUsesCaddyClientIP: auth_events take the client IP from Caddy, so
// X-Forwarded-For counts only from a trusted proxy (RFC 9700 §4.13); the user agent is
// recorded too.
func TestAuditUsesCaddyClientIP(t *testing.T) {
	globalExtra = "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\tclient_ip_headers X-Forwarded-For\n\t}"
	defer func() { globalExtra = "" }()
	database := testutil.SQLitePath(t)
	c, issuer := startProvider(t, database, "")
	br := newBrowser(t, c)
	p := br.get(issuer + "/oauth2/sign-up")
	action, vals := p.form(t, "sign-up")
	vals.Set("email", "proxied@example.com")
	vals.Set("password", testPassword)
	req, _ := http.NewRequest("POST", action, stringsReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("User-Agent", "audit-test/1.0")
	if p = br.do(req); p.status != 200 {
		t.Fatalf("sign-up: %d", p.status)
	}
	var ip, ua string
	if err := openDB(t, database).QueryRow(context.Background(), "SELECT ip, user_agent FROM auth_events WHERE event = 'sign_up'").Scan(&ip, &ua); err != nil {
		t.Fatal(err)
	}
	if ip != "203.0.113.7" || ua != "audit-test/1.0" {
		t.Fatalf("audit row ip %q ua %q", ip, ua)
	}
}
