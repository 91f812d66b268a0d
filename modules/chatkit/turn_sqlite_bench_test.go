package chatkit

import (
	"context"
	"os"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// BenchmarkTurnSQLite is BenchmarkTurnPostgres on SQLite: one echo turn
// through the Caddy-free handler, this process's CPU per turn (getrusage:
// handler, SQLite and the in-process client) as cpu-µs/turn, and the pages
// a turn writes to the WAL (its frames, read from the -wal file's size
// between two truncating checkpoints) as wal-pages/turn.
func BenchmarkTurnSQLite(b *testing.B) {
	db := testutil.OpenDatabase(b, "sqlite")
	wal := walPath(b, db)
	benchTurns(b, db, func(b *testing.B) func(int) {
		checkpoint(b, db)
		frames0 := walFrames(b, wal)
		return func(turns int) {
			b.ReportMetric(float64(walFrames(b, wal)-frames0)/float64(turns), "wal-pages/turn")
		}
	})
}

// walPath is the -wal file of an SQLite database.
func walPath(b *testing.B, db *store.DB) string {
	var seq int
	var name, file string
	if err := db.QueryRow(context.Background(), "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		b.Fatal(err)
	}
	return file + "-wal"
}

// checkpoint empties the WAL so that its size counts the frames written
// from now on (the automatic checkpoint restarts it only after 1,000).
func checkpoint(b *testing.B, db *store.DB) {
	if _, err := db.Exec(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
}

// walFrames is the number of frames in a WAL file (4 KiB pages).
func walFrames(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if fi.Size() < 32 {
		return 0
	}
	return (fi.Size() - 32) / (4096 + 24)
}
