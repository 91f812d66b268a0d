package chatkit

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// BenchmarkTurnPostgres is one echo turn through the Caddy-free handler on
// PostgreSQL, threads.create and threads.add_user_message, with this
// process's CPU time per turn (user+system, getrusage: the handler, pgx and
// the in-process client, not PostgreSQL's) as cpu-µs/turn, the figure
// issue 16 trusts on a shared machine.
func BenchmarkTurnPostgres(b *testing.B) {
	benchTurns(b, testutil.OpenDatabase(b, "postgres"), nil)
}

// benchTurns runs echo turns on db one at a time (threads.create, then
// threads.add_user_message), then 16 users at once, each on a thread of its
// own (issue 16's c=16), reporting CPU per turn. measure, when set, starts
// a further measurement before a sub-benchmark's turns and returns what
// reports it after them.
func benchTurns(b *testing.B, db *store.DB, measure func(b *testing.B) (report func(turns int))) {
	h := benchHandler(b, db, zap.NewNop())
	do := func(body string) string { return benchPost(b, h, "bench-user", body) }
	out := do(hiBody)
	add := benchAddBody(out)
	for _, op := range []struct{ name, body string }{{"create", hiBody}, {"add_user_message", add}} {
		b.Run(op.name, func(b *testing.B) {
			var report func(int)
			if measure != nil {
				report = measure(b)
			}
			cpu0 := cpuNow()
			for range b.N {
				do(op.body)
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
			if report != nil {
				report(b.N)
			}
		})
	}
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

// benchPost posts one turn and returns its stream.
func benchPost(b *testing.B, h http.Handler, user, body string) string {
	w := benchDo(h, user, body)
	if w.Code != 200 || strings.Contains(w.Body.String(), `"type":"error"`) {
		b.Errorf("status %d: %s", w.Code, w.Body) // Errorf: RunParallel's goroutines may not call Fatalf
	}
	return w.Body.String()
}

// benchAddBody is an add_user_message on the thread a stream created.
func benchAddBody(stream string) string {
	i := strings.Index(stream, `"thread_id":"`) + len(`"thread_id":"`)
	return `{"type":"threads.add_user_message","params":{"thread_id":"` + stream[i:i+strings.IndexByte(stream[i:], '"')] +
		`","input":{"content":[{"type":"input_text","text":"again"}],"attachments":[],"inference_options":{}}}}`
}

// cpuNow is this process's user and system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
