package oidc

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intellistack/intellistack/internal/testutil"
)

// browserSite is the site the browser tests drive: the provider with a
// public, first-party client whose callback answers "callback reached", on
// a database of the test's own; extra goes into the oidc_provider block.
func browserSite(t *testing.T, extra string) string {
	return `{
	intellistack {
		database ` + testutil.SQLitePath(t) + `
		secret ` + testSecret + `
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client spa {
			redirect_uri https://localhost:__HTTPS_PORT__/callback
			public
			skip_consent
		}
		` + extra + `
	}
	respond /callback "callback reached" 200
}`
}

// A real browser signs up on the hosted pages: it follows the authorization
// request to the sign-in page, takes the link to sign-up, fills the form and
// submits it, and lands on the client's redirect URI with a code, the state
// and the issuer. This is what the Go cookie-jar tests cannot prove: that the
// pages' CSP, cookies (Secure, SameSite, __Host- prefix), CSRF check and
// redirects work in a browser.
func TestHostedPagesInChromium(t *testing.T) {
	clockOffset.Store(0)
	c := testutil.StartCaddy(t, browserSite(t, ""))
	issuer := c.URL("")
	pk := newPKCE()
	authURL := issuer + "/oauth2/authorize?" + url.Values{
		"client_id": {"spa"}, "redirect_uri": {issuer + "/callback"}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"browser-state"}, "nonce": {"browser-nonce"},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"},
	}.Encode()

	ctx := testutil.NewChromium(t, 60*time.Second)

	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`form#sign-in`),
		chromedp.Click(`a[href*="/oauth2/sign-up"]`),
		chromedp.WaitVisible(`form#sign-up`),
		chromedp.SendKeys(`form#sign-up input[name="name"]`, "Browser Student"),
		chromedp.SendKeys(`form#sign-up input[name="email"]`, "browser@example.com"),
		chromedp.SendKeys(`form#sign-up input[name="password"]`, testPassword),
		chromedp.Submit(`form#sign-up`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	loc := waitForPath(ctx, issuer+"/callback")
	if !strings.HasPrefix(loc, issuer+"/callback") {
		body, _ := chromedp.Run(ctx, chromedp.Text(`body`))
		t.Fatalf("the browser never reached the callback (at %s):\n%s", loc, body)
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	if q.Get("code") == "" || q.Get("state") != "browser-state" || q.Get("iss") != issuer {
		t.Fatalf("callback %s", loc)
	}
	// The code the browser carried redeems with the PKCE verifier.
	tok := map[string]any{}
	p := postForm(t, c.Client, issuer+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {issuer + "/callback"},
		"client_id": {"spa"}, "code_verifier": {pk.verifier},
	}, "", "")
	if err := jsonUnmarshal(p.body, &tok); err != nil || p.status != 200 || tok["id_token"] == nil {
		t.Fatalf("token exchange: %d %s", p.status, p.body)
	}
	// Back on the sign-in page the browser is recognised: the session cookie
	// it was given works for a second authorization without a form.
	err = chromedp.Do(ctx, chromedp.Navigate(strings.Replace(authURL, "browser-state", "second", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if loc = waitForPath(ctx, issuer+"/callback"); !strings.Contains(loc, "state=second") {
		t.Fatalf("second authorization did not reuse the session: at %s", loc)
	}
}

// waitForPath waits until the page's URL starts with prefix (navigations
// in flight make single reads fail now and then) and returns the last URL
// seen.
func waitForPath(ctx context.Context, prefix string) string {
	var loc string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if l, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
			loc = l
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	return loc
}
