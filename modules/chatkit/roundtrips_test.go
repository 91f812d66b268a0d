package chatkit

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// TestPostgresTurnRoundTrips counts what a turn sends to PostgreSQL, through
// a proxy that reads the client's side of the wire protocol: round trips
// (Sync and simple Query messages: each waits for the server) and
// statements (Execute and simple Query). The turn's writes are one
// statement each (storage_pg.go), so a threads.create or
// threads.add_user_message turn with the echo responder (no history) is
// two round trips. The figures are logged for docs/architecture.md.
func TestPostgresTurnRoundTrips(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct, err := store.Open(ctx, dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Migrate(ctx, direct) // takes more than one connection
	direct.Close()
	if err != nil {
		t.Fatal(err)
	}
	proxy := startWireCounter(t, dbURL)
	// One connection: each statement is prepared once, in the warm-up.
	db, err := store.Open(ctx, proxy.url+"&pool_max_conns=1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := testHandler(t, db, &Echo{}, nil, nil)
	thread := threadOf(t, frames(t, post(t, h, "u1", hiBody).Body.String()))
	add := `{"type":"threads.add_user_message","params":{"thread_id":"` + thread + `","input":{"content":[{"type":"input_text","text":"again"}],"attachments":[],"inference_options":{}}}}`
	turn := func(body string) {
		if w := post(t, h, "u1", body); w.Code != 200 || bytes.Contains(w.Body.Bytes(), []byte(`"type":"error"`)) {
			t.Fatalf("turn: %d %s", w.Code, w.Body)
		}
	}
	const warm, n = 5, 20
	for _, op := range []struct {
		name, body string
		maxTrips   int
	}{
		{"threads.create", hiBody, 2},
		{"threads.add_user_message", add, 2},
	} {
		for range warm {
			turn(op.body)
		}
		trips0, stmts0 := proxy.counts()
		for range n {
			turn(op.body)
		}
		trips1, stmts1 := proxy.counts()
		trips, stmts := float64(trips1-trips0)/n, float64(stmts1-stmts0)/n
		t.Logf("%s turn (echo): %.2f round trips, %.2f statements", op.name, trips, stmts)
		if trips > float64(op.maxTrips) {
			t.Errorf("%s: %.2f round trips per turn, want at most %d", op.name, trips, op.maxTrips)
		}
	}
}

// wireCounter is a TCP proxy in front of PostgreSQL that counts the
// client's messages by type.
type wireCounter struct {
	url string

	upstream string

	mu           sync.Mutex
	trips, stmts int
}

// startWireCounter proxies the server of dbURL and returns the counter with
// dbURL pointed at the proxy (sslmode=disable: the proxy reads plain text).
func startWireCounter(t *testing.T, dbURL string) *wireCounter {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &wireCounter{upstream: u.Host}
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	c.url = u.String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *wireCounter) counts() (trips, stmts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trips, c.stmts
}

func (c *wireCounter) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", c.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server); client.Close() }()
	// The startup message has no type byte; SSL and GSS encryption
	// requests (refused with sslmode=disable) precede it.
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(client, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		rest := make([]byte, n-8)
		if _, err := io.ReadFull(client, rest); err != nil {
			return
		}
		if _, err := server.Write(append(hdr[:], rest...)); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(hdr[4:])
		if code != 80877103 && code != 80877104 { // SSLRequest, GSSENCRequest
			break
		}
	}
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(client, hdr[:]); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint32(hdr[1:]))-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		c.mu.Lock()
		switch hdr[0] {
		case 'S': // Sync: the end of an extended-protocol exchange
			c.trips++
		case 'E': // Execute
			c.stmts++
		case 'Q': // simple query; pgx pings a connection idle for a second with "-- ping"
			if !bytes.HasPrefix(body, []byte("-- ping")) {
				c.trips++
				c.stmts++
			}
		}
		c.mu.Unlock()
		if _, err := server.Write(append(hdr[:], body...)); err != nil {
			return
		}
	}
}
