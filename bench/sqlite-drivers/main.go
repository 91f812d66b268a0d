// Command sqlite-drivers measures the SQLite drivers the store could use on
// the database work of a ChatKit turn, in CPU time per turn:
//
//   - modernc.org/sqlite, today's driver: SQLite translated to Go, no cgo;
//   - github.com/ncruces/go-sqlite3: SQLite compiled to WebAssembly and run
//     by wazero, no cgo either (xcaddy builds keep working without a C
//     toolchain);
//   - github.com/mattn/go-sqlite3, for reference: the C library through cgo
//     (build with -tags mattn and CGO_ENABLED=1; it and ncruces both
//     register "sqlite3", so they live in different binaries).
//
// A turn is what modules/chatkit does on threads.add_user_message with a
// responder that reads no history: one transaction that bumps the thread's
// sequence (UPDATE … RETURNING) and inserts the user message, then one that
// bumps it again, inserts the reply and upserts the day's usage. Same
// schema (read from modules/chatkit/migrations), the same pragmas as
// modules/store (WAL, synchronous NORMAL, BEGIN IMMEDIATE, busy timeout),
// statements prepared once per connection, writers queued in-process as
// modules/store does. Item bodies are the protocol package's JSON.
//
// Run from this folder, e.g.
//
//	go run . -driver modernc && go run . -driver ncruces && CGO_ENABLED=1 go run -tags mattn . -driver mattn
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// drivers maps a -driver name to its database/sql driver name and DSN
// builder; each driver file adds itself.
var drivers = map[string]func(path string) (driverName, dsn string){}

func main() {
	driver := flag.String("driver", "modernc", "modernc | ncruces | mattn")
	turns := flag.Int("turns", 4000, "turns to measure")
	conc := flag.Int("c", 16, "concurrent turns")
	threads := flag.Int("threads", 64, "threads the turns rotate over")
	flag.Parse()
	mk, ok := drivers[*driver]
	if !ok {
		fmt.Fprintf(os.Stderr, "driver %q is not in this binary (mattn needs -tags mattn)\n", *driver)
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "sqlite-drivers-")
	must(err)
	defer os.RemoveAll(dir)
	name, dsn := mk(filepath.Join(dir, "bench.db"))
	db, err := sql.Open(name, dsn)
	must(err)
	defer db.Close()
	conns := 4
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	schema, err := os.ReadFile("../../modules/chatkit/migrations/0001_threads.sql")
	must(err)
	ctx := context.Background()
	for _, stmt := range strings.Split(stripComments(string(schema)), ";") {
		if strings.TrimSpace(stmt) != "" {
			_, err := db.ExecContext(ctx, stmt)
			must(err)
		}
	}
	b := newBench(ctx, db)
	ids := make([]string, *threads)
	for i := range ids {
		ids[i] = protocol.NewID("thr")
		b.createThread(ids[i], "bench")
	}
	// Warm-up, then the measured run.
	b.run(ids, 500, *conc)
	cpu0, t0 := cpuTime(), time.Now()
	lat := b.run(ids, *turns, *conc)
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("%-8s CPU %6.1f µs/turn  %7.0f turns/s  turn p50 %8s p99 %8s  (%d turns, c=%d)\n", *driver,
		float64(cpu.Microseconds())/float64(*turns), float64(*turns)/wall.Seconds(),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), *turns, *conc)
}

type bench struct {
	ctx   context.Context
	db    *sql.DB
	gate  chan struct{}
	stmts map[string]*sql.Stmt
}

