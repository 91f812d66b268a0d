package chatkit

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
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

// pageContext reads the page context from the request's metadata.page
// (preferred, field by field) and the page headers, capped.
func pageContext(meta *protocol.PageMetadata, h http.Header, maxSelection int) responder.PageContext {
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
	if meta != nil {
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&pc.URL, meta.URL)
		set(&pc.Title, meta.Title)
		set(&pc.Selection, meta.SelectedText)
		set(&pc.Selection, meta.Selection)
		set(&pc.Course, meta.Course)
		set(&pc.Stage, meta.Stage)
		set(&pc.Lesson, meta.Lesson)
		if meta.Headings != nil {
			pc.Headings = meta.Headings
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
	return pc
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
