package oidc

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// A client that trickles its form body to the token endpoint gets 408 (or
// its connection closed) once formReadTimeout has passed, instead of
// holding the connection and the handler for as long as it likes.
func TestSlowFormBodyIsCutOff(t *testing.T) {
	old := formReadTimeout
	formReadTimeout = 500 * time.Millisecond
	defer func() { formReadTimeout = old }()
	c, _ := startProvider(t, testutil.SQLitePath(t), "")
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/sign-in"} {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.HTTPSPort), &tls.Config{ServerName: "localhost",
			InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) // the test's own Caddy
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\ngrant_type=", path)
		start := time.Now()
		stop := make(chan struct{})
		go func() { // one byte every 100 ms: 400 s for the whole body
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := conn.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		close(stop)
		elapsed := time.Since(start)
		switch {
		case err == nil:
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("%s: status %d after %s", path, resp.StatusCode, elapsed)
			}
		case elapsed > 4*time.Second:
			t.Fatalf("%s: still held after %s: %v", path, elapsed, err)
		}
		conn.Close()
		if elapsed > 3*time.Second {
			t.Fatalf("%s: answered only after %s", path, elapsed)
		}
	}
}
