package protocol

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// SSEWriter writes stream events with the reference framing: "data: " +
// one compact JSON object + "\n\n" per event, nothing else.
//
// Events are handed to the connection by a flusher goroutine, which runs
// while frames are waiting: a frame goes out as soon as the connection is
// free, and frames written while the previous write was in flight (a
// responder that emits several events back to back, or a busy machine) go
// out together in one write and one flush instead of one system call each.
// An event written before a responder waits (for the model) is on the wire
// without waiting for another. Close must be called before the handler
// returns.
//
// The end of a turn is the exception (Linger, Tail): a finished item is
// usually the responder's last event, and what follows it (a new title,
// the end of the body) comes once the turn is stored; held back briefly,
// they leave in one write with the end of the chunked body instead of
// three (issue 16: writes were a quarter of a stream's CPU).
type SSEWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	mu       sync.Mutex
	idle     sync.Cond // signalled when the flusher stops
	pending  []byte    // frames not yet handed to the connection
	spare    []byte
	flushing bool  // a flusher goroutine is running
	headers  bool  // the headers still have to be flushed
	err      error // the first write or flush failure
	held     bool  // pending frames wait (Linger, Tail) instead of starting the flusher
	tail     bool  // held until Close
	linger   *time.Timer

	enc     []byte // encoding buffer, used by the writer's goroutine only
	scratch []byte
}

// StartSSE sends the status and headers; the flusher flushes them at once,
// so the client (and any encoder in front, such as Caddy's `encode`)
// commits to a stream before the first event, and the first events may
// share their write. The error is that of an earlier design and always nil;
// failures are reported by Write and Close.
func StartSSE(w http.ResponseWriter) (*SSEWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &SSEWriter{w: w, rc: http.NewResponseController(w), enc: make([]byte, 0, 512)}
	if b, ok := frameBufs.Get().(*sseBufs); ok {
		s.pending, s.spare = b.pending[:0], b.spare[:0]
	}
	s.idle.L = &s.mu
	s.mu.Lock()
	s.headers = true
	s.startLocked()
	s.mu.Unlock()
	return s, nil
}

// Write queues one event for the connection. It returns the failure of an
// earlier write (the client has gone), if any. The events of a streamed
// text reply are encoded without reflection (appendJSON); the output is
// the same bytes json.Marshal writes.
func (s *SSEWriter) Write(ev Event) error {
	if a, ok := ev.(jsonAppender); ok {
		if b, ok := a.appendJSON(s.enc[:0]); ok {
			s.enc = b
			return s.queue(b)
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return s.queue(b)
}

// Scratch returns an empty buffer the caller may build an event in and
// pass to WriteJSON, to save an allocation per event.
func (s *SSEWriter) Scratch() []byte { return s.scratch[:0] }

// WriteJSON queues one event already encoded as a JSON object.
func (s *SSEWriter) WriteJSON(event []byte) error {
	err := s.queue(event)
	s.scratch = event[:0]
	return err
}

func (s *SSEWriter) queue(event []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.appendFrame(event)
	if s.held && !s.tail {
		// Another event: the lingering ones go with it, now.
		s.held = false
		s.linger.Stop()
	}
	if !s.held {
		s.startLocked()
	}
	return nil
}

func (s *SSEWriter) appendFrame(event []byte) {
	s.pending = append(s.pending, "data: "...)
	s.pending = append(s.pending, event...)
	s.pending = append(s.pending, '\n', '\n')
}

// Linger queues one event already encoded as a JSON object, like
// WriteJSON, but lets it (and what is pending) wait up to d for the next
// event or Close to share its write; the next event ends the wait. A
// responder that goes on working after it still has it on the wire
// within d.
func (s *SSEWriter) Linger(event []byte, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scratch = event[:0]
	if s.err != nil {
		return s.err
	}
	s.appendFrame(event)
	switch {
	case s.held:
		// Already waiting (for an earlier linger's deadline, or Close).
	case s.flushing:
		// The flusher is writing: it takes this frame next.
	default:
		s.held = true
		if s.linger == nil {
			s.linger = time.AfterFunc(d, s.endLinger)
		} else {
			s.linger.Reset(d)
		}
	}
	return nil
}

func (s *SSEWriter) endLinger() {
	s.mu.Lock()
	if s.held && !s.tail {
		s.held = false
		s.startLocked()
	}
	s.mu.Unlock()
}

// Tail holds every event queued from now on until Close, which hands
// them to the connection without a flush of their own: the server's
// end of the response flushes them with the end of the body.
func (s *SSEWriter) Tail() {
	s.mu.Lock()
	s.held, s.tail = true, true
	s.mu.Unlock()
}

func (s *SSEWriter) startLocked() {
	if !s.flushing {
		s.flushing = true
		go s.flush()
	}
}

// flush writes and flushes what is pending until nothing is.
func (s *SSEWriter) flush() {
	s.mu.Lock()
	for s.err == nil && ((len(s.pending) > 0 && !s.held) || s.headers) {
		buf := s.pending
		s.pending, s.headers = s.spare[:0], false
		s.mu.Unlock()
		var err error
		if len(buf) > 0 {
			_, err = s.w.Write(buf)
		}
		if err == nil {
			err = s.rc.Flush()
		}
		s.mu.Lock()
		s.spare = buf[:0]
		if err != nil && s.err == nil {
			s.err = err
		}
	}
	s.flushing = false
	s.idle.Broadcast()
	s.mu.Unlock()
}

// Close waits until every queued event is written, and flushed unless it
// was held (those the end of the response flushes), and returns the first
// failure. The writer must not be used afterwards.
func (s *SSEWriter) Close() error {
	s.mu.Lock()
	if s.linger != nil {
		s.linger.Stop()
	}
	s.held = true // a timer that fired meanwhile starts nothing now
	s.tail = true
	for s.flushing {
		s.idle.Wait()
	}
	if s.err == nil && len(s.pending) > 0 {
		// Held frames: no flush here, the end of the response flushes
		// them with the end of the body in one write.
		_, s.err = s.w.Write(s.pending)
	}
	err := s.err
	// The frame buffers go to the next stream (no flusher holds them now):
	// growing them anew was a sixth of a turn's allocated bytes (issue 16).
	if cap(s.pending)+cap(s.spare) <= maxPooledFrames {
		frameBufs.Put(&sseBufs{pending: s.pending[:0], spare: s.spare[:0]})
	}
	s.pending, s.spare = nil, nil
	s.mu.Unlock()
	return err
}

// sseBufs are a closed writer's frame buffers, kept for the next stream.
type sseBufs struct{ pending, spare []byte }

var frameBufs sync.Pool

// maxPooledFrames bounds the buffers kept: a stream that queued a long
// reply at once does not pin its memory.
const maxPooledFrames = 64 << 10
