// Package testutil is the test harness every IntelliStack module uses: a
// fresh database per test on SQLite and PostgreSQL, and a Caddy started from a
// Caddyfile string, in-process or as a separate process.
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema set-up

	"github.com/intellistack/intellistack/modules/store"
)

// DefaultPostgresURL is used when DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SkipIfShort skips an integration test under `go test -short`, which
// promises unit tests only: no Caddy, no database. Every harness function
// that starts Caddy or makes a database calls it, so tests need not.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test (Caddy or a database): skipped under -short")
	}
}

// InCI reports whether the tests run in CI, where nothing may skip for want of
// a service.
func InCI() bool { return os.Getenv("CI") != "" }

// PostgresURL returns the URL of a fresh, empty schema on the test PostgreSQL
// server (DATABASE_URL, or DefaultPostgresURL), dropped when the test ends.
// When PostgreSQL does not answer the test is skipped with a message, or fails
// when CI is set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	SkipIfShort(t)
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if InCI() {
			t.Fatalf("PostgreSQL does not answer at DATABASE_URL (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("PostgreSQL does not answer (%v); set DATABASE_URL or start it to run this test", err)
	}
	schema := "t_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating test schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLitePath returns the path of a fresh SQLite file in the test's temporary
// folder.
func SQLitePath(t testing.TB) string {
	t.Helper()
	SkipIfShort(t)
	return filepath.Join(t.TempDir(), "intellistack.db")
}

// ForEachDatabaseSetting runs body once with the database setting of a fresh
// SQLite file and once with the URL of a fresh PostgreSQL schema, as subtests
// named "sqlite" and "postgres": for Caddyfile tests that put the value in
// `intellistack { database … }`.
func ForEachDatabaseSetting(t *testing.T, body func(t *testing.T, database string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { body(t, SQLitePath(t)) })
	t.Run("postgres", func(t *testing.T) { body(t, PostgresURL(t)) })
}

// ForEachDatabase runs body once on a fresh, migrated SQLite database and
// once on a fresh, migrated PostgreSQL schema, as subtests named "sqlite" and
// "postgres". It is how storage code runs the same test body on both.
func ForEachDatabase(t *testing.T, body func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			body(t, OpenDatabase(t, name))
		})
	}
}

// OpenDatabase opens a fresh, migrated database of the named kind ("sqlite"
// or "postgres"), closed when the test ends.
func OpenDatabase(t testing.TB, kind string) *store.DB {
	t.Helper()
	var setting string
	switch kind {
	case "sqlite":
		setting = SQLitePath(t)
	case "postgres":
		setting = PostgresURL(t)
	default:
		t.Fatalf("unknown database kind %q", kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, setting, t.TempDir())
	if err != nil {
		t.Fatalf("opening %s: %v", kind, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatalf("migrating %s: %v", kind, err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
