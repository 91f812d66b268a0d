package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/internal/fakesmtp"
	"github.com/intellistack/intellistack/modules/store"
)

// Tests of the mail block: e-mail verification, password reset and change,
// through Caddy over HTTPS with the outbox and with a real SMTP conversation,
// and of the hardening that came with them (enumeration-safe answers, the
// lockout counted before the password check, the CSRF seed rotating with
// the session).

const otherRedirect = "https://other.test/callback"

// outboxBlock is a mail block writing into dir.
func outboxBlock(dir string) string {
	return fmt.Sprintf("mail {\n\t\t\tfrom \"Course <noreply@localhost>\"\n\t\t\toutbox %s\n\t\t}\n\t\tip_limit off", dir)
}

// mailbox reads the messages a test's provider sent, in order.
type mailbox interface {
	wait(t *testing.T, n int) []string // the raw messages, at least n
}

type outbox struct{ dir string }

func (o outbox) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(o.dir, "*.eml"))
		sort.Strings(files)
		if len(files) >= n {
			var out []string
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails in the outbox %s, want %d", len(files), o.dir, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type relay struct{ s *fakesmtp.Server }

func (r relay) wait(t *testing.T, n int) []string {
	t.Helper()
	got := r.s.Wait(n, 30*time.Second)
	if len(got) < n {
		t.Fatalf("%d mails at the relay, want %d", len(got), n)
	}
	var out []string
	for _, m := range got {
		if !m.TLS || m.Username != "mailer" {
			t.Fatalf("mail delivered without TLS or AUTH: %+v", m)
		}
		out = append(out, m.Data)
	}
	return out
}

var linkRE = regexp.MustCompile(`https://localhost:\d+/oauth2/(verify-email|reset-password|sign-in)(\?token=[A-Za-z0-9_-]+(&request_id=[A-Za-z0-9_-]+)?)?`)

// mailLink returns the recipient, subject and first link of a raw message
// (quoted-printable soft breaks undone).
func mailLink(t *testing.T, raw string) (to, subject, link string) {
	t.Helper()
	body := strings.ReplaceAll(strings.ReplaceAll(raw, "=\r\n", ""), "=3D", "=")
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, "To: "); ok && to == "" {
			to = v
		}
		if v, ok := strings.CutPrefix(line, "Subject: "); ok && subject == "" {
			subject = v
		}
	}
	return to, subject, linkRE.FindString(body)
}

// authorizeOther starts a code flow for the skip_consent client other.
func authorizeOther(issuer string, pk pkcePair) string {
	return issuer + "/oauth2/authorize?" + url.Values{"client_id": {"other"}, "redirect_uri": {otherRedirect},
		"response_type": {"code"}, "scope": {"openid email offline_access"}, "state": {"s1"},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"}}.Encode()
}

// signUpFrom opens the sign-up form of an authorization (or a bare one) and
// posts it.
func (b *browser) signUp(issuer, authURL, email, pw string) *page {
	b.t.Helper()
	reqID := ""
	if authURL != "" {
		p := b.follow(b.get(authURL), "https://other.test")
		_, vals := p.form(b.t, "sign-in")
		reqID = vals.Get("request_id")
	}
	p := b.get(issuer + "/oauth2/sign-up?request_id=" + url.QueryEscape(reqID))
	action, vals := p.form(b.t, "sign-up")
	vals.Set("email", email)
	vals.Set("name", "Alice Example")
	vals.Set("password", pw)
	return b.post(action, vals)
}

func (b *browser) signIn(issuer, email, pw string) *page {
	b.t.Helper()
	p := b.get(issuer + "/oauth2/sign-in")
	action, vals := p.form(b.t, "sign-in")
	vals.Set("email", email)
	vals.Set("password", pw)
	return b.post(action, vals)
}

// exchange redeems a code of client other and returns the token response.
func exchange(t *testing.T, c *testutil.Caddy, issuer, callback string, pk pkcePair) map[string]any {
	t.Helper()
	u, _ := url.Parse(callback)
	p := postForm(t, c.Client, issuer+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {otherRedirect}, "code_verifier": {pk.verifier}}, "other", "other-secret-0123456789")
	tok := map[string]any{}
	if err := jsonUnmarshal(p.body, &tok); err != nil || p.status != 200 {
		t.Fatalf("token exchange: %d %s", p.status, p.body)
	}
	return tok
}

