package prompt

import (
	"testing"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func TestLockedNotice(t *testing.T) {
	t.Parallel()
	loops := retrieval.Lesson{Stage: 2, Title: "Repeating with loops"}
	files := retrieval.Lesson{Stage: 4, Title: "Reading and\nwriting files"}
	for _, tc := range []struct {
		lessons  []retrieval.Lesson
		maxStage int
		want     string
	}{
		{nil, 1, ""},
		{[]retrieval.Lesson{loops}, 1, "“Repeating with loops” (stage 2) covers this, and you have not unlocked it yet: finish stage 1 first."},
		{[]retrieval.Lesson{files}, 1, "“Reading and writing files” (stage 4) covers this, and you have not unlocked it yet: finish stages 1 to 3 first."},
		{[]retrieval.Lesson{files, loops}, 1, "“Reading and writing files” (stage 4) and “Repeating with loops” (stage 2) cover this, and you have not unlocked it yet: finish stage 1 first."},
	} {
		if got := LockedNotice(tc.lessons, tc.maxStage); got != tc.want {
			t.Errorf("LockedNotice(%v, %d) =\n%q\nwant\n%q", tc.lessons, tc.maxStage, got, tc.want)
		}
	}
}
