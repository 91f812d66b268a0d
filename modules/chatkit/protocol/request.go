package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// Operations (the request body's "type").
const (
	OpThreadsCreate           = "threads.create"
	OpThreadsAddUserMessage   = "threads.add_user_message"
	OpThreadsAddClientTool    = "threads.add_client_tool_output"
	OpThreadsAddStructured    = "threads.add_structured_input"
	OpThreadsRetryAfterItem   = "threads.retry_after_item"
	OpThreadsCustomAction     = "threads.custom_action"
	OpThreadsSyncCustomAction = "threads.sync_custom_action"
	OpThreadsGetByID          = "threads.get_by_id"
	OpThreadsList             = "threads.list"
	OpItemsList               = "items.list"
	OpThreadsUpdate           = "threads.update"
	OpThreadsDelete           = "threads.delete"
	OpItemsFeedback           = "items.feedback"
	OpAttachmentsCreate       = "attachments.create"
	OpAttachmentsDelete       = "attachments.delete"
	OpInputTranscribe         = "input.transcribe"
)

// Operations lists every operation of the protocol.
var Operations = []string{
	OpThreadsCreate, OpThreadsAddUserMessage, OpThreadsAddClientTool, OpThreadsAddStructured,
	OpThreadsRetryAfterItem, OpThreadsCustomAction, OpThreadsSyncCustomAction, OpThreadsGetByID,
	OpThreadsList, OpItemsList, OpThreadsUpdate, OpThreadsDelete, OpItemsFeedback,
	OpAttachmentsCreate, OpAttachmentsDelete, OpInputTranscribe,
}

// IsOperation reports whether op is one of the protocol's operations.
func IsOperation(op string) bool {
	for _, o := range Operations {
		if o == op {
			return true
		}
	}
	return false
}

// IsStreaming reports whether op answers with an SSE stream.
func IsStreaming(op string) bool {
	switch op {
	case OpThreadsCreate, OpThreadsAddUserMessage, OpThreadsAddClientTool, OpThreadsAddStructured,
		OpThreadsRetryAfterItem, OpThreadsCustomAction:
		return true
	}
	return false
}

// Error is a request the server refuses before any response byte: it becomes
// an HTTP status with a small JSON body {"error":{"code","message"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 invalid_request Error.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "invalid_request", format, args...)
}

// Body writes the JSON body of an error.
func (e *Error) Body() []byte {
	b, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	return b
}

// Request is a parsed request: the operation, its params (one of the *Params
// types below, by operation) and the raw metadata.
type Request struct {
	Type     string
	Params   any
	Metadata map[string]json.RawMessage
}

// Limits bound what a request may carry.
type Limits struct {
	// MaxInputBytes caps the text of one user message (all parts).
	MaxInputBytes int
}

// ThreadCreateParams are the params of threads.create.
type ThreadCreateParams struct {
	Input UserMessageInput
}

// AddUserMessageParams are the params of threads.add_user_message.
type AddUserMessageParams struct {
	ThreadID string
	Input    UserMessageInput
}

// AddClientToolOutputParams are the params of threads.add_client_tool_output.
type AddClientToolOutputParams struct {
	ThreadID string
	Result   json.RawMessage
}

// RetryAfterItemParams are the params of threads.retry_after_item.
type RetryAfterItemParams struct {
	ThreadID string
	ItemID   string
}

// CustomActionParams are the params of threads.custom_action and
// threads.sync_custom_action.
type CustomActionParams struct {
	ThreadID string
	ItemID   string
	Action   Action
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
	ThreadID string
}

// ListParams are the params of threads.list and items.list (ThreadID only
// for the latter). Limit 0 means the default.
type ListParams struct {
	ThreadID string
	Limit    int
	Order    string // "asc" or "desc"
	After    string
}

// UpdateThreadParams are the params of threads.update.
type UpdateThreadParams struct {
	ThreadID string
	Title    string
}

// FeedbackParams are the params of items.feedback.
type FeedbackParams struct {
	ThreadID string
	ItemIDs  []string
	Kind     string
}

// UserMessageInput is a message as the composer sends it.
type UserMessageInput struct {
	Content          []UserContent
	Attachments      []string
	QuotedText       string
	InferenceOptions InferenceOptions
}