func countEvents(t *testing.T, db *store.DB, event, outcome string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM auth_events WHERE event = ? AND outcome = ?", event, outcome).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// runAccountFlow is the whole story on one provider: sign-up mails a link,
// the link verifies and signs in (tokens say email_verified true), a reset
// link sets a new password and ends every session and refresh token, bad
// links get a clear page, and every step is an audit row.
func runAccountFlow(t *testing.T, c *testutil.Caddy, issuer string, box mailbox, db *store.DB) {
	const email = "alice@example.com"
	br := newBrowser(t, c)
	pk := newPKCE()
	p := br.signUp(issuer, authorizeOther(issuer, pk), email, testPassword)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="resend"`) || !strings.Contains(p.body, "Check your inbox") {
		t.Fatalf("sign-up answered %d:\n%s", p.status, p.body)
	}
	mails := box.wait(t, 1)
	to, subject, link := mailLink(t, mails[0])
	if !strings.Contains(to, email) || subject == "" || !strings.Contains(link, "/oauth2/verify-email?token=") || !strings.Contains(link, "request_id=") {
		t.Fatalf("verification mail to %q, subject %q, link %q:\n%s", to, subject, link, mails[0])
	}
	// The link signs in and resumes the authorization.
	p = br.follow(br.get(link), otherRedirect)
	if !strings.HasPrefix(p.location, otherRedirect) {
		t.Fatalf("verification link ended at %d %s\n%s", p.status, p.url, p.body)
	}
	tok := exchange(t, c, issuer, p.location, pk)
	idt := decodeJWT(t, tok["id_token"].(string))
	if idt.payload["email_verified"] != true {
		t.Fatalf("ID token after verification: %v", idt.payload)
	}
	refresh, _ := tok["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("no refresh token to prove the reset revokes it")
	}
	// The link is single-use.
	if p = br.get(link); p.status != http.StatusBadRequest || !strings.Contains(p.body, "invalid, has expired or was already used") {
		t.Fatalf("second use of a verification link: %d\n%s", p.status, p.body)
	}

	// Forgot password: a link by mail, a new password, every session and
	// refresh token ended.
	other := newBrowser(t, c)
	p = other.get(issuer + "/oauth2/sign-in")
	if !strings.Contains(p.body, `id="forgot"`) {
		t.Fatalf("no forgot-password link on the sign-in page:\n%s", p.body)
	}
	p = other.get(issuer + "/oauth2/forgot-password")
	action, vals := p.form(t, "forgot-password")
	vals.Set("email", email)
	if p = other.post(action, vals); p.status != http.StatusOK {
		t.Fatalf("forgot: %d\n%s", p.status, p.body)
	}
	mails = box.wait(t, 2)
	_, _, link = mailLink(t, mails[1])
	if !strings.Contains(link, "/oauth2/reset-password?token=") {
		t.Fatalf("reset mail without a link:\n%s", mails[1])
	}
	p = other.get(link)
	action, vals = p.form(t, "reset-password")
	vals.Set("password", "short")
	if p = other.post(action, vals); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="violations"`) {
		t.Fatalf("weak password on reset: %d\n%s", p.status, p.body)
	}
	const newPassword = "Brand-New-Horse-77"
	vals.Set("password", newPassword)
	if p = other.post(action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "Password changed") {
		t.Fatalf("reset: %d\n%s", p.status, p.body)
	}
	// (The reset rotated the CSRF seed with the session: reload the form.)
	p = other.get(link)
	action, vals = p.form(t, "reset-password")
	vals.Set("password", newPassword)
	if p = other.post(action, vals); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Ask for a new one") {
		t.Fatalf("second use of a reset link: %d\n%s", p.status, p.body)
	}
	r := postForm(t, c.Client, issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
		"other", "other-secret-0123456789")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_grant") {
		t.Fatalf("refresh after a reset: %d %s", r.status, r.body)
	}
	// The first browser's session is gone: authorizing shows the sign-in page.
	if p = br.follow(br.get(authorizeOther(issuer, newPKCE())), otherRedirect); !strings.Contains(p.body, `id="sign-in"`) {
		t.Fatalf("the session survived the reset: %d %s", p.status, p.location)
	}
	if p = other.signIn(issuer, email, testPassword); p.status != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d", p.status)
	}
	if p = other.signIn(issuer, email, newPassword); p.status != http.StatusOK {
		t.Fatalf("new password after reset: %d\n%s", p.status, p.body)
	}

	// Change password (signed in): old password required.
	p = other.get(issuer + "/oauth2/change-password")
	action, vals = p.form(t, "change-password")
	vals.Set("current_password", "Wrong-Password-99")
	vals.Set("new_password", testPassword)
	if p = other.post(action, vals); p.status != http.StatusUnauthorized {
		t.Fatalf("change with a wrong current password: %d\n%s", p.status, p.body)
	}
	_, vals = p.form(t, "change-password")
	vals.Set("current_password", newPassword)
	vals.Set("new_password", testPassword)
	if p = other.post(action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "Password changed") {
		t.Fatalf("change: %d\n%s", p.status, p.body)
	}
	if p = other.get(issuer + "/oauth2/change-password"); p.status != http.StatusOK {
		t.Fatalf("the changing browser should stay signed in: %d", p.status)
	}
	if p = newBrowser(t, c).get(issuer + "/oauth2/change-password"); p.status != http.StatusUnauthorized {
		t.Fatalf("change-password without a session: %d", p.status)
	}

	// Bad input: a clear page, never a 500.
	for _, u := range []string{
		"/oauth2/verify-email", "/oauth2/verify-email?token=", "/oauth2/verify-email?token=nope",
		"/oauth2/verify-email?token=" + strings.Repeat("a", 5000), "/oauth2/reset-password", "/oauth2/reset-password?token=" + strings.Repeat("b", 5000),
	} {
		if p := newBrowser(t, c).get(issuer + u); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Link not valid") {
			t.Fatalf("GET %s: %d\n%s", u[:min(len(u), 60)], p.status, p.body)
		}
	}
	bb := newBrowser(t, c)
	p = bb.get(issuer + "/oauth2/reset-password?token=unknown-token")
	action, vals = p.form(t, "reset-password")
	vals.Set("password", "Another-Good-Pass-1")
	if p = bb.post(action, vals); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Link not valid") {
		t.Fatalf("reset with an unknown token: %d", p.status)
	}
	p = bb.get(issuer + "/oauth2/forgot-password")
	action, vals = p.form(t, "forgot-password")
	vals.Set("email", strings.Repeat("x", 300)+"@example.com")
	if p = bb.post(action, vals); p.status != http.StatusBadRequest || !strings.Contains(p.body, "valid e-mail") {
		t.Fatalf("oversized address on forgot: %d", p.status)
	}
	var users int
	_ = db.QueryRow(context.Background(), "SELECT COUNT(*) FROM users").Scan(&users)
	if users != 1 {
		t.Fatalf("%d users, want 1", users)
	}

	for _, ev := range [][2]string{{evVerifySent, "success"}, {evEmailVerified, "success"}, {evEmailVerified, "failure"},
		{evResetRequested, "success"}, {evPasswordReset, "success"}, {evPasswordReset, "failure"},
		{evPasswordChanged, "success"}, {evPasswordChanged, "failure"}} {
		if countEvents(t, db, ev[0], ev[1]) == 0 {
			t.Errorf("no auth_events row %s/%s", ev[0], ev[1])
		}
	}
}

