// Package tutor is the Socratic AI tutor, the chatkit responder
// `intellistack.responders.tutor`. It reads the student's unlocked stage from
// a validated token claim, retrieves passages only from unlocked stages,
// streams a guiding answer from any OpenAI-compatible model, cites its
// sources, and degrades to a labelled retrieval-only mode when no model is
// configured or reachable.
//
// Who asks comes from the typed identity the authentication handler
// recorded (package identity), as chatkit passes it on: the roles as a list
// (staff_roles), the stage from the token's stage claim.
//
// # Errors
//
// The tutor writes no HTTP response of its own, so nothing of it reaches
// Caddy's handle_errors: chatkit has answered 200 and is streaming when the
// tutor runs. A model that breaks off after text has streamed ends the turn
// with a retryable ChatKit error event (a responder.UserError); an
// unreachable model or retriever gives a degraded answer with a notice,
// not an error. Configuration errors fail the config load.
package tutor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/tutor/engine"
	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/prompt"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"

	// The guests the Caddyfile names most often.
	_ "github.com/intellistack/intellistack/modules/tutor/lexical"
	_ "github.com/intellistack/intellistack/modules/tutor/openai"
	_ "github.com/intellistack/intellistack/modules/tutor/qdrant"
)

func init() {
	caddy.RegisterModule(Tutor{})
}

// Tutor is the responder. See UnmarshalCaddyfile for its Caddyfile syntax.
type Tutor struct {
	// ModelRaw is the language model, a module in intellistack.models (e.g.
	// openai). Without one the tutor answers in its retrieval-only mode.
	ModelRaw json.RawMessage `json:"model,omitempty" caddy:"namespace=intellistack.models inline_key=provider"`

	// RetrieverRaw is where course passages come from, a module in
	// intellistack.retrievers (lexical or qdrant). Without one the tutor
	// answers without course material.
	RetrieverRaw json.RawMessage `json:"retriever,omitempty" caddy:"namespace=intellistack.retrievers inline_key=source"`

	// Course restricts retrieval to one course id (lesson front matter).
	Course string `json:"course,omitempty"`

	// StageClaim names the {http.auth.user.<claim>} that holds the student's
	// unlocked stage, as set by bearer_jwt from a validated token. Never read
	// from request bodies or client headers. Default: stage.
	StageClaim string `json:"stage_claim,omitempty"`

	// DefaultStage applies to a student whose token has no stage claim.
	// Default: 1.
	DefaultStage int `json:"default_stage,omitempty"`

	// StaffRoles see every stage: a user holding any of them (whatever
	// other roles the token lists) is staff. Default: instructor admin.
	StaffRoles []string `json:"staff_roles,omitempty"`

	// PromptFile overrides the embedded Socratic prompt (a Go text/template
	// with .Course, .MaxStage and .StaffView). Reload with --force after
	// editing it.
	PromptFile string `json:"prompt_file,omitempty"`

	// Passages is how many passages to retrieve per question. Default: 4.
	Passages int `json:"passages,omitempty"`

	// TokenBudget is the approximate size of a whole prompt; older turns are
	// dropped to fit. Default: 6000.
	TokenBudget int `json:"token_budget,omitempty"`

	// MinScore is the relevance floor, from 0 to 1 in the retriever's own
	// measure (lexical: the share of the question's weight a passage matches;
	// qdrant: cosine similarity): weaker passages stay out of answers, and a
	// lesson of a locked stage is named ("loops are taught in stage 2") only
	// when it clears the floor and beats every unlocked passage.
	// Caddyfile: `min_score <0..1>`. Default: the retriever's suggestion
	// (lexical 0.3), else 0.
	MinScore *float64 `json:"min_score,omitempty"`

	// LessonURL turns a cited lesson into a link: {lesson} is replaced by the
	// lesson's path without ".md". Without it sources are cited as files.
	LessonURL string `json:"lesson_url,omitempty"`

	engine    *engine.Engine
	retrieval prometheus.Observer // retrieval_seconds of this retriever's backend
	logger    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Tutor) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack.responders.tutor",
		New: func() caddy.Module { return new(Tutor) },
	}
}

// Provision loads the guests and the prompt.
func (t *Tutor) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	if err := metrics.Register(ctx, timeToFirstToken, modelErrors, retrievalSeconds, answers); err != nil {
		return err
	}
	builder, err := prompt.NewBuilder(t.PromptFile)
	if err != nil {
		return fmt.Errorf("tutor: %v", err)
	}
	if t.TokenBudget > 0 {
		builder.Budget = t.TokenBudget
	}
	e := &engine.Engine{
		Prompt: builder, Logger: t.logger, StaffRoles: t.StaffRoles, DefaultStage: t.DefaultStage,
		Passages: t.Passages, RetrievalTimeout: 5 * time.Second,
	}
	if t.ModelRaw != nil {
		v, err := ctx.LoadModule(t, "ModelRaw")
		if err != nil {
			return fmt.Errorf("tutor: loading model: %v", err)
		}
		m, ok := v.(model.Model)
		if !ok {
			return fmt.Errorf("tutor: %T is not a model", v)
		}
		e.Model = m
	} else {
		t.logger.Warn("tutor has no model: answering in retrieval-only mode")
	}
	if t.RetrieverRaw != nil {
		v, err := ctx.LoadModule(t, "RetrieverRaw")
		if err != nil {
			return fmt.Errorf("tutor: loading retriever: %v", err)
		}
		r, ok := v.(retrieval.Retriever)
		if !ok {
			return fmt.Errorf("tutor: %T is not a retriever", v)
		}
		e.Retriever = r
		t.retrieval = retrievalSeconds.WithLabelValues(backendName(v))
		if f, ok := r.(retrieval.Floor); ok {
			e.MinScore = f.DefaultMinScore()
		}
	} else {
		t.logger.Warn("tutor has no retriever: answers will not draw on course material")
	}
	if t.MinScore != nil {
		e.MinScore = *t.MinScore
	}
	t.engine = e
	return nil
}

