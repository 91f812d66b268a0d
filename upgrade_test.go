package intellistack_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// A database created by the first release (one global migration sequence in
// the store's folder; testdata/upgrade holds one such database per dialect,
// with a row in each table) migrates forward when today's binary starts on
// it: nothing is lost, each module's migrations are recorded as applied with
// unchanged checksums, the unused intellistack_meta table is gone, and the
// threads are served through Caddy.
func TestUpgradeFromFirstRelease(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			database := legacyDatabase(t, kind)
			c := testutil.StartCaddy(t, `{
	intellistack {
		database `+database+`
		secret upgrade-test-secret-0123456789
	}
}
https://localhost {
	intellistack_health /healthz
	route /chatkit {
		basic_auth {
			u-1 `+string(hash)+`
		}
		chatkit {
			responder echo
		}
	}
}`)
			resp, err := c.Client.Get(c.URL("/healthz"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"schema":{"chatkit":`) || !strings.Contains(string(body), `"store":1}`) {
				t.Fatalf("health after upgrade: %d %s", resp.StatusCode, body)
			}

			hreq, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(`{"type":"threads.list","params":{"limit":10}}`))
			hreq.Header.Set("Content-Type", "application/json")
			hreq.SetBasicAuth("u-1", "pw")
			r, err := c.Client.Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			list, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 || !strings.Contains(string(list), `"thr_1"`) || !strings.Contains(string(list), `"Loops"`) {
				t.Fatalf("the first release's thread is not served: %d %s", r.StatusCode, list)
			}

			db, err := store.Open(context.Background(), database, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			statuses, err := store.MigrationStatuses(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range statuses {
				if !s.Applied || s.Modified {
					t.Errorf("%s: applied=%v modified=%v", s.ID(), s.Applied, s.Modified)
				}
			}
			for table, want := range map[string]int{
				"users": 1, "accounts": 1, "sessions": 1, "oidc_refresh_tokens": 1, "auth_events": 1,
				"chatkit_threads": 1, "chatkit_items": 2, "chatkit_usage": 1, "ratelimit_events": 1,
				"intellistack_migrations": 4, // left in place for nodes of the first release
			} {
				var n int
				if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
					t.Fatalf("%s: %v", table, err)
				}
				if n != want {
					t.Errorf("%s has %d rows after the upgrade, want %d", table, n, want)
				}
			}
			if _, err := db.Exec(t.Context(), "SELECT 1 FROM intellistack_meta"); err == nil {
				t.Error("intellistack_meta survived the upgrade")
			}
		})
	}
}

// legacyDatabase returns the database setting of a fresh copy of the first
// release's database of the given kind. The SQLite file was written by that
// release. On PostgreSQL the same state is rebuilt the way that release
// built it: its four migrations in one global sequence (three of the files
// moved into their modules unchanged, which the recorded checksums prove)
// and the same rows as in the SQLite file.
func legacyDatabase(t *testing.T, kind string) string {
	t.Helper()
	if kind == "sqlite" {
		src, err := os.ReadFile(filepath.Join("testdata", "upgrade", "v1.db"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "v1.db")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	url := testutil.PostgresURL(t)
	db, err := store.Open(t.Context(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(t.Context(), q, args...); err != nil {
			t.Fatalf("first-release schema: %v\n%s", err, q)
		}
	}
	exec(`CREATE TABLE intellistack_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	exec(`CREATE TABLE intellistack_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL)`)
	exec(`INSERT INTO intellistack_migrations VALUES (1, 'store_meta', '01c72be6faffdd00af879e74103c2e25256a61e29ea99b3dbf4ab127da14dc10', 1795944215464)`)
	for i, file := range []struct{ name, path string }{
		{"ratelimit_events", "modules/ratelimit/migrations/0001_events.postgres.sql"},
		{"chatkit_threads", "modules/chatkit/migrations/0001_threads.sql"},
		{"oidc_core", "modules/oidc/migrations/0001_core.sql"},
	} {
		sql, err := os.ReadFile(filepath.FromSlash(file.path))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(sql))
		sum := sha256.Sum256(sql)
		exec(`INSERT INTO intellistack_migrations VALUES (?, ?, ?, ?)`, i+2, file.name, hex.EncodeToString(sum[:]), 1795944215477)
	}
	for _, q := range firstReleaseRows {
		exec(q)
	}
	return url
}

// firstReleaseRows are the rows testdata/upgrade/v1.db holds.
var firstReleaseRows = []string{
	`INSERT INTO intellistack_meta (key, value, updated_at) VALUES ('created', '2026-11-01', 1790000000000)`,
	`INSERT INTO users (id, email, email_verified, name, role, created_at, updated_at) VALUES ('u-1', 'ada@example.com', 1, 'Ada', 'user', 1790000000000, 1790000000000)`,
	`INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at) VALUES ('a-1', 'u-1', 'credential', 'u-1', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY', 1790000000000, 1790000000000)`,
	`INSERT INTO sessions (id, token_hash, user_id, expires_at, auth_time, created_at, updated_at) VALUES ('s-1', 'hash-s-1', 'u-1', 1890000000000, 1790000000000, 1790000000000, 1790000000000)`,
	`INSERT INTO oidc_refresh_tokens (token_hash, grant_id, client_id, user_id, session_id, scope, auth_time, created_at, expires_at) VALUES ('rt-1', 'g-1', 'web', 'u-1', 's-1', 'openid', 1790000000000, 1790000000000, 1890000000000)`,
	`INSERT INTO auth_events (id, created_at, event, outcome, user_id, email) VALUES ('e-1', 1790000000000, 'sign_up', 'success', 'u-1', 'ada@example.com')`,
	`INSERT INTO chatkit_threads (id, owner_id, title, created_at, updated_at, last_activity_at, next_seq) VALUES ('thr_1', 'u-1', 'Loops', 1790000000000, 1790000000000, 1790000000000, 2)`,
	`INSERT INTO chatkit_items (thread_id, id, seq, type, body, created_at) VALUES ('thr_1', 'msg_1', 0, 'user_message', '{"id":"msg_1","type":"user_message"}', 1790000000000)`,
	`INSERT INTO chatkit_items (thread_id, id, seq, type, body, created_at) VALUES ('thr_1', 'msg_2', 1, 'assistant_message', '{"id":"msg_2","type":"assistant_message"}', 1790000000001)`,
	`INSERT INTO chatkit_usage (owner_id, day, messages, replies) VALUES ('u-1', '2026-11-01', 1, 1)`,
	`INSERT INTO ratelimit_events (zone, key, at) VALUES ('z', 'k', 1790000000000)`,
}
