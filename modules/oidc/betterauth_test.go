package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Tests of better_auth_api through Caddy over HTTPS on SQLite and
// PostgreSQL: Better-Auth's shapes, codes and cookie, and sessions shared
// with the hosted pages.

const baSecret = "better-auth-test-secret-0123456789abcdefghij"

// baCaddyfile is a site with the provider and the API side by side.
func baCaddyfile(database string, port int, outbox, extra string) string {
	return fmt.Sprintf(`{
	intellistack {
		database %s
		secret %s
	}
}

https://localhost {
	better_auth_api {
		trusted_origins https://app.test https://*.course.test
		secret {env.BA_TEST_SECRET}
		%s
	}
	oidc_provider {
		issuer https://localhost:%d
		client web {
			redirect_uri %s
			secret web-client-secret-value-0123456789
		}
		mail {
			from "Course <noreply@localhost>"
			outbox %s
		}
		ip_limit off
	}
	respond "passed through" 200
}
`, database, testSecret, extra, port, webRedirect, outbox)
}

// startBetterAuth starts Caddy with baCaddyfile (after a bootstrap config,
// as startProvider does, since the issuer names the port).
func startBetterAuth(t *testing.T, database, outbox, extra string) *testutil.Caddy {
	t.Helper()
	os.Setenv("BA_TEST_SECRET", baSecret)
	c := testutil.StartCaddy(t, fmt.Sprintf("{\n\tintellistack {\n\t\tdatabase %s\n\t\tsecret %s\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n", database, testSecret))
	if err := c.Load(baCaddyfile(database, c.HTTPSPort, outbox, extra)); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for ok := 0; ok < 20; {
		resp, err := c.NewClient().Get(c.URL("/api/auth/ok"))
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			ok++
			continue
		}
		ok = 0
		if time.Now().After(deadline) {
			t.Fatalf("the config never answered alone: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// baClient is a cookie-keeping client of the API.
type baClient struct {
	t      *testing.T
	c      *testutil.Caddy
	client *http.Client
	origin string // sent on POSTs ("" for none)
}

type baAnswer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (b *baClient) call(method, path string, body any) baAnswer {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			j, _ := json.Marshal(body)
			r = strings.NewReader(string(j))
		}
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = b.c.URL("/api/auth" + path)
	}
	req, _ := http.NewRequest(method, target, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.origin != "" && method == http.MethodPost {
		req.Header.Set("Origin", b.origin)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := baAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (a baAnswer) want(t *testing.T, status int, code string) baAnswer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if code != "" && a.body["code"] != code {
		t.Fatalf("code %v, want %s: %s", a.body["code"], code, a.raw)
	}
	return a
}

func (a baAnswer) user() map[string]any {
	u, _ := a.body["user"].(map[string]any)
	return u
}

func newBAClient(t *testing.T, c *testutil.Caddy) *baClient {
	client := c.NewClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &baClient{t: t, c: c, client: client, origin: "https://app.test"}
}

// baLinkRE finds the API's links in a mail (quoted-printable undone).
var baLinkRE = regexp.MustCompile(`https://localhost:\d+/api/auth/(reset-password/[A-Za-z0-9_-]+|verify-email\?token=[A-Za-z0-9_-]+)(&callbackURL=[^\s"<]*|\?callbackURL=[^\s"<]*)?`)

func baMailLink(t *testing.T, raw string) string {
	t.Helper()
	body := strings.ReplaceAll(strings.ReplaceAll(raw, "=\r\n", ""), "=3D", "=")
	link := baLinkRE.FindString(body)
	if link == "" {
		t.Fatalf("no API link in mail:\n%s", raw)
	}
	return link
}

func TestBetterAuthAPI(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		c := startBetterAuth(t, database, dir, "")
		box := outbox{dir}
		alice := newBAClient(t, c)

		// Sign-up: Better-Auth's body and signed cookie.
		up := alice.call("POST", "/sign-up/email", map[string]any{"name": "Alice Example", "email": "Alice@Example.com",
			"password": testPassword}).want(t, 200, "")
		token, _ := up.body["token"].(string)
		u := up.user()
		if token == "" || u["email"] != "alice@example.com" || u["emailVerified"] != false || u["image"] != nil ||
			u["name"] != "Alice Example" || u["role"] != "student" || u["banned"] != false {
			t.Fatalf("sign-up body: %s", up.raw)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", u["createdAt"].(string)); err != nil {
			t.Fatalf("createdAt: %v", err)
		}
		setCookie := up.header.Get("Set-Cookie")
		mac := hmac.New(sha256.New, []byte(baSecret))
		mac.Write([]byte(token))
		wantValue := url.QueryEscape(token + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		if !strings.HasPrefix(setCookie, "__Secure-better-auth.session_token="+wantValue+";") ||
			!strings.Contains(setCookie, "Max-Age=604800") || !strings.Contains(setCookie, "HttpOnly") ||
			!strings.Contains(setCookie, "Secure") || !strings.Contains(setCookie, "SameSite=Lax") || !strings.Contains(setCookie, "Path=/") {
			t.Fatalf("cookie %q, want value %s", setCookie, wantValue)
		}

		// The error cases the client surfaces.
		anon := newBAClient(t, c)
		anon.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "alice@example.com", "password": testPassword}).
			want(t, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
		anon.call("POST", "/sign-up/email", map[string]any{"name": "B", "email": "bob@example.com", "password": "short"}).
			want(t, 400, "PASSWORD_TOO_SHORT")
		anon.call("POST", "/sign-up/email", map[string]any{"name": "B", "email": "bob@example.com", "password": "longenoughbutweak"}).
			want(t, 400, "PASSWORD_NO_UPPERCASE")
		anon.call("POST", "/sign-up/email", map[string]any{"email": "bob@example.com", "password": testPassword}).
			want(t, 400, "VALIDATION_ERROR")
		anon.call("POST", "/sign-up/email", map[string]any{"name": "B", "email": "not-an-email", "password": testPassword}).
			want(t, 400, "VALIDATION_ERROR")
		anon.call("POST", "/sign-up/email", map[string]any{"name": "B", "email": "b@example.com", "password": testPassword, "role": "admin"}).
			want(t, 400, "FIELD_NOT_ALLOWED")
		anon.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "Wrong-Horse-42"}).
			want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
		anon.call("POST", "/sign-in/email", map[string]any{"email": "nobody@example.com", "password": testPassword}).
			want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
		anon.call("POST", "/sign-in/email", "{").want(t, 400, "BAD_REQUEST")
		anon.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": testPassword})
		if a := anon.call("GET", "/nope", nil); a.status != 404 || a.raw != "" {
			t.Fatalf("unknown path: %d %q", a.status, a.raw)
		}
		if a := anon.call("GET", "/get-session", nil).want(t, 200, ""); a.raw != "null" && anon.client.Jar != nil {
			// anon signed in just above: its cookie is live.
			if a.body["session"] == nil {
				t.Fatalf("get-session after sign-in: %s", a.raw)
			}
		}
		fresh := newBAClient(t, c)
		if a := fresh.call("GET", "/get-session", nil).want(t, 200, ""); a.raw != "null" || a.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("signed-out get-session: %s %v", a.raw, a.header)
		}
		fresh.call("GET", "/token", nil).want(t, 401, "UNAUTHORIZED")
		req, _ := http.NewRequest("POST", c.URL("/api/auth/sign-in/email"), strings.NewReader("x"))
		req.Header.Set("Content-Type", "text/plain")
		if resp, err := fresh.client.Do(req); err != nil || resp.StatusCode != 415 {
			t.Fatalf("text/plain sign-in: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		form := url.Values{"email": {"alice@example.com"}, "password": {testPassword}}
		req, _ = http.NewRequest("POST", c.URL("/api/auth/sign-in/email"), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := c.NewClient().Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("form sign-in: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}

		// get-session: session, user and the jwt plugin's header.
		gs := alice.call("GET", "/get-session", nil).want(t, 200, "")
		sess, _ := gs.body["session"].(map[string]any)
		if sess == nil || sess["token"] != token || sess["userId"] != u["id"] || gs.user()["email"] != "alice@example.com" {
			t.Fatalf("get-session: %s", gs.raw)
		}
		if gs.header.Get("Set-Auth-Jwt") == "" || !strings.Contains(gs.header.Get("Access-Control-Expose-Headers"), "set-auth-jwt") {
			t.Fatalf("get-session headers: %v", gs.header)
		}

		// Origin checks on cookie-bearing POSTs.
		alice.origin = ""
		alice.call("POST", "/update-user", map[string]any{"name": "Alice B"}).want(t, 403, "MISSING_OR_NULL_ORIGIN")
		alice.origin = "https://evil.test"
		alice.call("POST", "/update-user", map[string]any{"name": "Alice B"}).want(t, 403, "INVALID_ORIGIN")
		alice.origin = "https://lesson.course.test"
		alice.call("POST", "/update-user", map[string]any{"name": "Alice B"}).want(t, 200, "")
		alice.origin = "https://app.test"
		alice.call("POST", "/update-user", map[string]any{"email": "x@example.com"}).want(t, 400, "EMAIL_CAN_NOT_BE_UPDATED")
		if a := alice.call("POST", "/update-user", map[string]any{}).want(t, 400, ""); a.body["message"] != "No fields to update" {
			t.Fatalf("empty update: %s", a.raw)
		}
		if n := alice.call("GET", "/get-session", nil).user()["name"]; n != "Alice B" {
			t.Fatalf("name after update: %v", n)
		}

		// token: a JWT verifiable with jwks.
		tok := alice.call("GET", "/token", nil).want(t, 200, "").body["token"].(string)
		set, err := jwk.Parse([]byte(alice.call("GET", "/jwks", nil).want(t, 200, "").raw))
		if err != nil {
			t.Fatal(err)
		}
		payload, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true)))
		if err != nil {
			t.Fatalf("token does not verify with jwks: %v", err)
		}
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		if claims["sub"] != u["id"] || claims["email"] != "alice@example.com" || claims["exp"].(float64)-claims["iat"].(float64) != 900 {
			t.Fatalf("token claims: %s", payload)
		}

		// Sessions: the API session is a hosted-pages session, and the reverse.
		hosted := newBrowser(t, c)
		hosted.client.Jar = alice.client.Jar
		if p := hosted.get(c.URL("/oauth2/change-password")); p.status != 200 || !strings.Contains(p.body, "alice@example.com") {
			t.Fatalf("hosted page with the API's cookie: %d\n%s", p.status, p.body)
		}
		pages := newBrowser(t, c)
		p := pages.get(c.URL("/oauth2/sign-in"))
		action, vals := p.form(t, "sign-in")
		vals.Set("email", "alice@example.com")
		vals.Set("password", testPassword)
		if p = pages.post(action, vals); p.status != 200 {
			t.Fatalf("hosted sign-in: %d", p.status)
		}
		fromPages := &baClient{t: t, c: c, client: pages.client, origin: "https://app.test"}
		if a := fromPages.call("GET", "/get-session", nil); a.body["session"] == nil {
			t.Fatalf("the hosted pages' session on the API: %s", a.raw)
		}
		list := alice.call("GET", "/list-sessions", nil).want(t, 200, "")
		var sessions []map[string]any
		_ = json.Unmarshal([]byte(list.raw), &sessions)
		if len(sessions) != 4 { // sign-up, anon's sign-in, the form sign-in, the hosted pages
			t.Fatalf("list-sessions: %s", list.raw)
		}
		// Revoke the hosted pages' session by the token list-sessions gave.
		var other string
		for _, s := range sessions {
			if s["token"] != token && s["createdAt"] == sessions[len(sessions)-1]["createdAt"] {
				other = s["token"].(string)
			}
		}
		alice.call("POST", "/revoke-session", map[string]any{"token": other}).want(t, 200, "")
		if a := fromPages.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("revoked session still live: %s", a.raw)
		}
		alice.call("POST", "/revoke-other-sessions", nil).want(t, 200, "")
		if a := anon.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("other session still live: %s", a.raw)
		}
		list = alice.call("GET", "/list-sessions", nil).want(t, 200, "")
		if !strings.HasPrefix(list.raw, "[{") || strings.Count(list.raw, `"userId"`) != 1 {
			t.Fatalf("after revoke-other-sessions: %s", list.raw)
		}

		// change-password: wrong current password, then a real change.
		alice.call("POST", "/change-password", map[string]any{"currentPassword": "Wrong-Horse-42", "newPassword": "New-Horse-4242"}).
			want(t, 400, "INVALID_PASSWORD")
		alice.call("POST", "/change-password", map[string]any{"currentPassword": testPassword, "newPassword": "short"}).
			want(t, 400, "PASSWORD_TOO_SHORT")
		ch := alice.call("POST", "/change-password", map[string]any{"currentPassword": testPassword, "newPassword": "New-Horse-4242"}).
			want(t, 200, "")
		if ch.body["token"] == nil || ch.body["token"] == token {
			t.Fatalf("change-password: %s", ch.raw)
		}
		alice.call("GET", "/get-session", nil).want(t, 200, "")
		anon.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "New-Horse-4242"}).want(t, 200, "")

		// Password reset by mail.
		anon2 := newBAClient(t, c)
		if a := anon2.call("POST", "/request-password-reset", map[string]any{"email": "nobody@example.com", "redirectTo": "/reset"}).
			want(t, 200, ""); a.body["message"] != msgResetSent || a.body["status"] != true {
			t.Fatalf("reset unknown: %s", a.raw)
		}
		anon2.call("POST", "/request-password-reset", map[string]any{"email": "alice@example.com", "redirectTo": "/reset"}).want(t, 200, "")
		mails := box.wait(t, 2) // the sign-up's verification, the reset
		link := baMailLink(t, mails[len(mails)-1])
		if !strings.Contains(link, "/reset-password/") || !strings.HasSuffix(link, "callbackURL=%2Freset") {
			t.Fatalf("reset link %s", link)
		}
		redirect := anon2.call("GET", link, nil)
		resetToken := strings.TrimPrefix(strings.Split(link, "/reset-password/")[1], "")
		resetToken = strings.Split(resetToken, "?")[0]
		if redirect.status != 302 || redirect.header.Get("Location") != c.URL("/reset?token="+resetToken) {
			t.Fatalf("reset link answer %d %v", redirect.status, redirect.header)
		}
		anon2.call("POST", "/reset-password", map[string]any{"token": resetToken, "newPassword": "weak"}).want(t, 400, "PASSWORD_TOO_SHORT")
		anon2.call("POST", "/reset-password", map[string]any{"token": resetToken, "newPassword": "Reset-Horse-777"}).want(t, 200, "")
		anon2.call("POST", "/reset-password", map[string]any{"token": resetToken, "newPassword": "Reset-Horse-777"}).want(t, 400, "INVALID_TOKEN")
		anon2.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "New-Horse-4242"}).
			want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
		anon2.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "Reset-Horse-777"}).want(t, 200, "")

		// E-mail verification: the sign-up's mail, then a resend.
		verify := baMailLink(t, mails[0])
		if !strings.Contains(verify, "/verify-email?token=") {
			t.Fatalf("verification link %s", verify)
		}
		anon2.call("POST", "/send-verification-email", map[string]any{"email": "bob@example.com"}).want(t, 400, "EMAIL_MISMATCH")
		anon2.call("POST", "/send-verification-email", map[string]any{"email": "alice@example.com", "callbackURL": "/verified"}).want(t, 200, "")
		mails = box.wait(t, 3)
		resend := baMailLink(t, mails[2])
		if a := anon2.call("GET", strings.Split(resend, "&")[0], nil).want(t, 200, ""); a.raw != `{"status":true,"user":null}` {
			t.Fatalf("verify-email: %s", a.raw)
		}
		if v := anon2.call("GET", "/get-session", nil).user()["emailVerified"]; v != true {
			t.Fatalf("emailVerified after verify: %v", v)
		}
		anon2.call("GET", "/verify-email?token=abc.def.ghi", nil).want(t, 401, "INVALID_TOKEN")
		if a := anon2.call("GET", "/verify-email?token=abc&callbackURL=%2Fdone", nil); a.status != 302 || a.header.Get("Location") != "/done?error=INVALID_TOKEN" {
			t.Fatalf("bad token with callback: %d %v", a.status, a.header)
		}

		// revoke-sessions and sign-out.
		anon2.call("POST", "/revoke-sessions", nil).want(t, 200, "")
		if a := anon2.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("after revoke-sessions: %s", a.raw)
		}
		out := anon.call("POST", "/sign-out", nil).want(t, 200, "")
		if out.raw != `{"success":true}` || len(out.header.Values("Set-Cookie")) != 3 {
			t.Fatalf("sign-out: %s %v", out.raw, out.header.Values("Set-Cookie"))
		}
		if a := anon.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("after sign-out: %s", a.raw)
		}
		// Other paths pass through.
		if a := anon.call("GET", c.URL("/elsewhere"), nil); a.raw != "passed through" {
			t.Fatalf("pass-through: %s", a.raw)
		}
	})
}