func TestAccountFlowWithOutbox(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		c, issuer := startProvider(t, database, outboxBlock(dir))
		runAccountFlow(t, c, issuer, outbox{dir}, openDB(t, database))
	})
}

func TestAccountFlowOverSMTP(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		s := fakesmtp.Start(t)
		s.Username, s.Password = "mailer", "relay-pass-123"
		testSMTPTLS = s.ClientTLS
		t.Cleanup(func() { testSMTPTLS = nil })
		os.Setenv("OIDC_TEST_SMTP_PASSWORD", s.Password)
		c, issuer := startProvider(t, database, fmt.Sprintf(`mail {
			from "Course <noreply@localhost>"
			smtp %s {
				username mailer
				password {env.OIDC_TEST_SMTP_PASSWORD}
				tls starttls
			}
		}
		ip_limit off`, s.Addr))
		runAccountFlow(t, c, issuer, relay{s}, openDB(t, database))
	})
}

// normalize removes what legitimately differs between two answers: the
// address typed and the CSRF token (bound to each browser's cookie).
var csrfValueRE = regexp.MustCompile(`name="csrf_token" value="[^"]*"`)

func normalize(body string, emails ...string) string {
	for _, e := range emails {
		body = strings.ReplaceAll(body, e, "EMAIL")
	}
	return csrfValueRE.ReplaceAllString(body, `name="csrf_token" value=""`)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// sameClass fails when two medians differ by more than a factor of five
// and more than 250 ms: loose on purpose (a shared machine), it still
// catches an answer that skips the password hash or a mail.
func sameClass(t *testing.T, what string, a, b []time.Duration) {
	t.Helper()
	ma, mb := median(a), median(b)
	hi, lo := max(ma, mb), min(ma, mb)
	if hi > 5*lo && hi-lo > 250*time.Millisecond {
		t.Errorf("%s: medians %s and %s are not of the same class", what, ma, mb)
	}
}

// Sign-up of a taken address, a reset for an unknown address and a failed
// sign-in for an unknown address answer exactly like their counterparts.
func TestAccountEnumeration(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		c, issuer := startProvider(t, database, outboxBlock(dir))
		box := outbox{dir}
		const owner = "owner@example.com"
		if p := newBrowser(t, c).signUp(issuer, "", owner, testPassword); p.status != http.StatusOK {
			t.Fatalf("first sign-up: %d", p.status)
		}
		box.wait(t, 1)

		var fresh, taken []time.Duration
		var freshPage, takenPage *page
		for i := range 5 {
			addr := fmt.Sprintf("new%d@example.com", i)
			start := time.Now()
			freshPage = newBrowser(t, c).signUp(issuer, "", addr, testPassword)
			fresh = append(fresh, time.Since(start))
			start = time.Now()
			takenPage = newBrowser(t, c).signUp(issuer, "", owner, "Other-Password-12")
			taken = append(taken, time.Since(start))
			if freshPage.status != takenPage.status || normalize(freshPage.body, addr) != normalize(takenPage.body, owner) {
				t.Fatalf("sign-up answers differ: %d vs %d\n%s\n----\n%s", freshPage.status, takenPage.status, freshPage.body, takenPage.body)
			}
			if slices.Contains(freshPage.header.Values("Set-Cookie"), "session") != slices.Contains(takenPage.header.Values("Set-Cookie"), "session") {
				t.Fatal("cookies differ")
			}
		}
		sameClass(t, "sign-up new vs taken", fresh, taken)
		// The owner was told (account-exists), within the per-address mail limit.
		mails := box.wait(t, 7)
		notices := 0
		for _, m := range mails {
			if to, _, link := mailLink(t, m); strings.Contains(to, owner) && strings.Contains(link, "/oauth2/sign-in") {
				notices++
			}
		}
		if notices == 0 || notices > 3 {
			t.Fatalf("%d account-exists notices to the owner, want 1..3", notices)
		}

		forgot := func(addr string) (*page, time.Duration) {
			b := newBrowser(t, c)
			p := b.get(issuer + "/oauth2/forgot-password")
			action, vals := p.form(t, "forgot-password")
			vals.Set("email", addr)
			start := time.Now()
			p = b.post(action, vals)
			return p, time.Since(start)
		}
		var known, unknown []time.Duration
		for range 5 {
			pk, dk := forgot(owner)
			pu, du := forgot("nobody@example.com")
			known, unknown = append(known, dk), append(unknown, du)
			if pk.status != pu.status || normalize(pk.body, owner) != normalize(pu.body, "nobody@example.com") {
				t.Fatalf("forgot answers differ: %d vs %d\n%s\n----\n%s", pk.status, pu.status, pk.body, pu.body)
			}
		}
		sameClass(t, "reset known vs unknown", known, unknown)

		var wrong, nobody []time.Duration
		for i := range 3 { // under the lockout of 5
			b := newBrowser(t, c)
			start := time.Now()
			pw := b.signIn(issuer, owner, "Wrong-Password-"+fmt.Sprint(i))
			wrong = append(wrong, time.Since(start))
			start = time.Now()
			pn := newBrowser(t, c).signIn(issuer, "ghost@example.com", "Wrong-Password-"+fmt.Sprint(i))
			nobody = append(nobody, time.Since(start))
			if pw.status != pn.status || normalize(pw.body, owner) != normalize(pn.body, "ghost@example.com") {
				t.Fatalf("failed sign-ins differ: %d vs %d", pw.status, pn.status)
			}
		}
		sameClass(t, "sign-in wrong password vs unknown user", wrong, nobody)
	})
}

