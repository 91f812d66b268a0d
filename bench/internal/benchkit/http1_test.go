package benchkit

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadResponses reads net/http's own answers, sized, chunked (with a
// flush between writes, so the body spans chunks) and closing, on one
// keep-alive connection: a mistake in the generators' parser shows as a
// wrong status or body, or a desynchronised connection, rather than as a
// faster benchmark.
func TestReadResponses(t *testing.T) {
	long := strings.Repeat("a", 100) + strings.Repeat("b", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "5")
			_, _ = w.Write([]byte("hello"))
		case "/chunked":
			_, _ = w.Write([]byte(long[:100]))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(long[100:]))
		case "/missing":
			http.NotFound(w, r)
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, c := range []struct {
		path   string
		keep   bool
		status int
		body   string
		closed bool
	}{
		{"/sized", true, 200, "hello", false},
		{"/chunked", true, 200, long, false},
		{"/chunked", false, 200, "", false},
		{"/missing", false, 404, "", false},
		{"/sized", false, 200, "", false},
		{"/close", true, 200, "bye", true},
	} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", c.path)
		h, err := ReadHead(br)
		if err != nil || h.Status != c.status || h.Close != c.closed {
			t.Fatalf("%s: head %+v, %v; want status %d, close %v", c.path, h, err, c.status, c.closed)
		}
		var body []byte
		dst := &body
		if !c.keep {
			dst = nil
		}
		if err := ReadBody(br, h, dst); err != nil || string(body) != c.body {
			t.Fatalf("%s: body %.40q (%d bytes), %v; want %.40q (%d bytes)", c.path, body, len(body), err, c.body, len(c.body))
		}
	}
}
