package chatkit

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// BenchmarkTurn is one threads.create turn with the echo responder through
// the Caddy-free handler on SQLite: what the turn's metrics and log line add
// to the hot path (issue 16 measures CPU per turn). "nolog" has a logger
// with info off; "infolog" writes every info line (Caddy's default level) as
// JSON to io.Discard.
func BenchmarkTurn(b *testing.B) {
	db := testutil.OpenDatabase(b, "sqlite")
	for _, bc := range []struct {
		name   string
		logger *zap.Logger
	}{
		{"nolog", zap.NewNop()},
		{"infolog", zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := benchHandler(b, db, bc.logger)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				benchCall(b, h, "bench-user", hiBody)
			}
		})
	}
}

// benchHandler is testHandler for a benchmark: the echo responder, the user
// from X-Test-User.
func benchHandler(b *testing.B, db *store.DB, logger *zap.Logger) http.Handler {
	h := &Handler{responder: &Echo{}, logger: logger, now: time.Now}
	h.srv = h.newServer(func(context.Context) (*store.DB, error) { return db, nil })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repl := caddyhttp.NewTestReplacer(r)
		repl.Set("http.auth.user.id", r.Header.Get("X-Test-User"))
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, nil); err != nil {
			b.Errorf("ServeHTTP returned %v", err)
		}
	})
}

// BenchmarkEndTurn is the turn's own metrics and log line alone: the
// stream gauge's inc and dec, the outcome counter and the "tutor turn"
// line, with info off (nolog) and on (infolog, JSON to io.Discard).
func BenchmarkEndTurn(b *testing.B) {
	for _, bc := range []struct {
		name   string
		logger *zap.Logger
	}{
		{"nolog", zap.NewNop()},
		{"infolog", zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			begin := time.Now()
			ss := &session{srv: &server{logger: bc.logger, now: time.Now}, thread: &threadRow{ID: "thr_0123456789"},
				owner: "user-0123456789", op: "threads.add_user_message", begin: begin, first: begin.Add(time.Millisecond)}
			b.ReportAllocs()
			for range b.N {
				activeStreams.Inc()
				ss.endTurn(outcomeOK, "")
				activeStreams.Dec()
			}
		})
	}
}
