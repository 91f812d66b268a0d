package lexical

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// syntheticCourse builds n lessons of four sections each from a fixed
// vocabulary, the size the tutor's latency target names (500 lessons).
func syntheticCourse(n int) []retrieval.Passage {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields(`variable integer float string list dictionary tuple loop range function parameter
		argument return scope exception file module class object method attribute import package iterator generator
		comprehension slice index boolean condition branch recursion sort search algorithm complexity memory`)
	var out []retrieval.Passage
	for l := 0; l < n; l++ {
		for s := 0; s < 4; s++ {
			var b strings.Builder
			for w := 0; w < 120; w++ {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteByte(' ')
			}
			out = append(out, retrieval.Passage{
				ID: fmt.Sprintf("l%d#s%d", l, s), Course: "c", Stage: 1 + l%8,
				LessonTitle: fmt.Sprintf("Lesson %d %s", l, words[l%len(words)]),
				Heading:     words[(l+s)%len(words)], Text: b.String(), Lesson: fmt.Sprintf("l%d", l),
			})
		}
	}
	return out
}

func BenchmarkRetrieve500Lessons(b *testing.B) {
	ix := NewIndex(syntheticCourse(500))
	q := retrieval.Query{Text: "Why does my recursion function return the wrong list index?", MaxStage: 4}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ix.Retrieve(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndex500Lessons(b *testing.B) {
	passages := syntheticCourse(500)
	for b.Loop() {
		NewIndex(passages)
	}
}