// 30 simultaneous wrong attempts on one account from 30 addresses: with a
// lockout of 3, exactly 3 reach the password check; the right password
// afterwards is refused too. (A right password inside the burst may be one
// of the 3 and clear the count, as a success should.) Counting after the check let every attempt of
// a burst through.
func TestLockoutRace(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c, issuer := startProvider(t, database, "lockout 3 30m\n\t\tip_limit off")
		const email = "race@example.com"
		if p := newBrowser(t, c).signUp(issuer, "", email, testPassword); p.status != http.StatusOK {
			t.Fatalf("sign-up: %d", p.status)
		}
		type attempt struct {
			b      *browser
			action string
			vals   url.Values
		}
		var attempts []attempt
		for i := range 30 {
			b := newBrowser(t, c)
			p := b.get(issuer + "/oauth2/sign-in")
			action, vals := p.form(t, "sign-in")
			vals.Set("email", email)
			vals.Set("password", "Wrong-Password-"+fmt.Sprint(i))
			attempts = append(attempts, attempt{b, action, vals})
		}
		statuses := make([]int, len(attempts))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, a := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest(http.MethodPost, a.action, strings.NewReader(a.vals.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
				resp, err := a.b.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		checked := 0
		for _, s := range statuses {
			if s != http.StatusTooManyRequests {
				checked++
			}
		}
		if checked != 3 {
			t.Fatalf("%d attempts reached the password check, want 3 (statuses %v)", checked, statuses)
		}
		if p := newBrowser(t, c).signIn(issuer, email, testPassword); p.status != http.StatusTooManyRequests {
			t.Fatalf("the right password on a locked account: %d", p.status)
		}
	})
}

