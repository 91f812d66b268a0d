package retrieval

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadPassagesChunksByHeading(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"course/README.md": {Data: []byte("# Not a lesson\nNo front matter.")},
		"course/s1/a.md":   {Data: []byte("---\r\ncourse: c\r\nstage: 1\r\ntitle: Alpha\r\n---\r\n\r\nIntro text.\r\n\r\n## Part one\r\nOne.\r\n```python\r\n# a comment, not a heading\r\nx = 1\r\n```\r\n## Part one\r\nAgain.\r\n")},
	}
	got, err := LoadPassages(fsys, "course")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ID)
		if p.Course != "c" || p.Stage != 1 || p.LessonTitle != "Alpha" || p.Lesson != "s1/a.md" {
			t.Fatalf("passage metadata %+v", p)
		}
	}
	if want := "s1/a.md#alpha s1/a.md#part-one s1/a.md#part-one-1"; strings.Join(ids, " ") != want {
		t.Fatalf("ids = %v, want %s", ids, want)
	}
	if !strings.Contains(got[1].Text, "# a comment, not a heading") {
		t.Fatalf("code block split at a comment: %q", got[1].Text)
	}
}

func TestLoadPassagesRejectsIncompleteFrontMatter(t *testing.T) {
	t.Parallel()
	for name, fm := range map[string]string{
		"no stage":  "---\ncourse: c\ntitle: T\n---\nx",
		"no course": "---\nstage: 2\n---\nx",
		"unclosed":  "---\nstage: 2\ncourse: c\nx",
		"bad yaml":  "---\nstage: [\n---\nx",
	} {
		_, err := LoadPassages(fstest.MapFS{"l/x.md": {Data: []byte(fm)}}, "l")
		if err == nil || !strings.Contains(err.Error(), "lesson x.md") {
			t.Errorf("%s: error = %v, want one naming the lesson", name, err)
		}
	}
}
