package tutor

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/tutor/engine"
	"github.com/intellistack/intellistack/modules/tutor/model"
)

var (
	timeToFirstToken = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metrics.Namespace,
		Subsystem: "tutor",
		Name:      "time_to_first_token_seconds",
		Help:      "Time from the start of a tutor turn (retrieval included) to the model's first text, for turns in which the model wrote text.",
		// The seed's target is 2 s; first_token_timeout defaults to 20 s.
		Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30},
	})
	modelErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace,
		Subsystem: "tutor",
		Name:      "model_errors_total",
		Help:      "Model failures by kind: unreachable (no answer: connection, DNS, TLS), timeout (no first token within first_token_timeout), status (an HTTP error from the model server), stream (the reply broke off).",
	}, []string{"kind"})
	retrievalSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metrics.Namespace,
		Subsystem: "tutor",
		Name:      "retrieval_seconds",
		Help:      "Time to retrieve course passages for a tutor turn, by retriever backend (lexical, qdrant), failures and timeouts included.",
		Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"backend"})
	answers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace,
		Subsystem: "tutor",
		Name:      "answers_total",
		Help:      "Tutor answers given in full, by mode: model (written by the model) or retrieval_only (course passages: no model configured, or the model failed before any text).",
	}, []string{"mode"})
)

// Every label value exists from the start, so that rate() and alerts see a
// zero rather than no series.
func init() {
	for _, k := range []model.ErrorKind{model.KindUnreachable, model.KindTimeout, model.KindStatus, model.KindStream} {
		modelErrors.WithLabelValues(string(k))
	}
	for _, m := range []string{engine.ModeModel, engine.ModeRetrievalOnly} {
		answers.WithLabelValues(m)
	}
}

// backendName is the retriever's label: the last part of its module ID
// (intellistack.retrievers.qdrant: qdrant).
func backendName(r any) string {
	if m, ok := r.(caddy.Module); ok {
		id := string(m.CaddyModule().ID)
		return id[strings.LastIndexByte(id, '.')+1:]
	}
	return "other"
}

// observe records one turn's report.
func (t *Tutor) observe(rep *engine.Report) {
	if rep.Retrieved && t.retrieval != nil {
		t.retrieval.Observe(rep.Retrieval.Seconds())
	}
	if rep.FirstToken > 0 {
		timeToFirstToken.Observe(rep.FirstToken.Seconds())
	}
	if rep.ModelError != "" {
		modelErrors.WithLabelValues(string(rep.ModelError)).Inc()
	}
	if rep.Mode != "" {
		answers.WithLabelValues(rep.Mode).Inc()
	}
}
