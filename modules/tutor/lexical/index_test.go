package lexical

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func loadSampleCourse(t testing.TB) *Index {
	t.Helper()
	passages, err := retrieval.LoadPassages(os.DirFS("../../../examples"), "course")
	if err != nil {
		t.Fatal(err)
	}
	if len(passages) < 20 {
		t.Fatalf("sample course has only %d passages", len(passages))
	}
	return NewIndex(passages)
}

type labelled struct{ question, lesson string }

func loadQuestions(t *testing.T) []labelled {
	t.Helper()
	f, err := os.Open("testdata/questions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labelled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		q, lesson, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		out = append(out, labelled{q, lesson})
	}
	return out
}

// Retrieval quality on the labelled set: the right lesson is among the top
// three distinct lessons for at least 90% of the questions (asked as a
// member of staff, who sees every stage).
func TestRetrievalQualityTop3(t *testing.T) {
	t.Parallel()
	ix := loadSampleCourse(t)
	questions := loadQuestions(t)
	hits := 0
	for _, q := range questions {
		got, err := ix.Retrieve(context.Background(), retrieval.Query{Text: q.question, MaxStage: retrieval.AllStages, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var lessons []string
		for _, p := range got {
			if len(lessons) == 3 {
				break
			}
			if !contains(lessons, p.Lesson) {
				lessons = append(lessons, p.Lesson)
			}
		}
		if contains(lessons, q.lesson) {
			hits++
		} else {
			t.Logf("miss: %q → %v (want %s)", q.question, lessons, q.lesson)
		}
	}
	rate := float64(hits) / float64(len(questions))
	t.Logf("top-3 lesson hit rate: %d/%d = %.0f%%", hits, len(questions), rate*100)
	if rate < 0.9 {
		t.Fatalf("top-3 hit rate %.0f%% is under 90%%", rate*100)
	}
}

// A student on stage 2 never gets a passage of stage 3 or 4, even for a
// question that only later stages answer, and even with a huge limit.
func TestStageRestrictionInsideTheQuery(t *testing.T) {
	t.Parallel()
	ix := loadSampleCourse(t)
	for _, q := range loadQuestions(t) {
		got, err := ix.Retrieve(context.Background(), retrieval.Query{Text: q.question, MaxStage: 2, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range got {
			if p.Stage > 2 {
				t.Fatalf("stage-2 student got stage-%d passage %s for %q", p.Stage, p.ID, q.question)
			}
		}
	}
	got, _ := ix.Retrieve(context.Background(), retrieval.Query{Text: "gradebook letter grade thresholds", MaxStage: 3})
	for _, p := range got {
		if strings.Contains(p.Text, "A from 90") {
			t.Fatal("graded project leaked to a stage-3 student")
		}
	}
	if got, _ := ix.Retrieve(context.Background(), retrieval.Query{Text: "variables", MaxStage: 0}); len(got) != 0 {
		t.Fatalf("MaxStage 0 returned %d passages", len(got))
	}
	if got, _ := ix.Retrieve(context.Background(), retrieval.Query{Text: "variables", MaxStage: retrieval.AllStages, Course: "other"}); len(got) != 0 {
		t.Fatalf("another course returned %d passages", len(got))
	}
}

func TestTokenize(t *testing.T) {
	t.Parallel()
	got := strings.Join(tokenize("How do the Loops use range()? Dictionaries, classes & boxes!"), " ")
	want := "loop range dictionary class box"
	if got != want {
		t.Fatalf("tokenize = %q, want %q", got, want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
