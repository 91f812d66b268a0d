package lexical

import (
	"context"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// Scores are relevances from 0 to 1, and the floor keeps a passage that
// shares only a weak word with the question out of the results.
func TestRelevanceFloor(t *testing.T) {
	t.Parallel()
	ix := loadSampleCourse(t)
	ctx := context.Background()
	all, _ := ix.Retrieve(ctx, retrieval.Query{Text: "How do for loops work?", MaxStage: 1, Limit: 10})
	if len(all) == 0 {
		t.Fatal("without a floor, some stage-1 passage should match")
	}
	for _, p := range all {
		if p.Score <= 0 || p.Score > 1 {
			t.Fatalf("score %v of %s is not a relevance in (0, 1]", p.Score, p.ID)
		}
	}
	floor := (&Retriever{}).DefaultMinScore()
	if got, _ := ix.Retrieve(ctx, retrieval.Query{Text: "How do for loops work?", MaxStage: 1, MinScore: floor}); len(got) != 0 {
		t.Fatalf("stage-1 passages about other things cleared the floor: %+v", got)
	}
	got, _ := ix.Retrieve(ctx, retrieval.Query{Text: "How do I convert a string to an int?", MaxStage: 1, MinScore: floor})
	if len(got) == 0 || got[0].ID != "stage-1/01-variables-and-types.md#converting-between-types" {
		t.Fatalf("the floor lost the right passage: %+v", got)
	}
	if got, _ := ix.Retrieve(ctx, retrieval.Query{Text: "What is the weather in Paris?", MaxStage: 4}); len(got) != 0 {
		t.Fatalf("a question about nothing in the course matched %+v", got)
	}
}

// Locate names locked lessons by title, one entry per lesson, never an
// unlocked one and never passage text.
func TestLocateLockedLessons(t *testing.T) {
	t.Parallel()
	ix := loadSampleCourse(t)
	ctx := context.Background()
	got, err := ix.Locate(ctx, retrieval.Query{Text: "How do for loops work?", MaxStage: 1, Limit: 3, MinScore: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].Title != "Repeating with loops" || got[0].Stage != 2 || got[0].Path != "stage-2/02-loops.md" {
		t.Fatalf("locate = %+v", got)
	}
	seen := map[string]bool{}
	for i, l := range got {
		if l.Stage <= 1 || l.Score < 0.3 || seen[l.Path] || (i > 0 && l.Score > got[i-1].Score) {
			t.Fatalf("lesson %d of %+v: unlocked, under the floor, repeated or out of order", i, got)
		}
		seen[l.Path] = true
	}
	if got, _ := ix.Locate(ctx, retrieval.Query{Text: "How do for loops work?", MaxStage: 2, Limit: 3}); len(got) > 0 && got[0].Stage <= 2 {
		t.Fatalf("a stage-2 student's locked lessons include %+v", got[0])
	}
	if got, _ := ix.Locate(ctx, retrieval.Query{Text: "How do for loops work?", MaxStage: 1, Course: "another-course"}); len(got) != 0 {
		t.Fatalf("another course's question located %+v", got)
	}
	if got, _ := ix.Locate(ctx, retrieval.Query{Text: "gradebook", MaxStage: retrieval.AllStages}); len(got) != 0 {
		t.Fatalf("staff have nothing locked, got %+v", got)
	}
}
