package chatkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/testutil"
)

// BenchmarkTurnPostgres is one echo turn through the Caddy-free handler on
// PostgreSQL, threads.create and threads.add_user_message, with this
// process's CPU time per turn (user+system, getrusage: the handler, pgx and
// the in-process client, not PostgreSQL's) as cpu-µs/turn, the figure
// issue 16 trusts on a shared machine.
func BenchmarkTurnPostgres(b *testing.B) {
	db := testutil.OpenDatabase(b, "postgres")
	h := benchHandler(b, db, zap.NewNop())
	do := func(body string) string {
		r := httptest.NewRequest(http.MethodPost, "/chatkit", strings.NewReader(body))
		r.Header.Set("X-Test-User", "bench-user")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || strings.Contains(w.Body.String(), `"type":"error"`) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	out := do(hiBody)
	i := strings.Index(out, `"thread_id":"`) + len(`"thread_id":"`)
	add := `{"type":"threads.add_user_message","params":{"thread_id":"` + out[i:i+strings.IndexByte(out[i:], '"')] +
		`","input":{"content":[{"type":"input_text","text":"again"}],"attachments":[],"inference_options":{}}}}`
	for _, op := range []struct{ name, body string }{{"create", hiBody}, {"add_user_message", add}} {
		b.Run(op.name, func(b *testing.B) {
			cpu0 := cpuNow()
			for range b.N {
				do(op.body)
			}
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
		})
	}
}

// cpuNow is this process's user and system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
