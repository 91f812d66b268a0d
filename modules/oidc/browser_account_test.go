package oidc

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intellistack/intellistack/internal/testutil"
)

// Chromium walks the account pages with mail in an outbox: sign-up and its
// "check your inbox" page, the verification link (read from the outbox),
// sign-out and sign-in, "Forgot password?", the reset link and form, sign-in
// with the new password, and the lockout page after failed sign-ins. Each
// step leaves a PNG.
func TestAccountPagesInChromium(t *testing.T) {
	clockOffset.Store(0)
	shots := testutil.ArtifactDir(t, "")
	box := outbox{t.TempDir()}
	c := testutil.StartCaddy(t, browserSite(t, `mail {
			from "Course <noreply@localhost>"
			outbox `+box.dir+`
		}
		lockout 3 30m`))
	issuer := c.URL("")
	pk := newPKCE()
	authURL := issuer + "/oauth2/authorize?" + url.Values{
		"client_id": {"spa"}, "redirect_uri": {issuer + "/callback"}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"account-state"},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"},
	}.Encode()

	ctx := testutil.NewChromium(t, 90*time.Second)

	n := 0
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		n++
		f := filepath.Join(shots, fmt.Sprintf("%02d-%s.png", n, name))
		if err := os.WriteFile(f, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", f)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text(`body`))
			t.Fatalf("%s: %v\n%s", what, err, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	const email, newPassword = "chromium@example.com", "Brand-New-Horse-77"

	do("sign-up",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`form#sign-in`),
		chromedp.Click(`a[href*="/oauth2/sign-up"]`),
		chromedp.WaitVisible(`form#sign-up`),
		chromedp.SendKeys(`form#sign-up input[name="name"]`, "Chromium Student"),
		chromedp.SendKeys(`form#sign-up input[name="email"]`, email),
		chromedp.SendKeys(`form#sign-up input[name="password"]`, testPassword),
		chromedp.Submit(`form#sign-up`),
		chromedp.WaitVisible(`form#resend`),
	)
	if !strings.Contains(text(`#message`), email) {
		t.Fatalf("check-inbox page: %s", text(`body`))
	}
	shot("check-inbox")

	_, _, link := mailLink(t, box.wait(t, 1)[0])
	do("verification link", chromedp.Navigate(link))
	if loc := waitForPath(ctx, issuer+"/callback"); !strings.Contains(loc, "state=account-state") {
		t.Fatalf("the verification link did not reach the callback: %s", loc)
	}
	shot("verified-callback")

	do("sign-out",
		chromedp.Navigate(issuer+"/oauth2/sign-out"),
		chromedp.WaitVisible(`form#sign-out`),
		chromedp.Submit(`form#sign-out`),
		chromedp.Sleep(300*time.Millisecond),
	)
	do("sign-in",
		chromedp.Navigate(issuer+"/oauth2/sign-in"),
		chromedp.WaitVisible(`form#sign-in`),
		chromedp.SendKeys(`form#sign-in input[name="email"]`, email),
		chromedp.SendKeys(`form#sign-in input[name="password"]`, testPassword),
		chromedp.Submit(`form#sign-in`),
		chromedp.WaitVisible(`#message`),
	)
	if !strings.Contains(text(`#message`), "signed in as "+email) {
		t.Fatalf("sign-in: %s", text(`body`))
	}
	shot("signed-in")

	do("forgot password",
		chromedp.Navigate(issuer+"/oauth2/sign-in"),
		chromedp.WaitVisible(`a#forgot`),
		chromedp.Click(`a#forgot`),
		chromedp.WaitVisible(`form#forgot-password`),
		chromedp.SendKeys(`form#forgot-password input[name="email"]`, email),
	)
	shot("forgot-password")
	do("forgot password submit", chromedp.Submit(`form#forgot-password`), chromedp.WaitVisible(`#message`))
	shot("reset-requested")

	_, _, link = mailLink(t, box.wait(t, 2)[1])
	do("reset link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(`form#reset-password`),
		chromedp.SendKeys(`form#reset-password input[name="password"]`, "weak"),
		chromedp.Submit(`form#reset-password`),
		chromedp.WaitVisible(`#violations`),
	)
	shot("reset-violations")
	do("reset",
		chromedp.SendKeys(`form#reset-password input[name="password"]`, newPassword),
		chromedp.Submit(`form#reset-password`),
		chromedp.WaitVisible(`a#next`),
	)
	shot("password-changed")
	do("sign-in with the new password",
		chromedp.Click(`a#next`),
		chromedp.WaitVisible(`form#sign-in`),
		chromedp.SendKeys(`form#sign-in input[name="password"]`, newPassword),
		chromedp.Submit(`form#sign-in`),
		chromedp.WaitVisible(`#message`),
	)
	if !strings.Contains(text(`#message`), "signed in as "+email) {
		t.Fatalf("sign-in with the new password: %s", text(`body`))
	}
	shot("signed-in-new-password")

	// The lockout page: three wrong passwords, then even the right one waits.
	for i := range 4 {
		pw := "Wrong-Password-" + fmt.Sprint(i)
		if i == 3 {
			pw = newPassword
		}
		do("failed sign-in",
			chromedp.Navigate(issuer+"/oauth2/sign-in"),
			chromedp.WaitVisible(`form#sign-in`),
			chromedp.SendKeys(`form#sign-in input[name="email"]`, email),
			chromedp.SendKeys(`form#sign-in input[name="password"]`, pw),
			chromedp.Submit(`form#sign-in`),
			chromedp.WaitVisible(`#error`),
		)
	}
	if !strings.Contains(text(`#error`), "Too many failed sign-ins") {
		t.Fatalf("lockout page: %s", text(`body`))
	}
	shot("lockout")
}
