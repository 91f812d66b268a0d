package chatkit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/intellistack/intellistack/internal/testutil"
)

// trickleBody posts to addr a body announced as 1000 bytes, sends one byte
// every 100 ms, and returns the response and how long it took to come.
// Exported to the external tests through export_test.go.
func trickleBody(t testing.TB, addr, path string, header http.Header) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hdr strings.Builder
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&hdr, "%s: %s\r\n", k, v)
		}
	}
	start := time.Now()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n%s\r\n{", path, hdr.String())
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to a trickled body after %v: %v", time.Since(start), err)
	}
	elapsed := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b, elapsed
}

// TestReadTimeout: a client trickling its body gets 408 once read_timeout
// has passed, although it never stalls long enough for an idle timeout.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	srv := httptest.NewServer(testHandler(t, db, &Echo{}, nil, func(h *Handler) { h.ReadTimeout = caddy.Duration(500 * time.Millisecond) }))
	defer srv.Close()
	resp, body, elapsed := trickleBody(t, srv.Listener.Addr().String(), "/chatkit", http.Header{"X-Test-User": {"u1"}})
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"request_timeout"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if elapsed < 500*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("answered after %v, want about 500ms", elapsed)
	}
	// A body that arrives in time is served, and the deadline is gone
	// afterwards: a stream longer than read_timeout is not cut.
	h := testHandler(t, db, &Echo{Delay: caddy.Duration(300 * time.Millisecond)}, nil, func(h *Handler) { h.ReadTimeout = caddy.Duration(500 * time.Millisecond) })
	srv2 := httptest.NewServer(h)
	defer srv2.Close()
	req, _ := http.NewRequest(http.MethodPost, srv2.URL, strings.NewReader(`{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"one two three four five"}],"attachments":[],"inference_options":{}}}}`))
	req.Header.Set("X-Test-User", "u1")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), `"text":"Echo: one two three four five"`) {
		t.Fatalf("a stream outliving read_timeout was cut: %s", b)
	}
}
