package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

func TestMigrateOnceThenNoOp(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// testutil already migrated: a second run applies nothing.
		applied, err := store.Migrate(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("re-run applied %d migrations", len(applied))
		}
		statuses, err := store.MigrationStatuses(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(statuses) == 0 {
			t.Fatal("no migrations known")
		}
		for _, s := range statuses {
			if !s.Applied || s.Modified {
				t.Errorf("migration %04d_%s: applied=%v modified=%v", s.Version, s.Name, s.Applied, s.Modified)
			}
		}
		versions, err := store.SchemaVersions(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range statuses {
			if versions[s.Module] < s.Version {
				t.Errorf("schema version of %s = %d, want at least %d", s.Module, versions[s.Module], s.Version)
			}
		}
	})
}

// Both dialects ship the same migrations, so SQLite and PostgreSQL
// installs always have the same tables.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	sqlite := testutil.OpenDatabase(t, "sqlite")
	ctx := context.Background()
	s1, err := store.MigrationStatuses(ctx, sqlite)
	if err != nil {
		t.Fatal(err)
	}
	pg := testutil.OpenDatabase(t, "postgres")
	s2, err := store.MigrationStatuses(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != len(s2) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(s1), len(s2))
	}
	for i := range s1 {
		if s1[i].ID() != s2[i].ID() {
			t.Errorf("migration %d: sqlite %s, postgres %s", i, s1[i].ID(), s2[i].ID())
		}
	}
}

// Several nodes starting at once on one PostgreSQL: every one succeeds and
// each migration is recorded exactly once.
func TestConcurrentMigrationPostgres(t *testing.T) {
	url := testutil.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const nodes = 4
	var wg sync.WaitGroup
	total := make(chan int, nodes)
	for i := 0; i < nodes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			applied, err := store.Migrate(ctx, db)
			if err != nil {
				t.Error(err)
				return
			}
			total <- len(applied)
		}()
	}
	wg.Wait()
	close(total)
	sum := 0
	for n := range total {
		sum += n
	}
	db, err := store.Open(ctx, url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	statuses, err := store.MigrationStatuses(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if sum != len(statuses) {
		t.Fatalf("%d nodes applied %d migrations in total, want %d (each once)", nodes, sum, len(statuses))
	}
	var rows int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM intellistack_schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(statuses) {
		t.Fatalf("%d bookkeeping rows, want %d", rows, len(statuses))
	}
}