func TestBetterAuthHideExistingUsers(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := startBetterAuth(t, database, t.TempDir(), "hide_existing_users")
		a := newBAClient(t, c)
		first := a.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": testPassword}).want(t, 200, "")
		b := newBAClient(t, c)
		dup := b.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": testPassword}).want(t, 200, "")
		if dup.body["token"] != nil || dup.user()["id"] == first.user()["id"] || dup.header.Get("Set-Cookie") != "" {
			t.Fatalf("hidden duplicate: %s %v", dup.raw, dup.header)
		}
	})
}

func TestBetterAuthAdmin(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := startBetterAuth(t, database, t.TempDir(), "")
		admin, bob, anon := newBAClient(t, c), newBAClient(t, c), newBAClient(t, c)
		adminID := admin.call("POST", "/sign-up/email", map[string]any{"name": "Ada", "email": "ada@example.com", "password": testPassword}).
			want(t, 200, "").user()["id"].(string)
		bobID := bob.call("POST", "/sign-up/email", map[string]any{"name": "Bob", "email": "bob@example.com", "password": testPassword}).
			want(t, 200, "").user()["id"].(string)
		if _, err := storage.New(openDB(t, database)).SetRole(context.Background(), adminID, "admin", time.Now()); err != nil {
			t.Fatal(err)
		}

		if a := anon.call("GET", "/admin/list-users", nil); a.status != 401 || a.raw != "" || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("unauthenticated list-users: %d %q %v", a.status, a.raw, a.header)
		}
		bob.call("GET", "/admin/list-users", nil).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
		if a := admin.call("GET", "/admin/list-users?limit=10", nil).want(t, 200, ""); a.body["total"] != 2.0 || a.body["limit"] != 10.0 {
			t.Fatalf("list-users: %s", a.raw)
		}
		if a := admin.call("GET", "/admin/list-users?searchValue=bob", nil).want(t, 200, ""); a.body["total"] != 1.0 || a.body["limit"] != nil {
			t.Fatalf("list-users search: %s", a.raw)
		}
		if a := admin.call("POST", "/admin/set-role", map[string]any{"userId": bobID, "role": []string{"student", "instructor"}}).
			want(t, 200, ""); a.user()["role"] != "student,instructor" {
			t.Fatalf("set-role: %s", a.raw)
		}
		admin.call("POST", "/admin/set-role", map[string]any{"userId": bobID, "role": "wizard"}).
			want(t, 400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE")
		admin.call("POST", "/admin/set-role", map[string]any{"userId": "nobody", "role": "student"}).want(t, 404, "USER_NOT_FOUND")
		bob.call("POST", "/admin/set-role", map[string]any{"userId": bobID, "role": "admin"}).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")

		ban := admin.call("POST", "/admin/ban-user", map[string]any{"userId": bobID, "banReason": "spam", "banExpiresIn": 3600}).want(t, 200, "")
		if u := ban.user(); u["banned"] != true || u["banReason"] != "spam" || u["banExpires"] == nil {
			t.Fatalf("ban-user: %s", ban.raw)
		}
		if a := bob.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("banned user's session: %s", a.raw)
		}
		anon.call("POST", "/sign-in/email", map[string]any{"email": "bob@example.com", "password": testPassword}).want(t, 403, "BANNED_USER")
		admin.call("POST", "/admin/ban-user", map[string]any{"userId": adminID}).want(t, 400, "YOU_CANNOT_BAN_YOURSELF")
		if a := admin.call("POST", "/admin/unban-user", map[string]any{"userId": bobID}).want(t, 200, ""); a.user()["banned"] != false {
			t.Fatalf("unban-user: %s", a.raw)
		}
		bob.call("POST", "/sign-in/email", map[string]any{"email": "bob@example.com", "password": testPassword}).want(t, 200, "")
		if a := admin.call("POST", "/admin/list-user-sessions", map[string]any{"userId": bobID}).want(t, 200, ""); len(a.body["sessions"].([]any)) != 1 {
			t.Fatalf("list-user-sessions: %s", a.raw)
		}
		admin.call("POST", "/admin/revoke-user-sessions", map[string]any{"userId": bobID}).want(t, 200, "")
		if a := bob.call("GET", "/get-session", nil); a.raw != "null" {
			t.Fatalf("after revoke-user-sessions: %s", a.raw)
		}
		admin.call("POST", "/admin/remove-user", map[string]any{"userId": adminID}).want(t, 400, "YOU_CANNOT_REMOVE_YOURSELF")
		admin.call("POST", "/admin/remove-user", map[string]any{"userId": bobID}).want(t, 200, "")
		admin.call("GET", "/admin/get-user?id="+bobID, nil).want(t, 404, "USER_NOT_FOUND")
		if a := admin.call("GET", "/admin/get-user?id="+adminID, nil).want(t, 200, ""); a.body["role"] != "admin" {
			t.Fatalf("get-user: %s", a.raw)
		}
	})
}

