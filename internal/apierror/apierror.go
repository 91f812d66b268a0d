// Package apierror writes every JSON error body the modules send, in one of
// two envelopes:
//
//   - the platform's own errors (request_quota, bearer_jwt, chatkit, the
//     provider's JSON APIs):
//
//     {"error": {"code": "rate_limited", "message": "…", …details}}
//
//   - OAuth 2.0 protocol errors (the provider's token, revocation,
//     introspection and userinfo endpoints), whose shape RFC 6749 §5.2 fixes:
//
//     {"error": "invalid_grant", "error_description": "…"}
//
// Both carry Content-Type application/json and Cache-Control no-store
// (RFC 6749 §5.1 asks it of token responses; an error about a user's quota
// or thread is no more cacheable).
//
// Handlers write these bodies themselves and return nil, so a client gets
// JSON whether or not the operator configured handle_errors; the errors a
// handler returns to Caddy instead (caddyhttp.Error) are the ones
// handle_errors sees. Which is which is listed in docs/architecture.md.
package apierror

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Error is a platform error: a stable machine-readable code, a message a
// client can show, and optional extra members of the error object.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details are further members of the error object (for example limit,
	// window, retry_after). They never override code or message.
	Details map[string]any
}

// New builds an Error.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// With returns e with one more detail member.
func (e *Error) With(key string, value any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = value
	return e
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// MarshalJSON writes the error object (without the envelope): code and
// message first, then the details in key order.
func (e *Error) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString(`{"code":`)
	writeString(&b, e.Code)
	b.WriteString(`,"message":`)
	writeString(&b, e.Message)
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		if k != "code" && k != "message" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := json.Marshal(e.Details[k])
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		writeString(&b, k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func writeString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// Body is the enveloped JSON: {"error": {…}}.
func (e *Error) Body() []byte {
	inner, err := e.MarshalJSON()
	if err != nil { // a detail that cannot be encoded: drop the details
		inner, _ = (&Error{Code: e.Code, Message: e.Message}).MarshalJSON()
	}
	return append(append([]byte(`{"error":`), inner...), '}', '\n')
}

// Write sends e with its status (400 when unset).
func (e *Error) Write(w http.ResponseWriter) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	WriteRaw(w, status, e.Body())
}

// OAuth is an OAuth 2.0 error response (RFC 6749 §5.2, RFC 6750 §3.1,
// RFC 7009 §2.2.1, OpenID Connect Core §3.1.2.6).
type OAuth struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// NewOAuth builds an OAuth error; the description is cleaned to the
// characters RFC 6749 §5.2 allows in error_description.
func NewOAuth(status int, code, description string) *OAuth {
	return &OAuth{Status: status, Code: code, Description: CleanDescription(description)}
}

func (e *OAuth) Error() string { return e.Code + ": " + e.Description }

// Write sends e with its status (400 when unset).
func (e *OAuth) Write(w http.ResponseWriter) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	JSON(w, status, e)
}

// CleanDescription keeps only the characters RFC 6749 §5.2 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E), so a description is safe
// in a redirect, a JSON body and a WWW-Authenticate header.
func CleanDescription(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
}

// JSON writes v as a JSON response with status and the no-store headers.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		New(http.StatusInternalServerError, "internal", "internal error").Write(w)
		return
	}
	WriteRaw(w, status, append(b, '\n'))
}

// WriteRaw writes an already encoded JSON body with status and the no-store
// headers. Write errors are ignored: the status is out, and the client has
// gone.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
