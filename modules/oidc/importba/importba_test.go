package importba_test

// The importer on a Better-Auth database in SQLite as Better-Auth's Kysely
// adapter writes it (booleans 0/1, dates as ISO-8601 text), into the
// provider's tables on SQLite and PostgreSQL. The test under
// test/clients/better-auth-server does the same with a database made by
// Better-Auth itself on PostgreSQL.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/oidc" // registers the provider's migrations
	"github.com/intellistack/intellistack/modules/oidc/importba"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// The schema Better-Auth 1.7's getMigrations creates on SQLite with the
// admin and jwt plugins.
const baSchema = `
CREATE TABLE "user" ("id" text not null primary key, "name" text not null, "email" text not null unique,
	"emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null,
	"role" text, "banned" integer, "banReason" text, "banExpires" date);
CREATE TABLE "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique,
	"createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text,
	"userId" text not null references "user" ("id") on delete cascade, "impersonatedBy" text);
CREATE TABLE "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null,
	"userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text,
	"idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text,
	"createdAt" date not null, "updatedAt" date not null);
CREATE TABLE "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null,
	"expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null);
CREATE TABLE "jwks" ("id" text not null primary key, "publicKey" text not null, "privateKey" text not null,
	"createdAt" date not null, "expiresAt" date, "alg" text, "crv" text);
`

