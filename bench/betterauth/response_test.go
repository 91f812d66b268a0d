package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadResponse reads net/http's own answers, sized, chunked (with a
// flush between writes) and closing, on one keep-alive connection, so a
// mistake in the generator's parser shows as a wrong status or a stuck or
// desynchronised connection rather than as a faster benchmark.
func TestReadResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "5")
			_, _ = w.Write([]byte("hello"))
		case "/chunked":
			_, _ = w.Write([]byte(strings.Repeat("a", 100)))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(strings.Repeat("b", 5000)))
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
		status int
		closed bool
	}{{"/sized", 200, false}, {"/chunked", 200, false}, {"/missing", 404, false}, {"/sized", 200, false}, {"/close", 200, true}} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", c.path)
		status, closed, err := readResponse(br)
		if err != nil || status != c.status || closed != c.closed {
			t.Fatalf("%s: status %d closed %v err %v, want %d %v", c.path, status, closed, err, c.status, c.closed)
		}
	}
}
