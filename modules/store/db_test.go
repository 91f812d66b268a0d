package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// The dialect layer: the same statements, written once with '?', behave the
// same on both databases.
func TestDBSameSQLOnBothDialects(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		createKV(t, db)
		if _, err := db.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "a", "1", 10); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "a", "2", 11)
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate key: IsUniqueViolation(%v) = false", err)
		}
		if store.IsUniqueViolation(errors.New("other")) {
			t.Fatal("IsUniqueViolation(plain error) = true")
		}
		if _, err := db.Exec(ctx, `INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, "a", "3", 12); err != nil {
			t.Fatal(err)
		}
		var v string
		var at int64
		if err := db.QueryRow(ctx, "SELECT value, updated_at FROM test_kv WHERE key = ?", "a").Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if v != "3" || at != 12 {
			t.Fatalf("got %q %d, want 3 12", v, at)
		}
	})
}

// A failed transaction leaves nothing behind; a panicking one neither.
func TestInTxRollsBack(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		createKV(t, db)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "half", "x", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v", err)
		}
		func() {
			defer func() { _ = recover() }()
			_ = db.InTx(ctx, func(tx *store.Tx) error {
				_, _ = tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "panic", "x", 1)
				panic("handler bug")
			})
		}()
		if n := countKV(t, db); n != 0 {
			t.Fatalf("%d rows survived rolled-back transactions", n)
		}
	})
}

// Read-modify-write inside InTx is serialized on both databases when the
// transaction first locks what it reads (SQLite: BEGIN IMMEDIATE; PostgreSQL:
// FOR UPDATE), so no increment is lost.
func TestInTxSerializesCounters(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		createKV(t, db)
		if _, err := db.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES ('n', '0', 0)"); err != nil {
			t.Fatal(err)
		}
		lock := ""
		if db.Dialect() == store.Postgres {
			lock = " FOR UPDATE"
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					errs <- db.InTx(ctx, func(tx *store.Tx) error {
						var at int64
						if err := tx.QueryRow(ctx, "SELECT updated_at FROM test_kv WHERE key = 'n'"+lock).Scan(&at); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, "UPDATE test_kv SET updated_at = ? WHERE key = 'n'", at+1)
						return err
					})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var got int64
		if err := db.QueryRow(ctx, "SELECT updated_at FROM test_kv WHERE key = 'n'").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != workers*each {
			t.Fatalf("counter = %d, want %d", got, workers*each)
		}
	})
}

// countKV is the number of rows in test_kv.
func countKV(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM test_kv").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// createKV makes a table of the test's own: no module's schema is the
// dialect layer's business.
func createKV(t *testing.T, db *store.DB) {
	t.Helper()
	if _, err := db.Exec(context.Background(), "CREATE TABLE test_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
}
