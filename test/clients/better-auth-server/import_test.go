// Package betterauthserver runs a real Better-Auth 1.7 (this folder's Node
// package: auth.mjs, seed.mjs, server.mjs) next to IntelliStack. The
// importer test makes a Better-Auth database with Better-Auth itself, imports
// it with `intellistack import better-auth` and signs its users in through
// better_auth_api.
package betterauthserver

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	_ "github.com/intellistack/intellistack"
	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/importba"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// seeded is what seed.mjs prints.
type seeded struct {
	Secret string       `json:"secret"`
	Users  []seededUser `json:"users"`
}

type seededUser struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Role     string   `json:"role"`
	Banned   bool     `json:"banned"`
	Verified bool     `json:"verified"`
	Cookies  []string `json:"cookies"` // "<name>=<value>", as Better-Auth set them
}

// needNode returns node's path, or skips (fails with CI set) when node or
// this folder's node_modules (npm ci --ignore-scripts) are missing.
func needNode(t *testing.T) string {
	t.Helper()
	testutil.SkipIfShort(t)
	node, err := exec.LookPath("node")
	if err == nil {
		for _, p := range []string{"node_modules/better-auth/package.json", "node_modules/pg/package.json"} {
			if _, err = os.Stat(p); err != nil {
				break
			}
		}
	}
	if err != nil {
		if testutil.InCI() {
			t.Fatalf("node and node_modules are required (npm ci --ignore-scripts in test/clients/better-auth-server): %v", err)
		}
		t.Skipf("node or node_modules missing (npm ci --ignore-scripts --prefix test/clients/better-auth-server): %v", err)
	}
	return node
}

// freshDatabase creates an empty PostgreSQL database for Better-Auth and
// returns its URL; it is dropped when the test ends. A database rather than
// a schema: its tables are then in public, as in most Better-Auth
// deployments, and neither pg nor the importer needs a search_path.
func freshDatabase(t *testing.T) string {
	t.Helper()
	testutil.PostgresURL(t) // skips, or fails in CI, when PostgreSQL does not answer
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = testutil.DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("better_auth_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating the Better-Auth database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// seed runs seed.mjs on a fresh database: Better-Auth's migrations and
// users, made by Better-Auth itself.
func seed(t *testing.T, node, source, secret string) seeded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "seed.mjs")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+source, "BETTER_AUTH_SECRET="+secret,
		// As in production: https, so its cookies are __Secure- ones.
		"BASE_URL=https://localhost", "NODE_NO_WARNINGS=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("seed.mjs: %v\n%s", err, stderr.String())
	}
	var s seeded
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("seed.mjs printed %q: %v", out, err)
	}
	return s
}

// fingerprint is a digest of every row of the source's tables, to prove
// the importer never writes to it.
func fingerprint(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	for _, table := range []string{"user", "account", "session", "verification", "jwks"} {
		var s sql.NullString
		if err := db.QueryRow(`SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM "` + table + `" t`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, table+"="+s.String)
	}
	return strings.Join(out, " ")
}

const caddyfile = `{
	intellistack {
		database %s
		secret import-test-secret-0123456789abcdef
	}
}

https://localhost {
	better_auth_api {
		secret %s
	}
	oidc_provider {
		issuer https://localhost:%d
		client web {
			redirect_uri https://app.test/callback
			secret web-client-secret-value-0123456789
		}
		mail {
			from "Course <noreply@localhost>"
			outbox %s
		}
		ip_limit off
		lockout off
		%s
	}
}
`

