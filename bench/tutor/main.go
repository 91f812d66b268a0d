// Command tutor measures the tutor's added time before the first model token
// (retrieval + prompt building) with the embedded lexical index over a
// synthetic course of 500 lessons, against the same model call made directly,
// side by side in one run. Run: go run ./bench/tutor [-lessons 500] [-n 2000]
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/tutor/engine"
	"github.com/intellistack/intellistack/modules/tutor/lexical"
	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/prompt"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// firstTokenModel records when the model was called and answers at once, so
// the measured time is all the tutor's own work.
type firstTokenModel struct{ calledAt time.Time }

func (m *firstTokenModel) Stream(_ context.Context, _ model.Request, onDelta func(string) error) error {
	m.calledAt = time.Now()
	return onDelta("ok")
}

type discard struct{}

func (discard) Notice(string, string) error    { return nil }
func (discard) Delta(string) error             { return nil }
func (discard) Source(retrieval.Passage) error { return nil }
func (discard) Fail(string, bool) error        { return nil }

func main() {
	lessons := flag.Int("lessons", 500, "lessons in the synthetic course")
	n := flag.Int("n", 2000, "measured turns")
	flag.Parse()

	dir, err := os.MkdirTemp("", "tutor-bench-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	writeCourse(dir, *lessons)
	begin := time.Now()
	passages, err := retrieval.LoadPassages(os.DirFS(dir), ".")
	if err != nil {
		panic(err)
	}
	index := lexical.NewIndex(passages)
	indexTime := time.Since(begin)

	builder, _ := prompt.NewBuilder("")
	m := &firstTokenModel{}
	e := &engine.Engine{Model: m, Retriever: index, Prompt: builder}
	questions := []string{
		"Why does my recursive function return the wrong index of the list?",
		"How do I catch an exception when a file is missing?",
		"What is the difference between a tuple and a list?",
		"How do generators save memory compared to lists?",
		"When should I use a dictionary comprehension?",
	}
	history := []prompt.Turn{{Role: model.User, Text: "earlier question about loops"}, {Role: model.Assistant, Text: "What do you think range(5) produces?"}}
	page := prompt.Page{URL: "https://learn.example/lessons/42", Title: "Lesson 42", Headings: []string{"Intro", "Practice"}, Selected: "for i in range(len(items)):"}

	var tutor, direct []time.Duration
	msgs := []model.Message{{Role: model.User, Content: questions[0]}}
	for i := 0; i < *n+200; i++ {
		q := questions[i%len(questions)]
		start := time.Now()
		_ = e.Respond(context.Background(), engine.Turn{Asker: engine.Asker{Roles: []string{"student"}, Stage: "4"}, Message: q, Page: page, History: history}, discard{})
		t := m.calledAt.Sub(start)
		start = time.Now()
		_ = m.Stream(context.Background(), model.Request{Messages: msgs}, func(string) error { return nil })
		d := m.calledAt.Sub(start)
		if i >= 200 { // warm-up
			tutor, direct = append(tutor, t), append(direct, d)
		}
	}
	fmt.Printf("tutor bench: %d lessons (%d passages), index built in %s, %d turns\n", *lessons, index.Len(), indexTime.Round(time.Millisecond), *n)
	fmt.Printf("%-32s %10s %10s %10s\n", "", "p50", "p90", "p99")
	report("direct model call (baseline)", direct)
	report("tutor: retrieval+prompt+call", tutor)
	fmt.Printf("added before first token: p50 %s (target < 5ms), p99 %s; ratio tutor/direct p50 %.0fx\n",
		benchkit.Percentile(tutor, 50)-benchkit.Percentile(direct, 50), benchkit.Percentile(tutor, 99)-benchkit.Percentile(direct, 99), float64(benchkit.Percentile(tutor, 50))/float64(max(benchkit.Percentile(direct, 50), 1)))
}

func report(name string, d []time.Duration) {
	fmt.Printf("%-32s %10s %10s %10s\n", name, benchkit.Percentile(d, 50), benchkit.Percentile(d, 90), benchkit.Percentile(d, 99))
}

func writeCourse(dir string, lessons int) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields(`variable integer float string list dictionary tuple loop range function parameter argument
		return scope exception file module class object method attribute import package iterator generator comprehension
		slice index boolean condition branch recursion sort search algorithm complexity memory missing catch difference`)
	for l := 0; l < lessons; l++ {
		var b strings.Builder
		fmt.Fprintf(&b, "---\ncourse: bench\nstage: %d\ntitle: Lesson %d on %s\n---\n\n", 1+l%8, l, words[l%len(words)])
		for s := 0; s < 4; s++ {
			fmt.Fprintf(&b, "## %s and %s\n\n", words[(l+s)%len(words)], words[(l*7+s)%len(words)])
			for w := 0; w < 120; w++ {
				b.WriteString(words[rng.IntN(len(words))] + " ")
			}
			b.WriteString("\n\n")
		}
		path := filepath.Join(dir, fmt.Sprintf("stage-%d", 1+l%8), fmt.Sprintf("%03d.md", l))
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}
