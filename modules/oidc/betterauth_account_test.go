package oidc

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Tests of better_auth_api's change-email, delete-user and the admin
// plugin's create-user, update-user, set-user-password,
// revoke-user-session, has-permission and (refused) impersonation, through
// Caddy on SQLite and PostgreSQL.

// Off by default, answering as Better-Auth's defaults do.
func TestBetterAuthAccountDisabled(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := startBetterAuth(t, database, t.TempDir(), "")
		a, anon := newBAClient(t, c), newBAClient(t, c)
		a.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": testPassword}).want(t, 200, "")

		anon.call("POST", "/change-email", map[string]any{"newEmail": "b@example.com"}).want(t, 401, "UNAUTHORIZED")
		// The body schema comes before the session.
		anon.call("POST", "/change-email", map[string]any{"newEmail": "not-an-address"}).want(t, 400, "VALIDATION_ERROR")
		a.call("POST", "/change-email", map[string]any{"newEmail": "b@example.com"}).want(t, 400, "CHANGE_EMAIL_DISABLED")

		anon.call("POST", "/delete-user", map[string]any{}).want(t, 401, "UNAUTHORIZED")
		if d := a.call("POST", "/delete-user", map[string]any{"password": testPassword}); d.status != 404 || d.raw != "" ||
			d.header.Get("Content-Type") != "application/json" {
			t.Fatalf("disabled delete-user: %d %q %v", d.status, d.raw, d.header)
		}
		a.call("GET", "/delete-user/callback?token=x", nil).want(t, 404, "NOT_FOUND")
		a.call("GET", "/get-session", nil).want(t, 200, "")
	})
}

func TestBetterAuthChangeEmail(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		box := outbox{dir}
		c := startBetterAuth(t, database, dir, "change_email")
		alice, bob, anon := newBAClient(t, c), newBAClient(t, c), newBAClient(t, c)
		aliceID := alice.call("POST", "/sign-up/email", map[string]any{"name": "Alice", "email": "alice@example.com", "password": testPassword}).
			want(t, 200, "").user()["id"].(string)
		bob.call("POST", "/sign-up/email", map[string]any{"name": "Bob", "email": "bob@example.com", "password": testPassword}).want(t, 200, "")
		mails := len(box.wait(t, 2)) // the sign-up verifications

		alice.call("POST", "/change-email", map[string]any{"newEmail": "not-an-address"}).want(t, 400, "VALIDATION_ERROR")
		alice.call("POST", "/change-email", map[string]any{}).want(t, 400, "VALIDATION_ERROR")
		alice.call("POST", "/change-email", map[string]any{"newEmail": "alice@new.example", "callbackURL": "https://evil.test/x"}).
			want(t, 403, "INVALID_CALLBACK_URL")
		if same := alice.call("POST", "/change-email", map[string]any{"newEmail": "Alice@Example.com"}).want(t, 400, ""); same.raw != `{"message":"Email is the same"}` {
			t.Fatalf("same address: %s", same.raw)
		}
		// A taken address answers as a free one, and nothing is mailed.
		if taken := alice.call("POST", "/change-email", map[string]any{"newEmail": "bob@example.com"}).want(t, 200, ""); taken.raw != `{"status":true}` {
			t.Fatalf("taken address: %s", taken.raw)
		}
		if ok := alice.call("POST", "/change-email", map[string]any{"newEmail": "Alice@New.example", "callbackURL": "/done"}).want(t, 200, ""); ok.raw != `{"status":true}` {
			t.Fatalf("change-email: %s", ok.raw)
		}
		all := box.wait(t, mails+1)
		if len(all) != mails+1 {
			t.Fatalf("%d mails after change-email, want %d (none for the taken address)", len(all), mails+1)
		}
		mail := all[mails]
		if !strings.Contains(mail, "alice@new.example") {
			t.Fatalf("the link did not go to the new address:\n%s", mail)
		}
		link := baMailLink(t, mail)
		if !strings.Contains(link, "/api/auth/verify-email?token=") || !strings.HasSuffix(link, "callbackURL=%2Fdone") {
			t.Fatalf("change-email link: %s", link)
		}
		if u := alice.call("GET", "/get-session", nil).want(t, 200, "").user(); u["email"] != "alice@example.com" {
			t.Fatalf("the address changed before the link was followed: %v", u)
		}

		// Another signed-in user cannot spend it (redirected with the code).
		r := bob.call("GET", link, nil).want(t, 302, "")
		if loc := r.header.Get("Location"); loc != "/done?error=INVALID_USER" {
			t.Fatalf("someone else's link: %s", loc)
		}
		noCallback := strings.Split(link, "&callbackURL=")[0]
		done := anon.call("GET", noCallback, nil).want(t, 200, "")
		if u := done.user(); done.body["status"] != true || u["email"] != "alice@new.example" || u["emailVerified"] != true || u["id"] != aliceID {
			t.Fatalf("following the link: %s", done.raw)
		}
		anon.call("GET", noCallback, nil).want(t, 401, "INVALID_TOKEN")
		if u := alice.call("GET", "/get-session", nil).want(t, 200, "").user(); u["email"] != "alice@new.example" {
			t.Fatalf("session after the change: %v", u)
		}
		anon.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": testPassword}).want(t, 401, "INVALID_EMAIL_OR_PASSWORD")
		newBAClient(t, c).call("POST", "/sign-in/email", map[string]any{"email": "alice@new.example", "password": testPassword}).want(t, 200, "")

		// Taken between the request and the link: refused, nothing changes.
		alice.call("POST", "/change-email", map[string]any{"newEmail": "carol@example.com"}).want(t, 200, "")
		link = baMailLink(t, box.wait(t, mails+2)[mails+1])
		newBAClient(t, c).call("POST", "/sign-up/email", map[string]any{"name": "Carol", "email": "carol@example.com", "password": testPassword}).
			want(t, 200, "")
		r = anon.call("GET", link, nil).want(t, 302, "")
		if loc := r.header.Get("Location"); loc != "/?error=USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL" {
			t.Fatalf("a link to an address taken since: %s", loc)
		}
		// An ordinary verification link still works through the same path.
		anon.call("GET", "/verify-email?token=nope", nil).want(t, 401, "INVALID_TOKEN")

		events, err := storage.New(openDB(t, database)).ListEvents(context.Background(), storage.EventQuery{UserID: aliceID})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range events {
			seen[e.Event+"/"+e.Outcome]++
		}
		if seen["email_change_requested/success"] != 2 || seen["email_change_requested/failure"] != 1 || seen["email_changed/success"] != 1 {
			t.Fatalf("audit events: %v", seen)
		}
	})
}

