package chatkit

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

// The metrics cost the stream an atomic increment and decrement and the turn
// one counter add: nothing per SSE event (issue 16 measures CPU per turn).

// activeStreams counts the SSE answers open now, across config generations
// (a stream that outlives a reload is still one).
var activeStreams = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: metrics.Namespace,
	Subsystem: "chatkit",
	Name:      "active_streams",
	Help:      "ChatKit SSE streams open now: turns being answered (threads.create, add_user_message, retry, tool output, custom action).",
})

// Turn outcomes, the values of the outcome label and of the turn log line.
const (
	outcomeOK       = "ok"       // the turn ended normally (a degraded answer too)
	outcomeError    = "error"    // an error event ended the turn
	outcomeCanceled = "canceled" // the client went away before the end
)

var turns = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metrics.Namespace,
	Subsystem: "chatkit",
	Name:      "turns_total",
	Help:      "ChatKit streaming turns by outcome: ok, error (the turn ended with an error event: the responder failed, max_stream_duration, storing failed) or canceled (the client went away).",
}, []string{"outcome"})

// Resolved once: a turn pays one atomic add.
var (
	turnsOK       = turns.WithLabelValues(outcomeOK)
	turnsError    = turns.WithLabelValues(outcomeError)
	turnsCanceled = turns.WithLabelValues(outcomeCanceled)
)

// The error_kind values of the handler's own failures in the turn log line
// (a responder's TurnReport.ErrorKind takes precedence).
const (
	errorKindTooLong   = "max_stream_duration" // the stream outlived max_stream_duration
	errorKindResponder = "responder"           // the responder returned an error
	errorKindStorage   = "storage"             // the turn could not be stored
)

// ReportTurn implements responder.TurnReporter.
func (ss *session) ReportTurn(r responder.TurnReport) { ss.report = r }

// endTurn counts the turn and writes its log line: the one place a turn's
// end is recorded. The line names the user by hash and carries no text of
// the conversation.
func (ss *session) endTurn(outcome, errorKind string) {
	switch outcome {
	case outcomeOK:
		turnsOK.Inc()
	case outcomeError:
		turnsError.Inc()
	default:
		turnsCanceled.Inc()
	}
	ce := ss.srv.logger.Check(zapcore.InfoLevel, "tutor turn")
	if ce == nil {
		return
	}
	if ss.report.ErrorKind != "" {
		errorKind = ss.report.ErrorKind
	}
	fields := make([]zap.Field, 0, 8)
	fields = append(fields, metrics.UserField(ss.owner), zap.String("thread", ss.thread.ID), zap.String("op", ss.op),
		zap.String("outcome", outcome), zap.Duration("duration", ss.srv.now().Sub(ss.begin)))
	if !ss.first.IsZero() {
		fields = append(fields, zap.Duration("ttft", ss.first.Sub(ss.begin)))
	}
	if ss.report.Mode != "" {
		fields = append(fields, zap.String("mode", ss.report.Mode))
	}
	if errorKind != "" {
		fields = append(fields, zap.String("error_kind", errorKind))
	}
	ce.Write(fields...)
}

var _ responder.TurnReporter = (*session)(nil)
