package prompt

import (
	"fmt"
	"strings"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// LockedNotice tells a student, in one sentence, which lessons teach their
// question and what to finish first. It names lessons by title only: the
// content of a locked stage never reaches the student or the model.
func LockedNotice(lessons []retrieval.Lesson, maxStage int) string {
	if len(lessons) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s this, and you have not unlocked it yet: %s.",
		lessonList(lessons), coverVerb(lessons), finishFirst(lessons, maxStage))
}

// lockedMessage instructs the model for a question whose material is locked.
func lockedMessage(lessons []retrieval.Lesson, maxStage int) string {
	if len(lessons) == 0 {
		return ""
	}
	return fmt.Sprintf("The student's question is taught in lessons they have not unlocked yet: %s. "+
		"Do not teach that material or answer the question from your own knowledge. Tell the student, briefly and "+
		"kindly, which stage and lesson cover it and that they should %s; then offer help with what their "+
		"unlocked lessons cover.", lessonList(lessons), finishFirst(lessons, maxStage))
}

func lessonList(lessons []retrieval.Lesson) string {
	names := make([]string, len(lessons))
	for i, l := range lessons {
		names[i] = fmt.Sprintf("“%s” (stage %d)", oneLine(l.Title), l.Stage)
	}
	return strings.Join(names, " and ")
}

func coverVerb(lessons []retrieval.Lesson) string {
	if len(lessons) > 1 {
		return "cover"
	}
	return "covers"
}

// finishFirst says which stages stand between the student and the nearest
// named lesson: the one they are on, up to the stage before it.
func finishFirst(lessons []retrieval.Lesson, maxStage int) string {
	nearest := lessons[0].Stage
	for _, l := range lessons[1:] {
		nearest = min(nearest, l.Stage)
	}
	last := nearest - 1
	if last <= maxStage {
		return fmt.Sprintf("finish stage %d first", maxStage)
	}
	return fmt.Sprintf("finish stages %d to %d first", maxStage, last)
}