// The test vector of Better-Auth's scrypt hasher (better-auth-api.md §8.1).
const (
	scryptPassword = "reset-horse-777"
	scryptHash     = "be1ba329ad7337c5f561cdfaa565e2b6:efc96a0229a4070b181d6d820bf2eff66fa2e9401530b0c9b49023a1b721768bd932c19752e1c66182964a8b81dff89df84e2625d56b299c420eccb70be9ba6e"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// makeSource writes a Better-Auth SQLite database and returns its path.
func makeSource(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "better-auth.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("bob-bcrypt-pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	created, updated := iso(now.Add(-48*time.Hour)), iso(now.Add(-24*time.Hour))
	stmts := []struct {
		q    string
		args []any
	}{
		{baSchema, nil},
		// alice: scrypt, verified, two live sessions and an expired one.
		{`INSERT INTO "user" VALUES ('u1alice', 'Alice', 'Alice@Example.com', 1, NULL, ?, ?, 'user', 0, NULL, NULL)`, []any{created, updated}},
		{`INSERT INTO "account" (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt") VALUES ('a1', 'u1alice', 'credential', 'u1alice', ?, ?, ?)`, []any{scryptHash, created, created}},
		{`INSERT INTO "session" VALUES ('s1', ?, 'tok-alice-1', ?, ?, '203.0.113.9', 'Firefox', 'u1alice', NULL)`, []any{iso(now.Add(72 * time.Hour)), created, created}},
		{`INSERT INTO "session" VALUES ('s2', ?, 'tok-alice-2', ?, ?, NULL, NULL, 'u1alice', NULL)`, []any{iso(now.Add(time.Hour)), created, created}},
		{`INSERT INTO "session" VALUES ('s3', ?, 'tok-alice-old', ?, ?, NULL, NULL, 'u1alice', NULL)`, []any{iso(now.Add(-time.Hour)), created, created}},
		// bob: bcrypt (a custom hasher), admin and an unknown role, banned until later.
		{`INSERT INTO "user" VALUES ('u2bob', 'Bob', 'bob@example.com', 0, 'https://img.example/b.png', ?, ?, 'admin,teacher', 1, 'spam', ?)`, []any{created, updated, iso(now.Add(240 * time.Hour))}},
		{`INSERT INTO "account" (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt") VALUES ('a2', 'u2bob', 'credential', 'u2bob', ?, ?, ?)`, []any{string(bcryptHash), created, created}},
		// carol: GitHub only, with the tokens Better-Auth keeps.
		{`INSERT INTO "user" VALUES ('u3carol', 'Carol', 'carol@example.com', 1, NULL, ?, ?, NULL, NULL, NULL, NULL)`, []any{created, updated}},
		{`INSERT INTO "account" VALUES ('a3', '583231', 'github', 'u3carol', 'gho_x', NULL, NULL, NULL, NULL, 'read:user', NULL, ?, ?)`, []any{created, created}},
		{`INSERT INTO "session" VALUES ('s4', ?, 'tok-carol', ?, ?, '', '', 'u3carol', NULL)`, []any{iso(now.Add(72 * time.Hour)), created, created}},
		// corrupt rows: a user without an address, a garbled hash.
		{`INSERT INTO "user" VALUES ('u4none', 'Nobody', '', 0, NULL, ?, ?, 'user', 0, NULL, NULL)`, []any{created, updated}},
		{`INSERT INTO "account" (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt") VALUES ('a4', 'u4none', 'credential', 'u4none', ?, ?, ?)`, []any{scryptHash, created, created}},
		{`INSERT INTO "user" VALUES ('u5dave', 'Dave', 'dave@example.com', 1, NULL, ?, ?, 'user', 0, NULL, NULL)`, []any{created, updated}},
		{`INSERT INTO "account" (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt") VALUES ('a5', 'u5dave', 'credential', 'u5dave', 'zz:not-a-hash', ?, ?)`, []any{created, created}},
		{`INSERT INTO "verification" VALUES ('v1', 'reset-password:abc', 'u1alice', ?, ?, ?)`, []any{iso(now.Add(time.Hour)), created, created}},
	}
	for _, s := range stmts {
		if _, err := db.Exec(s.q, s.args...); err != nil {
			t.Fatalf("%s: %v", s.q, err)
		}
	}
	return path
}

func open(t *testing.T, path string) *importba.Source {
	t.Helper()
	src, err := importba.OpenSource(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func run(t *testing.T, path string, dst *storage.SQL, opt importba.Options) *importba.Report {
	t.Helper()
	opt.Now = func() time.Time { return now }
	src := open(t, path)
	defer src.Close() // before the test writes to the source
	rep, err := importba.Run(context.Background(), src, dst, opt)
	if err != nil {
		t.Fatalf("import: %v (report %+v)", err, rep)
	}
	return rep
}

func sum(path string) string {
	b, _ := os.ReadFile(path)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestImport(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		path := makeSource(t)
		before := sum(path)
		st := storage.New(db)

		// A dry run reports and writes nothing.
		rep := run(t, path, st, importba.Options{DryRun: true, BatchSize: 2})
		if rep.Users.Imported != 4 || rep.Changes() == 0 {
			t.Fatalf("dry run: %+v", rep)
		}
		if _, err := st.UserByID(ctx, "u1alice"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the dry run wrote alice: %v", err)
		}

		rep = run(t, path, st, importba.Options{BatchSize: 2})
		want := importba.Report{
			Users:       importba.Counts{Imported: 4, Skipped: 1},
			Credentials: importba.Counts{Imported: 2, Skipped: 2},
			Social:      importba.Counts{Imported: 1},
			Sessions:    importba.Counts{Imported: 3, Skipped: 1},
		}
		if rep.Users != want.Users || rep.Credentials != want.Credentials || rep.Social != want.Social || rep.Sessions != want.Sessions {
			t.Fatalf("report: %+v", rep)
		}
		if rep.Batches != 3 || rep.Verified != 10 || rep.LastUserID != "u5dave" {
			t.Fatalf("batches %d, verified %d, last %q", rep.Batches, rep.Verified, rep.LastUserID)
		}
		reasons := map[string]string{}
		for _, s := range rep.Skips {
			reasons[s.Table+" "+s.ID] = s.Reason
		}
		if !strings.Contains(reasons["user u4none"], "no e-mail") || reasons["account a4"] != "its user was skipped" ||
			!strings.Contains(reasons["account a5"], "unknown format") || reasons["session s3"] != "expired" {
			t.Fatalf("skips: %v", reasons)
		}
		notes := strings.Join(rep.Notes, "\n")
		if !strings.Contains(notes, `role "teacher"`) || !strings.Contains(notes, "1 verification rows") {
			t.Fatalf("notes: %s", notes)
		}

		alice, hash, err := st.UserWithPassword(ctx, "alice@example.com")
		if err != nil || alice.ID != "u1alice" || !alice.EmailVerified || alice.Role != "student" || alice.IsBanned(now) {
			t.Fatalf("alice: %+v %v", alice, err)
		}
		if stale, err := password.VerifyAny(scryptPassword, hash, password.DefaultParams); err != nil || !stale {
			t.Fatalf("alice's scrypt hash: stale %v, %v", stale, err)
		}
		bob, hash, err := st.UserWithPassword(ctx, "bob@example.com")
		if err != nil || bob.Role != "admin" || !bob.IsBanned(now) || bob.BanReason != "spam" || bob.Image != "https://img.example/b.png" ||
			!bob.BanExpires.Equal(now.Add(240*time.Hour)) || bob.IsBanned(now.Add(241*time.Hour)) {
			t.Fatalf("bob: %+v %v", bob, err)
		}
		if _, err := password.VerifyAny("bob-bcrypt-pw", hash, password.DefaultParams); err != nil {
			t.Fatalf("bob's bcrypt hash: %v", err)
		}
		if u, err := st.UserByAccount(ctx, "github", "583231"); err != nil || u.ID != "u3carol" {
			t.Fatalf("carol by GitHub: %+v %v", u, err)
		}
		if has, _ := st.HasPassword(ctx, "u3carol"); has {
			t.Fatal("carol has a password")
		}
		if has, _ := st.HasPassword(ctx, "u5dave"); has {
			t.Fatal("dave's garbled hash was imported")
		}
		s, err := st.Session(ctx, hashOf("tok-alice-1"), now)
		if err != nil || s.ID != "s1" || s.UserID != "u1alice" || s.IP != "203.0.113.9" || !s.ExpiresAt.Equal(now.Add(72*time.Hour)) {
			t.Fatalf("alice's session: %+v %v", s, err)
		}

		// Idempotent: a second run changes nothing.
		if rep := run(t, path, st, importba.Options{}); rep.Changes() != 0 || rep.Users.Unchanged != 4 || rep.Sessions.Unchanged != 3 {
			t.Fatalf("second run: %+v", rep)
		}
		if sum(path) != before {
			t.Fatal("the source file changed")
		}
		src := open(t, path)
		if !src.ReadOnly(ctx) {
			t.Fatal("the source accepts writes")
		}
		src.Close()

		// A row changed here later is kept (alice signed in: re-hashed);
		// a row changed in the source later is updated.
		if err := st.SetPassword(ctx, "u1alice", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", now); err != nil {
			t.Fatal(err)
		}
		w, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(`UPDATE "user" SET name = 'Carol C.', "updatedAt" = ? WHERE id = 'u3carol'`, iso(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		w.Close()
		rep = run(t, path, st, importba.Options{})
		if rep.Credentials.Kept != 1 || rep.Users.Updated != 1 || rep.Changes() != 1 {
			t.Fatalf("third run: %+v", rep)
		}
		if u, _ := st.UserByID(ctx, "u3carol"); u.Name != "Carol C." {
			t.Fatalf("carol's name: %q", u.Name)
		}

		// Resume: only the users after u2bob.
		if rep := run(t, path, st, importba.Options{StartAfter: "u2bob"}); rep.Users.Unchanged != 2 || rep.Users.Skipped != 1 {
			t.Fatalf("resumed run: %+v", rep)
		}
	})
}

// TestImportConflicts: an address or GitHub identity that belongs to
// another user here is skipped with the reason, and the rest goes on.
func TestImportConflicts(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := storage.New(db)
		if _, err := st.CreateUser(ctx, storage.User{Email: "alice@example.com", CreatedAt: now, UpdatedAt: now}, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateUserWithAccount(ctx, storage.User{Email: "other@example.com", CreatedAt: now, UpdatedAt: now}, "github", "583231"); err != nil {
			t.Fatal(err)
		}
		rep := run(t, makeSource(t), st, importba.Options{})
		reasons := map[string]string{}
		for _, s := range rep.Skips {
			reasons[s.Table+" "+s.ID] = s.Reason
		}
		if !strings.Contains(reasons["user u1alice"], "has the e-mail address alice@example.com") ||
			!strings.Contains(reasons["account a3"], "linked to another account") || reasons["session s1"] != "its user was skipped" {
			t.Fatalf("skips: %v", reasons)
		}
		if rep.Users.Imported != 3 || rep.Sessions.Imported != 1 {
			t.Fatalf("report: %+v", rep)
		}
	})
}

func hashOf(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}
