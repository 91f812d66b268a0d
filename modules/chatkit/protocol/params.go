package protocol

import (
	"encoding/json"
)

// Params is a request's params object as sent, every field optional. The
// server's dispatch table names, per operation, the method below that picks
// and checks the fields that operation needs.
type Params struct {
	w wireParams
}

// Wire shapes, with pointers where a missing key must be told from a zero.
type (
	wireParams struct {
		ThreadID *string         `json:"thread_id"`
		ItemID   *string         `json:"item_id"`
		Input    *wireInput      `json:"input"`
		Result   json.RawMessage `json:"result"`
		Action   *Action         `json:"action"`
		Limit    *int            `json:"limit"`
		Order    *string         `json:"order"`
		After    *string         `json:"after"`
		Title    *string         `json:"title"`
		ItemIDs  *[]string       `json:"item_ids"`
		Kind     *string         `json:"kind"`
	}
	wireInput struct {
		Content          *[]wireContent    `json:"content"`
		Attachments      []string          `json:"attachments"`
		QuotedText       *string           `json:"quoted_text"`
		InferenceOptions *InferenceOptions `json:"inference_options"`
	}
	wireContent struct {
		Type        *string        `json:"type"`
		Text        *string        `json:"text"`
		ID          *string        `json:"id"`
		Data        map[string]any `json:"data"`
		Group       *string        `json:"group"`
		Interactive *bool          `json:"interactive"`
	}
)

// OnThread is implemented by the params of operations on one existing
// thread.
type OnThread interface {
	Thread() string
}

// ThreadRef is the thread an operation names; params embed it.
type ThreadRef struct {
	ThreadID string
}

// Thread returns the thread id.
func (t ThreadRef) Thread() string { return t.ThreadID }

// ThreadCreateParams are the params of threads.create.
type ThreadCreateParams struct {
	Input UserMessageInput
}

// AddUserMessageParams are the params of threads.add_user_message.
type AddUserMessageParams struct {
	ThreadRef
	Input UserMessageInput
}

// AddClientToolOutputParams are the params of threads.add_client_tool_output.
type AddClientToolOutputParams struct {
	ThreadRef
	Result json.RawMessage
}

// RetryAfterItemParams are the params of threads.retry_after_item.
type RetryAfterItemParams struct {
	ThreadRef
	ItemID string
}

// CustomActionParams are the params of threads.custom_action and
// threads.sync_custom_action.
type CustomActionParams struct {
	ThreadRef
	ItemID string
	Action Action
}

// Action is a widget action.
type Action struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ThreadIDParams are the params of operations that name only a thread
// (threads.get_by_id, threads.delete) and of others this server refuses
// (threads.add_structured_input).
type ThreadIDParams struct {
	ThreadRef
}

// ListParams are the params of threads.list and items.list (a thread only
// for the latter). Limit 0 means the default.
type ListParams struct {
	ThreadRef
	Limit int
	Order string // "asc" or "desc"
	After string
}

// UpdateThreadParams are the params of threads.update.
type UpdateThreadParams struct {
	ThreadRef
	Title string
}

// FeedbackParams are the params of items.feedback.
type FeedbackParams struct {
	ThreadRef
	ItemIDs []string
	Kind    string
}

// UserMessageInput is a message as the composer sends it.
type UserMessageInput struct {
	Content          []UserContent
	Attachments      []string
	QuotedText       string
	InferenceOptions InferenceOptions

	size int
}

// Size is the message's length in bytes as the input limit counts it: the
// text of every part, the quoted text, and the id, group and data of tags.
func (in UserMessageInput) Size() int { return in.size }

// ThreadCreate checks the params of threads.create.
func (p *Params) ThreadCreate() (*ThreadCreateParams, error) {
	in, err := p.input()
	if err != nil {
		return nil, err
	}
	return &ThreadCreateParams{Input: in}, nil
}

// AddUserMessage checks the params of threads.add_user_message.
func (p *Params) AddUserMessage() (*AddUserMessageParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	in, err := p.input()
	if err != nil {
		return nil, err
	}
	return &AddUserMessageParams{ThreadRef: t, Input: in}, nil
}

// AddClientToolOutput checks the params of threads.add_client_tool_output.
func (p *Params) AddClientToolOutput() (*AddClientToolOutputParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	if len(p.w.Result) == 0 {
		return nil, BadRequest("missing params.result")
	}
	return &AddClientToolOutputParams{ThreadRef: t, Result: p.w.Result}, nil
}

// RetryAfterItem checks the params of threads.retry_after_item.
func (p *Params) RetryAfterItem() (*RetryAfterItemParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	if err := need("item_id", p.w.ItemID); err != nil {
		return nil, err
	}
	return &RetryAfterItemParams{ThreadRef: t, ItemID: *p.w.ItemID}, nil
}