// rememberMe false: a browser-session cookie and dont_remember; a
// remembered session is refreshed by get-session after a day of use.
func TestBetterAuthSessionLifetime(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		clockOffset.Store(0)
		t.Cleanup(func() { clockOffset.Store(0) })
		c := startBetterAuth(t, database, t.TempDir(), "")
		a := newBAClient(t, c)
		a.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": testPassword}).want(t, 200, "")

		b := newBAClient(t, c)
		in := b.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": testPassword, "rememberMe": false}).want(t, 200, "")
		cookies := in.header.Values("Set-Cookie")
		if len(cookies) != 2 || strings.Contains(cookies[0], "Max-Age") || !strings.HasPrefix(cookies[1], "__Secure-better-auth.dont_remember=true.") {
			t.Fatalf("rememberMe=false cookies: %q", cookies)
		}
		s := b.call("GET", "/get-session", nil).want(t, 200, "").body["session"].(map[string]any)
		exp, _ := time.Parse(time.RFC3339, s["expiresAt"].(string))
		if d := time.Until(exp); d > 25*time.Hour || d < 23*time.Hour {
			t.Fatalf("rememberMe=false session lives %s", d)
		}

		first := a.call("GET", "/get-session", nil).want(t, 200, "")
		if first.header.Get("Set-Cookie") != "" {
			t.Fatalf("fresh session re-issued: %v", first.header)
		}
		before, _ := time.Parse(time.RFC3339, first.body["session"].(map[string]any)["expiresAt"].(string))
		advanceClock(36 * time.Hour)
		again := a.call("GET", "/get-session", nil).want(t, 200, "")
		after, _ := time.Parse(time.RFC3339, again.body["session"].(map[string]any)["expiresAt"].(string))
		if !after.After(before.Add(35*time.Hour)) || !strings.Contains(again.header.Get("Set-Cookie"), "Max-Age=604800") {
			t.Fatalf("session not refreshed: %s -> %s, %v", before, after, again.header)
		}
		if again := b.call("GET", "/get-session", nil); again.raw != "null" {
			t.Fatalf("rememberMe=false session after 36h: %s", again.raw)
		}
	})
}

