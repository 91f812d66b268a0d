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
		if n := countKV(t, db); n != 0 {
			t.Fatalf("%d rows after a cancelled transaction, want 0", n)
		}
	})
}

// SQLite transactions run on one connection of their own (writer.go): a
// panic or an error in one leaves it usable, and it sees what the pool's
// connections wrote, and they what it wrote.
func TestInTxWriterConnection(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		createKV(t, db)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic did not reach the caller")
				}
			}()
			_ = db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "p", "v", 1); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		boom := errors.New("boom")
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "e", "v", 1); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO test_kv (key, value, updated_at) VALUES (?, ?, ?)", "pool", "1", 1); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				var v string
				if err := tx.QueryRow(ctx, "SELECT value FROM test_kv WHERE key = ?", "pool").Scan(&v); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "UPDATE test_kv SET value = ? WHERE key = ?", v+"1", "pool")
				return err
			}); err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		var v string
		if err := db.QueryRow(ctx, "SELECT value FROM test_kv WHERE key = ?", "pool").Scan(&v); err != nil || v != "1111" {
			t.Fatalf("value %q, %v; want 1111", v, err)
		}
		if n := countKV(t, db); n != 1 {
			t.Fatalf("%d rows; want only the pool's (the panicked and failed transactions rolled back)", n)
		}
	})
}
