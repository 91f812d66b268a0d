package oidc

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// upstreamSite is a provider with the public client spa (no consent) and
// the given upstream blocks.
func upstreamSite(database, upstreams string) string {
	return `{
	intellistack {
		database ` + database + `
		secret ` + testSecret + `
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client spa {
			redirect_uri ` + spaRedirect + `
			public
			skip_consent
		}
		` + upstreams + `
	}
	respond "passed through" 200
}
`
}

func spaAuthURL(issuer string, pk pkcePair, state string) string {
	return issuer + "/oauth2/authorize?" + url.Values{"client_id": {"spa"}, "redirect_uri": {spaRedirect},
		"response_type": {"code"}, "scope": {"openid email profile"}, "state": {state}, "nonce": {"rp-nonce"},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"}}.Encode()
}

var buttonRE = regexp.MustCompile(`<a class="upstream" id="upstream-([a-z0-9_-]+)" href="([^"]+)">Continue with ([^<]+)</a>`)

// button is the href of the "Continue with …" button of upstream name.
func button(t *testing.T, p *page, name string) string {
	t.Helper()
	for _, m := range buttonRE.FindAllStringSubmatch(p.body, -1) {
		if m[1] == name {
			return strings.ReplaceAll(m[2], "&amp;", "&")
		}
	}
	t.Fatalf("no button for %s on %s (status %d):\n%s", name, p.url, p.status, p.body)
	return ""
}

// hop passes the browser through a fake upstream's authorization endpoint
// (which answers at once) and returns where it sends the browser back.
func hop(t *testing.T, fake *fakeupstream.Server, loc string) string {
	t.Helper()
	c := fake.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(loc)
	if err != nil {
		t.Fatalf("upstream authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("upstream authorize answered %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// socialCallback starts an authorization of spa, clicks Continue with name
// on the sign-in page, passes the fake and returns our callback's answer
// and its URL.
func socialCallback(t *testing.T, b *browser, issuer, name string, fake *fakeupstream.Server, state string) (*page, string) {
	t.Helper()
	p := b.follow(b.get(spaAuthURL(issuer, newPKCE(), state)), spaRedirect)
	start := b.get(button(t, p, name))
	if start.status != http.StatusFound || !strings.HasPrefix(start.location, fake.URL) {
		t.Fatalf("start of the upstream leg: %d to %q\n%s", start.status, start.location, start.body)
	}
	cb := hop(t, fake, start.location)
	if !strings.HasPrefix(cb, issuer+"/oauth2/upstream/"+name+"/callback?") {
		t.Fatalf("upstream sent the browser to %s", cb)
	}
	return b.get(cb), cb
}

// signedInAtRP follows a callback answer to the relying party and checks
// the code there carries the state.
func signedInAtRP(t *testing.T, b *browser, p *page, state string) {
	t.Helper()
	p = b.follow(p, spaRedirect)
	if !strings.HasPrefix(p.location, spaRedirect) || !strings.Contains(p.location, "state="+state) || !strings.Contains(p.location, "code=") {
		t.Fatalf("not back at the relying party with a code: %d %s\n%s", p.status, p.location, p.body)
	}
}

// TestUpstreamSignIn runs sign-in with a fake Google (OpenID Connect) and a
// fake GitHub through Caddy, on SQLite and PostgreSQL: sign-up, sign-in
// again, linking by verified address, each refusal (state replayed or
// mismatched, wrong nonce, an ID token of another issuer or audience, an
// unverified address colliding with an account, an upstream down or too
// slow), and the linked accounts page.
func TestUpstreamSignIn(t *testing.T) {
	clockOffset.Store(0)
	google := fakeupstream.NewOpenID("g-client", "g-secret")
	defer google.Close()
	github := fakeupstream.NewGitHub("gh-client", "gh-secret")
	defer github.Close()
	slow := fakeupstream.NewOpenID("s-client", "s-secret")
	defer slow.Close()
	gone := fakeupstream.NewOpenID("d-client", "d-secret")
	goneURL := gone.URL
	gone.Close()
	dir := t.TempDir()
	upstreams := `upstream google {
			issuer ` + google.URL + `
			client_id g-client
			client_secret g-secret
			trusted_ca ` + google.CAFile(dir) + `
		}
		upstream github {
			issuer ` + github.URL + `
			client_id gh-client
			client_secret gh-secret
			trusted_ca ` + github.CAFile(dir) + `
		}
		upstream slow {
			issuer ` + slow.URL + `
			client_id s-client
			client_secret s-secret
			trusted_ca ` + slow.CAFile(dir) + `
			timeout 1s
			label "Slow IdP"
		}
		upstream down {
			issuer ` + goneURL + `
			client_id d-client
			client_secret d-secret
			label "Down IdP"
			timeout 2s
		}`
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, upstreamSite(database, upstreams))
		issuer := c.URL("")
		db := openDB(t, database)
		st := storage.New(db)
		ctx := context.Background()
		events := func(event, outcome, detail string) int {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM auth_events WHERE event = ? AND outcome = ? AND detail LIKE ?",
				event, outcome, detail).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		users := func(email string) int {
			var n int
			_ = db.QueryRow(ctx, "SELECT COUNT(*) FROM users WHERE email = ?", email).Scan(&n)
			return n
		}

		// Sign-up with Google: a student with the upstream's verified flag,
		// linked by (google, sub), back at the relying party.
		google.Set(fakeupstream.Identity{Subject: "g-alice", Email: "Alice@Example.com", EmailVerified: true, Name: "Alice"})
		b := newBrowser(t, c)
		p, cb := socialCallback(t, b, issuer, "google", google, "s1")
		signedInAtRP(t, b, p, "s1")
		alice, err := st.UserByAccount(ctx, "google", "g-alice")
		if err != nil || alice.Email != "alice@example.com" || !alice.EmailVerified || alice.Role != "student" {
			t.Fatalf("created user %+v, %v", alice, err)
		}
		if events(evUpstreamSignUp, "success", "google") != 1 {
			t.Fatal("no upstream_sign_up audit row")
		}

		// The same callback again (replayed state): refused, nothing signed in.
		p = b.get(cb)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="password-sign-in"`) || !strings.Contains(p.body, `id="upstream-github"`) {
			t.Fatalf("replayed callback: %d\n%s", p.status, p.body)
		}
		if events(evUpstreamSignIn, "failure", "google: state mismatch") != 1 {
			t.Fatal("no audit row for the replayed state")
		}

		// Sign-in again in a new browser: the same user.
		b2 := newBrowser(t, c)
		p, _ = socialCallback(t, b2, issuer, "google", google, "s2")
		signedInAtRP(t, b2, p, "s2")
		if events(evUpstreamSignIn, "success", "google") != 1 || users("alice@example.com") != 1 {
			t.Fatal("second sign-in did not reuse the account")
		}

		// A mismatched state (a callback started in another browser).
		b3 := newBrowser(t, c)
		pg := b3.follow(b3.get(spaAuthURL(issuer, newPKCE(), "s3")), spaRedirect)
		start := b3.get(button(t, pg, "google"))
		back := hop(t, google, start.location)
		forged := strings.Replace(back, "state=", "state=x", 1)
		if p = b3.get(forged); p.status != http.StatusBadRequest {
			t.Fatalf("mismatched state: %d", p.status)
		}
		if events(evUpstreamSignIn, "failure", "google: state mismatch") != 2 {
			t.Fatal("no audit row for the mismatched state")
		}
		// An answer naming another issuer (RFC 9207 mix-up): refused before
		// the code is redeemed.
		pg = b3.follow(b3.get(spaAuthURL(issuer, newPKCE(), "s4")), spaRedirect)
		start = b3.get(button(t, pg, "google"))
		back = hop(t, google, start.location) + "&iss=" + url.QueryEscape("https://evil.example")
		if p = b3.get(back); p.status != http.StatusBadRequest || events(evUpstreamSignIn, "failure", "google: issuer mismatch") != 1 {
			t.Fatalf("mix-up: %d\n%s", p.status, p.body)
		}
		// The sign-up page has the buttons too.
		if p = b3.get(issuer + "/oauth2/sign-up"); !strings.Contains(p.body, "Continue with GitHub") || !strings.Contains(p.body, "Continue with Slow IdP") {
			t.Fatalf("sign-up page without buttons:\n%s", p.body)
		}

		// Tampered ID tokens: wrong nonce, another issuer, another audience.
		for _, tc := range []struct {
			iss, aud, nonce, detail string
			status                  int
		}{
			{"", "", "someone-elses-nonce", "google: nonce mismatch", http.StatusBadRequest},
			{"https://evil.example", "", "", "google: ID token refused: %issued by a different provider%", http.StatusBadGateway},
			{"", "another-client", "", "google: ID token refused: %audience%", http.StatusBadGateway},
		} {
			google.Set(fakeupstream.Identity{Subject: "g-mallory", Email: "mallory@example.com", EmailVerified: true})
			google.Tamper(tc.iss, tc.aud, tc.nonce)
			p, _ = socialCallback(t, newBrowser(t, c), issuer, "google", google, "t")
			if p.status != tc.status || events(evUpstreamSignIn, "failure", tc.detail) != 1 {
				t.Fatalf("tampered %+v: %d, audit rows %d\n%s", tc, p.status, events(evUpstreamSignIn, "failure", tc.detail), p.body)
			}
		}
		if users("mallory@example.com") != 0 {
			t.Fatal("a refused sign-in created a user")
		}

		// An unverified upstream address colliding with an existing, verified
		// account: no takeover, the user is sent to sign in with a password.
		victim := newBrowser(t, c)
		victim.login(spaAuthURL(issuer, newPKCE(), "v"), "victim@example.com", spaRedirect, true)
		vu, _, _ := st.UserWithPassword(ctx, "victim@example.com")
		if _, err := st.MarkEmailVerified(ctx, vu.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		google.Set(fakeupstream.Identity{Subject: "g-attacker", Email: "victim@example.com", EmailVerified: false})
		attacker := newBrowser(t, c)
		p, _ = socialCallback(t, attacker, issuer, "google", google, "a")
		if p.status != http.StatusConflict || !strings.Contains(p.body, "Sign in with your password first") ||
			events(evUpstreamLink, "failure", "google: unverified e-mail%") != 1 {
			t.Fatalf("unverified collision: %d\n%s", p.status, p.body)
		}
		if _, err := st.UserByAccount(ctx, "google", "g-attacker"); err == nil {
			t.Fatal("the unverified identity was linked")
		}
		if p = attacker.follow(attacker.get(spaAuthURL(issuer, newPKCE(), "a2")), spaRedirect); !strings.Contains(p.body, `id="sign-in"`) {
			t.Fatalf("the attacker is signed in: %d %s", p.status, p.location)
		}
		// Verified on both sides: linked, and signed in as the victim's account.
		google.Set(fakeupstream.Identity{Subject: "g-victim", Email: "victim@example.com", EmailVerified: true})
		vb := newBrowser(t, c)
		p, _ = socialCallback(t, vb, issuer, "google", google, "vl")
		signedInAtRP(t, vb, p, "vl")
		if linked, err := st.UserByAccount(ctx, "google", "g-victim"); err != nil || linked.ID != vu.ID ||
			events(evUpstreamLink, "success", "google: by verified e-mail") != 1 {
			t.Fatalf("verified link: %+v %v", linked, err)
		}

		// GitHub: only the primary address counts, verified as GitHub says.
		github.Set(fakeupstream.Identity{Subject: "4242", Email: "octo@example.com", EmailVerified: true, Name: "Octo",
			OtherEmails: []string{"victim@example.com"}})
		gb := newBrowser(t, c)
		p, _ = socialCallback(t, gb, issuer, "github", github, "gh")
		signedInAtRP(t, gb, p, "gh")
		octo, err := st.UserByAccount(ctx, "github", "4242")
		if err != nil || octo.Email != "octo@example.com" || !octo.EmailVerified || octo.Name != "Octo" {
			t.Fatalf("GitHub user %+v, %v", octo, err)
		}
		github.Set(fakeupstream.Identity{Subject: "4343", Email: "victim@example.com", EmailVerified: false})
		if p, _ = socialCallback(t, newBrowser(t, c), issuer, "github", github, "gh2"); p.status != http.StatusConflict {
			t.Fatalf("unverified GitHub primary colliding: %d", p.status)
		}

		// An upstream error answer, an upstream that is down, one too slow.
		google.Set(fakeupstream.Identity{Subject: "g-x", Email: "x@example.com", EmailVerified: true})
		eb := newBrowser(t, c)
		pg = eb.follow(eb.get(spaAuthURL(issuer, newPKCE(), "e")), spaRedirect)
		start = eb.get(button(t, pg, "google"))
		back = hop(t, google, start.location)
		u, _ := url.Parse(back)
		q := u.Query()
		q.Del("code")
		q.Set("error", "access_denied")
		u.RawQuery = q.Encode()
		if p = eb.get(u.String()); p.status != http.StatusBadGateway || events(evUpstreamSignIn, "failure", "google: upstream error: access_denied") != 1 {
			t.Fatalf("upstream error: %d\n%s", p.status, p.body)
		}
		db2 := newBrowser(t, c)
		pg = db2.follow(db2.get(spaAuthURL(issuer, newPKCE(), "d")), spaRedirect)
		p = db2.get(button(t, pg, "down"))
		if p.status != http.StatusBadGateway || !strings.Contains(p.body, "Down IdP could not be reached") || !strings.Contains(p.body, `id="upstream-google"`) ||
			events(evUpstreamSignIn, "failure", "down: upstream error: discovery: unreachable") != 1 {
			t.Fatalf("upstream down: %d\n%s", p.status, p.body)
		}
		slow.Set(fakeupstream.Identity{Subject: "s-1", Email: "slow@example.com", EmailVerified: true})
		slow.Delay(3 * time.Second)
		if p, _ = socialCallback(t, newBrowser(t, c), issuer, "slow", slow, "sl"); p.status != http.StatusGatewayTimeout ||
			events(evUpstreamSignIn, "failure", "slow: upstream error: token: timeout") != 1 {
			t.Fatalf("slow upstream: %d\n%s", p.status, p.body)
		}
		if users("slow@example.com") != 0 || users("x@example.com") != 0 {
			t.Fatal("a failed upstream sign-in created a user")
		}

		// Linked accounts: Alice (Google only) cannot unlink her last way in;
		// she links GitHub from the page and can then unlink Google.
		p = b.get(issuer + "/oauth2/linked-accounts")
		if p.status != 200 || !strings.Contains(p.body, `data-provider="google"`) || strings.Contains(p.body, `id="unlink-google-g-alice"`) {
			t.Fatalf("linked accounts: %d\n%s", p.status, p.body)
		}
		github.Set(fakeupstream.Identity{Subject: "5151", Email: "alice-gh@example.com", EmailVerified: false})
		linkPage := b.get(issuer + "/oauth2/upstream/github?link=1")
		p = b.get(hop(t, github, linkPage.location))
		if p.status != http.StatusFound || !strings.HasSuffix(p.location, "/oauth2/linked-accounts") || events(evUpstreamLink, "success", "github: from the linked accounts page") != 1 {
			t.Fatalf("link GitHub: %d %s\n%s", p.status, p.location, p.body)
		}
		p = b.get(p.location)
		action, vals := p.form(t, "unlink-google-g-alice")
		if p = b.post(action, vals); p.status != 200 || !strings.Contains(p.body, `id="notice"`) || events(evUpstreamUnlink, "success", "google: unlinked") != 1 {
			t.Fatalf("unlink: %d\n%s", p.status, p.body)
		}
		if strings.Contains(p.body, `id="unlink-github-5151"`) {
			t.Fatal("the last way to sign in has an unlink button")
		}
		// A forged unlink of the last one is refused by storage too.
		vals.Set("provider", "github")
		vals.Set("account_id", "5151")
		if p = b.post(action, vals); p.status != http.StatusConflict || events(evUpstreamUnlink, "failure", "github: last way to sign in") != 1 {
			t.Fatalf("unlink of the last: %d\n%s", p.status, p.body)
		}
		// Octo cannot link Alice's GitHub identity to his account.
		github.Set(fakeupstream.Identity{Subject: "5151", Email: "alice-gh@example.com", EmailVerified: false})
		linkPage = gb.get(issuer + "/oauth2/upstream/github?link=1")
		if p = gb.get(hop(t, github, linkPage.location)); p.status != http.StatusConflict ||
			events(evUpstreamLink, "failure", "github: linked to another user") != 1 {
			t.Fatalf("linking someone else's identity: %d\n%s", p.status, p.body)
		}
		// Linking needs a session.
		if p = newBrowser(t, c).get(issuer + "/oauth2/upstream/github?link=1"); p.status != http.StatusUnauthorized {
			t.Fatalf("link without a session: %d", p.status)
		}
	})
}