// Form CSRF, callback URLs, the cookie domain, lockouts and the audit log.
func TestBetterAuthGuards(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := startBetterAuth(t, database, t.TempDir(), "cookie_domain localhost")
		a := newBAClient(t, c)
		up := a.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": testPassword}).want(t, 200, "")
		if !strings.Contains(up.header.Get("Set-Cookie"), "Domain=localhost") {
			t.Fatalf("cookie_domain: %v", up.header.Get("Set-Cookie"))
		}
		fresh := newBAClient(t, c)
		fresh.origin = "https://evil.test"
		fresh.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": testPassword}).want(t, 403, "INVALID_ORIGIN")
		fresh.origin = ""
		req, _ := http.NewRequest("POST", c.URL("/api/auth/sign-in/email"), strings.NewReader(`{"email":"a@example.com","password":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		if resp, err := c.NewClient().Do(req); err != nil || resp.StatusCode != 403 {
			t.Fatalf("cross-site navigation sign-in: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		fresh.origin = "https://app.test"
		fresh.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": testPassword, "callbackURL": "https://evil.test/x"}).
			want(t, 403, "INVALID_CALLBACK_URL")
		in := fresh.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": testPassword, "callbackURL": "https://app.test/home"}).
			want(t, 200, "")
		if in.body["redirect"] != true || in.body["url"] != "https://app.test/home" {
			t.Fatalf("sign-in with callbackURL: %s", in.raw)
		}
		a.call("POST", "/request-password-reset", map[string]any{"email": "a@example.com", "redirectTo": "https://evil.test/r"}).
			want(t, 403, "INVALID_REDIRECT_URL")

		// The provider's account lockout answers with Better-Auth's 429.
		for i := 0; i < 5; i++ {
			fresh.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": "Wrong-Horse-42"}).want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
		}
		locked := fresh.call("POST", "/sign-in/email", map[string]any{"email": "a@example.com", "password": testPassword}).want(t, 429, "")
		if locked.body["message"] != "Too many requests. Please try again later." || locked.header.Get("X-Retry-After") == "" {
			t.Fatalf("lockout: %s %v", locked.raw, locked.header)
		}

		events, err := storage.New(openDB(t, database)).ListEvents(context.Background(), storage.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range events {
			seen[e.Event+"/"+e.Outcome]++
		}
		if seen["sign_up/success"] != 1 || seen["sign_in/success"] != 1 || seen["sign_in/failure"] < 6 {
			t.Fatalf("audit events: %v", seen)
		}
	})
}
