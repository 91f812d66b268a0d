// Package engine is the tutor's turn logic, Caddy-free and protocol-free:
// decide which stages the asker may see, retrieve, build the prompt, stream
// the model, cite sources, and degrade gracefully when the model or the
// retriever is unavailable. The chatkit responder adapts it to ChatKit events.
package engine

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/prompt"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// Emitter receives the tutor's output for one turn, in order.
type Emitter interface {
	// Notice shows a short banner (level "info" or "warning") to the student.
	Notice(level, message string) error
	// Delta appends text to the assistant's reply.
	Delta(text string) error
	// Source cites a passage the reply used.
	Source(p retrieval.Passage) error
	// Fail ends the turn with an error the student can retry; the user's
	// message stays in the thread.
	Fail(message string, allowRetry bool) error
}

// Asker is who asks, from trusted sources only (validated token claims).
type Asker struct {
	UserID string
	// Roles are the asker's roles, a list as the typed identity holds them
	// (never a string to compare whole: "student,instructor" is staff).
	Roles []string
	// Stage is the stage claim ("" when the token has none).
	Stage string
}

// Turn is one user message with its context.
type Turn struct {
	Asker   Asker
	Message string
	Page    prompt.Page
	History []prompt.Turn
	Course  string
	// Report, when set, receives what the turn did (for metrics and the
	// turn's log line); Respond fills it whatever the outcome.
	Report *Report
}

// Answer modes, the values of Report.Mode.
const (
	ModeModel         = "model"          // the model wrote the answer
	ModeRetrievalOnly = "retrieval_only" // passages instead of an answer (no model, or it failed before any text)
)

// Report is what one turn did, measured with the engine's clock.
type Report struct {
	// Retrieved reports that the retriever was asked; Retrieval is how long
	// it took (failures and timeouts included).
	Retrieved bool
	Retrieval time.Duration
	// FirstToken is the time from the start of the turn (retrieval
	// included) to the model's first text; zero when the model wrote none.
	FirstToken time.Duration
	// Mode is ModeModel or ModeRetrievalOnly once an answer was given in
	// full; empty when the turn failed or the student went away.
	Mode string
	// ModelError is the kind of the model's failure, if it failed (the
	// turn then fell back to retrieval-only, or broke off).
	ModelError model.ErrorKind
}

// Engine answers turns. Model may be nil (retrieval-only mode); Retriever may
// be nil (no course material).
type Engine struct {
	Model     model.Model
	Retriever retrieval.Retriever
	Prompt    *prompt.Builder
	Logger    *zap.Logger
	// StaffRoles see every stage. Default: instructor, admin.
	StaffRoles []string
	// DefaultStage applies to a student whose token has no stage claim.
	// Default: 1 (the first stage is open to every student).
	DefaultStage int
	// Passages is how many passages to retrieve. Default: 4.
	Passages int
	// RetrievalTimeout bounds retrieval. Default: 3s.
	RetrievalTimeout time.Duration
	// MinScore is the relevance floor (0 to 1, in the retriever's measure):
	// weaker passages stay out of the answer, and a locked lesson is named
	// only when it clears it. Default: 0, every match counts.
	MinScore float64
	// Now is the clock of the turn's Report. Default: time.Now.
	Now func() time.Time
}

// Notices shown to students.
const (
	NoticeNoModel         = "The AI tutor is not configured here, so you are seeing the most relevant course passages instead of a written answer."
	NoticeModelDown       = "The AI tutor is unavailable right now, so you are seeing the most relevant course passages instead of a written answer."
	NoticeRetrieverDown   = "Course search is unavailable right now; this answer does not draw on the course material."
	MessageModelBrokeOff  = "The tutor's answer was interrupted. Your message is saved; try again."
	retrievalOnlyNoModel  = "no AI model is configured"
	retrievalOnlyModelOff = "the AI model is unavailable"
)

// MaxStage is the highest stage the asker may see: every stage for staff,
// else the stage claim, else DefaultStage. A claim that is not a positive
// number counts as absent.
func (e *Engine) MaxStage(a Asker) int {
	staff := e.StaffRoles
	if staff == nil {
		staff = []string{"instructor", "admin"}
	}
	if slices.ContainsFunc(a.Roles, func(r string) bool { return slices.Contains(staff, r) }) {
		return retrieval.AllStages
	}
	if n, err := strconv.Atoi(a.Stage); err == nil && n >= 1 {
		return n
	}
	if e.DefaultStage > 0 {
		return e.DefaultStage
	}
	return 1
}

