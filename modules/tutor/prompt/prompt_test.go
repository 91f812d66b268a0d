package prompt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func TestBuildContainsEverything(t *testing.T) {
	t.Parallel()
	b, err := NewBuilder("")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := b.Build(Input{
		Course: "python-foundations", MaxStage: 2,
		Page:     Page{URL: "https://learn.example/loops", Title: "Loops", Headings: []string{"for loops", "range"}, Selected: "range(2, 10, 2)"},
		Passages: []retrieval.Passage{{ID: "stage-2/02-loops.md#for-loops-and-range", LessonTitle: "Repeating with loops", Heading: "for loops and range", Stage: 2, Text: "range(5) produces 0..4"}},
		History:  []Turn{{Role: model.User, Text: "earlier question"}, {Role: model.Assistant, Text: "earlier hint"}},
		Message:  "why does range stop early?",
	})
	if err != nil {
		t.Fatal(err)
	}
	all := ""
	for _, m := range msgs {
		all += string(m.Role) + ": " + m.Content + "\n"
	}
	for _, want := range []string{
		"Socratic", "one guiding question", "Never do graded work", "stages 1 to 2", "Never reveal",
		"[1] Repeating with loops — for loops and range", "range(5) produces 0..4",
		"Title: Loops", "URL: https://learn.example/loops", "Headings: for loops › range", "range(2, 10, 2)",
		"user: earlier question", "assistant: earlier hint",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("prompt lacks %q:\n%s", want, all)
		}
	}
	if last := msgs[len(msgs)-1]; last.Role != model.User || last.Content != "why does range stop early?" {
		t.Fatalf("last message %+v", last)
	}
}

func TestHistoryKeepsRecentTurnsWithinBudget(t *testing.T) {
	t.Parallel()
	b, _ := NewBuilder("")
	b.Budget = 600
	var history []Turn
	for i := 0; i < 50; i++ {
		history = append(history, Turn{Role: model.User, Text: strings.Repeat("x", 200) + string(rune('A'+i%26))})
	}
	msgs, _ := b.Build(Input{Course: "c", MaxStage: 1, History: history, Message: "now"})
	if len(msgs) >= 50 {
		t.Fatalf("budget not applied: %d messages", len(msgs))
	}
	// The turn right before the new message must be the most recent one.
	if got := msgs[len(msgs)-2].Content; got != history[49].Text {
		t.Fatalf("kept turns are not the most recent")
	}
}

func TestOperatorPromptFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.tmpl")
	os.WriteFile(path, []byte("Custom tutor for {{.Course}}."), 0o600)
	b, err := NewBuilder(path)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := b.Build(Input{Course: "algebra", MaxStage: 1, Message: "x"})
	if msgs[0].Content != "Custom tutor for algebra." {
		t.Fatalf("system = %q", msgs[0].Content)
	}
	os.WriteFile(path, []byte("{{.Nope}}"), 0o600)
	if _, err := NewBuilder(path); err == nil {
		t.Fatal("a template with an unknown field loaded")
	}
	if _, err := NewBuilder(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing prompt file loaded")
	}
}

func TestRetrievalOnlyAnswer(t *testing.T) {
	t.Parallel()
	got := RetrievalOnlyAnswer([]retrieval.Passage{{LessonTitle: "Loops", Heading: "break and continue", Text: "break leaves the loop"}}, nil, 1, "no model configured")
	for _, want := range []string{"retrieval-only mode", "no model configured", "Loops — break and continue", "> break leaves the loop", "Guiding question"} {
		if !strings.Contains(got, want) {
			t.Errorf("answer lacks %q: %s", want, got)
		}
	}
	if none := RetrievalOnlyAnswer(nil, nil, 1, "model unreachable"); !strings.Contains(none, "could not find") {
		t.Errorf("empty answer: %s", none)
	}
}
