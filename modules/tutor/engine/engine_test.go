package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/prompt"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

type recorder struct{ events []string }

func (r *recorder) Notice(level, msg string) error {
	r.events = append(r.events, "notice:"+level+":"+msg)
	return nil
}
func (r *recorder) Delta(s string) error { r.events = append(r.events, "delta:"+s); return nil }
func (r *recorder) Source(p retrieval.Passage) error {
	r.events = append(r.events, "source:"+p.ID)
	return nil
}
func (r *recorder) Fail(msg string, retry bool) error {
	r.events = append(r.events, fmt.Sprintf("fail:%v:%s", retry, msg))
	return nil
}
func (r *recorder) all() string { return strings.Join(r.events, "\n") }

type scriptedModel struct {
	deltas []string
	err    error
	got    model.Request
}

func (m *scriptedModel) Stream(_ context.Context, req model.Request, onDelta func(string) error) error {
	m.got = req
	for _, d := range m.deltas {
		if err := onDelta(d); err != nil {
			return err
		}
	}
	return m.err
}

type fixedRetriever struct {
	passages []retrieval.Passage
	err      error
	asked    retrieval.Query
}

func (f *fixedRetriever) Retrieve(_ context.Context, q retrieval.Query) ([]retrieval.Passage, error) {
	f.asked = q
	return f.passages, f.err
}

var sample = []retrieval.Passage{
	{ID: "s2/loops.md#range", Stage: 2, LessonTitle: "Loops", Heading: "range", Text: "range(5) stops before 5"},
	{ID: "s1/types.md#int", Stage: 1, LessonTitle: "Types", Heading: "int", Text: "int() converts"},
	{ID: "s3/functions.md#return", Stage: 3, LessonTitle: "Functions", Heading: "return", Text: "SECRET-STAGE-3"},
}

func newEngine(m model.Model, r retrieval.Retriever) *Engine {
	b, _ := prompt.NewBuilder("")
	e := &Engine{Prompt: b, Model: m}
	if r != nil {
		e.Retriever = r
	}
	return e
}

func TestMaxStage(t *testing.T) {
	t.Parallel()
	e := &Engine{}
	for _, tc := range []struct {
		a    Asker
		want int
	}{
		{Asker{Roles: []string{"student"}, Stage: "2"}, 2},
		{Asker{Roles: []string{"student"}}, 1},
		{Asker{Roles: []string{"student"}, Stage: "-3"}, 1},
		{Asker{Roles: []string{"student"}, Stage: "two"}, 1},
		{Asker{Roles: []string{"instructor"}}, retrieval.AllStages},
		{Asker{Roles: []string{"admin"}, Stage: "1"}, retrieval.AllStages},
		{Asker{Roles: []string{"student", "instructor"}, Stage: "1"}, retrieval.AllStages},
		{Asker{Roles: []string{"student", "teacher"}, Stage: "2"}, 2},
		{Asker{Stage: "3"}, 3},
	} {
		if got := e.MaxStage(tc.a); got != tc.want {
			t.Errorf("MaxStage(%+v) = %d, want %d", tc.a, got, tc.want)
		}
	}
}

func TestAnswerWithCitations(t *testing.T) {
	t.Parallel()
	m := &scriptedModel{deltas: []string{"What does ", "[1] say about the stop value?"}}
	r := &fixedRetriever{passages: sample}
	var out recorder
	err := newEngine(m, r).Respond(context.Background(), Turn{Asker: Asker{Roles: []string{"student"}, Stage: "2"}, Message: "why does range stop early?"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "delta:What does \ndelta:[1] say about the stop value?\nsource:s2/loops.md#range"
	if out.all() != want {
		t.Fatalf("events:\n%s\nwant:\n%s", out.all(), want)
	}
	if r.asked.MaxStage != 2 {
		t.Fatalf("retriever asked with MaxStage %d", r.asked.MaxStage)
	}
	// The locked passage a broken retriever returned never reached the model.
	for _, msg := range m.got.Messages {
		if strings.Contains(msg.Content, "SECRET-STAGE-3") {
			t.Fatal("a stage-3 passage reached the model of a stage-2 student")
		}
	}
}

func TestDegradedModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		model     model.Model
		retriever *fixedRetriever
		want      []string
		notWant   []string
	}{
		{name: "no model", model: nil, retriever: &fixedRetriever{passages: sample[:2]},
			want: []string{"notice:info:" + NoticeNoModel, "retrieval-only mode", "Guiding question", "source:s2/loops.md#range"}},
		{name: "model unreachable", model: &scriptedModel{err: fmt.Errorf("%w: dial tcp: refused", model.ErrUnavailable)}, retriever: &fixedRetriever{passages: sample[:1]},
			want: []string{"notice:info:" + NoticeModelDown, "retrieval-only mode"}},
		{name: "retriever down", model: &scriptedModel{deltas: []string{"Let's think."}}, retriever: &fixedRetriever{err: retrieval.ErrUnavailable},
			want: []string{"notice:warning:" + NoticeRetrieverDown, "delta:Let's think."}, notWant: []string{"source:"}},
		{name: "model breaks mid-stream", model: &scriptedModel{deltas: []string{"Half an"}, err: errors.New("stream ended without a finish reason")}, retriever: &fixedRetriever{passages: sample[:1]},
			want: []string{"delta:Half an", "fail:true:" + MessageModelBrokeOff}, notWant: []string{"source:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out recorder
			e := newEngine(tc.model, tc.retriever)
			if tc.model == nil {
				e.Model = nil
			}
			if err := e.Respond(context.Background(), Turn{Asker: Asker{Roles: []string{"student"}, Stage: "2"}, Message: "range?"}, &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.all(), w) {
					t.Errorf("missing %q in:\n%s", w, out.all())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.all(), w) {
					t.Errorf("unexpected %q in:\n%s", w, out.all())
				}
			}
		})
	}
}

func TestCancelledTurnReturnsContextError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	m := &scriptedModel{deltas: []string{"partial"}, err: context.Canceled}
	var out recorder
	e := newEngine(m, nil)
	cancel()
	if err := e.Respond(ctx, Turn{Asker: Asker{Roles: []string{"student"}}, Message: "x"}, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
