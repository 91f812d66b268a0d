package oidc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
)

// runCLI runs `intellistack <args…>` (a subcommand of this test binary, as
// testutil.RunCommand does) with stdin.
func runCLI(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	testutil.SkipIfShort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INTELLISTACK_TESTUTIL_COMMAND="+strings.Join(args, "\x1f"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("running %v: %v", args, err)
	}
	return string(out), 0
}

// adminClient calls the admin API with a bearer token.
type adminClient struct {
	t      *testing.T
	client *http.Client
	base   string
	token  string
}

type adminReply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a *adminClient) call(method, path, body string) adminReply {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+pathAdmin+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	rep := adminReply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &rep.body); err != nil {
		a.t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 500 {
		a.t.Fatalf("%s %s: server error %d %s", method, path, resp.StatusCode, raw)
	}
	return rep
}

// want checks the status and, for errors, the platform envelope's code.
func (r adminReply) want(t *testing.T, what string, status int, code string) adminReply {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.raw)
	}
	if code != "" {
		e, _ := r.body["error"].(map[string]any)
		if e == nil || e["code"] != code || e["message"] == "" {
			t.Fatalf("%s: want error code %s in the platform envelope, got %s", what, code, r.raw)
		}
	}
	return r
}

func (r adminReply) user() map[string]any {
	u, _ := r.body["user"].(map[string]any)
	return u
}

