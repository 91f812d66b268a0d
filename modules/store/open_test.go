package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// A new SQLite database, and the WAL files beside it, are readable by the
// server's user only: they hold password hashes and sealed keys.
func TestSQLiteFilesArePrivate(t *testing.T) {
	path := testutil.SQLitePath(t)
	db, err := store.Open(context.Background(), path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(name), mode)
		}
	}
}
