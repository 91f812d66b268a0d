package protocol

import (
	"encoding/json"
	"net/http"
)

// SSEWriter writes stream events with the reference framing: "data: " +
// one compact JSON object + "\n\n" per event, nothing else, flushed at once.
type SSEWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

// StartSSE sends the status and headers and flushes them, so the client
// (and any encoder in front, such as Caddy's `encode`) commits to a stream
// before the first event.
func StartSSE(w http.ResponseWriter) (*SSEWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &SSEWriter{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 512)}
	return s, s.rc.Flush()
}

// Write sends one event and flushes it.
func (s *SSEWriter) Write(ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	s.buf = append(s.buf[:0], "data: "...)
	s.buf = append(s.buf, b...)
	s.buf = append(s.buf, '\n', '\n')
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.rc.Flush()
}
