package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/intellistack/intellistack/internal/apierror"
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

// BadRequest is a 400 invalid_request error in the platform's envelope.
func BadRequest(format string, args ...any) *apierror.Error {
	return apierror.New(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

// Request is a parsed request: the operation, its params as the
// operation's parser returned them, the raw metadata and the page context
// an integrator may put in metadata.page.
type Request struct {
	Type     string
	Params   any
	Metadata map[string]json.RawMessage
	// Page is metadata.page; nil when absent or null.
	Page *PageMetadata
}

// PageMetadata is metadata.page as an integrator sends it; nil fields were
// not sent. selection and selected_text are synonyms.
type PageMetadata struct {
	URL          *string  `json:"url"`
	Title        *string  `json:"title"`
	Headings     []string `json:"headings"`
	Selection    *string  `json:"selection"`
	SelectedText *string  `json:"selected_text"`
	Course       *string  `json:"course"`
	Stage        *string  `json:"stage"`
	Lesson       *string  `json:"lesson"`
}

// ParamsParser checks and converts the params of one operation.
type ParamsParser func(*Params) (any, error)

// ParseRequest is the one parser of a request body: chatkit_op classifies a
// request with it and the handler answers from its result, so the two cannot
// disagree on the operation. It refuses, with a 400 *apierror.Error,
// anything that is not one JSON object of valid UTF-8; a key repeated in any
// object; a key spelled like one the protocol defines but in another case;
// a top-level key other than type, params and metadata; an operation for
// which ops has no parser; and params the operation's parser refuses.
// Unknown keys inside params and metadata are ignored, as the reference
// server ignores them.
func ParseRequest(body []byte, ops func(op string) (ParamsParser, bool)) (*Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, BadRequest("the body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, BadRequest("the body is not valid UTF-8")
	}
	if err := checkKeys(body); err != nil {
		return nil, err
	}
	var env struct {
		Type     *string                    `json:"type"`
		Params   json.RawMessage            `json:"params"`
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, BadRequest("malformed JSON: %s", jsonErr(err))
	}
	if env.Type == nil {
		return nil, BadRequest("missing \"type\"")
	}
	op := *env.Type
	parse, ok := ops(op)
	if !ok {
		return nil, BadRequest("unknown operation %q", op)
	}
	if len(env.Params) == 0 || string(env.Params) == "null" {
		return nil, BadRequest("missing \"params\"")
	}
	if env.Params[0] != '{' {
		return nil, BadRequest("\"params\" must be an object")
	}
	var p Params
	if err := json.Unmarshal(env.Params, &p.w); err != nil {
		return nil, BadRequest("params: %s", jsonErr(err))
	}
	req := &Request{Type: op, Metadata: env.Metadata}
	if raw, ok := env.Metadata["page"]; ok && string(raw) != "null" {
		req.Page = new(PageMetadata)
		if err := json.Unmarshal(raw, req.Page); err != nil {
			return nil, BadRequest("metadata.page: %s", jsonErr(err))
		}
	}
	v, err := parse(&p)
	if err != nil {
		return nil, err
	}
	req.Params = v
	return req, nil
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
