package store_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

const testSecret = "test-secret-0123456789abcdef"

func siteWithHealth(database, body string) string {
	return fmt.Sprintf(`{
	intellistack {
		database %q
		secret %s
	}
}

https://localhost {
	intellistack_health /healthz
	respond %q
}
`, database, testSecret, body)
}

type healthBody struct {
	Status   string         `json:"status"`
	Database string         `json:"database"`
	Schema   map[string]int `json:"schema"`
	Error    string         `json:"error"`
}

func getHealth(t *testing.T, c *testutil.Caddy) (int, healthBody) {
	t.Helper()
	resp, err := c.Client.Get(c.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hb healthBody
	if err := json.NewDecoder(resp.Body).Decode(&hb); err != nil {
		t.Fatalf("health body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("health Content-Type = %q", ct)
	}
	return resp.StatusCode, hb
}

func getBody(t *testing.T, c *testutil.Caddy, path string) string {
	t.Helper()
	resp, err := c.Client.Get(c.URL(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHealthThroughCaddy(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, siteWithHealth(database, "hello"))
		status, hb := getHealth(t, c)
		if status != 200 || hb.Status != "ok" || hb.Schema["store"] < 1 {
			t.Fatalf("health = %d %+v", status, hb)
		}
		want := "sqlite"
		if strings.HasPrefix(database, "postgres") {
			want = "postgres"
		}
		if hb.Database != want {
			t.Fatalf("health database = %q, want %q", hb.Database, want)
		}
		if got := getBody(t, c, "/"); got != "hello" {
			t.Fatalf("site body = %q", got)
		}
	})
}

// With no intellistack block at all, a module that needs the store gets the
// embedded default: an SQLite file and a generated secret in Caddy's storage.
func TestEmbeddedDefault(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	intellistack_health /healthz
}`)
	status, hb := getHealth(t, c)
	if status != 200 || hb.Database != "sqlite" {
		t.Fatalf("health = %d %+v", status, hb)
	}
	for _, f := range []string{"intellistack.db", "secret"} {
		fi, err := os.Stat(filepath.Join(c.DataDir, "intellistack", f))
		if err != nil {
			t.Fatalf("embedded default: %v", err)
		}
		if f == "secret" && fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret file mode %v, want 0600", fi.Mode().Perm())
		}
	}
}

// A reload reuses the one database handle; a reload that fails (at provision
// or at start) leaves the old config serving with the handle open; shutdown
// closes it.
func TestReloadKeepsHandle(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, siteWithHealth(database, "generation 1"))
		app1, err := store.ActiveApp()
		if err != nil {
			t.Fatal(err)
		}
		h := store.HandleID(app1)
		if n := store.HandleRefs(app1); n != 1 {
			t.Fatalf("refs after start = %d, want 1", n)
		}

		if err := c.Load(siteWithHealth(database, "generation 2")); err != nil {
			t.Fatal(err)
		}
		if !c.WaitBody(c.URL("/"), "generation 2") {
			t.Fatalf("after reload the new config never answered")
		}
		app2, _ := store.ActiveApp()
		if app2 == app1 {
			t.Fatal("reload did not provision a new app")
		}
		if store.HandleID(app2) != h {
			t.Fatal("reload reopened the database instead of reusing the handle")
		}
		if n := store.HandleRefs(app2); n != 1 {
			t.Fatalf("refs after reload = %d, want 1 (old generation released)", n)
		}

		// Fails at provision: the tls app cannot load its certificate files.
		bad := strings.Replace(siteWithHealth(database, "never"), "https://localhost {",
			"https://localhost {\n\ttls /nonexistent/cert.pem /nonexistent/key.pem", 1)
		if err := c.Load(bad); err == nil {
			t.Fatal("reload with missing certificate files succeeded")
		}
		// Fails at start: the database does not answer.
		unreachable := siteWithHealth("postgres://postgres@127.0.0.1:1/nothing?connect_timeout=1", "never")
		err = c.Load(unreachable)
		if err == nil || !strings.Contains(err.Error(), "does not answer") {
			t.Fatalf("reload to an unreachable database: %v", err)
		}
		if got := getBody(t, c, "/"); got != "generation 2" {
			t.Fatalf("after failed reloads body = %q, want the old config", got)
		}
		if status, hb := getHealth(t, c); status != 200 {
			t.Fatalf("after failed reloads health = %d %+v", status, hb)
		}
		app3, _ := store.ActiveApp()
		if store.HandleID(app3) != h || store.HandleRefs(app3) != 1 || store.HandleClosed(h) {
			t.Fatalf("after failed reloads: same=%v refs=%d closed=%v", store.HandleID(app3) == h,
				store.HandleRefs(app3), store.HandleClosed(h))
		}

		if err := caddy.Stop(); err != nil {
			t.Fatal(err)
		}
		if !store.HandleClosed(h) {
			t.Fatal("shutdown did not close the database handle")
		}
	})
}

// Bad settings fail with one clear line naming the problem, never a panic,
// and never echo a password.
func TestBadDatabaseSettings(t *testing.T) {
	unwritable := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(unwritable, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, database, want string
	}{
		{"unknown scheme", "mysql://root:hunter2@db/app", `unsupported scheme "mysql://"`},
		{"unreachable postgres", "postgres://postgres:hunter2@127.0.0.1:1/app?connect_timeout=1", "does not answer"},
		{"sqlite under a file", filepath.Join(unwritable, "sub", "x.db"), "cannot create the folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := testutil.TryStartCaddy(t, siteWithHealth(tc.database, "x"))
			if err == nil {
				t.Fatal("config loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Fatalf("error leaks the password: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
		})
	}
}

func TestSecretRequiredWithPostgres(t *testing.T) {
	err := testutil.TryStartCaddy(t, `{
	intellistack {
		database postgres://postgres@127.0.0.1:5432/test
	}
}
https://localhost {
	intellistack_health
}`)
	if err == nil || !strings.Contains(err.Error(), "secret is required") {
		t.Fatalf("error = %v", err)
	}
}

// {env.*} placeholders are expanded at provision time and never land in the
// adapted config.
func TestEnvPlaceholderStaysOutOfConfig(t *testing.T) {
	url := testutil.PostgresURL(t)
	t.Setenv("IS_TEST_DATABASE_URL", url)
	t.Setenv("IS_TEST_SECRET", testSecret)
	cf := `{
	intellistack {
		database {env.IS_TEST_DATABASE_URL}
		secret {env.IS_TEST_SECRET}
	}
}
https://localhost {
	intellistack_health /healthz
}`
	c := testutil.StartCaddy(t, cf)
	if status, hb := getHealth(t, c); status != 200 || hb.Database != "postgres" {
		t.Fatalf("health = %d %+v", status, hb)
	}
	resp, err := http.Get("http://" + c.AdminAddr + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cfg, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(cfg), testSecret) || strings.Contains(string(cfg), "search_path") {
		t.Fatalf("running config holds the secret or the URL: %s", cfg)
	}
	if !strings.Contains(string(cfg), "{env.IS_TEST_DATABASE_URL}") {
		t.Fatalf("running config lost the placeholder: %s", cfg)
	}
}

// Two nodes starting at once on one PostgreSQL both come up, and the schema
// is migrated once.
func TestTwoNodesStartTogether(t *testing.T) {
	url := testutil.PostgresURL(t)
	cf := siteWithHealth(url, "node")
	nodes := testutil.StartCaddyProcesses(t, cf, cf)
	for i, n := range nodes {
		if status, hb := getHealth(t, n); status != 200 || hb.Database != "postgres" {
			t.Fatalf("node %d health = %d %+v", i, status, hb)
		}
	}
	db := openURL(t, url)
	var rows, distinct int
	if err := db.QueryRow(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT module || '/' || version) FROM intellistack_schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || rows == 0 {
		t.Fatalf("migrations table has %d rows for %d versions", rows, distinct)
	}
	applied := strings.Count(nodes[0].Log(), "applied migration") + strings.Count(nodes[1].Log(), "applied migration")
	_ = applied // Info lines are below the harness's WARN level; the table is the proof.
}

func openURL(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Requests still served by an old generation after a reload (an HTTP/2
// connection with an open stream keeps using the old server) can still reach
// the database while a newer generation holds it open.
func TestOldGenerationKeepsWorkingAfterReload(t *testing.T) {
	c := testutil.StartCaddy(t, siteWithHealth(testutil.SQLitePath(t), "one"))
	old, err := store.ActiveApp()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Load(siteWithHealth(strings.TrimSpace(store.DatabaseSetting(old)), "two")); err != nil {
		t.Fatal(err)
	}
	db, err := old.DB(t.Context())
	if err != nil {
		t.Fatalf("old generation lost the database after reload: %v", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("old generation's handle is closed: %v", err)
	}
}
