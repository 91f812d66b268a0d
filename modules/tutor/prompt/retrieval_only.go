package prompt

import (
	"fmt"
	"strings"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// RetrievalOnlyAnswer is the tutor's reply when no model is configured or
// reachable: clearly labelled, where the topic is taught when that is in
// locked lessons, the most relevant unlocked passages, and a guiding question
// built from them, so the student still gets a Socratic nudge.
func RetrievalOnlyAnswer(passages []retrieval.Passage, locked []retrieval.Lesson, maxStage int, reason string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "_Tutor in retrieval-only mode (%s): here is what the course says, without an AI-written answer._\n\n", reason)
	if len(locked) > 0 {
		s.WriteString(LockedNotice(locked, maxStage))
		if len(passages) == 0 {
			return s.String()
		}
		s.WriteString(" Meanwhile, this is what your unlocked lessons say:\n\n")
	}
	if len(passages) == 0 {
		s.WriteString("I could not find a passage in your unlocked lessons that matches your question. " +
			"Which lesson were you working on, and which words in it are unclear to you?")
		return s.String()
	}
	shown := passages
	if len(shown) > 2 {
		shown = shown[:2]
	}
	for i, p := range shown {
		fmt.Fprintf(&s, "**%s — %s** [%d]\n\n", p.LessonTitle, p.Heading, i+1)
		for _, line := range strings.Split(clip(strings.TrimSpace(p.Text), 600), "\n") {
			s.WriteString("> " + line + "\n")
		}
		s.WriteString("\n")
	}
	fmt.Fprintf(&s, "Guiding question: after reading “%s”, which sentence do you think answers your question, and how would you try it on a small example?",
		shown[0].Heading)
	return s.String()
}
