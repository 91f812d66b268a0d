package protocol

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog is a ResponseWriter that records each Write and Flush in order,
// as the connection would see them.
type writeLog struct {
	mu     sync.Mutex
	header http.Header
	ops    []string // "w:<bytes>" or "flush"
}

func (l *writeLog) Header() http.Header { return l.header }
func (l *writeLog) WriteHeader(int)     {}
func (l *writeLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, "w:"+string(b))
	return len(b), nil
}
func (l *writeLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, "flush")
}
func (l *writeLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ops...)
}

// waitFor polls until cond holds for the log, or fails after a second.
func (l *writeLog) waitFor(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		ops := l.snapshot()
		if cond(ops) {
			return ops
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: writes %q", what, ops)
		}
	}
}

func startLogged(t *testing.T) (*SSEWriter, *writeLog) {
	t.Helper()
	l := &writeLog{header: http.Header{}}
	s, err := StartSSE(l)
	if err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "headers flushed", func(ops []string) bool { return len(ops) == 1 && ops[0] == "flush" })
	return s, l
}

func TestSSELingerLeavesWithTheNextEvent(t *testing.T) {
	t.Parallel()
	s, l := startLogged(t)
	_ = s.Linger([]byte(`{"n":1}`), time.Hour)
	time.Sleep(20 * time.Millisecond)
	if ops := l.snapshot(); len(ops) != 1 {
		t.Fatalf("a lingering event was written at once: %q", ops)
	}
	_ = s.WriteJSON([]byte(`{"n":2}`))
	l.waitFor(t, "both events in one write", func(ops []string) bool {
		return len(ops) == 3 && ops[1] == "w:data: {\"n\":1}\n\ndata: {\"n\":2}\n\n" && ops[2] == "flush"
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSSELingerIsBounded(t *testing.T) {
	t.Parallel()
	s, l := startLogged(t)
	_ = s.Linger([]byte(`{"n":1}`), 5*time.Millisecond)
	// A responder that goes on working: the event leaves on its own.
	l.waitFor(t, "the lingering event written and flushed", func(ops []string) bool {
		return len(ops) == 3 && ops[1] == "w:data: {\"n\":1}\n\n" && ops[2] == "flush"
	})
	// The writer lingers again after that.
	_ = s.Linger([]byte(`{"n":2}`), time.Hour)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ops := l.snapshot(); len(ops) != 4 || ops[3] != "w:data: {\"n\":2}\n\n" {
		t.Fatalf("Close did not write the second lingering event unflushed: %q", ops)
	}
}

func TestSSETailWaitsForClose(t *testing.T) {
	t.Parallel()
	s, l := startLogged(t)
	_ = s.Linger([]byte(`{"n":1}`), time.Hour)
	s.Tail()
	_ = s.Write(ProgressUpdate{Text: "x"})
	_ = s.WriteJSON([]byte(`{"n":3}`))
	time.Sleep(20 * time.Millisecond)
	if ops := l.snapshot(); len(ops) != 1 {
		t.Fatalf("tail events written before Close: %q", ops)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// One write, no flush: the end of the response flushes it with the
	// end of the body.
	want := "w:data: {\"n\":1}\n\ndata: {\"type\":\"progress_update\",\"text\":\"x\"}\n\ndata: {\"n\":3}\n\n"
	if ops := l.snapshot(); len(ops) != 2 || ops[1] != want {
		t.Fatalf("got %q", ops)
	}
	if strings.Count(strings.Join(l.snapshot(), ""), "data:") != 3 {
		t.Fatal("an event was written twice")
	}
}