func TestBetterAuthDeleteUser(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		clockOffset.Store(0)
		t.Cleanup(func() { clockOffset.Store(0) })
		c := startBetterAuth(t, database, t.TempDir(), "delete_user")
		alice, aliceToo, bob, anon := newBAClient(t, c), newBAClient(t, c), newBAClient(t, c), newBAClient(t, c)
		aliceID := alice.call("POST", "/sign-up/email", map[string]any{"name": "Alice", "email": "alice@example.com", "password": testPassword}).
			want(t, 200, "").user()["id"].(string)
		aliceToo.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": testPassword}).want(t, 200, "")
		bob.call("POST", "/sign-up/email", map[string]any{"name": "Bob", "email": "bob@example.com", "password": testPassword}).want(t, 200, "")

		// The deletion mail's link: this server sends none, so no token is known.
		anon.call("GET", "/delete-user/callback", nil).want(t, 400, "VALIDATION_ERROR")
		anon.call("GET", "/delete-user/callback?token=x&callbackURL="+url.QueryEscape("https://evil.test/"), nil).want(t, 403, "INVALID_CALLBACK_URL")
		anon.call("GET", "/delete-user/callback?token=x", nil).want(t, 404, "FAILED_TO_GET_USER_INFO")
		alice.call("GET", "/delete-user/callback?token=x", nil).want(t, 404, "INVALID_TOKEN")
		alice.call("POST", "/delete-user", map[string]any{"token": "x"}).want(t, 404, "INVALID_TOKEN")
		alice.call("POST", "/delete-user", map[string]any{"password": 42}).want(t, 400, "VALIDATION_ERROR")
		alice.call("POST", "/delete-user", map[string]any{"password": "Wrong-Horse-42"}).want(t, 400, "INVALID_PASSWORD")

		// A day after signing in, the password is needed (and list-sessions
		// refuses, as Better-Auth's freshSessionMiddleware).
		alice.call("GET", "/list-sessions", nil).want(t, 200, "")
		advanceClock(25 * time.Hour)
		alice.call("POST", "/delete-user", map[string]any{}).want(t, 400, "SESSION_EXPIRED")
		alice.call("GET", "/list-sessions", nil).want(t, 403, "SESSION_NOT_FRESH")
		anon.call("GET", "/list-sessions", nil).want(t, 401, "UNAUTHORIZED")
		bob.call("POST", "/delete-user", nil).want(t, 400, "SESSION_EXPIRED")
		fresh := newBAClient(t, c)
		bobID := fresh.call("POST", "/sign-in/email", map[string]any{"email": "bob@example.com", "password": testPassword}).want(t, 200, "").user()["id"].(string)
		if l := fresh.call("GET", "/list-sessions", nil).want(t, 200, ""); !strings.HasPrefix(l.raw, "[{") {
			t.Fatalf("list-sessions in a fresh session: %s", l.raw)
		}
		// A fresh session needs no password.
		if d := fresh.call("POST", "/delete-user", nil).want(t, 200, ""); d.raw != `{"message":"User deleted","success":true}` {
			t.Fatalf("delete-user in a fresh session: %s", d.raw)
		}

		d := alice.call("POST", "/delete-user", map[string]any{"password": testPassword, "callbackURL": "/bye"}).want(t, 200, "")
		if d.body["success"] != true || d.body["message"] != "User deleted" {
			t.Fatalf("delete-user: %s", d.raw)
		}
		if cookies := strings.Join(d.header.Values("Set-Cookie"), "\n"); !strings.Contains(cookies, "session_token=;") || !strings.Contains(cookies, "Max-Age=0") {
			t.Fatalf("cookies not expired: %s", cookies)
		}
		for _, cl := range []*baClient{alice, aliceToo, bob} {
			if s := cl.call("GET", "/get-session", nil); s.raw != "null" {
				t.Fatalf("a deleted user's session: %s", s.raw)
			}
		}
		anon.call("POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": testPassword}).want(t, 401, "INVALID_EMAIL_OR_PASSWORD")

		db := openDB(t, database)
		for _, id := range []string{aliceID, bobID} {
			for _, table := range []string{"users WHERE id", "sessions WHERE user_id", "accounts WHERE user_id", "verifications WHERE value"} {
				var n int
				if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table+" = ?", id).Scan(&n); err != nil || n != 0 {
					t.Fatalf("%s = deleted user: %d rows (%v)", table, n, err)
				}
			}
		}
		events, err := storage.New(db).ListEvents(context.Background(), storage.EventQuery{Event: evUserDeleted})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range events {
			seen[e.Outcome]++
			if e.Outcome == "success" && e.ActorID != e.UserID {
				t.Fatalf("own deletion recorded with actor %q for %q", e.ActorID, e.UserID)
			}
		}
		if seen["success"] != 2 || seen["failure"] != 1 {
			t.Fatalf("user_deleted events: %v", seen)
		}
	})
}

