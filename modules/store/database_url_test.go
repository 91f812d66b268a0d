package store_test

import (
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/store"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in      string
		dialect store.Dialect
		wantErr string
	}{
		{in: "", dialect: store.SQLite},
		{in: "/var/lib/intellistack/data.db", dialect: store.SQLite},
		{in: "data/dev.db", dialect: store.SQLite},
		{in: "postgres://u:p@db:5432/app", dialect: store.Postgres},
		{in: "postgresql://u@db/app?sslmode=require", dialect: store.Postgres},
		{in: "POSTGRES://db/app", dialect: store.Postgres},
		{in: "postgres://u:hunter2@/app", wantErr: "names no host"},
		{in: "mysql://u:hunter2@db/app", wantErr: `unsupported scheme "mysql://"`},
		{in: "postgress://u:hunter2@db/app", wantErr: `unsupported scheme "postgress://"`},
		{in: "sqlite://x.db", wantErr: "unsupported scheme"},
		{in: "postgres:db/app", wantErr: "without '//'"},
		{in: "file.db?mode=ro", wantErr: "neither a file path nor"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := store.ParseTarget(tc.in, "/data")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Dialect(); d != tc.dialect {
				t.Fatalf("dialect = %s, want %s", d, tc.dialect)
			}
		})
	}
	def, _ := store.ParseTarget("", "/data")
	if def.DSN() != "/data/intellistack/intellistack.db" {
		t.Fatalf("default SQLite path = %s", def.DSN())
	}
}

func TestRedactURL(t *testing.T) {
	for _, in := range []string{
		"postgres://user:hunter2@db/app",
		"postgres://db/app?password=hunter2",
		"postgres://user:hunter2@db/app%zz",
	} {
		if got := store.RedactURL(in); strings.Contains(got, "hunter2") {
			t.Errorf("RedactURL(%q) = %q leaks the password", in, got)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, sqlite, pg string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?' , \"a?\" FROM t WHERE c = ?", "SELECT '?' , \"a?\" FROM t WHERE c = ?", "SELECT '?' , \"a?\" FROM t WHERE c = $1"},
		{"SELECT 'it''s ?' WHERE x = ?", "SELECT 'it''s ?' WHERE x = ?", "SELECT 'it''s ?' WHERE x = $1"},
	} {
		if got := store.RebindFor(store.SQLite, tc.in); got != tc.sqlite {
			t.Errorf("sqlite rebind(%q) = %q", tc.in, got)
		}
		if got := store.RebindFor(store.Postgres, tc.in); got != tc.pg {
			t.Errorf("postgres rebind(%q) = %q, want %q", tc.in, got, tc.pg)
		}
	}
}