// TestAdminAPIAndCLI: on a fresh install the first admin is made with
// `intellistack user create --role admin --verified`, signs in through the
// hosted pages with a real relying party (authorization code + PKCE) and
// uses the access token on every admin operation; a student's token gets
// 403, none 401. The CLI sets claims that the next access token carries.
// Bad input is a JSON 4xx and writes nothing.
func TestAdminAPIAndCLI(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		cfgDir := t.TempDir()
		cfg := filepath.Join(cfgDir, "Caddyfile")
		if err := os.WriteFile(cfg, []byte(providerCaddyfile(database, 8443, "claims stage course")), 0o600); err != nil {
			t.Fatal(err)
		}
		// Fresh install: the CLI migrates and creates the first admin.
		out, code := runCLI(t, testPassword+"\n", "user", "create", "--config", cfg, "--email", "Root@Example.com",
			"--name", "Root Admin", "--role", "admin", "--verified", "--password-stdin")
		if code != 0 || !strings.Contains(out, "created root@example.com (verified), role admin") {
			t.Fatalf("user create: exit %d\n%s", code, out)
		}
		for _, bad := range []struct {
			stdin string
			args  []string
			want  string
		}{
			{testPassword, []string{"user", "create", "--database", database, "--email", "root@example.com", "--password-stdin"}, "already exists"},
			{"short", []string{"user", "create", "--database", database, "--email", "weak@example.com", "--password-stdin"}, "password"},
			{testPassword, []string{"user", "create", "--database", database, "--email", "x@example.com", "--role", "root", "--password-stdin"}, "unknown role"},
			{testPassword, []string{"user", "create", "--database", database, "--email", "not-an-address", "--password-stdin"}, "e-mail address is invalid"},
			{testPassword, []string{"user", "create", "--database", database, "--email", "y@example.com"}, "--password-stdin"},
			{"", []string{"user", "set-role", "--database", database, "nobody@example.com", "admin"}, "no user"},
			{"", []string{"user", "set-role", "--database", database, "root@example.com", "superuser"}, "unknown role"},
			{"", []string{"user", "set-claim", "--database", database, "root@example.com", "stage", "{3"}, "not JSON"},
			{"", []string{"user", "set-claim", "--database", database, "root@example.com", "sub", "3"}, "set by the provider"},
			{"", []string{"user", "frobnicate", "--database", database, "root@example.com"}, "unknown action"},
			{"", []string{"events", "--database", database, "--since", "yesterday-ish"}, "--since"},
		} {
			if out, code := runCLI(t, bad.stdin, bad.args...); code != 1 || !strings.Contains(out, bad.want) {
				t.Fatalf("%v: exit %d, want 1 and %q:\n%s", bad.args, code, bad.want, out)
			}
		}

		c, issuer := startProvider(t, database, "claims stage course\n\t\tlockout 2 1h")
		ctx := oidc.ClientContext(context.Background(), c.Client)
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := &oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: provider.Endpoint(),
			RedirectURL: webRedirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		login := func(email string, signUp bool) *oauth2.Token {
			t.Helper()
			br := newBrowser(t, c)
			state, pkce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
			cb := br.login(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce)), email, webRedirect, signUp)
			tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
			if err != nil {
				t.Fatalf("exchange for %s: %v", email, err)
			}
			return tok
		}
		refresh := func(tok *oauth2.Token) (*oauth2.Token, error) {
			return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		}

		adminTok := login("root@example.com", false)
		at := decodeJWT(t, adminTok.AccessToken)
		if at.payload["role"] != "admin" || at.header["typ"] != "at+jwt" {
			t.Fatalf("admin's access token: header %v payload %v", at.header, at.payload)
		}
		adminID, _ := at.payload["sub"].(string)
		studentTok := login("alice@example.com", true)
		st := decodeJWT(t, studentTok.AccessToken)
		if st.payload["role"] != "student" || st.payload["stage"] != nil {
			t.Fatalf("new user's access token: %v", st.payload)
		}
		studentID, _ := st.payload["sub"].(string)

		api := &adminClient{t: t, client: c.NewClient(), base: issuer, token: adminTok.AccessToken}
		anon := &adminClient{t: t, client: c.NewClient(), base: issuer}
		r := anon.call("GET", "/users", "").want(t, "no token", 401, "unauthorized")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("401 without a Bearer challenge: %v", r.header)
		}
		anon.token = "not.a.token"
		r = anon.call("GET", "/users", "").want(t, "garbage token", 401, "unauthorized")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("challenge %q", r.header.Get("WWW-Authenticate"))
		}
		anon.token = studentTok.AccessToken
		anon.call("GET", "/users", "").want(t, "student token", 403, "forbidden")
		anon.call("POST", "/users/"+studentID+"/role", `{"role":"admin"}`).want(t, "student promoting themself", 403, "forbidden")

		// List, search, paginate, get (by id and by e-mail).
		r = api.call("GET", "/users", "").want(t, "list", 200, "")
		if r.body["total"] != float64(2) {
			t.Fatalf("list: %s", r.raw)
		}
		r = api.call("GET", "/users?search=ALICE&limit=1&offset=0", "").want(t, "search", 200, "")
		if users, _ := r.body["users"].([]any); r.body["total"] != float64(1) || len(users) != 1 {
			t.Fatalf("search: %s", r.raw)
		}
		if r = api.call("GET", "/users?limit=1&offset=1", "").want(t, "page 2", 200, ""); len(r.body["users"].([]any)) != 1 {
			t.Fatalf("page 2: %s", r.raw)
		}
		api.call("GET", "/users?limit=-1", "").want(t, "bad limit", 400, "invalid_parameter")
		if u := api.call("GET", "/users/alice@example.com", "").want(t, "get by email", 200, "").user(); u["id"] != studentID || u["role"] != "student" {
			t.Fatalf("get: %v", u)
		}
		api.call("GET", "/users/nobody", "").want(t, "unknown user", 404, "user_not_found")

		// Create, and bad input that writes nothing.
		r = api.call("POST", "/users", `{"email":"Ivy@Example.com","password":"`+testPassword+`","name":"Ivy","role":["instructor"],"claims":{"course":"py"}}`).want(t, "create", 201, "")
		if u := r.user(); u["email"] != "ivy@example.com" || u["role"] != "instructor" || u["emailVerified"] != false {
			t.Fatalf("created %v", u)
		}
		ivyID, _ := r.user()["id"].(string)
		for _, bad := range []struct{ body, code string }{
			{`{"email":"ivy@example.com","password":"` + testPassword + `"}`, "user_already_exists"},
			{`{"email":"new@example.com","password":"` + testPassword + `","role":"root"}`, "invalid_role"},
			{`{"email":"new@example.com","password":"` + testPassword + `","role":7}`, "invalid_role"},
			{`{"email":"new@example.com","password":"short"}`, "invalid_password"},
			{`{"email":"new@example.com","password":"` + testPassword + `","name":"` + strings.Repeat("n", 300) + `"}`, "invalid_name"},
			{`{"email":"` + strings.Repeat("e", 300) + `@example.com","password":"` + testPassword + `"}`, "invalid_email"},
			{`{"email":"new@example.com","password":"` + testPassword + `","claims":{"sub":"x"}}`, "invalid_claims"},
			{`{"email":"new@example.com","password":"` + testPassword + `","claims":[1]}`, "invalid_json"},
			{`{"email":"new@example.com","password":"` + testPassword + `","admin":true}`, "invalid_json"},
			{`{"email":"new@example.com"`, "invalid_json"},
		} {
			status := 400
			if bad.code == "user_already_exists" {
				status = 409
			}
			api.call("POST", "/users", bad.body).want(t, "create "+clip(bad.body, 60), status, bad.code)
		}
		api.call("POST", "/users", `{"email":"new@example.com","password":"`+testPassword+`","name":"`+strings.Repeat("x", 70<<10)+`"}`).want(t, "oversized body", 413, "body_too_large")
		if r = api.call("GET", "/users", "").want(t, "list after refusals", 200, ""); r.body["total"] != float64(3) {
			t.Fatalf("refused creates wrote rows: %s", r.raw)
		}

		// Role and claims.
		api.call("PUT", "/users/"+ivyID+"/role", `{"role":"overlord"}`).want(t, "bad role", 400, "invalid_role")
		api.call("PUT", "/users/"+ivyID+"/role", `{"role":`).want(t, "malformed role body", 400, "invalid_json")
		api.call("PUT", "/users/nobody/role", `{"role":"admin"}`).want(t, "role of unknown user", 404, "user_not_found")
		api.call("PUT", "/users/"+adminID+"/role", `{"role":"student"}`).want(t, "demoting yourself", 400, "cannot_demote_yourself")
		if u := api.call("PUT", "/users/"+ivyID+"/role", `{"role":"student, instructor"}`).want(t, "set role", 200, "").user(); u["role"] != "student,instructor" {
			t.Fatalf("role %v", u["role"])
		}
		api.call("PUT", "/users/"+studentID+"/claims", `{"claims":{"stage":"{3"}}`).want(t, "string claim", 200, "")
		api.call("PUT", "/users/"+studentID+"/claims", `{"claims":"stage=3"}`).want(t, "claims not an object", 400, "invalid_claims")
		api.call("PUT", "/users/"+studentID+"/claims", `{"claims":{"role":"admin"}}`).want(t, "reserved claim", 400, "invalid_claims")
		api.call("PUT", "/users/"+studentID+"/claims", `{"claims":{"big":"`+strings.Repeat("x", 9000)+`"}}`).want(t, "oversized claims", 400, "invalid_claims")
		if u := api.call("PATCH", "/users/"+studentID+"/claims", `{"claims":{"stage":2,"course":"py"}}`).want(t, "merge claims", 200, "").user(); u["claims"].(map[string]any)["stage"] != float64(2) {
			t.Fatalf("claims %v", u["claims"])
		}

		// The CLI: set-claim, then the next access token carries it.
		if out, code := runCLI(t, "", "user", "set-claim", "--database", database, "alice@example.com", "stage", "3"); code != 0 || !strings.Contains(out, `"stage":3`) {
			t.Fatalf("set-claim: exit %d\n%s", code, out)
		}
		studentTok, err = refresh(studentTok)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		st = decodeJWT(t, studentTok.AccessToken)
		if st.payload["stage"] != float64(3) || st.payload["course"] != "py" || st.payload["role"] != "student" {
			t.Fatalf("access token after set-claim: %v", st.payload)
		}
		idt, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, studentTok.Extra("id_token").(string))
		var idc map[string]any
		if err != nil || idt.Claims(&idc) != nil || idc["stage"] != float64(3) {
			t.Fatalf("ID token claims %v (%v)", idc, err)
		}
		for _, args := range [][]string{
			{"user", "verify", "--database", database, "ivy@example.com"},
			{"user", "set-role", "--database", database, "ivy@example.com", "instructor"},
		} {
			if out, code := runCLI(t, "", args...); code != 0 {
				t.Fatalf("%v: exit %d\n%s", args, code, out)
			}
		}
		if out, code := runCLI(t, "", "user", "list", "--config", cfg); code != 0 || !strings.Contains(out, "ivy@example.com") || !strings.Contains(out, "3 of 3 users") {
			t.Fatalf("user list: exit %d\n%s", code, out)
		}
		if u := api.call("GET", "/users/"+ivyID, "").want(t, "get ivy", 200, "").user(); u["emailVerified"] != true || u["role"] != "instructor" {
			t.Fatalf("after CLI verify and set-role: %v", u)
		}
		api.call("POST", "/users/"+ivyID+"/verify-email", "").want(t, "verify-email", 200, "")

		// Ban: the student's refresh token stops working, sign-in is refused.
		api.call("POST", "/users/"+studentID+"/ban", `{"reason":"`+strings.Repeat("r", 600)+`"}`).want(t, "long reason", 400, "invalid_reason")
		api.call("POST", "/users/"+studentID+"/ban", `{"expiresIn":-5}`).want(t, "bad expiry", 400, "invalid_expiry")
		api.call("POST", "/users/"+adminID+"/ban", `{}`).want(t, "self-ban", 400, "cannot_ban_yourself")
		r = api.call("POST", "/users/"+studentID+"/ban", `{"reason":"spam","expiresIn":3600}`).want(t, "ban", 200, "")
		if u := r.user(); u["banned"] != true || u["banReason"] != "spam" || u["banExpires"] == nil {
			t.Fatalf("banned %v", u)
		}
		if _, err := refresh(studentTok); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("a banned user's refresh: %v", err)
		}
		anon.call("GET", "/users", "").want(t, "banned student's token", 401, "unauthorized")
		br := newBrowser(t, c)
		p := br.follow(br.get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), webRedirect)
		action, vals := p.form(t, "sign-in")
		vals.Set("email", "alice@example.com")
		vals.Set("password", testPassword)
		if p = br.post(action, vals); p.location != "" && strings.HasPrefix(p.location, webRedirect) {
			t.Fatal("a banned user signed in")
		}
		if u := api.call("POST", "/users/"+studentID+"/unban", "").want(t, "unban", 200, "").user(); u["banned"] != false || u["banReason"] != nil {
			t.Fatalf("unbanned %v", u)
		}

		// Lockout (2 failures) and unlock.
		for i := 0; i < 3; i++ {
			p := br.follow(br.get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), webRedirect)
			action, vals := p.form(t, "sign-in")
			vals.Set("email", "alice@example.com")
			vals.Set("password", "Wrong-Password-99")
			br.post(action, vals)
		}
		p = br.follow(br.get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), webRedirect)
		action, vals = p.form(t, "sign-in")
		vals.Set("email", "alice@example.com")
		vals.Set("password", testPassword)
		if p = br.post(action, vals); strings.HasPrefix(p.location, webRedirect) || !strings.Contains(strings.ToLower(p.body), "try again") {
			t.Fatalf("locked account signed in (status %d, location %q)", p.status, p.location)
		}
		api.call("POST", "/users/"+studentID+"/unlock", "").want(t, "unlock", 200, "")
		studentTok = login("alice@example.com", false)

		// Revoke every session and token.
		if r = api.call("POST", "/users/"+studentID+"/revoke-sessions", "").want(t, "revoke", 200, ""); r.body["sessions"] == float64(0) {
			t.Fatalf("revoke-sessions: %s", r.raw)
		}
		if _, err := refresh(studentTok); err == nil {
			t.Fatal("refresh after revoke-sessions succeeded")
		}
		if out, code := runCLI(t, "", "user", "ban", "--database", database, "ivy@example.com", "--reason", "cli ban", "--expires", "1h"); code != 0 {
			t.Fatalf("cli ban: %d %s", code, out)
		}
		for _, a := range []string{"unban", "unlock"} {
			if out, code := runCLI(t, "", "user", a, "--database", database, "ivy@example.com"); code != 0 {
				t.Fatalf("cli %s: %d %s", a, code, out)
			}
		}

		// Delete.
		api.call("DELETE", "/users/"+adminID, "").want(t, "self-delete", 400, "cannot_remove_yourself")
		api.call("DELETE", "/users/"+ivyID, "").want(t, "delete", 200, "")
		api.call("GET", "/users/"+ivyID, "").want(t, "deleted user", 404, "user_not_found")
		api.call("DELETE", "/users/"+ivyID, "").want(t, "delete again", 404, "user_not_found")
		api.call("POST", "/users/"+ivyID+"/ban", `{}`).want(t, "ban deleted", 404, "user_not_found")

		// Events: filters, actors.
		r = api.call("GET", "/events?user=alice@example.com&type=role_changed", "").want(t, "events none", 200, "")
		if evs := r.body["events"].([]any); len(evs) != 0 {
			t.Fatalf("alice has no role change: %s", r.raw)
		}
		r = api.call("GET", "/events?user="+ivyID+"&since=1h", "").want(t, "ivy's events", 200, "")
		actors := map[string]string{}
		for _, e := range r.body["events"].([]any) {
			ev := e.(map[string]any)
			actors[ev["event"].(string)+"/"+ev["actorId"].(string)] = ev["detail"].(string)
		}
		for _, want := range []string{"user_created/" + adminID, "role_changed/" + adminID, "role_changed/cli",
			"email_verified_by_admin/cli", "email_verified_by_admin/" + adminID, "user_banned/cli", "user_unbanned/cli",
			"user_unlocked/cli", "user_deleted/" + adminID} {
			if _, ok := actors[want]; !ok {
				t.Errorf("no event %s among %v", want, actors)
			}
		}
		r = api.call("GET", "/events?type=user_banned&limit=1", "").want(t, "bans", 200, "")
		if evs := r.body["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["userId"] != ivyID {
			t.Fatalf("newest ban: %s", r.raw)
		}
		api.call("GET", "/events?since=someday", "").want(t, "bad since", 400, "invalid_parameter")
		api.call("GET", "/events?user=nobody@example.com", "").want(t, "events of unknown user", 404, "user_not_found")
		api.call("GET", "/nothing", "").want(t, "unknown path", 404, "not_found")
		api.call("PATCH", "/users", "").want(t, "wrong method", 405, "method_not_allowed")

		out, code = runCLI(t, "", "events", "--database", database, "--user", "alice@example.com", "--type", "user_banned", "--since", "1h")
		if code != 0 || !strings.Contains(out, "user_banned") || !strings.Contains(out, adminID) || !strings.Contains(out, `"spam (until`) {
			t.Fatalf("events: exit %d\n%s", code, out)
		}
		if out, code = runCLI(t, "", "events", "--database", database, "--type", "user_created"); code != 0 || !strings.Contains(out, "cli") {
			t.Fatalf("events of the CLI: exit %d\n%s", code, out)
		}
		_ = url.Values{}
	})
}
