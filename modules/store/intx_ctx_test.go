package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// A context that ends inside a transaction rolls it back, on both
// databases: on SQLite the statements and the commit do not watch the
// context (no interrupt goroutine per statement), InTx checks it instead,
// before each statement and before the commit.
func TestInTxContextEndsBeforeCommit(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		createKV(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "k", "v", 1); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("InTx after cancel = %v, want context.Canceled", err)
		}
		err = db.InTx(context.Background(), func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "k2", "v", 1); err == nil {
				t.Error("a statement with a done context ran")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM test_kv").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d rows after a cancelled transaction, want 0", n)
		}
	})
}