// Respond answers one turn through out.
func (e *Engine) Respond(ctx context.Context, t Turn, out Emitter) error {
	log := e.Logger
	if log == nil {
		log = zap.NewNop()
	}
	now := e.Now
	if now == nil {
		now = time.Now
	}
	rep := t.Report
	if rep == nil {
		rep = new(Report)
	}
	begin := now()
	maxStage := e.MaxStage(t.Asker)
	passages, locked, retrieverDown := e.retrieve(ctx, t, maxStage, log)
	if e.Retriever != nil {
		rep.Retrieved, rep.Retrieval = true, now().Sub(begin)
	}
	if retrieverDown {
		if err := out.Notice("warning", NoticeRetrieverDown); err != nil {
			return err
		}
	}

	if e.Model == nil {
		return rep.answered(ModeRetrievalOnly, e.retrievalOnly(out, passages, locked, maxStage, NoticeNoModel, retrievalOnlyNoModel))
	}
	if len(locked) > 0 {
		// Said by the tutor itself, not left to the model: the student learns
		// where the topic is taught even when the model ignores the hint.
		if err := out.Notice("info", prompt.LockedNotice(locked, maxStage)); err != nil {
			return err
		}
	}
	msgs, err := e.Prompt.Build(prompt.Input{
		Course: t.Course, MaxStage: maxStage, StaffView: maxStage == retrieval.AllStages,
		Page: t.Page, Passages: passages, Locked: locked, History: t.History, Message: t.Message,
	})
	if err != nil {
		return err
	}
	var answer []byte
	err = e.Model.Stream(ctx, model.Request{Messages: msgs}, func(d string) error {
		if rep.FirstToken == 0 {
			rep.FirstToken = max(now().Sub(begin), time.Nanosecond)
		}
		answer = append(answer, d...)
		return out.Delta(d)
	})
	switch {
	case err == nil:
		return rep.answered(ModeModel, e.cite(out, passages, string(answer)))
	case ctx.Err() != nil:
		return ctx.Err() // the student went away; the caller keeps the partial answer
	case errors.Is(err, model.ErrUnavailable):
		rep.ModelError = model.KindOf(err)
		log.Warn("model unavailable; answering in retrieval-only mode", zap.Error(err))
		return rep.answered(ModeRetrievalOnly, e.retrievalOnly(out, passages, locked, maxStage, NoticeModelDown, retrievalOnlyModelOff))
	default:
		rep.ModelError = model.KindOf(err)
		log.Error("model stream broke off", zap.Error(err))
		return out.Fail(MessageModelBrokeOff, true)
	}
}

// answered records the mode of an answer given in full (err nil).
func (r *Report) answered(mode string, err error) error {
	if err == nil {
		r.Mode = mode
	}
	return err
}

// retrieve returns the unlocked passages that clear the relevance floor and,
// when the course teaches the question better in stages the asker has not
// unlocked, those lessons by title; the bool reports a retriever failure.
func (e *Engine) retrieve(ctx context.Context, t Turn, maxStage int, log *zap.Logger) ([]retrieval.Passage, []retrieval.Lesson, bool) {
	if e.Retriever == nil {
		return nil, nil, false
	}
	timeout := e.RetrievalTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	query := t.Message
	if t.Page.Selected != "" {
		query += "\n" + t.Page.Selected
	}
	q := retrieval.Query{Text: query, MaxStage: maxStage, Course: t.Course, Limit: e.Passages, MinScore: e.MinScore}
	passages, err := e.Retriever.Retrieve(rctx, q)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("retriever unavailable; answering without course material", zap.Error(err))
		}
		return nil, nil, true
	}
	// Defence in depth: whatever a retriever returns, nothing locked leaves
	// and nothing under the floor is used. Filtered into a new slice: the
	// retriever's may be shared (a cache).
	kept := make([]retrieval.Passage, 0, len(passages))
	for _, p := range passages {
		if q.Visible(p) && p.Score >= e.MinScore {
			kept = append(kept, p)
		}
	}
	return kept, e.locate(rctx, q, kept, log), false
}

// lockedShare: a locked lesson is named with the best one only when it
// scores at least this share of the best, so that one clear answer is not
// diluted by loosely related lessons.
const lockedShare = 0.8

// locate names the locked lessons that answer q better than every unlocked
// passage does (at most two), or none: staff see everything, and a
// retriever that cannot locate leaves the tutor as it was.
func (e *Engine) locate(ctx context.Context, q retrieval.Query, unlocked []retrieval.Passage, log *zap.Logger) []retrieval.Lesson {
	locator, ok := e.Retriever.(retrieval.Locator)
	if !ok || q.MaxStage == retrieval.AllStages {
		return nil
	}
	q.Limit = 3
	lessons, err := locator.Locate(ctx, q)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("locating locked lessons failed; answering from unlocked material only", zap.Error(err))
		}
		return nil
	}
	var best float64
	for _, p := range unlocked {
		best = max(best, p.Score)
	}
	var named []retrieval.Lesson
	for _, l := range lessons {
		if l.Stage <= q.MaxStage || l.Score < e.MinScore || l.Score <= best {
			continue
		}
		if len(named) > 0 && l.Score < lockedShare*named[0].Score {
			break
		}
		named = append(named, l)
		if len(named) == 2 {
			break
		}
	}
	return named
}

func (e *Engine) retrievalOnly(out Emitter, passages []retrieval.Passage, locked []retrieval.Lesson, maxStage int, notice, reason string) error {
	if err := out.Notice("info", notice); err != nil {
		return err
	}
	if err := out.Delta(prompt.RetrievalOnlyAnswer(passages, locked, maxStage, reason)); err != nil {
		return err
	}
	shown := passages
	if len(shown) > 2 {
		shown = shown[:2]
	}
	for _, p := range shown {
		if err := out.Source(p); err != nil {
			return err
		}
	}
	return nil
}

var citation = regexp.MustCompile(`\[(\d{1,2})\]`)

// cite adds the passages the answer referred to as [n]; when it cited none,
// every passage it was given, since they shaped the answer.
func (e *Engine) cite(out Emitter, passages []retrieval.Passage, answer string) error {
	used := map[int]bool{}
	for _, m := range citation.FindAllStringSubmatch(answer, -1) {
		if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(passages) {
			used[n-1] = true
		}
	}
	for i, p := range passages {
		if len(used) == 0 || used[i] {
			if err := out.Source(p); err != nil {
				return err
			}
		}
	}
	return nil
}