// Validate checks the settings.
func (t *Tutor) Validate() error {
	if t.DefaultStage < 0 || t.Passages < 0 || t.TokenBudget < 0 {
		return fmt.Errorf("tutor: default_stage, passages and token_budget must not be negative")
	}
	if t.MinScore != nil && (*t.MinScore < 0 || *t.MinScore > 1) {
		return fmt.Errorf("tutor: min_score %g is not between 0 and 1", *t.MinScore)
	}
	return nil
}

// Respond implements responder.Responder.
func (t *Tutor) Respond(ctx context.Context, req *responder.Request, s responder.Stream) error {
	if req.Input == nil {
		// A turn that continues after a client tool call: the tutor uses no
		// client tools, so there is nothing to add.
		return nil
	}
	claim := t.StageClaim
	if claim == "" {
		claim = "stage"
	}
	// From the validated token (bearer_jwt's claim), never from the client.
	stage, _ := req.User.Claim(claim)
	// The roles as the typed identity lists them (package identity), never
	// a string compared whole.
	turn := engine.Turn{
		Asker:   engine.Asker{UserID: req.User.ID, Roles: req.User.Roles, Stage: stage},
		Message: req.Input.Text(),
		Course:  t.Course,
		Page: prompt.Page{
			URL: req.Page.URL, Title: req.Page.Title, Headings: req.Page.Headings,
			Selected: req.Page.Selection, Quoted: req.Input.QuotedText,
		},
		History: history(req.History),
		Report:  new(engine.Report),
	}
	out := &chatkitEmitter{s: s, lessonURL: t.LessonURL}
	err := t.engine.Respond(ctx, turn, out)
	t.observe(turn.Report)
	if r, ok := s.(responder.TurnReporter); ok {
		r.ReportTurn(responder.TurnReport{Mode: turn.Report.Mode, ErrorKind: string(turn.Report.ModelError)})
	}
	if err != nil {
		return err
	}
	if out.fail != nil {
		return out.fail
	}
	return out.finish()
}

// history keeps the text of earlier user and assistant messages.
func history(items []protocol.Item) []prompt.Turn {
	var out []prompt.Turn
	for _, it := range items {
		switch m := it.(type) {
		case *protocol.UserMessageItem:
			out = append(out, prompt.Turn{Role: model.User, Text: m.Text()})
		case *protocol.AssistantMessageItem:
			out = append(out, prompt.Turn{Role: model.Assistant, Text: m.Text()})
		}
	}
	return out
}

// chatkitEmitter turns the engine's output into ChatKit events: one
// assistant message, opened on its first text, with sources as annotations.
type chatkitEmitter struct {
	s         responder.Stream
	msg       *responder.MessageWriter
	lessonURL string
	fail      error
}

func (c *chatkitEmitter) open() error {
	if c.msg != nil {
		return nil
	}
	m, err := responder.StartMessage(c.s)
	c.msg = m
	return err
}

func (c *chatkitEmitter) Notice(level, message string) error {
	return c.s.Emit(protocol.Notice{Level: level, Message: message})
}

func (c *chatkitEmitter) Delta(text string) error {
	if err := c.open(); err != nil {
		return err
	}
	return c.msg.Delta(text)
}

func (c *chatkitEmitter) Source(p retrieval.Passage) error {
	if err := c.open(); err != nil {
		return err
	}
	title := p.LessonTitle
	if p.Heading != "" && p.Heading != p.LessonTitle {
		title += " — " + p.Heading
	}
	var source map[string]any
	if c.lessonURL != "" {
		anchor := ""
		if _, a, ok := strings.Cut(p.ID, "#"); ok {
			anchor = "#" + a
		}
		url := strings.ReplaceAll(c.lessonURL, "{lesson}", strings.TrimSuffix(p.Lesson, ".md")) + anchor
		source = map[string]any{"type": "url", "title": title, "url": url, "description": fmt.Sprintf("Stage %d", p.Stage)}
	} else {
		source = map[string]any{"type": "file", "title": title, "filename": p.Lesson, "description": fmt.Sprintf("Stage %d", p.Stage)}
	}
	ann, _ := json.Marshal(map[string]any{"type": "annotation", "source": source})
	return c.msg.Annotate(ann)
}

func (c *chatkitEmitter) Fail(message string, allowRetry bool) error {
	c.fail = &responder.UserError{Message: message, AllowRetry: allowRetry}
	return nil
}

func (c *chatkitEmitter) finish() error {
	if c.msg == nil {
		return nil
	}
	return c.msg.Done()
}

var (
	_ responder.Responder = (*Tutor)(nil)
	_ caddy.Provisioner   = (*Tutor)(nil)
	_ caddy.Validator     = (*Tutor)(nil)
)
