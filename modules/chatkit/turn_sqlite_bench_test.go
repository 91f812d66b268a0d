package chatkit

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

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
	h := benchHandler(b, db, zap.NewNop())
	do := func(body string) string { return benchPost(b, h, "bench-user", body) }
	out := do(hiBody)
	add := benchAddBody(out)
	wal := walPath(b, db)
	for _, op := range []struct{ name, body string }{{"create", hiBody}, {"add_user_message", add}} {
		b.Run(op.name, func(b *testing.B) {
			checkpoint(b, db)
			cpu0 := cpuNow()
			frames0 := walFrames(b, wal)
			for range b.N {
				do(op.body)
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
			b.ReportMetric(float64(walFrames(b, wal)-frames0)/float64(b.N), "wal-pages/turn")
		})
	}
	// 16 users at once, each on a thread of its own (issue 16's c=16).
	b.Run("add_user_message_c16", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		cpu0 := cpuNow()
		b.RunParallel(func(pb *testing.PB) {
			user := "bench-" + strconv.FormatInt(next.Add(1), 10)
			add := benchAddBody(benchPost(b, h, user, hiBody))
			for pb.Next() {
				benchPost(b, h, user, add)
			}
		})
		b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
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