// csrfCookie is the CSRF seed the browser holds for the issuer.
func (b *browser) csrfCookie(issuer string) string {
	u, _ := url.Parse(issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if strings.HasSuffix(c.Name, "oidc_csrf") {
			return c.Value
		}
	}
	return ""
}

// The CSRF seed changes at sign-in and at sign-out, so a form token read
// before sign-in does not work after it.
func TestCSRFSeedRotatesWithSession(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c, issuer := startProvider(t, database, "")
		b := newBrowser(t, c)
		if p := b.signUp(issuer, "", "csrf@example.com", testPassword); p.status != http.StatusOK {
			t.Fatalf("sign-up: %d", p.status)
		}
		p := b.get(issuer + "/oauth2/sign-out")
		action, vals := p.form(t, "sign-out")
		before := b.csrfCookie(issuer)
		if p = b.post(action, vals); p.status != http.StatusOK {
			t.Fatalf("sign-out: %d\n%s", p.status, p.body)
		}
		afterOut := b.csrfCookie(issuer)
		if afterOut == "" || afterOut == before {
			t.Fatalf("the CSRF seed did not change at sign-out")
		}
		p = b.get(issuer + "/oauth2/sign-in")
		action, vals = p.form(t, "sign-in")
		vals.Set("email", "csrf@example.com")
		vals.Set("password", testPassword)
		if p = b.post(action, vals); p.status != http.StatusOK {
			t.Fatalf("sign-in: %d", p.status)
		}
		if after := b.csrfCookie(issuer); after == "" || after == afterOut {
			t.Fatalf("the CSRF seed did not change at sign-in")
		}
		// The pre-sign-in form token no longer matches.
		if p = b.post(action, vals); p.status != http.StatusForbidden {
			t.Fatalf("a form token from before sign-in was accepted: %d", p.status)
		}
	})
}

