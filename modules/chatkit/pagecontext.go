package chatkit

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

// Page context headers, for integrators whose api.fetch wrapper adds headers
// rather than body metadata. Values may be percent-encoded (headers cannot
// carry raw non-ASCII reliably); headings are separated by " | " or sent as
// repeated headers.
const (
	headerPageURL       = "X-Page-Url"
	headerPageTitle     = "X-Page-Title"
	headerPageHeadings  = "X-Page-Headings"
	headerPageSelection = "X-Page-Selection"
	headerCourse        = "X-Course"
	headerLessonStage   = "X-Lesson-Stage"
	headerLesson        = "X-Lesson"
)

// Caps on page context fields; longer values are cut at a UTF-8 boundary
// rather than refused, since the client cannot know our limits.
const (
	maxURLBytes      = 2048
	maxTitleBytes    = 300
	maxHeadings      = 20
	maxHeadingBytes  = 200
	maxLabelBytes    = 100
	defaultSelection = 4000
)

// wirePage is metadata.page as the integrator sends it.
type wirePage struct {
	URL          *string  `json:"url"`
	Title        *string  `json:"title"`
	Headings     []string `json:"headings"`
	Selection    *string  `json:"selection"`
	SelectedText *string  `json:"selected_text"`
	Course       *string  `json:"course"`
	Stage        *string  `json:"stage"`
	Lesson       *string  `json:"lesson"`
}

// pageContext reads the page context from the request's metadata.page
// (preferred, field by field) and the page headers, capped. A malformed
// metadata.page is a client bug worth a 400, so it is reported.
func pageContext(meta map[string]json.RawMessage, h http.Header, maxSelection int) (responder.PageContext, error) {
	var pc responder.PageContext
	pc.URL = headerValue(h, headerPageURL)
	pc.Title = headerValue(h, headerPageTitle)
	pc.Selection = headerValue(h, headerPageSelection)
	pc.Course = headerValue(h, headerCourse)
	pc.Stage = headerValue(h, headerLessonStage)
	pc.Lesson = headerValue(h, headerLesson)
	for _, v := range h.Values(headerPageHeadings) {
		for _, part := range strings.Split(v, " | ") {
			if s := strings.TrimSpace(decodeHeader(part)); s != "" {
				pc.Headings = append(pc.Headings, s)
			}
		}
	}
	if raw, ok := meta["page"]; ok && string(raw) != "null" {
		var wp wirePage
		if err := json.Unmarshal(raw, &wp); err != nil {
			return pc, err
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&pc.URL, wp.URL)
		set(&pc.Title, wp.Title)
		set(&pc.Selection, wp.SelectedText)
		set(&pc.Selection, wp.Selection)
		set(&pc.Course, wp.Course)
		set(&pc.Stage, wp.Stage)
		set(&pc.Lesson, wp.Lesson)
		if wp.Headings != nil {
			pc.Headings = wp.Headings
		}
	}
	if maxSelection <= 0 {
		maxSelection = defaultSelection
	}
	pc.URL = capBytes(pc.URL, maxURLBytes)
	pc.Title = capBytes(pc.Title, maxTitleBytes)
	pc.Selection = capBytes(pc.Selection, maxSelection)
	pc.Course = capBytes(pc.Course, maxLabelBytes)
	pc.Stage = capBytes(pc.Stage, maxLabelBytes)
	pc.Lesson = capBytes(pc.Lesson, maxLabelBytes)
	if len(pc.Headings) > maxHeadings {
		pc.Headings = pc.Headings[:maxHeadings]
	}
	for i, s := range pc.Headings {
		pc.Headings[i] = capBytes(s, maxHeadingBytes)
	}
	return pc, nil
}

func headerValue(h http.Header, name string) string {
	return strings.TrimSpace(decodeHeader(h.Get(name)))
}

func decodeHeader(v string) string {
	if strings.Contains(v, "%") {
		if d, err := url.PathUnescape(v); err == nil {
			return d
		}
	}
	return v
}

// capBytes cuts s to at most n bytes without splitting a character, and
// drops invalid UTF-8.
func capBytes(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
