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
	ID          string `json:"id"`
	Course      string `json:"course"`
	Stage       int    `json:"stage"`
	LessonTitle string `json:"lesson_title"`
	Heading     string `json:"heading"`
	Text        string `json:"text"`
	Lesson      string `json:"lesson"` // the lesson's path in the folder
	// Score is the passage's relevance to the query, from 0 (unrelated) to 1,
	// in the retriever's own measure (see MinScore).
	Score float64 `json:"score,omitempty"`
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
	// MinScore is the relevance floor: passages scoring below it are not
	// returned, so that an unrelated passage never reaches an answer just
	// because it is the best of a bad lot. Zero keeps everything that matches.
	MinScore float64
}

// Lesson names a lesson without any of its content: all the tutor may tell a
// student about material they have not unlocked.
type Lesson struct {
	Course string  `json:"course"`
	Stage  int     `json:"stage"`
	Title  string  `json:"title"`
	Path   string  `json:"lesson"`
	Score  float64 `json:"score,omitempty"` // the best score of its passages
}

// Locator is implemented by retrievers that can say which locked lessons
// teach what a query asks, so that the tutor can answer "that is in stage 2"
// instead of offering unrelated unlocked passages. Locate searches only the
// stages above q.MaxStage (within q.Course), applies q.MinScore, and returns
// at most q.Limit lessons, best first, one entry per lesson, titles only:
// passage text never leaves a Locate.
type Locator interface {
	Locate(ctx context.Context, q Query) ([]Lesson, error)
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

// Floor is implemented by retrievers that suggest a relevance floor for
// their scores (Query.MinScore), used when the operator sets none.
type Floor interface {
	DefaultMinScore() float64
}

// Locked reports whether p lies in a stage above q.MaxStage (within
// q.Course): the passages a Locate may name by lesson title.
func (q Query) Locked(p Passage) bool {
	return p.Stage > q.MaxStage && (q.Course == "" || q.Course == p.Course)
}

// Visible reports whether a passage may be shown to the asker of q.
func (q Query) Visible(p Passage) bool {
	return p.Stage >= 1 && p.Stage <= q.MaxStage && (q.Course == "" || q.Course == p.Course)
}
