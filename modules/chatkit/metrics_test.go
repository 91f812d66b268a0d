package chatkit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/store"
)

// scriptedTurn is a responder whose turn is a function.
type scriptedTurn func(ctx context.Context, s responder.Stream) error

func (f scriptedTurn) Respond(ctx context.Context, _ *responder.Request, s responder.Stream) error {
	return f(ctx, s)
}

const secretText = "my secret question about loops"

var secretBody = `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"` + secretText + `"}],"attachments":[],"inference_options":{}}}}`

// Each turn is counted once by outcome and logged once, at its end, with
// the user hashed, the durations on the handler's clock, the responder's
// mode and error kind, and none of the conversation's text; the active
// streams gauge counts the turn while it runs. Not parallel: the counters
// are the process's, and the test asserts them exactly.
func TestTurnMetricsAndLogLine(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
		core, logs := observer.New(zapcore.InfoLevel)
		var activeDuring float64
		var resp scriptedTurn
		h := testHandler(t, db, &resp, clock, func(h *Handler) { h.logger = zap.New(core) })
		before := map[string]float64{}
		for _, o := range []string{outcomeOK, outcomeError, outcomeCanceled} {
			before[o] = promtest.ToFloat64(turns.WithLabelValues(o))
		}
		active := promtest.ToFloat64(activeStreams)

		// A turn that answers: 300 ms to the first text, 500 ms in all.
		resp = func(ctx context.Context, s responder.Stream) error {
			activeDuring = promtest.ToFloat64(activeStreams)
			m, err := responder.StartMessage(s)
			if err != nil {
				return err
			}
			clock.advance(300 * time.Millisecond)
			if err := m.Delta("An answer that echoes " + secretText); err != nil {
				return err
			}
			clock.advance(200 * time.Millisecond)
			s.(responder.TurnReporter).ReportTurn(responder.TurnReport{Mode: "model"})
			return m.Done()
		}
		if w := post(t, h, "student-7", secretBody); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		if activeDuring != active+1 {
			t.Fatalf("active streams during the turn = %v, want %v", activeDuring, active+1)
		}
		// A turn whose model broke off: an error the student sees.
		resp = func(ctx context.Context, s responder.Stream) error {
			s.(responder.TurnReporter).ReportTurn(responder.TurnReport{ErrorKind: "stream"})
			return &responder.UserError{Message: "interrupted", AllowRetry: true}
		}
		post(t, h, "student-7", secretBody)
		// A responder failing on its own: the handler's error kind.
		resp = func(ctx context.Context, s responder.Stream) error { return fmt.Errorf("boom") }
		post(t, h, "student-8", secretBody)
		// The client goes away mid-turn.
		ctx, cancel := context.WithCancel(context.Background())
		resp = func(rctx context.Context, s responder.Stream) error {
			cancel()
			<-rctx.Done()
			return rctx.Err()
		}
		r := httptest.NewRequest(http.MethodPost, "/chatkit", strings.NewReader(secretBody)).WithContext(ctx)
		r.Header.Set("X-Test-User", "student-9")
		h.ServeHTTP(httptest.NewRecorder(), r)
		// A request that fails before its stream is no turn.
		post(t, h, "student-7", `{"type":"threads.add_user_message","params":{"thread_id":"thr_missing","input":{"content":[{"type":"input_text","text":"x"}],"attachments":[],"inference_options":{}}}}`)

		want := map[string]float64{outcomeOK: 1, outcomeError: 2, outcomeCanceled: 1}
		for o, n := range want {
			if got := promtest.ToFloat64(turns.WithLabelValues(o)) - before[o]; got != n {
				t.Errorf("turns{outcome=%s} grew by %v, want %v", o, got, n)
			}
		}
		if got := promtest.ToFloat64(activeStreams); got != active {
			t.Errorf("active streams after the turns = %v, want %v", got, active)
		}

		lines := logs.FilterMessage("tutor turn").All()
		if len(lines) != 4 {
			t.Fatalf("%d turn lines, want 4: %v", len(lines), logs.All())
		}
		type line = map[string]any
		wantLines := []line{
			{"user": metrics.UserHash("student-7"), "op": "threads.create", "outcome": "ok", "mode": "model",
				"ttft": 300 * time.Millisecond, "duration": 500 * time.Millisecond},
			{"user": metrics.UserHash("student-7"), "op": "threads.create", "outcome": "error", "error_kind": "stream", "duration": time.Duration(0)},
			{"user": metrics.UserHash("student-8"), "op": "threads.create", "outcome": "error", "error_kind": "responder", "duration": time.Duration(0)},
			{"user": metrics.UserHash("student-9"), "op": "threads.create", "outcome": "canceled", "duration": time.Duration(0)},
		}
		for i, l := range lines {
			got := l.ContextMap()
			if l.Level != zapcore.InfoLevel {
				t.Errorf("line %d at %s", i, l.Level)
			}
			if th, _ := got["thread"].(string); !strings.HasPrefix(th, "thr_") {
				t.Errorf("line %d: thread %v", i, got["thread"])
			}
			delete(got, "thread")
			if fmt.Sprint(got) != fmt.Sprint(wantLines[i]) {
				t.Errorf("line %d:\n got %v\nwant %v", i, got, wantLines[i])
			}
			if s := fmt.Sprint(l.ContextMap()); strings.Contains(s, "secret") || strings.Contains(s, "student-") {
				t.Errorf("line %d leaks text or the user id: %s", i, s)
			}
		}
	})
}

// The hot path's metrics allocate nothing: a stream's gauge and a turn's
// counter are atomic adds on collectors resolved at init.
func TestTurnMetricsDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		activeStreams.Inc()
		turnsOK.Inc()
		activeStreams.Dec()
	}); n != 0 {
		t.Fatalf("%v allocations per turn", n)
	}
}
