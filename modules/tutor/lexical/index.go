// Package lexical is the tutor's embedded retriever: a BM25 index over the
// passages of a folder of Markdown lessons, held in memory.
package lexical

import (
	"context"
	"math"
	"sort"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// BM25 parameters: the usual defaults.
const (
	k1 = 1.2
	b  = 0.75
	// titleBoost repeats lesson titles and headings in the indexed text: a
	// question naming a topic should find the section about it.
	titleBoost = 2
)

type posting struct {
	doc int32
	tf  float32
}

// Index is an immutable BM25 index; safe for concurrent queries.
type Index struct {
	passages []retrieval.Passage
	docLen   []float32
	avgLen   float64
	postings map[string][]posting
}

// NewIndex indexes passages.
func NewIndex(passages []retrieval.Passage) *Index {
	ix := &Index{
		passages: passages,
		docLen:   make([]float32, len(passages)),
		postings: map[string][]posting{},
	}
	var total float64
	for i, p := range passages {
		terms := tokenize(p.Text)
		for r := 0; r < titleBoost; r++ {
			terms = append(terms, tokenize(p.LessonTitle+" "+p.Heading)...)
		}
		counts := map[string]int{}
		for _, t := range terms {
			counts[t]++
		}
		for t, n := range counts {
			ix.postings[t] = append(ix.postings[t], posting{doc: int32(i), tf: float32(n)})
		}
		ix.docLen[i] = float32(len(terms))
		total += float64(len(terms))
	}
	if len(passages) > 0 {
		ix.avgLen = total / float64(len(passages))
	}
	return ix
}

// Len is the number of indexed passages.
func (ix *Index) Len() int { return len(ix.passages) }

// Retrieve scores the passages visible to q and returns the best. The stage
// and course restriction is applied while scoring: a passage the asker may not
// see is never scored, so it cannot be returned.
//
// Scores are relevances from 0 to 1: a passage's BM25 score divided by the
// most any passage could score for the query's terms that occur in the
// course. A question sharing only a common word with a passage ("work" in
// "How do for loops work?") scores low, whatever its rank.
func (ix *Index) Retrieve(_ context.Context, q retrieval.Query) ([]retrieval.Passage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = retrieval.DefaultLimit
	}
	if q.MaxStage < 1 {
		return nil, nil
	}
	scores := ix.score(q.Text, q.Visible)
	ranked := make([]int32, 0, len(scores))
	for d, s := range scores {
		if s >= q.MinScore {
			ranked = append(ranked, d)
		}
	}
	sort.Slice(ranked, func(i, j int) bool {
		if scores[ranked[i]] != scores[ranked[j]] {
			return scores[ranked[i]] > scores[ranked[j]]
		}
		return ranked[i] < ranked[j]
	})
	if len(ranked) > limit {
		ranked = ranked[:limit]
	}
	out := make([]retrieval.Passage, len(ranked))
	for i, d := range ranked {
		out[i] = ix.passages[d]
		out[i].Score = scores[d]
	}
	return out, nil
}

// Locate names the locked lessons that match q best (retrieval.Locator).
func (ix *Index) Locate(_ context.Context, q retrieval.Query) ([]retrieval.Lesson, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = retrieval.DefaultLimit
	}
	best := map[string]retrieval.Lesson{}
	for d, s := range ix.score(q.Text, q.Locked) {
		p := ix.passages[d]
		if s < q.MinScore {
			continue
		}
		key := p.Course + "\x00" + p.Lesson
		if l, ok := best[key]; !ok || s > l.Score {
			best[key] = retrieval.Lesson{Course: p.Course, Stage: p.Stage, Title: p.LessonTitle, Path: p.Lesson, Score: s}
		}
	}
	out := make([]retrieval.Lesson, 0, len(best))
	for _, l := range best {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Path < out[j].Path
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// score returns the relevance of every passage that include admits and that
// shares a term with text.
func (ix *Index) score(text string, include func(retrieval.Passage) bool) map[int32]float64 {
	scores := map[int32]float64{}
	n := float64(len(ix.passages))
	seen := map[string]bool{}
	var most float64 // the score of a passage made of nothing but the query's terms
	for _, term := range tokenize(text) {
		if seen[term] {
			continue
		}
		seen[term] = true
		list := ix.postings[term]
		if len(list) == 0 {
			continue
		}
		idf := math.Log(1 + (n-float64(len(list))+0.5)/(float64(len(list))+0.5))
		most += idf * (k1 + 1)
		for _, p := range list {
			if !include(ix.passages[p.doc]) {
				continue
			}
			tf := float64(p.tf)
			norm := k1 * (1 - b + b*float64(ix.docLen[p.doc])/ix.avgLen)
			scores[p.doc] += idf * tf * (k1 + 1) / (tf + norm)
		}
	}
	for d := range scores {
		scores[d] /= most
	}
	return scores
}

var (
	_ retrieval.Retriever = (*Index)(nil)
	_ retrieval.Locator   = (*Index)(nil)
)
