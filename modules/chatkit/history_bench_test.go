package chatkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/testutil"
)

// BenchmarkHistory loads a 100-item thread through the Caddy-free handler,
// as bench/chatkit's history load does over HTTP: threads.get_by_id (the
// thread and its first 20 items) and items.list with limit 100, on each
// database, with this process's CPU per call (getrusage) as cpu-µs/op.
// CPU per call is the figure to compare between two trees on a shared
// machine; wall time moves with the neighbours.
func BenchmarkHistory(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			h := benchHandler(b, testutil.OpenDatabase(b, name), zap.NewNop())
			out := benchPost(b, h, "historian", hiBody)
			add := benchAddBody(out)
			for i := 1; i < 50; i++ {
				benchPost(b, h, "historian", add)
			}
			thread := add[strings.Index(add, `"thread_id":"`)+len(`"thread_id":"`):]
			thread = thread[:strings.IndexByte(thread, '"')]
			for _, op := range []struct{ name, body string }{
				{"get_by_id", `{"type":"threads.get_by_id","params":{"thread_id":"` + thread + `"}}`},
				{"items.list_100", `{"type":"items.list","params":{"thread_id":"` + thread + `","limit":100,"order":"asc"}}`},
			} {
				b.Run(op.name, func(b *testing.B) {
					if n := strings.Count(benchCall(b, h, "historian", op.body), `"type":"assistant_message"`); n < 10 {
						b.Fatalf("history has %d assistant messages", n)
					}
					cpu0 := cpuNow()
					for range b.N {
						benchCall(b, h, "historian", op.body)
					}
					b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				})
			}
		})
	}
}

// benchCall posts one request as user and returns the answer's body,
// stopping the benchmark on a status other than 200.
func benchCall(b *testing.B, h http.Handler, user, body string) string {
	w := benchDo(h, user, body)
	if w.Code != 200 {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return w.Body.String()
}

// benchDo posts one request to h as user.
func benchDo(h http.Handler, user, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/chatkit", strings.NewReader(body))
	r.Header.Set("X-Test-User", user)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
