// Package retrieval defines what the tutor retrieves (passages of course
// lessons) and the Retriever interface its guests implement, plus the
// Markdown lesson loader they share. It is Caddy-free.
package retrieval

import (
	"context"
	"errors"
	"math"
)

// AllStages is the MaxStage of a query that may see every stage (instructors
// and admins).
const AllStages = math.MaxInt32

// Passage is one retrievable piece of a lesson: the text under one heading.
type Passage struct {
	// ID is unique in a course folder: the lesson's path and the heading's
	// anchor, as in "stage-2/02-loops.md#for-loops-and-range".
	ID          string  `json:"id"`
	Course      string  `json:"course"`
	Stage       int     `json:"stage"`
	LessonTitle string  `json:"lesson_title"`
	Heading     string  `json:"heading"`
	Text        string  `json:"text"`
	Lesson      string  `json:"lesson"` // the lesson's path in the folder
	Score       float64 `json:"score,omitempty"`
}

// Query asks for passages relevant to a student's message.
type Query struct {
	Text string
	// MaxStage is the highest stage the student has unlocked; passages of
	// later stages are never returned. Use AllStages for staff. Zero or less
	// returns nothing.
	MaxStage int
	// Course restricts the search to one course when not empty.
	Course string
	// Limit is the most passages to return. Default: 4.
	Limit int
}

// Retriever finds passages. Implementations must apply MaxStage (and Course)
// inside the search, so a locked passage can never be returned, even as a
// filler when few unlocked ones match.
type Retriever interface {
	Retrieve(ctx context.Context, q Query) ([]Passage, error)
}

// ErrUnavailable wraps failures of a retriever's backend (Qdrant down, the
// embeddings endpoint unreachable), which the tutor treats as "answer without
// retrieval".
var ErrUnavailable = errors.New("retriever unavailable")

// DefaultLimit is the number of passages a query returns by default.
const DefaultLimit = 4

// Visible reports whether a passage may be shown to the asker of q.
func (q Query) Visible(p Passage) bool {
	return p.Stage >= 1 && p.Stage <= q.MaxStage && (q.Course == "" || q.Course == p.Course)
}