const (
	bumpSQL  = `UPDATE chatkit_threads SET next_seq = next_seq + ?, last_activity_at = ?, updated_at = ? WHERE id = ? AND owner_id = ? RETURNING id, owner_id, title, status, metadata, created_at, last_activity_at, next_seq`
	itemSQL  = `INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, context, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	usageSQL = `INSERT INTO chatkit_usage (owner_id, day, messages, replies, errors, cancelled, ttft_ms_sum, ttft_count, reply_ms_sum, reply_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner_id, day) DO UPDATE SET messages = chatkit_usage.messages + excluded.messages,
			replies = chatkit_usage.replies + excluded.replies, errors = chatkit_usage.errors + excluded.errors,
			cancelled = chatkit_usage.cancelled + excluded.cancelled, ttft_ms_sum = chatkit_usage.ttft_ms_sum + excluded.ttft_ms_sum,
			ttft_count = chatkit_usage.ttft_count + excluded.ttft_count, reply_ms_sum = chatkit_usage.reply_ms_sum + excluded.reply_ms_sum,
			reply_count = chatkit_usage.reply_count + excluded.reply_count`
	threadSQL = `INSERT INTO chatkit_threads (id, owner_id, title, status, metadata, created_at, updated_at, last_activity_at, next_seq)
		VALUES (?, ?, NULL, '{"type":"active"}', '{}', ?, ?, ?, 0)`
)

func newBench(ctx context.Context, db *sql.DB) *bench {
	b := &bench{ctx: ctx, db: db, gate: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	for _, q := range []string{bumpSQL, itemSQL, usageSQL, threadSQL} {
		s, err := db.PrepareContext(ctx, q)
		must(err)
		b.stmts[q] = s
	}
	return b
}

// inTx runs fn in a write transaction behind the in-process gate, as
// store.DB.InTx does on SQLite.
func (b *bench) inTx(fn func(tx *sql.Tx) error) {
	b.gate <- struct{}{}
	defer func() { <-b.gate }()
	tx, err := b.db.BeginTx(b.ctx, nil)
	must(err)
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		must(err)
	}
	must(tx.Commit())
}

func (b *bench) exec(tx *sql.Tx, q string, args ...any) {
	_, err := tx.StmtContext(b.ctx, b.stmts[q]).ExecContext(b.ctx, args...)
	must(err)
}

func (b *bench) bump(tx *sql.Tx, thread string, n int, ms int64) int64 {
	var id, owner, status, meta string
	var title sql.NullString
	var created, last, seq int64
	err := tx.StmtContext(b.ctx, b.stmts[bumpSQL]).QueryRowContext(b.ctx, n, ms, ms, thread, "bench").
		Scan(&id, &owner, &title, &status, &meta, &created, &last, &seq)
	must(err)
	return seq
}

func (b *bench) createThread(id, owner string) {
	ms := time.Now().UnixMilli()
	b.inTx(func(tx *sql.Tx) error {
		b.exec(tx, threadSQL, id, owner, ms, ms, ms)
		return nil
	})
}

// turn is the database work of one add_user_message turn.
func (b *bench) turn(thread string) {
	now := time.Now()
	ms := now.UnixMilli()
	user := &protocol.UserMessageItem{ID: protocol.NewID("msg"), ThreadID: thread, CreatedAt: protocol.NewTime(now),
		Content: []protocol.UserContent{{Type: "input_text", Text: "hello there echo bench"}}}
	body, _ := json.Marshal(user)
	b.inTx(func(tx *sql.Tx) error {
		seq := b.bump(tx, thread, 1, ms)
		b.exec(tx, itemSQL, thread, user.ID, seq, user.ItemType(), 0, string(body), nil, ms)
		return nil
	})
	reply := &protocol.AssistantMessageItem{ID: protocol.NewID("msg"), ThreadID: thread, CreatedAt: protocol.NewTime(now),
		Content: []protocol.OutputText{{Text: "Echo: hello there echo bench", Annotations: []json.RawMessage{}}}}
	body, _ = json.Marshal(reply)
	b.inTx(func(tx *sql.Tx) error {
		seq := b.bump(tx, thread, 1, ms)
		b.exec(tx, itemSQL, thread, reply.ID, seq, reply.ItemType(), 0, string(body), nil, ms)
		b.exec(tx, usageSQL, "bench", now.UTC().Format("2006-01-02"), 1, 1, 0, 0, 1, 1, 2, 1)
		return nil
	})
}

// run does n turns from conc goroutines and returns each turn's time.
func (b *bench) run(threads []string, n, conc int) []time.Duration {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				b.turn(threads[i%len(threads)])
				lat[i] = time.Since(t0)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return lat
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stripComments(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
