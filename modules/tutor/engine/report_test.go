package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/tutor/model"
)

// stepClock advances 100 ms at every reading: the turn's begin, the end of
// retrieval, the model's first text.
func stepClock() func() time.Time {
	t := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	return func() time.Time {
		now := t
		t = t.Add(100 * time.Millisecond)
		return now
	}
}

// The report of a turn says what the metrics and the turn's log line need:
// retrieval time, time to the model's first text, the answer's mode and the
// kind of the model's failure.
func TestReport(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	unavailable := &model.Error{Kind: model.KindStatus, Msg: "HTTP 500"}
	broke := &model.Error{Kind: model.KindStream, Partial: true, Msg: "cut"}
	for _, tc := range []struct {
		name      string
		model     model.Model
		retriever *fixedRetriever
		want      Report
	}{
		{"model answers", &scriptedModel{deltas: []string{"a", "b"}}, &fixedRetriever{passages: sample},
			Report{Retrieved: true, Retrieval: 100 * ms, FirstToken: 200 * ms, Mode: ModeModel}},
		{"no retriever", &scriptedModel{deltas: []string{"a"}}, nil,
			Report{FirstToken: 100 * ms, Mode: ModeModel}},
		{"no model", nil, &fixedRetriever{passages: sample},
			Report{Retrieved: true, Retrieval: 100 * ms, Mode: ModeRetrievalOnly}},
		{"model unavailable", &scriptedModel{err: unavailable}, &fixedRetriever{passages: sample},
			Report{Retrieved: true, Retrieval: 100 * ms, Mode: ModeRetrievalOnly, ModelError: model.KindStatus}},
		{"model broke off", &scriptedModel{deltas: []string{"a"}, err: broke}, &fixedRetriever{passages: sample},
			Report{Retrieved: true, Retrieval: 100 * ms, FirstToken: 200 * ms, ModelError: model.KindStream}},
		{"retriever down", &scriptedModel{deltas: []string{"a"}}, &fixedRetriever{err: errors.New("refused")},
			Report{Retrieved: true, Retrieval: 100 * ms, FirstToken: 200 * ms, Mode: ModeModel}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(tc.model, nil)
			if tc.retriever != nil {
				e.Retriever = tc.retriever
			}
			e.Now = stepClock()
			var rep Report
			var out recorder
			err := e.Respond(context.Background(), Turn{Asker: Asker{Stage: "2"}, Message: "range?", Report: &rep}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if rep != tc.want {
				t.Fatalf("report %+v, want %+v\n%s", rep, tc.want, out.all())
			}
		})
	}
	t.Run("student gone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := newEngine(&scriptedModel{err: context.Canceled}, nil)
		e.Now = stepClock()
		var rep Report
		if err := e.Respond(ctx, Turn{Message: "x", Report: &rep}, &recorder{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if rep != (Report{}) {
			t.Fatalf("a turn the student left reports %+v", rep)
		}
	})
}
