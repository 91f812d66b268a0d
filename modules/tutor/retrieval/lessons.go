package retrieval

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FrontMatter is the YAML header of a lesson file:
//
//	---
//	course: python-foundations
//	stage: 2
//	title: Repeating with loops
//	---
type FrontMatter struct {
	Course string `yaml:"course"`
	Stage  int    `yaml:"stage"`
	Title  string `yaml:"title"`
}

// LoadPassages reads every Markdown lesson under root in fsys and cuts each
// into passages, one per heading. Files without front matter (a README) are
// skipped; a lesson whose front matter lacks a stage or a course is an error
// naming the file, because indexing it would put it at the wrong stage.
func LoadPassages(fsys fs.FS, root string) ([]Passage, error) {
	var out []Passage
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(strings.ToLower(p), ".md") {
			return nil
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		fm, body, ok, err := splitFrontMatter(raw)
		if err != nil {
			return fmt.Errorf("lesson %s: %v", rel, err)
		}
		if !ok {
			return nil
		}
		if fm.Stage < 1 {
			return fmt.Errorf("lesson %s: front matter needs a stage of 1 or more", rel)
		}
		if fm.Course == "" {
			return fmt.Errorf("lesson %s: front matter needs a course", rel)
		}
		if fm.Title == "" {
			fm.Title = strings.TrimSuffix(path.Base(rel), path.Ext(rel))
		}
		out = append(out, chunk(rel, fm, body)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func splitFrontMatter(raw []byte) (FrontMatter, string, bool, error) {
	var fm FrontMatter
	text := string(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
	if !strings.HasPrefix(text, "---\n") {
		return fm, text, false, nil
	}
	header, body, found := strings.Cut(text[4:], "\n---")
	if !found {
		return fm, "", false, fmt.Errorf("front matter is not closed by ---")
	}
	if err := yaml.Unmarshal([]byte(header), &fm); err != nil {
		return fm, "", false, fmt.Errorf("front matter: %v", err)
	}
	body = strings.TrimPrefix(strings.TrimLeft(body, "-"), "\n")
	return fm, body, true, nil
}

var headingLine = regexp.MustCompile(`^(#{1,6})\s+(.+?)\s*#*\s*$`)

// chunk cuts a lesson body at its headings. The text before the first
// sub-heading belongs to the lesson title; fenced code blocks are kept whole
// (a '#' comment inside one is not a heading).
func chunk(rel string, fm FrontMatter, body string) []Passage {
	var out []Passage
	heading := fm.Title
	var buf strings.Builder
	used := map[string]int{}
	flush := func() {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return
		}
		anchor := slug(heading)
		if n := used[anchor]; n > 0 {
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		}
		used[slug(heading)]++
		out = append(out, Passage{
			ID: rel + "#" + anchor, Course: fm.Course, Stage: fm.Stage,
			LessonTitle: fm.Title, Heading: heading, Text: text, Lesson: rel,
		})
	}
	inFence := false
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
		}
		if !inFence {
			if m := headingLine.FindStringSubmatch(line); m != nil {
				flush()
				heading = m[2]
				continue
			}
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	flush()
	return out
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}
