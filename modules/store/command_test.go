package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// `intellistack migrate` as an operator runs it before a rollout: status shows
// pending migrations (exit 2), up applies them once, status is then clean;
// a node configured with `migrate check` starts only after that.
func TestMigrateCommand(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		out, code := testutil.RunCommand(t, nil, "migrate", "status", "--database", database)
		if code != 2 || !strings.Contains(out, "pending") {
			t.Fatalf("status on a new database: exit %d\n%s", code, out)
		}
		cf := strings.Replace(siteWithHealth(database, "x"), "secret "+testSecret, "secret "+testSecret+"\n\t\tmigrate check", 1)
		if err := testutil.TryStartCaddy(t, cf); err == nil || !strings.Contains(err.Error(), "pending migrations") {
			t.Fatalf("migrate check with pending migrations: %v", err)
		}

		out, code = testutil.RunCommand(t, nil, "migrate", "up", "--database", database)
		if code != 0 || !strings.Contains(out, "applied store/0001_drop_meta") {
			t.Fatalf("up: exit %d\n%s", code, out)
		}
		out, code = testutil.RunCommand(t, nil, "migrate", "up", "--database", database)
		if code != 0 || !strings.Contains(out, "nothing to apply") {
			t.Fatalf("second up: exit %d\n%s", code, out)
		}
		out, code = testutil.RunCommand(t, nil, "migrate", "status", "--database", database)
		if code != 0 || strings.Contains(out, "pending") {
			t.Fatalf("status after up: exit %d\n%s", code, out)
		}
		c := testutil.StartCaddy(t, cf)
		if status, _ := getHealth(t, c); status != 200 {
			t.Fatalf("migrate check after up: health %d", status)
		}
	})
}

// The database can come from the config file, with {env.*} expanded the way
// the server expands it.
func TestMigrateCommandReadsConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(`{
	intellistack {
		database {env.IS_MIGRATE_DB}
	}
}
:0 {
	respond ok
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "from-env.db")
	out, code := testutil.RunCommand(t, []string{"IS_MIGRATE_DB=" + db}, "migrate", "up", "--config", cfg)
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("up from config: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("database from {env.IS_MIGRATE_DB} not created: %v", err)
	}
	out, code = testutil.RunCommand(t, nil, "migrate", "sideways", "--database", db)
	if code == 0 || !strings.Contains(out, "unknown action") {
		t.Fatalf("unknown action: exit %d\n%s", code, out)
	}
}
