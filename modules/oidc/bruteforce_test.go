package oidc

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// signInAttempt posts the hosted sign-in form once from a fresh browser.
func (e *env) signInAttempt(email, pw string) *page {
	e.t.Helper()
	br := newBrowser(e.t, e.c)
	p := br.get(e.issuer + "/oauth2/sign-in")
	action, vals := p.form(e.t, "sign-in")
	vals.Set("email", email)
	vals.Set("password", pw)
	return br.post(action, vals)
}

// Five failed sign-ins lock the account (even the right password is refused,
// with 429 and a clear message) until the window has passed; a successful
// sign-in clears the count. Every refusal is in the audit log.
func TestLockoutAfterFailedSignIns(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		e := newEnv(t, database)
		e.signedIn("locked@example.com")
		e.signedIn("other@example.com")

		for i := 0; i < 5; i++ {
			if p := e.signInAttempt("locked@example.com", "Wrong-Password-1!"); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, p.status)
			}
		}
		p := e.signInAttempt("locked@example.com", testPassword)
		if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-ins for this account") ||
			p.header.Get("Retry-After") == "" {
			t.Fatalf("locked account with the right password: %d %q\n%s", p.status, p.header.Get("Retry-After"), p.body)
		}
		// Another account is not affected.
		if p := e.signInAttempt("other@example.com", testPassword); p.status != http.StatusOK {
			t.Fatalf("other account: %d", p.status)
		}
		// Once the window has passed, the right password works and clears
		// the count: four more failures do not lock.
		advanceClock(31 * time.Minute)
		if p := e.signInAttempt("locked@example.com", testPassword); p.status != http.StatusOK {
			t.Fatalf("after the window: %d %s", p.status, p.body)
		}
		for i := 0; i < 4; i++ {
			e.signInAttempt("locked@example.com", "Wrong-Password-1!")
		}
		if p := e.signInAttempt("locked@example.com", testPassword); p.status != http.StatusOK {
			t.Fatalf("success did not clear the failures: %d", p.status)
		}

		db := openDB(t, database)
		var locked int
		if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM auth_events WHERE email = ? AND detail = ?",
			"locked@example.com", "account locked after failed sign-ins").Scan(&locked); err != nil {
			t.Fatal(err)
		}
		if locked != 1 {
			t.Fatalf("%d lockout events logged, want 1", locked)
		}
	})
}

// Form posts per client IP are capped, for sign-in and sign-up alike.
func TestSignInLimitPerIP(t *testing.T) {
	clockOffset.Store(0)
	c, issuer := startProvider(t, testutil.SQLitePath(t), "ip_limit 3 per 1m")
	e := &env{t: t, c: c, issuer: issuer}
	for i := 0; i < 3; i++ {
		if p := e.signInAttempt("nobody@example.com", "Wrong-Password-1!"); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.status)
		}
	}
	p := e.signInAttempt("someone-else@example.com", "Wrong-Password-1!")
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many sign-in attempts from your network") {
		t.Fatalf("4th attempt from one IP: %d\n%s", p.status, p.body)
	}
	br := newBrowser(t, c)
	sp := br.get(issuer + "/oauth2/sign-up")
	action, vals := sp.form(t, "sign-up")
	vals.Set("email", "new@example.com")
	vals.Set("name", "New")
	vals.Set("password", testPassword)
	if sp = br.post(action, vals); sp.status != http.StatusTooManyRequests {
		t.Fatalf("sign-up over the IP limit: %d", sp.status)
	}
}