// TestImportBetterAuth makes a Better-Auth database with Better-Auth
// (password users, a GitHub user, an admin, a banned user, live sessions),
// adds what a migrated app may hold (a bcrypt hash from a custom hasher)
// and two corrupt rows, imports it with `intellistack import better-auth`
// into SQLite and PostgreSQL, and then: every user signs in with the
// original password (re-hashed to argon2id), the GitHub user signs in with
// (a fake) GitHub as the same user, the Better-Auth cookies are
// sessions of get-session, roles, bans and verification hold, a second
// import reports zero changes, the corrupt rows are reported and skipped,
// and the source is unchanged.
func TestImportBetterAuth(t *testing.T) {
	node := needNode(t)
	source := freshDatabase(t)
	const secret = "better-auth-import-secret-0123456789abcdef"
	start := time.Now()
	s := seed(t, node, source, secret)
	t.Logf("seed.mjs: %d users in %v", len(s.Users), time.Since(start).Round(time.Millisecond))

	src, err := sql.Open("pgx", source)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("erin-Bcrypt-Pw-5"), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO "user" (id, name, email, "emailVerified", role) VALUES ('erinBcrypt', 'Erin', 'erin@example.com', true, 'user')`, nil},
		{`INSERT INTO account (id, "accountId", "providerId", "userId", password, "updatedAt") VALUES ('erinCred', 'erinBcrypt', 'credential', 'erinBcrypt', $1, now())`, []any{string(bcryptHash)}},
		{`INSERT INTO "user" (id, name, email, "emailVerified") VALUES ('frankGarbled', 'Frank', 'frank@example.com', false)`, nil},
		{`INSERT INTO account (id, "accountId", "providerId", "userId", password, "updatedAt") VALUES ('frankCred', 'frankGarbled', 'credential', 'frankGarbled', 'deadbeef:garbled', now())`, nil},
		{`INSERT INTO "user" (id, name, email, "emailVerified") VALUES ('nobodyNoEmail', 'Nobody', '', false)`, nil},
		{`INSERT INTO session (id, token, "userId", "expiresAt", "updatedAt") VALUES ('nobodySession', 'nobody-token', 'nobodyNoEmail', now() + interval '1 day', now())`, nil},
	} {
		if _, err := src.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	before := fingerprint(t, src)

	// GitHub, where carol signs in as the account Better-Auth linked.
	github := fakeupstream.NewGitHub("gh-client", "gh-secret")
	defer github.Close()
	github.Set(fakeupstream.Identity{Subject: "583231", Email: "carol@example.com", EmailVerified: true, Name: "Carol"})
	upstream := fmt.Sprintf("upstream github {\n\t\t\tissuer %s\n\t\t\tclient_id gh-client\n\t\t\tclient_secret gh-secret\n\t\t\ttrusted_ca %s\n\t\t}",
		github.URL, github.CAFile(t.TempDir()))

	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		dir := t.TempDir()
		config := filepath.Join(dir, "Caddyfile")
		outbox := filepath.Join(dir, "outbox")
		// The issuer's port is not known before Caddy starts; the
		// command only reads the database from the file.
		if err := os.WriteFile(config, []byte(fmt.Sprintf(caddyfile, database, secret, 8443, outbox, upstream)), 0o600); err != nil {
			t.Fatal(err)
		}
		importOnce := func() importba.Report {
			t.Helper()
			start := time.Now()
			out, code := testutil.RunCommand(t, nil, "import", "better-auth", "--from", source, "--config", config, "--json", "--batch", "3")
			i := strings.Index(out, "{\n  \"dry_run\"")
			if code != 0 || i < 0 {
				t.Fatalf("import exited %d:\n%s", code, out)
			}
			var rep importba.Report
			if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); err != nil {
				t.Fatalf("report: %v\n%s", err, out)
			}
			t.Logf("import: %d changes, %d verified, %d skipped in %v", rep.Changes(), rep.Verified, len(rep.Skips),
				time.Since(start).Round(time.Millisecond))
			return rep
		}
		// A dry run reports in text and writes nothing.
		out, code := testutil.RunCommand(t, nil, "import", "better-auth", "--from", source, "--config", config, "--dry-run", "--batch", "3")
		if code != 0 || !strings.Contains(out, "Dry run: nothing was written.") || !strings.Contains(out, "user nobodyNoEmail: no e-mail address") ||
			!strings.Contains(out, "21 changes in 3 batches") {
			t.Fatalf("dry run exited %d:\n%s", code, out)
		}
		db, err := store.Open(context.Background(), database, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := storage.New(db).UserByID(context.Background(), s.Users[0].ID); err != storage.ErrNotFound {
			t.Fatalf("the dry run wrote a user: %v", err)
		}

		rep := importOnce()
		for _, n := range rep.Notes {
			if strings.Contains(n, "better_auth_api") {
				t.Fatalf("note about a configured secret: %s", n)
			}
		}
		if rep.Users.Imported != len(s.Users)+2 || rep.Users.Skipped != 1 || rep.Social.Imported != 1 ||
			rep.Credentials.Imported != len(s.Users)-1+1 || rep.Credentials.Skipped != 1 || rep.Sessions.Skipped != 1 {
			t.Fatalf("first import: %+v", rep)
		}
		reasons := map[string]string{}
		for _, sk := range rep.Skips {
			reasons[sk.Table+" "+sk.ID] = sk.Reason
		}
		if reasons["user nobodyNoEmail"] != "no e-mail address" || !strings.Contains(reasons["account frankCred"], "unknown format") ||
			reasons["session nobodySession"] != "its user was skipped" {
			t.Fatalf("skips: %v", reasons)
		}
		if rep.Verified == 0 || len(rep.Mismatches) != 0 {
			t.Fatalf("verification: %d verified, %v", rep.Verified, rep.Mismatches)
		}

		c := testutil.StartCaddy(t, fmt.Sprintf("{\n\tintellistack {\n\t\tdatabase %s\n\t\tsecret import-test-secret-0123456789abcdef\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n", database))
		if err := c.Load(fmt.Sprintf(caddyfile, database, secret, c.HTTPSPort, outbox, upstream)); err != nil {
			t.Fatal(err)
		}
		// No cookie jar: each request carries only the cookie it is given.
		client := &http.Client{Transport: c.Client.Transport, Timeout: 30 * time.Second}
		api := func(method, path, cookie string, body any) (int, map[string]any) {
			t.Helper()
			var rd *strings.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = strings.NewReader(string(b))
			} else {
				rd = strings.NewReader("")
			}
			req, _ := http.NewRequest(method, c.URL("/api/auth"+path), rd)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", c.URL(""))
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}

		// The Better-Auth cookies are sessions here, with the users'
		// roles, bans and verification.
		for _, u := range s.Users {
			for _, cookie := range u.Cookies {
				code, got := api("GET", "/get-session", cookie, nil)
				user, _ := got["user"].(map[string]any)
				if code != 200 || user == nil || user["id"] != u.ID || user["emailVerified"] != u.Verified {
					t.Fatalf("get-session of %s with its Better-Auth cookie: %d %v", u.Email, code, got)
				}
				wantRole := "student"
				if u.Role == "admin" {
					wantRole = "admin"
				}
				if user["role"] != wantRole {
					t.Fatalf("%s has role %v, want %s", u.Email, user["role"], wantRole)
				}
			}
			if u.Role == "admin" {
				if code, got := api("GET", "/admin/list-users", u.Cookies[0], nil); code != 200 || got["total"] != float64(len(s.Users)+2) {
					t.Fatalf("admin list-users with the imported admin session: %d %v", code, got)
				}
			}
		}

		// Everyone signs in with the original password, but the banned.
		erin := seededUser{ID: "erinBcrypt", Email: "erin@example.com", Password: "erin-Bcrypt-Pw-5", Verified: true}
		for _, u := range append(s.Users[:len(s.Users):len(s.Users)], erin) {
			if u.Password == "" {
				continue
			}
			code, got := api("POST", "/sign-in/email", "", map[string]any{"email": u.Email, "password": u.Password})
			switch {
			case u.Banned && (code != 403 || got["code"] != "BANNED_USER"):
				t.Fatalf("banned %s signs in: %d %v", u.Email, code, got)
			case !u.Banned && (code != 200 || got["token"] == nil):
				t.Fatalf("%s signs in with the Better-Auth password: %d %v", u.Email, code, got)
			}
			if code, got := api("POST", "/sign-in/email", "", map[string]any{"email": u.Email, "password": u.Password + "x"}); code != 401 {
				t.Fatalf("%s with a wrong password: %d %v", u.Email, code, got)
			}
		}
		if code, got := api("POST", "/sign-in/email", "", map[string]any{"email": "frank@example.com", "password": "anything-at-all"}); code != 401 {
			t.Fatalf("frank (garbled hash, not imported): %d %v", code, got)
		}

		// carol signs in with GitHub: the imported link, not a new user.
		carol := s.Users[2]
		browser := c.NewClient()
		resp, err := browser.Get(c.URL("/oauth2/upstream/github"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		gh := github.Client()
		gh.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if resp, err = gh.Get(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp, err = browser.Get(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GitHub callback: %d", resp.StatusCode)
		}
		if resp, err = browser.Get(c.URL("/api/auth/get-session")); err != nil {
			t.Fatal(err)
		}
		var got struct{ User struct{ ID, Email string } }
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if carol.Email != "carol@example.com" || got.User.ID != carol.ID {
			t.Fatalf("carol with GitHub is %+v, want %s", got.User, carol.ID)
		}

		// Signed in means re-hashed to argon2id.
		ctx := context.Background()
		for _, email := range []string{"alice@example.com", "erin@example.com"} {
			if _, hash, err := storage.New(db).UserWithPassword(ctx, email); err != nil || !strings.HasPrefix(hash, "$argon2id$") {
				t.Fatalf("%s's hash after sign-in: %.12s… %v", email, hash, err)
			}
		}

		// A second import changes nothing (the re-hashed credentials
		// are newer here, so they are kept).
		rep = importOnce()
		if rep.Changes() != 0 || rep.Credentials.Kept == 0 || rep.Users.Unchanged != len(s.Users)+2 {
			t.Fatalf("second import: %+v", rep)
		}
		if got := fingerprint(t, src); got != before {
			t.Fatalf("the source changed:\n%s\n%s", before, got)
		}
	})
}
