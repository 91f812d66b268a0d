package intellistack_test

import (
	"context"
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
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"schema":{"chatkit":1,"oidc":1,"ratelimit":1,"store":1}`) {
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
// release's database of the given kind.
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
	dump, err := os.ReadFile(filepath.Join("testdata", "upgrade", "v1.postgres.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(t.Context(), string(dump)); err != nil {
		t.Fatalf("loading the first release's schema: %v", err)
	}
	return url
}
