package tutor_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/testutil"
)

// Asked "How do for loops work?", a stage-1 student (no stage claim: the
// default stage 1) is told that loops are taught in stage 2 and what to
// finish first, gets no stage-1 passage about something else, and nothing
// of the loops lesson but its title; the sample course served through Caddy
// with the lexical retriever and its default floor.
func TestLockedTopicThroughCaddy(t *testing.T) {
	const question = "How do for loops work?"
	const where = "“Repeating with loops” (stage 2) covers this, and you have not unlocked it yet: finish stage 1 first."
	// Text of the loops lesson that must not reach a stage-1 student.
	lessonText := []string{"range(", "iterable", "break"}

	t.Run("retrieval-only", func(t *testing.T) {
		c := testutil.StartCaddy(t, site("", lexicalCourse))
		_, events := post(t, c, "noclaim", ask(question, nil))
		text := replyText(events)
		if !strings.Contains(text, where) {
			t.Fatalf("reply does not say where loops are taught:\n%s", text)
		}
		for _, no := range append(lessonText, "Working with strings", "The basic types") {
			if strings.Contains(text, no) {
				t.Errorf("reply holds %q:\n%s", no, text)
			}
		}
		if anns := annotations(events); len(anns) != 0 {
			t.Errorf("unrelated passages cited: %v", anns)
		}
	})

	t.Run("model", func(t *testing.T) {
		fake := fakeopenai.New()
		defer fake.Close()
		fake.Answer(fakeopenai.Reply{Chunks: []string{"Loops are in stage 2. What have you tried with strings?"}})
		c := testutil.StartCaddy(t, site(modelBlock(fake), lexicalCourse))
		_, events := post(t, c, "noclaim", ask(question, nil))
		notices := eventsOf(events, "notice")
		if len(notices) != 1 || fmt.Sprint(notices[0]["message"]) != where {
			t.Fatalf("notices %v", notices)
		}
		req, _ := fake.Last()
		var all strings.Builder
		for _, m := range req.Messages {
			all.WriteString(m.Content + "\n")
		}
		if !strings.Contains(all.String(), "Do not teach that material") {
			t.Errorf("the model was not told the topic is locked:\n%s", all.String())
		}
		for _, no := range append(lessonText, "Course material for this question") {
			if strings.Contains(all.String(), no) {
				t.Errorf("prompt holds %q:\n%s", no, all.String())
			}
		}
		if anns := annotations(events); len(anns) != 0 {
			t.Errorf("citations %v", anns)
		}
	})

	t.Run("stage 2 is taught", func(t *testing.T) {
		c := testutil.StartCaddy(t, site("", lexicalCourse))
		_, events := post(t, c, "ana", ask(question, nil))
		if text := replyText(events); strings.Contains(text, "not unlocked") || !strings.Contains(text, "for loops and range") {
			t.Fatalf("a stage-2 student's reply:\n%s", text)
		}
	})
}
