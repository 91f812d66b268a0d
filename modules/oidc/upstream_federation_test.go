package oidc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// federation is our provider (the relying party's issuer, at localhost) with
// a second IntelliStack as its generic OpenID Connect upstream "uni": a
// Caddy of its own in a child process, its own SQLite database, at
// 127.0.0.1 (another cookie host) over HTTPS with its own internal CA, which
// the first trusts through trusted_ca.
type federation struct {
	rp, idp   *testutil.Caddy
	issuer    string // ours
	idpIssuer string
	roots     []string // both internal CAs' root certificates
}

const uniSecret = "uni-client-secret-0123456789"

func startFederation(t *testing.T, database, rpRedirect string) *federation {
	t.Helper()
	clockOffset.Store(0)
	rp := testutil.StartCaddy(t, "{\n\tintellistack {\n\t\tdatabase "+database+"\n\t\tsecret "+testSecret+"\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n")
	rpRoot := filepath.Join(rp.DataDir, "pki", "authorities", "local", "root.crt")
	// In the environment, not the text: the harness waits for a localhost
	// certificate when a Caddyfile names https://localhost.
	t.Setenv("OIDC_TEST_RP_CALLBACK", "https://localhost:"+strconv.Itoa(rp.HTTPSPort)+"/oauth2/upstream/uni/callback")
	idp := testutil.StartCaddyProcess(t, `{
	intellistack {
		database `+testutil.SQLitePath(t)+`
		secret idp-secret-0123456789abcdef
	}
}

https://127.0.0.1 {
	oidc_provider {
		issuer https://127.0.0.1:__HTTPS_PORT__
		client intellistack {
			redirect_uri {$OIDC_TEST_RP_CALLBACK}
			secret `+uniSecret+`
			skip_consent
			name "IntelliStack course"
		}
	}
}`)
	f := &federation{rp: rp, idp: idp, idpIssuer: "https://127.0.0.1:" + strconv.Itoa(idp.HTTPSPort),
		roots: []string{rpRoot, filepath.Join(idp.DataDir, "pki", "authorities", "local", "root.crt")}}
	// The child's CA exists once it serves HTTPS.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := f.client(t).Get(f.idpIssuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream IntelliStack never answered: %v", err)
		}
	}
	err := rp.Load(`{
	intellistack {
		database ` + database + `
		secret ` + testSecret + `
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:` + strconv.Itoa(rp.HTTPSPort) + `
		client spa {
			redirect_uri ` + strings.ReplaceAll(rpRedirect, "__RP__", strconv.Itoa(rp.HTTPSPort)) + `
			public
			skip_consent
		}
		upstream uni {
			issuer ` + f.idpIssuer + `
			client_id intellistack
			client_secret ` + uniSecret + `
			scopes openid email profile
			label "University login"
			trusted_ca ` + f.roots[1] + `
		}
	}
	respond /callback "callback reached" 200
	respond "passed through" 200
}`)
	if err != nil {
		t.Fatal(err)
	}
	f.issuer = rp.URL("")
	// Wait until fresh connections reach the new config only.
	for ok, deadline := 0, time.Now().Add(15*time.Second); ok < 20; {
		resp, err := f.client(t).Get(f.issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			ok++
			continue
		}
		ok = 0
		if time.Now().After(deadline) {
			t.Fatalf("the provider config never answered alone: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

// client is a browser-like client (cookies, no redirects) that trusts both
// internal CAs and dials every host at 127.0.0.1.
func (f *federation) client(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	for _, r := range f.roots {
		if pem, err := os.ReadFile(r); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
	}
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return dialer.DialContext(ctx, "tcp4", "127.0.0.1:"+port)
			}}}
}

