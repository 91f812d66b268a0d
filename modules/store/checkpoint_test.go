package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Commits do not checkpoint (wal_autocheckpoint is 0 on every connection),
// and a checkpoint from the checkpointer lets the next writes start the WAL
// over, so its file stays the size of one checkpoint interval's writes.
func TestWALCheckpointedBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := openSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	// The test checkpoints when it says so, not on the ticker.
	ckpt := db.checkpoints
	ckpt.close()
	db.checkpoints = nil
	var auto int
	if err := db.QueryRow(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)"); err != nil {
		t.Fatal(err)
	}
	const perPhase = 8 << 20
	write := func() {
		t.Helper()
		chunk := strings.Repeat("x", 32<<10)
		for n := 0; n < perPhase/len(chunk); n++ {
			if err := db.InTx(ctx, func(tx *Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO blobs (b) VALUES (?)", chunk)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	walSize := func() int64 {
		t.Helper()
		info, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	write()
	if got := walSize(); got < perPhase {
		t.Fatalf("the WAL holds %d bytes after %d written: something checkpointed inside a commit", got, perPhase)
	}
	if err := ckpt.checkpoint(); err != nil {
		t.Fatal(err)
	}
	write()
	// Without the checkpoint the second phase appends: 2 × perPhase.
	if got := walSize(); got > perPhase*3/2 {
		t.Fatalf("the WAL grew to %d bytes over two phases of %d: it was not started over", got, perPhase)
	}
}
