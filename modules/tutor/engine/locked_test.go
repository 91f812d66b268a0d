package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// locatingRetriever is a retriever that also locates locked lessons.
type locatingRetriever struct {
	fixedRetriever
	lessons []retrieval.Lesson
	err     error
	located bool
}

func (l *locatingRetriever) Locate(_ context.Context, q retrieval.Query) ([]retrieval.Lesson, error) {
	l.located = true
	return l.lessons, l.err
}

var (
	weakStrings = retrieval.Passage{ID: "s1/strings.md#work", Stage: 1, LessonTitle: "Strings", Heading: "Working with strings", Text: "upper()", Score: 0.25}
	goodInput   = retrieval.Passage{ID: "s1/io.md#input", Stage: 1, LessonTitle: "Input", Heading: "Reading", Text: "input()", Score: 0.6}
	loopsLesson = retrieval.Lesson{Stage: 2, Title: "Repeating with loops", Path: "stage-2/02-loops.md", Score: 0.79}
	filesLesson = retrieval.Lesson{Stage: 4, Title: "Reading and writing files", Path: "stage-4/02-files.md", Score: 0.7}
	listsLesson = retrieval.Lesson{Stage: 3, Title: "Lists and dictionaries", Path: "stage-3/02-lists.md", Score: 0.39}
)

func stage1() Asker { return Asker{Roles: []string{"student"}, Stage: "1"} }

// A stage-1 student asking about loops hears where loops are taught and what
// to finish first, from the tutor itself and in the model's instructions;
// the unrelated stage-1 passage under the floor is not offered.
func TestLockedTopicIsNamedNotTaught(t *testing.T) {
	t.Parallel()
	r := &locatingRetriever{fixedRetriever: fixedRetriever{passages: []retrieval.Passage{weakStrings}}, lessons: []retrieval.Lesson{loopsLesson, listsLesson}}
	m := &scriptedModel{deltas: []string{"Loops come in stage 2."}}
	e := newEngine(m, r)
	e.MinScore = 0.3
	var out recorder
	if err := e.Respond(context.Background(), Turn{Asker: stage1(), Message: "How do for loops work?"}, &out); err != nil {
		t.Fatal(err)
	}
	want := "notice:info:“Repeating with loops” (stage 2) covers this, and you have not unlocked it yet: finish stage 1 first.\ndelta:Loops come in stage 2."
	if out.all() != want {
		t.Fatalf("events:\n%s\nwant:\n%s", out.all(), want)
	}
	if r.asked.MinScore != 0.3 {
		t.Fatalf("retriever asked with floor %v", r.asked.MinScore)
	}
	var sys strings.Builder
	for _, msg := range m.got.Messages {
		if msg.Role == model.System {
			sys.WriteString(msg.Content)
		}
	}
	for _, w := range []string{"not unlocked yet: “Repeating with loops” (stage 2)", "Do not teach that material", "finish stage 1 first"} {
		if !strings.Contains(sys.String(), w) {
			t.Errorf("prompt lacks %q:\n%s", w, sys.String())
		}
	}
	for _, no := range []string{"Lists and dictionaries", "upper()"} {
		if strings.Contains(sys.String(), no) {
			t.Errorf("prompt holds %q (too weak to name or under the floor):\n%s", no, sys.String())
		}
	}
}

func TestLockedTopicRetrievalOnly(t *testing.T) {
	t.Parallel()
	r := &locatingRetriever{fixedRetriever: fixedRetriever{passages: []retrieval.Passage{goodInput}}, lessons: []retrieval.Lesson{filesLesson}}
	e := newEngine(nil, r)
	e.Model = nil
	e.MinScore = 0.3
	var out recorder
	if err := e.Respond(context.Background(), Turn{Asker: stage1(), Message: "How do I read a file?"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"“Reading and writing files” (stage 4) covers this", "finish stages 1 to 3 first", "Meanwhile", "source:s1/io.md#input"} {
		if !strings.Contains(out.all(), w) {
			t.Errorf("missing %q in:\n%s", w, out.all())
		}
	}
}

// No locked lesson is named when an unlocked passage answers as well, for
// staff, or when locating fails.
func TestLockedTopicNotNamed(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		asker   Asker
		r       *locatingRetriever
		located bool
	}{
		"unlocked answers better": {stage1(), &locatingRetriever{fixedRetriever: fixedRetriever{passages: []retrieval.Passage{{ID: "s1/x", Stage: 1, Score: 0.9}}}, lessons: []retrieval.Lesson{loopsLesson}}, true},
		"under the floor":         {stage1(), &locatingRetriever{lessons: []retrieval.Lesson{{Stage: 2, Title: "Faint", Score: 0.1}}}, true},
		"staff":                   {Asker{Roles: []string{"instructor"}}, &locatingRetriever{lessons: []retrieval.Lesson{loopsLesson}}, false},
		"locate fails":            {stage1(), &locatingRetriever{err: errors.New("boom")}, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := &scriptedModel{deltas: []string{"ok"}}
			e := newEngine(m, tc.r)
			e.MinScore = 0.3
			var out recorder
			if err := e.Respond(context.Background(), Turn{Asker: tc.asker, Message: "loops?"}, &out); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.all(), "notice:") || tc.r.located != tc.located {
				t.Fatalf("events %s, located %v", out.all(), tc.r.located)
			}
			for _, msg := range m.got.Messages {
				if strings.Contains(msg.Content, "not unlocked yet") {
					t.Fatalf("prompt names a locked lesson: %s", msg.Content)
				}
			}
		})
	}
}
