// Package responder is the contract between the chatkit handler and the
// modules that write replies (guest modules in the `intellistack.responders`
// namespace, such as the tutor). It is free of Caddy so that responders can be
// written and tested without it.
//
// The handler calls Respond once per turn, after it has stored and streamed
// the user's message and sent stream_options. The responder streams its reply
// through the Stream; the handler stores items as their done events pass,
// keeps pending ones for cancellation, and turns a returned error into an
// error event. Respond must stop promptly when ctx ends: that is how a client
// disconnect, max_stream_duration or server shutdown reaches the model call.
package responder

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// Responder writes the assistant's side of a turn.
type Responder interface {
	Respond(ctx context.Context, req *Request, s Stream) error
}

// ActionHandler is implemented by responders that handle widget actions
// (threads.custom_action). Without it the handler refuses the operation.
type ActionHandler interface {
	HandleAction(ctx context.Context, req *Request, action protocol.Action, itemID string, s Stream) error
}

// HistorySizer is implemented by responders that read fewer items of
// Request.History than the handler's history_items, or none at all: the
// handler then loads only HistoryItems() of them (never more than
// history_items), and none for 0. Loading and decoding history is most of a
// turn's database work, so a responder that does not use it should say so.
type HistorySizer interface {
	HistoryItems() int
}

// Request is what a responder knows about the turn.
type Request struct {
	// ThreadID and Title identify the thread (Title may be empty).
	ThreadID string
	Title    string
	// History holds the thread's most recent items before Input, oldest
	// first, hidden context items included (they are for the model).
	History []protocol.Item
	// Input is the new user message; nil when the turn continues after a
	// client tool call (History then ends with the completed call).
	Input *protocol.UserMessageItem
	// Retry is true when the user asked to regenerate the reply to Input.
	Retry bool
	// User is the authenticated user.
	User User
	// Page is where the user is: sent with this message, or, when the
	// message carried none, recorded when the thread was started.
	Page PageContext
	// Locale is the client's Accept-Language.
	Locale string
}

// User is the authenticated identity, as the authentication handler in
// front of chatkit established it (a validated token's claims, never the
// client's say).
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	// Roles are the user's roles, in the credential's order, without
	// duplicates.
	Roles []string
	// Claims looks up a custom claim the authentication handler passed on
	// (for example a token's stage claim); nil means none.
	Claims func(name string) (string, bool)
}

// HasRole reports whether the user holds at least one of roles.
func (u User) HasRole(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(u.Roles, r) {
			return true
		}
	}
	return false
}

// Claim returns a custom claim as a string (a JSON string unquoted, any
// other value as its JSON text); ok is false when it is absent.
func (u User) Claim(name string) (string, bool) {
	if u.Claims == nil {
		return "", false
	}
	return u.Claims(name)
}

// PageContext is the page the student is on, from request metadata or
// headers, size-capped by the handler. Identity never comes from here.
type PageContext struct {
	URL       string   `json:"url,omitempty"`
	Title     string   `json:"title,omitempty"`
	Headings  []string `json:"headings,omitempty"`
	Selection string   `json:"selection,omitempty"`
	Course    string   `json:"course,omitempty"`
	Stage     string   `json:"stage,omitempty"`
	Lesson    string   `json:"lesson,omitempty"`
}

// Empty reports whether nothing is known about the page.
func (p PageContext) Empty() bool {
	return p.URL == "" && p.Title == "" && len(p.Headings) == 0 && p.Selection == "" &&
		p.Course == "" && p.Stage == "" && p.Lesson == ""
}

// Stream is where a responder sends its events.
type Stream interface {
	// Emit sends one event (thread.item.added/updated/done/removed/replaced,
	// progress_update, client_effect, notice). It returns an error when the
	// client is gone or the stream is over; the responder should then return.
	Emit(ev protocol.Event) error
	// NewItemID returns a fresh item id, unique in the thread ("msg", "tc"…).
	NewItemID(prefix string) string
	// Now is the handler's clock, for item timestamps.
	Now() time.Time
	// ThreadID is the thread being answered.
	ThreadID() string
	// SetTitle renames the thread; the handler stores it and announces it
	// with thread.updated.
	SetTitle(title string)
}

// TurnReport is what a responder tells the handler about a turn, for the
// turn's log line: values from small fixed sets, never message text.
type TurnReport struct {
	// Mode is how the answer was made (the tutor: "model" or
	// "retrieval_only"); empty when no answer was given in full.
	Mode string
	// ErrorKind names the failure of the responder's backend, if any (the
	// tutor: the model's "unreachable", "timeout", "status" or "stream").
	ErrorKind string
}

// TurnReporter is implemented by the handler's Stream: a responder may call
// ReportTurn (once, before it returns) to add its report to the turn's log
// line.
type TurnReporter interface {
	ReportTurn(TurnReport)
}

// UserError is an error whose message is shown to the user (an error event
// with code "custom"). Any other error becomes code "stream.error" with
// allow_retry true, and its text is only logged.
type UserError struct {
	Message    string
	AllowRetry bool
}

func (e *UserError) Error() string { return e.Message }

// AsUserError finds a *UserError in err's chain.
func AsUserError(err error) (*UserError, bool) {
	var ue *UserError
	ok := errors.As(err, &ue)
	return ue, ok
}