func TestBetterAuthAdminAccounts(t *testing.T) {
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

		// create-user: with Better-Auth's role "user" (a student), or an
		// array of roles, with or without a password.
		if a := anon.call("POST", "/admin/create-user", map[string]any{"email": "x@example.com", "name": "X"}); a.status != 401 || a.raw != "" {
			t.Fatalf("create-user signed out: %d %s", a.status, a.raw)
		}
		bob.call("POST", "/admin/create-user", map[string]any{"email": "x@example.com", "name": "X"}).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS")
		admin.call("POST", "/admin/create-user", map[string]any{"email": "x@example.com"}).want(t, 400, "VALIDATION_ERROR")
		admin.call("POST", "/admin/create-user", map[string]any{"email": "nope", "name": "X"}).want(t, 400, "INVALID_EMAIL")
		admin.call("POST", "/admin/create-user", map[string]any{"email": "bob@example.com", "name": "X"}).want(t, 400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
		admin.call("POST", "/admin/create-user", map[string]any{"email": "x@example.com", "name": "X", "role": "wizard"}).
			want(t, 400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE")
		admin.call("POST", "/admin/create-user", map[string]any{"email": "x@example.com", "name": "X", "password": "short"}).want(t, 400, "PASSWORD_TOO_SHORT")
		cu := admin.call("POST", "/admin/create-user", map[string]any{"email": "Carl@Example.com", "name": "Carl", "password": testPassword, "role": "user",
			"data": map[string]any{"emailVerified": true}}).want(t, 200, "")
		carl := cu.user()
		if carl["email"] != "carl@example.com" || carl["role"] != "student" || carl["emailVerified"] != true || carl["banned"] != false {
			t.Fatalf("create-user: %s", cu.raw)
		}
		carlID := carl["id"].(string)
		carlC := newBAClient(t, c)
		carlC.call("POST", "/sign-in/email", map[string]any{"email": "carl@example.com", "password": testPassword}).want(t, 200, "")
		dee := admin.call("POST", "/admin/create-user", map[string]any{"email": "dee@example.com", "name": "Dee", "role": []string{"user", "instructor"}}).
			want(t, 200, "").user()
		if dee["role"] != "student,instructor" {
			t.Fatalf("create-user with roles: %v", dee)
		}
		deeID := dee["id"].(string)
		anon.call("POST", "/sign-in/email", map[string]any{"email": "dee@example.com", "password": testPassword}).want(t, 401, "INVALID_EMAIL_OR_PASSWORD")

		// set-user-password gives Dee a password; Carl's replaced one ends
		// his sessions.
		bob.call("POST", "/admin/set-user-password", map[string]any{"userId": deeID, "newPassword": testPassword}).
			want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD")
		admin.call("POST", "/admin/set-user-password", map[string]any{"userId": deeID, "newPassword": ""}).want(t, 400, "VALIDATION_ERROR")
		admin.call("POST", "/admin/set-user-password", map[string]any{"userId": deeID, "newPassword": "short"}).want(t, 400, "PASSWORD_TOO_SHORT")
		admin.call("POST", "/admin/set-user-password", map[string]any{"userId": "nobody", "newPassword": testPassword}).want(t, 404, "USER_NOT_FOUND")
		if a := admin.call("POST", "/admin/set-user-password", map[string]any{"userId": deeID, "newPassword": testPassword}).want(t, 200, ""); a.raw != `{"status":true}` {
			t.Fatalf("set-user-password: %s", a.raw)
		}
		newBAClient(t, c).call("POST", "/sign-in/email", map[string]any{"email": "dee@example.com", "password": testPassword}).want(t, 200, "")
		admin.call("POST", "/admin/set-user-password", map[string]any{"userId": carlID, "newPassword": "Other-Horse-4242"}).want(t, 200, "")
		if s := carlC.call("GET", "/get-session", nil); s.raw != "null" {
			t.Fatalf("session after set-user-password: %s", s.raw)
		}
		carlC.call("POST", "/sign-in/email", map[string]any{"email": "carl@example.com", "password": "Other-Horse-4242"}).want(t, 200, "")

		// update-user answers the user itself.
		bob.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"name": "C"}}).
			want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID}).want(t, 400, "VALIDATION_ERROR")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{}}).want(t, 400, "NO_DATA_TO_UPDATE")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"password": "x"}}).
			want(t, 400, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"id": "x"}}).want(t, 400, "USER_ID_CANNOT_BE_UPDATED")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"email": "bob@example.com"}}).
			want(t, 400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"email": "nope"}}).want(t, 400, "INVALID_EMAIL")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": adminID, "data": map[string]any{"banned": true}}).want(t, 400, "YOU_CANNOT_BAN_YOURSELF")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": adminID, "data": map[string]any{"role": "user"}}).
			want(t, 400, "YOU_CANNOT_REMOVE_YOUR_OWN_ADMIN_ROLE")
		admin.call("POST", "/admin/update-user", map[string]any{"userId": "nobody", "data": map[string]any{"name": "N"}}).want(t, 404, "USER_NOT_FOUND")
		up := admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"name": "Carl B", "email": "Carl@B.example",
			"image": "https://img.test/c.png", "role": "instructor", "unknownField": 1}}).want(t, 200, "")
		if up.body["name"] != "Carl B" || up.body["email"] != "carl@b.example" || up.body["image"] != "https://img.test/c.png" || up.body["role"] != "instructor" {
			t.Fatalf("update-user: %s", up.raw)
		}
		ban := admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"banned": true, "banReason": "spam",
			"banExpires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}).want(t, 200, "")
		if ban.body["banned"] != true || ban.body["banReason"] != "spam" || ban.body["banExpires"] == nil {
			t.Fatalf("update-user ban: %s", ban.raw)
		}
		if s := carlC.call("GET", "/get-session", nil); s.raw != "null" {
			t.Fatalf("session of a user banned by update-user: %s", s.raw)
		}
		admin.call("POST", "/admin/update-user", map[string]any{"userId": carlID, "data": map[string]any{"banned": false, "banReason": nil, "banExpires": nil}}).
			want(t, 200, "")
		carlC.call("POST", "/sign-in/email", map[string]any{"email": "carl@b.example", "password": "Other-Horse-4242"}).want(t, 200, "")

		// revoke-user-session by the id list-user-sessions gives as token.
		list := admin.call("POST", "/admin/list-user-sessions", map[string]any{"userId": carlID}).want(t, 200, "").body["sessions"].([]any)
		if len(list) != 1 {
			t.Fatalf("carl's sessions: %v", list)
		}
		bob.call("POST", "/admin/revoke-user-session", map[string]any{"sessionToken": "x"}).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
		admin.call("POST", "/admin/revoke-user-session", map[string]any{"sessionToken": list[0].(map[string]any)["token"]}).want(t, 200, "")
		admin.call("POST", "/admin/revoke-user-session", map[string]any{"sessionToken": "unknown"}).want(t, 200, "")
		if s := carlC.call("GET", "/get-session", nil); s.raw != "null" {
			t.Fatalf("after revoke-user-session: %s", s.raw)
		}

		// has-permission: the admin's default statements, none for others.
		perm := func(cl *baClient, p map[string]any) baAnswer {
			return cl.call("POST", "/admin/has-permission", map[string]any{"permissions": p})
		}
		if a := perm(admin, map[string]any{"user": []string{"create", "ban"}, "session": []string{"revoke"}}).want(t, 200, ""); a.raw != `{"error":null,"success":true}` {
			t.Fatalf("has-permission of the admin: %s", a.raw)
		}
		for _, p := range []map[string]any{{"user": []string{"impersonate"}}, {"project": []string{"create"}}, {"user": []string{}}} {
			if a := perm(admin, p).want(t, 200, ""); a.body["success"] != false {
				t.Fatalf("has-permission %v: %s", p, a.raw)
			}
		}
		if a := perm(bob, map[string]any{"user": []string{"list"}}).want(t, 200, ""); a.body["success"] != false {
			t.Fatalf("has-permission of a student: %s", a.raw)
		}
		if a := perm(anon, map[string]any{"user": []string{"list"}}); a.status != 401 || a.raw != "" {
			t.Fatalf("has-permission signed out: %d %s", a.status, a.raw)
		}
		admin.call("POST", "/admin/has-permission", map[string]any{}).want(t, 400, "VALIDATION_ERROR")
		if a := admin.call("POST", "/admin/has-permission", map[string]any{"permission": map[string]any{"user": []string{"list"}}}).want(t, 400, ""); a.body["code"] != nil {
			t.Fatalf("has-permission with permission: %s", a.raw)
		}

		// Impersonation is refused for everyone.
		admin.call("POST", "/admin/impersonate-user", map[string]any{"userId": bobID}).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
		bob.call("POST", "/admin/impersonate-user", map[string]any{"userId": adminID}).want(t, 403, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
		if a := anon.call("POST", "/admin/impersonate-user", map[string]any{"userId": bobID}); a.status != 401 {
			t.Fatalf("impersonate signed out: %d", a.status)
		}
		if a := admin.call("POST", "/admin/stop-impersonating", nil).want(t, 400, ""); a.raw != `{"message":"You are not impersonating anyone"}` {
			t.Fatalf("stop-impersonating: %s", a.raw)
		}
		if a := anon.call("POST", "/admin/stop-impersonating", nil); a.status != 401 || a.raw != "" {
			t.Fatalf("stop-impersonating signed out: %d %s", a.status, a.raw)
		}

		events, err := storage.New(openDB(t, database)).ListEvents(context.Background(), storage.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range events {
			if e.ActorID == adminID {
				seen[e.Event]++
			}
		}
		if seen[evUserCreated] != 2 || seen[evPasswordChanged] != 2 || seen[evRoleChanged] != 1 || seen[evUserBanned] != 1 ||
			seen[evUserUnbanned] != 1 || seen[evSessionsRevoked] != 1 {
			t.Fatalf("admin audit events: %v", seen)
		}
	})
}
