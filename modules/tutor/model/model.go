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