// CustomAction checks the params of threads.custom_action and
// threads.sync_custom_action.
func (p *Params) CustomAction() (*CustomActionParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	if p.w.Action == nil || p.w.Action.Type == "" {
		return nil, BadRequest("missing params.action.type")
	}
	return &CustomActionParams{ThreadRef: t, ItemID: deref(p.w.ItemID), Action: *p.w.Action}, nil
}

// ThreadOnly checks params that name a thread and nothing else the server
// reads.
func (p *Params) ThreadOnly() (*ThreadIDParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	return &ThreadIDParams{ThreadRef: t}, nil
}

// ListThreads checks the params of threads.list.
func (p *Params) ListThreads() (*ListParams, error) {
	return p.list(ThreadRef{})
}

// ListItems checks the params of items.list.
func (p *Params) ListItems() (*ListParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	return p.list(t)
}

func (p *Params) list(t ThreadRef) (*ListParams, error) {
	lp := &ListParams{ThreadRef: t, Order: "desc", After: deref(p.w.After)}
	if p.w.Order != nil {
		lp.Order = *p.w.Order
	}
	if lp.Order != "asc" && lp.Order != "desc" {
		return nil, BadRequest("params.order must be \"asc\" or \"desc\"")
	}
	if p.w.Limit != nil {
		lp.Limit = *p.w.Limit
	}
	if lp.Limit < 0 {
		return nil, BadRequest("params.limit must not be negative")
	}
	return lp, nil
}

// UpdateThread checks the params of threads.update.
func (p *Params) UpdateThread() (*UpdateThreadParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	if p.w.Title == nil {
		return nil, BadRequest("missing params.title")
	}
	return &UpdateThreadParams{ThreadRef: t, Title: *p.w.Title}, nil
}

// Feedback checks the params of items.feedback.
func (p *Params) Feedback() (*FeedbackParams, error) {
	t, err := p.thread()
	if err != nil {
		return nil, err
	}
	if p.w.ItemIDs == nil {
		return nil, BadRequest("missing params.item_ids")
	}
	if err := need("kind", p.w.Kind); err != nil {
		return nil, err
	}
	if k := *p.w.Kind; k != "positive" && k != "negative" {
		return nil, BadRequest("params.kind must be \"positive\" or \"negative\"")
	}
	return &FeedbackParams{ThreadRef: t, ItemIDs: *p.w.ItemIDs, Kind: *p.w.Kind}, nil
}

// Unchecked accepts any params object, for operations the server refuses
// whatever they carry (attachments, transcription).
func (p *Params) Unchecked() (struct{}, error) { return struct{}{}, nil }

func (p *Params) thread() (ThreadRef, error) {
	if err := need("thread_id", p.w.ThreadID); err != nil {
		return ThreadRef{}, err
	}
	return ThreadRef{ThreadID: *p.w.ThreadID}, nil
}

func need(name string, v *string) error {
	if v == nil {
		return BadRequest("missing params.%s", name)
	}
	if *v == "" {
		return BadRequest("params.%s must not be empty", name)
	}
	return nil
}

func (p *Params) input() (UserMessageInput, error) {
	var in UserMessageInput
	w := p.w.Input
	if w == nil {
		return in, BadRequest("missing params.input")
	}
	if w.Content == nil {
		return in, BadRequest("missing params.input.content")
	}
	in.Content = make([]UserContent, 0, len(*w.Content))
	for i, c := range *w.Content {
		if c.Type == nil {
			return in, BadRequest("params.input.content[%d]: missing type", i)
		}
		if c.Text == nil {
			return in, BadRequest("params.input.content[%d]: missing text", i)
		}
		uc := UserContent{Type: *c.Type, Text: *c.Text}
		switch *c.Type {
		case contentTypeInputText:
		case contentTypeInputTag:
			if c.ID == nil || *c.ID == "" {
				return in, BadRequest("params.input.content[%d]: missing id", i)
			}
			uc.ID, uc.Data, uc.Group = *c.ID, c.Data, deref(c.Group)
			if c.Interactive != nil {
				uc.Interactive = *c.Interactive
			}
			in.size += len(uc.ID) + len(uc.Group)
			if c.Data != nil {
				b, _ := json.Marshal(c.Data)
				in.size += len(b)
			}
		default:
			return in, BadRequest("params.input.content[%d]: unknown content type %q", i, *c.Type)
		}
		in.size += len(uc.Text)
		in.Content = append(in.Content, uc)
	}
	in.Attachments = w.Attachments
	if in.Attachments == nil {
		in.Attachments = []string{}
	}
	in.QuotedText = deref(w.QuotedText)
	in.size += len(in.QuotedText)
	if w.InferenceOptions != nil {
		in.InferenceOptions = *w.InferenceOptions
	}
	return in, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