// TestUpstreamFederatedIntelliStack federates our provider to a second
// IntelliStack, on SQLite and PostgreSQL (ours; the upstream's on SQLite): a
// student who has no account anywhere clicks "Continue with University
// login", signs up at the upstream, and comes back signed in to the relying
// party with an account linked to the upstream's subject; the next time the
// upstream's session alone signs them in.
func TestUpstreamFederatedIntelliStack(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		f := startFederation(t, database, spaRedirect)
		b := &browser{t: t, client: f.client(t)}
		pk := newPKCE()
		p := b.follow(b.get(spaAuthURL(f.issuer, pk, "fed")), spaRedirect)
		href := button(t, p, "uni")
		if !strings.Contains(p.body, "Continue with University login") {
			t.Fatalf("no labelled button:\n%s", p.body)
		}
		back := b.login(href, "student@uni.example", spaRedirect, true)
		q := back.Query()
		if q.Get("state") != "fed" || q.Get("code") == "" || q.Get("iss") != f.issuer {
			t.Fatalf("back at the relying party with %s", back)
		}
		tok := map[string]any{}
		pg := postForm(t, b.client, f.issuer+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {spaRedirect}, "client_id": {"spa"}, "code_verifier": {pk.verifier}}, "", "")
		if err := jsonUnmarshal(pg.body, &tok); err != nil || pg.status != 200 {
			t.Fatalf("token: %d %s", pg.status, pg.body)
		}
		idt := decodeJWT(t, tok["id_token"].(string))
		if idt.payload["email"] != "student@uni.example" || idt.payload["iss"] != f.issuer {
			t.Fatalf("ID token %v", idt.payload)
		}
		db := openDB(t, database)
		st := storage.New(db)
		u, _, err := st.UserWithPassword(context.Background(), "student@uni.example")
		if err != nil {
			t.Fatal(err)
		}
		accounts, err := st.LinkedAccounts(context.Background(), u.ID)
		if err != nil || len(accounts) != 1 || accounts[0].ProviderID != "uni" || accounts[0].AccountID == "" {
			t.Fatalf("linked accounts %+v, %v", accounts, err)
		}
		if idt.payload["sub"] != u.ID || accounts[0].AccountID == u.ID {
			t.Fatalf("our subject %v, upstream subject %s: they must differ (two providers)", idt.payload["sub"], accounts[0].AccountID)
		}
		// Our session gone, the upstream's still there: one click, no form.
		for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "https", Host: "localhost"}) {
			if strings.Contains(c.Name, "session_token") {
				b.client.Jar.SetCookies(&url.URL{Scheme: "https", Host: "localhost", Path: "/"},
					[]*http.Cookie{{Name: c.Name, Value: "", Path: "/", MaxAge: -1, Secure: true}})
			}
		}
		p = b.follow(b.get(spaAuthURL(f.issuer, newPKCE(), "again")), spaRedirect)
		p = b.follow(b.get(button(t, p, "uni")), spaRedirect)
		if !strings.HasPrefix(p.location, spaRedirect) || !strings.Contains(p.location, "state=again") ||
			!strings.Contains(p.url, "/oauth2/continue") {
			t.Fatalf("second federated sign-in: %d %s\n%s", p.status, p.location, p.body)
		}
	})
}

// TestUpstreamInChromium: Chromium clicks "Continue with University login"
// on the hosted sign-in page, signs up at the upstream IntelliStack and
// comes back to the relying party's callback with a code, the state and
// our issuer.
func TestUpstreamInChromium(t *testing.T) {
	f := startFederation(t, testutil.SQLitePath(t), "https://localhost:__RP__/callback")
	pk := newPKCE()
	authURL := f.issuer + "/oauth2/authorize?" + url.Values{
		"client_id": {"spa"}, "redirect_uri": {f.issuer + "/callback"}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"chromium-state"}, "nonce": {"n"},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	ctx := testutil.NewChromium(t, 90*time.Second)
	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`a#upstream-uni`),
		chromedp.Click(`a#upstream-uni`),
		chromedp.WaitVisible(`form#sign-in`),
		chromedp.Click(`a[href*="/oauth2/sign-up"]`),
		chromedp.WaitVisible(`form#sign-up`),
		chromedp.SendKeys(`form#sign-up input[name="name"]`, "Chromium Student"),
		chromedp.SendKeys(`form#sign-up input[name="email"]`, "chromium@uni.example"),
		chromedp.SendKeys(`form#sign-up input[name="password"]`, testPassword),
		chromedp.Submit(`form#sign-up`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	loc := waitForPath(ctx, f.issuer+"/callback")
	if !strings.HasPrefix(loc, f.issuer+"/callback") {
		body, _ := chromedp.Run(ctx, chromedp.Text(`body`))
		t.Fatalf("the browser never reached the callback (at %s):\n%s", loc, body)
	}
	u, _ := url.Parse(loc)
	if q := u.Query(); q.Get("code") == "" || q.Get("state") != "chromium-state" || q.Get("iss") != f.issuer {
		t.Fatalf("callback %s", loc)
	}
	tok := map[string]any{}
	p := postForm(t, f.client(t), f.issuer+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {f.issuer + "/callback"}, "client_id": {"spa"}, "code_verifier": {pk.verifier}}, "", "")
	if err := jsonUnmarshal(p.body, &tok); err != nil || p.status != 200 {
		t.Fatalf("token: %d %s", p.status, p.body)
	}
	if idt := decodeJWT(t, tok["id_token"].(string)); idt.payload["email"] != "chromium@uni.example" {
		t.Fatalf("ID token %v", idt.payload)
	}
}
