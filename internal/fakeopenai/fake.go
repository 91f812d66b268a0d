// Package fakeopenai is a test double of an OpenAI-compatible chat
// completions server. It speaks the real wire format (JSON requests, SSE
// chat.completion.chunk events, [DONE], error bodies) so the tutor is tested
// through the real openai-go client. Test code only.
package fakeopenai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Reply scripts how the server answers the next request.
type Reply struct {
	// Chunks are sent as content deltas, one SSE event each.
	Chunks []string
	// Delay is waited before each chunk (a slow model).
	Delay time.Duration
	// FirstDelay is waited once before the first chunk, on top of Delay:
	// a model's time to first token. With Delay it paces a realistic
	// stream (Delay = 1s / tokens per second).
	FirstDelay time.Duration
	// Status, when not 0 or 200, answers with this HTTP status and an
	// OpenAI error body instead of a stream.
	Status int
	// BreakAfter, when > 0, sends that many chunks and then an in-stream
	// error event (as OpenAI does on a server fault mid-reply).
	BreakAfter int
	// CutAfter, when > 0, sends that many chunks and then drops the
	// connection without a finish reason.
	CutAfter int
}

// Request is what the server received.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Stream      bool      `json:"stream"`
	Temperature *float64  `json:"temperature"`
	Auth        string    `json:"-"`
}

// Message is one prompt message as received.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Server is the fake; it answers every chat request with Default (set it
// with Answer).
type Server struct {
	*httptest.Server
	Default Reply

	mu               sync.Mutex
	requests         []Request
	embeddingsStatus int
	embeddingCalls   int
}

// New starts a fake server; close it with Close.
func New() *Server {
	s := &Server{Default: Reply{Chunks: []string{"What ", "do you ", "think?"}}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the value for `base_url`.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Answer makes r the answer to every request from now on.
func (s *Server) Answer(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Default = r
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the last request received.
func (s *Server) Last() (Request, bool) {
	reqs := s.Requests()
	if len(reqs) == 0 {
		return Request{}, false
	}
	return reqs[len(reqs)-1], true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/embeddings" {
		s.serveEmbeddings(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, "unknown path "+r.URL.Path)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	req.Auth = r.Header.Get("Authorization")
	s.mu.Lock()
	s.requests = append(s.requests, req)
	reply := s.Default
	s.mu.Unlock()

	if reply.Status != 0 && reply.Status != http.StatusOK {
		writeError(w, reply.Status, "scripted failure")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		flusher.Flush()
	}
	send(chunk(req.Model, map[string]any{"role": "assistant", "content": ""}, nil))
	if reply.FirstDelay > 0 {
		select {
		case <-time.After(reply.FirstDelay):
		case <-r.Context().Done():
			return
		}
	}
	for i, c := range reply.Chunks {
		if reply.BreakAfter > 0 && i == reply.BreakAfter {
			send(map[string]any{"error": map[string]any{"message": "The server had an error while processing your request.", "type": "server_error"}})
			return
		}
		if reply.CutAfter > 0 && i == reply.CutAfter {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return
		}
		if reply.Delay > 0 {
			select {
			case <-time.After(reply.Delay):
			case <-r.Context().Done():
				return
			}
		}
		send(chunk(req.Model, map[string]any{"content": c}, nil))
	}
	stop := "stop"
	send(chunk(req.Model, map[string]any{}, &stop))
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

func chunk(model string, delta map[string]any, finish *string) map[string]any {
	choice := map[string]any{"index": 0, "delta": delta, "finish_reason": nil}
	if finish != nil {
		choice["finish_reason"] = *finish
	}
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
		"model": model, "choices": []any{choice},
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": strings.ToLower(http.StatusText(status))},
	})
}