// Wire shapes, with pointers where a missing key must be told from a zero.
type (
	envelope struct {
		Type     *string                    `json:"type"`
		Params   json.RawMessage            `json:"params"`
		Metadata map[string]json.RawMessage `json:"metadata"`
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
)

// ParseRequest decodes and validates a request body. Unknown keys are
// ignored, as the reference does; anything missing, mistyped or oversized is
// an *Error with a 4xx status.
func ParseRequest(body []byte, lim Limits) (*Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, BadRequest("the body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, BadRequest("the body is not valid UTF-8")
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, BadRequest("malformed JSON: %s", jsonErr(err))
	}
	if env.Type == nil {
		return nil, BadRequest("missing \"type\"")
	}
	op := *env.Type
	if !IsOperation(op) {
		return nil, BadRequest("unknown operation %q", op)
	}
	if len(env.Params) == 0 || string(env.Params) == "null" {
		return nil, BadRequest("missing \"params\"")
	}
	if env.Params[0] != '{' {
		return nil, BadRequest("\"params\" must be an object")
	}
	var p wireParams
	if err := json.Unmarshal(env.Params, &p); err != nil {
		return nil, BadRequest("params: %s", jsonErr(err))
	}
	req := &Request{Type: op, Metadata: env.Metadata}
	var err error
	switch op {
	case OpThreadsCreate:
		var in UserMessageInput
		in, err = p.input(lim)
		req.Params = &ThreadCreateParams{Input: in}
	case OpThreadsAddUserMessage:
		var in UserMessageInput
		if err = p.need("thread_id", p.ThreadID); err == nil {
			in, err = p.input(lim)
		}
		req.Params = &AddUserMessageParams{ThreadID: deref(p.ThreadID), Input: in}
	case OpThreadsAddClientTool:
		err = p.need("thread_id", p.ThreadID)
		if err == nil && len(p.Result) == 0 {
			err = BadRequest("missing params.result")
		}
		req.Params = &AddClientToolOutputParams{ThreadID: deref(p.ThreadID), Result: p.Result}
	case OpThreadsRetryAfterItem:
		if err = p.need("thread_id", p.ThreadID); err == nil {
			err = p.need("item_id", p.ItemID)
		}
		req.Params = &RetryAfterItemParams{ThreadID: deref(p.ThreadID), ItemID: deref(p.ItemID)}
	case OpThreadsCustomAction, OpThreadsSyncCustomAction:
		err = p.need("thread_id", p.ThreadID)
		if err == nil && (p.Action == nil || p.Action.Type == "") {
			err = BadRequest("missing params.action.type")
		}
		cp := &CustomActionParams{ThreadID: deref(p.ThreadID), ItemID: deref(p.ItemID)}
		if p.Action != nil {
			cp.Action = *p.Action
		}
		req.Params = cp
	case OpThreadsGetByID, OpThreadsDelete, OpThreadsAddStructured:
		err = p.need("thread_id", p.ThreadID)
		req.Params = &ThreadIDParams{ThreadID: deref(p.ThreadID)}
	case OpThreadsList, OpItemsList:
		lp := &ListParams{Order: "desc", ThreadID: deref(p.ThreadID), After: deref(p.After)}
		if op == OpItemsList {
			err = p.need("thread_id", p.ThreadID)
		}
		if p.Order != nil {
			lp.Order = *p.Order
		}
		if err == nil && lp.Order != "asc" && lp.Order != "desc" {
			err = BadRequest("params.order must be \"asc\" or \"desc\"")
		}
		if p.Limit != nil {
			lp.Limit = *p.Limit
		}
		if err == nil && lp.Limit < 0 {
			err = BadRequest("params.limit must not be negative")
		}
		req.Params = lp
	case OpThreadsUpdate:
		if err = p.need("thread_id", p.ThreadID); err == nil {
			err = p.need("title", p.Title)
		}
		req.Params = &UpdateThreadParams{ThreadID: deref(p.ThreadID), Title: deref(p.Title)}
	case OpItemsFeedback:
		err = p.need("thread_id", p.ThreadID)
		if err == nil && p.ItemIDs == nil {
			err = BadRequest("missing params.item_ids")
		}
		if err == nil {
			err = p.need("kind", p.Kind)
		}
		if err == nil && *p.Kind != "positive" && *p.Kind != "negative" {
			err = BadRequest("params.kind must be \"positive\" or \"negative\"")
		}
		fp := &FeedbackParams{ThreadID: deref(p.ThreadID), Kind: deref(p.Kind)}
		if p.ItemIDs != nil {
			fp.ItemIDs = *p.ItemIDs
		}
		req.Params = fp
	default:
		// Attachments and transcription: accepted as well-formed here, refused
		// by the server as unsupported.
		req.Params = env.Params
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (p *wireParams) need(name string, v *string) error {
	if v == nil {
		return BadRequest("missing params.%s", name)
	}
	if *v == "" && name != "title" {
		return BadRequest("params.%s must not be empty", name)
	}
	return nil
}

func (p *wireParams) input(lim Limits) (UserMessageInput, error) {
	var in UserMessageInput
	if p.Input == nil {
		return in, BadRequest("missing params.input")
	}
	if p.Input.Content == nil {
		return in, BadRequest("missing params.input.content")
	}
	size := 0
	in.Content = make([]UserContent, 0, len(*p.Input.Content))
	for i, c := range *p.Input.Content {
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
			size += len(uc.ID) + len(uc.Group)
			if c.Data != nil {
				b, _ := json.Marshal(c.Data)
				size += len(b)
			}
		default:
			return in, BadRequest("params.input.content[%d]: unknown content type %q", i, *c.Type)
		}
		size += len(uc.Text)
		in.Content = append(in.Content, uc)
	}
	in.Attachments = p.Input.Attachments
	if in.Attachments == nil {
		in.Attachments = []string{}
	}
	in.QuotedText = deref(p.Input.QuotedText)
	size += len(in.QuotedText)
	if p.Input.InferenceOptions != nil {
		in.InferenceOptions = *p.Input.InferenceOptions
	}
	if lim.MaxInputBytes > 0 && size > lim.MaxInputBytes {
		return in, Errorf(http.StatusRequestEntityTooLarge, "input_too_large",
			"the message is %d bytes; at most %d are accepted", size, lim.MaxInputBytes)
	}
	return in, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// jsonErr shortens decoding errors to what helps a client developer.
func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s must be %s, not %s", te.Field, te.Type.String(), te.Value)
		}
		return fmt.Sprintf("expected %s, not %s", te.Type.String(), te.Value)
	}
	return err.Error()
}