// require_verified_email stops an unverified user at "check your inbox";
// its button sends a new link, which continues the authorization.
func TestRequireVerifiedEmail(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		c, issuer := startProvider(t, database, outboxBlock(dir)+"\n\t\trequire_verified_email")
		box := outbox{dir}
		const email = "late@example.com"
		b := newBrowser(t, c)
		if p := b.signUp(issuer, "", email, testPassword); p.status != http.StatusOK {
			t.Fatalf("sign-up: %d", p.status)
		}
		box.wait(t, 1)
		pk := newPKCE()
		p := b.follow(b.get(authorizeOther(issuer, pk)), otherRedirect)
		action, vals := p.form(t, "sign-in")
		vals.Set("email", email)
		vals.Set("password", testPassword)
		p = b.follow(b.post(action, vals), otherRedirect)
		if p.status != http.StatusOK || !strings.Contains(p.url, "/oauth2/check-inbox") {
			t.Fatalf("an unverified user got through: %d %s %s", p.status, p.url, p.location)
		}
		action, vals = p.form(t, "resend")
		if p = b.post(action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "Check your inbox") {
			t.Fatalf("resend: %d\n%s", p.status, p.body)
		}
		mails := box.wait(t, 2)
		_, _, link := mailLink(t, mails[1])
		if !strings.Contains(link, "request_id=") {
			t.Fatalf("resent link %q has no request_id", link)
		}
		// Resends are limited per address (3 mails per 15 min, the sign-up's
		// included): the answer stays the same, the mails stop.
		for range 3 {
			p = b.get(issuer + "/oauth2/check-inbox")
			action, vals = p.form(t, "resend")
			if p = b.post(action, vals); p.status != http.StatusOK {
				t.Fatalf("resend over the limit: %d", p.status)
			}
		}
		time.Sleep(500 * time.Millisecond)
		if mails := box.wait(t, 3); len(mails) != 3 {
			t.Fatalf("%d mails after 4 resends, want 3 (the per-address limit)", len(mails))
		}
		if countEvents(t, openDB(t, database), evVerifySent, "failure") == 0 {
			t.Fatal("no audit row for a resend over the limit")
		}
		p = b.follow(b.get(link), otherRedirect)
		if !strings.HasPrefix(p.location, otherRedirect) {
			t.Fatalf("after verification: %d %s\n%s", p.status, p.url, p.body)
		}
		tok := exchange(t, c, issuer, p.location, pk)
		if decodeJWT(t, tok["id_token"].(string)).payload["email_verified"] != true {
			t.Fatal("email_verified is not true")
		}
	})
}
