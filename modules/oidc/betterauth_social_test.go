package oidc

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/testutil"
)

// TestBetterAuthSocial runs Better-Auth's social sign-in (POST
// /sign-in/social, the upstream, GET /callback/<provider>) through Caddy
// with a fake GitHub, on SQLite and PostgreSQL: sign-up to the
// newUserCallbackURL, sign-in again to the callbackURL, the session seen by
// get-session, and each refusal as a redirect with Better-Auth's error code.
func TestBetterAuthSocial(t *testing.T) {
	clockOffset.Store(0)
	github := fakeupstream.NewGitHub("gh-client", "gh-secret")
	defer github.Close()
	upstreams := "ip_limit off\n\t\tupstream github {\n\t\t\tissuer " + github.URL + "\n\t\t\tclient_id gh-client\n" +
		"\t\t\tclient_secret gh-secret\n\t\t\ttrusted_ca " + github.CAFile(t.TempDir()) + "\n\t\t}"
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		os.Setenv("BA_TEST_SECRET", baSecret)
		c := testutil.StartCaddy(t, "{\n\tintellistack {\n\t\tdatabase "+database+"\n\t\tsecret "+testSecret+"\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n")
		site := strings.Replace(baCaddyfile(database, c.HTTPSPort, t.TempDir(), ""), "ip_limit off", upstreams, 1)
		if err := c.Load(site); err != nil {
			t.Fatalf("loading config: %v", err)
		}
		callback := c.URL("/api/auth/callback/github")

		// start asks for the upstream's URL as the better-auth client does.
		start := func(b *baClient, body map[string]any) string {
			t.Helper()
			a := b.call("POST", "/sign-in/social", body).want(t, http.StatusOK, "")
			target, _ := a.body["url"].(string)
			if a.body["redirect"] != true || a.header.Get("Location") != target || !strings.HasPrefix(target, github.URL+"/login/oauth/authorize?") {
				t.Fatalf("sign-in/social: %s (Location %q)", a.raw, a.header.Get("Location"))
			}
			q, _ := url.Parse(target)
			if q.Query().Get("redirect_uri") != callback || q.Query().Get("code_challenge_method") != "S256" {
				t.Fatalf("authorize URL %s", target)
			}
			return target
		}
		// back passes the fake GitHub and returns our callback's answer.
		back := func(b *baClient, target string, tamper func(string) string) (baAnswer, string) {
			t.Helper()
			cb := hop(t, github, target)
			if !strings.HasPrefix(cb, callback+"?") {
				t.Fatalf("GitHub sent the browser to %s", cb)
			}
			if tamper != nil {
				cb = tamper(cb)
			}
			return b.call("GET", cb, nil), cb
		}
		wantRedirect := func(a baAnswer, to string) {
			t.Helper()
			if a.status != http.StatusFound || a.header.Get("Location") != to {
				t.Fatalf("callback answered %d to %q, want 302 to %q: %s", a.status, a.header.Get("Location"), to, a.raw)
			}
		}
		body := map[string]any{"provider": "github", "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome",
			"errorCallbackURL": "/login-error"}

		// A first sign-in creates the user: to the newUserCallbackURL, with
		// a session the API sees.
		github.Set(fakeupstream.Identity{Subject: "4101", Email: "Bob@Example.com", EmailVerified: true, Name: "Bob"})
		bob := newBAClient(t, c)
		a, cb := back(bob, start(bob, body), nil)
		wantRedirect(a, "/welcome")
		s := bob.call("GET", "/get-session", nil).want(t, http.StatusOK, "")
		if u := s.user(); u == nil || u["email"] != "bob@example.com" || u["emailVerified"] != true || u["name"] != "Bob" {
			t.Fatalf("get-session after the social sign-up: %s", s.raw)
		}
		// The same callback again: the state is spent.
		a = bob.call("GET", cb, nil)
		wantRedirect(a, c.URL("/api/auth/error?error=state_mismatch"))
		if p := bob.call("GET", a.header.Get("Location"), nil); p.status != http.StatusOK || !strings.Contains(p.raw, "state_mismatch") {
			t.Fatalf("error page: %d %s", p.status, p.raw)
		}

		// Signing in again in another browser: the same user, to the
		// callbackURL.
		bob2 := newBAClient(t, c)
		a, _ = back(bob2, start(bob2, body), nil)
		wantRedirect(a, "/dashboard")
		if s2 := bob2.call("GET", "/get-session", nil); s2.user()["id"] != s.user()["id"] {
			t.Fatalf("second sign-in is another user: %s", s2.raw)
		}

		// The upstream refused (the user said no): to the errorCallbackURL
		// with its error.
		b := newBAClient(t, c)
		a, _ = back(b, start(b, body), func(cb string) string { return strings.Replace(cb, "code=", "error=access_denied&x=", 1) })
		if loc := a.header.Get("Location"); a.status != http.StatusFound || !strings.HasPrefix(loc, "/login-error?error=access_denied") {
			t.Fatalf("upstream error: %d %q", a.status, loc)
		}
		// A state from another browser.
		a, _ = back(b, start(b, body), func(cb string) string { return strings.Replace(cb, "state=", "state=x", 1) })
		wantRedirect(a, c.URL("/api/auth/error?error=state_mismatch"))
		if s := b.call("GET", "/get-session", nil); s.raw != "null" {
			t.Fatalf("signed in after refusals: %s", s.raw)
		}

		// An unverified GitHub address that is already a user's: not
		// linked, nobody signed in (no takeover).
		carol := newBAClient(t, c)
		carol.call("POST", "/sign-up/email", map[string]any{"name": "Carol", "email": "carol@example.com", "password": testPassword}).want(t, http.StatusOK, "")
		github.Set(fakeupstream.Identity{Subject: "4102", Email: "carol@example.com", EmailVerified: false, Name: "Mallory"})
		m := newBAClient(t, c)
		a, _ = back(m, start(m, body), nil)
		if loc := a.header.Get("Location"); a.status != http.StatusFound || !strings.HasPrefix(loc, "/login-error?error=account_not_linked") {
			t.Fatalf("unverified collision: %d %q", a.status, loc)
		}
		if s := m.call("GET", "/get-session", nil); s.raw != "null" {
			t.Fatalf("signed in as the existing user: %s", s.raw)
		}

		// What the client sends wrong is refused before any redirect.
		b.call("POST", "/sign-in/social", map[string]any{"provider": "myspace"}).want(t, http.StatusNotFound, "PROVIDER_NOT_FOUND")
		b.call("POST", "/sign-in/social", map[string]any{"provider": "github", "callbackURL": "https://evil.example/x"}).
			want(t, http.StatusForbidden, "INVALID_CALLBACK_URL")
		b.call("POST", "/sign-in/social", map[string]any{"provider": "github", "idToken": map[string]any{"token": "x"}}).
			want(t, http.StatusBadRequest, "ID_TOKEN_NOT_SUPPORTED")
		b.call("POST", "/sign-in/social", map[string]any{}).want(t, http.StatusBadRequest, "VALIDATION_ERROR")
	})
}
