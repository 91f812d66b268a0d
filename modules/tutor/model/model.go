// Package model is the interface between the tutor and a language model. It
// is Caddy-free; guests in the intellistack.models namespace implement it.
package model

import (
	"context"
	"errors"
)

// Role is who speaks a message.
type Role string

// The roles of a chat prompt.
const (
	System    Role = "system"
	User      Role = "user"
	Assistant Role = "assistant"
)

// Message is one message of a chat prompt.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content"`
}

// Request is what the tutor sends.
type Request struct {
	Messages []Message
}

// Model streams a chat completion. Stream calls onDelta with each piece of
// text in order; an error from onDelta stops the stream and is returned.
//
// Errors: one wrapping ErrUnavailable means the model produced nothing (it
// could not be reached, refused the request, or timed out before its first
// token), so the tutor may fall back to its retrieval-only mode; any other
// error came after some text was delivered.
type Model interface {
	Stream(ctx context.Context, req Request, onDelta func(string) error) error
}

// ErrUnavailable marks a model failure before any text was produced.
var ErrUnavailable = errors.New("model unavailable")

// ErrorKind names a model failure from a fixed set, for metrics and logs:
// what an operator acts on differs (a network or DNS fault, a slow model, a
// refusal by the server, a reply broken off).
type ErrorKind string

// The kinds of model failure.
const (
	// KindUnreachable: no answer at all (connection refused, DNS, TLS).
	KindUnreachable ErrorKind = "unreachable"
	// KindTimeout: no first token within first_token_timeout.
	KindTimeout ErrorKind = "timeout"
	// KindStatus: the server answered with an HTTP error status.
	KindStatus ErrorKind = "status"
	// KindStream: the stream began and then broke off (or ended without a
	// finish reason).
	KindStream ErrorKind = "stream"
)

// Error is a model failure with its kind. One that came before any text
// (Partial false) is ErrUnavailable for errors.Is.
type Error struct {
	Kind ErrorKind
	// Partial reports that some text was delivered before the failure.
	Partial bool
	// Msg describes the failure without the request body or API key.
	Msg string
}

func (e *Error) Error() string {
	if e.Partial {
		return "model stream broke: " + e.Msg
	}
	return ErrUnavailable.Error() + ": " + e.Msg
}

// Is makes a failure before any text ErrUnavailable.
func (e *Error) Is(target error) bool { return target == ErrUnavailable && !e.Partial }

// KindOf returns the kind of a model failure: the *Error's own, else
// unreachable for an ErrUnavailable without one and stream for any other
// error (a model that does not classify its failures).
func KindOf(err error) ErrorKind {
	var me *Error
	switch {
	case errors.As(err, &me):
		return me.Kind
	case errors.Is(err, ErrUnavailable):
		return KindUnreachable
	}
	return KindStream
}
