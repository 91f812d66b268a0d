package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intellistack/intellistack/modules/store"
)

// Unavailable tells a database that cannot serve now (503) from a bug or
// bad input (500 or 4xx).
func TestUnavailable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("chatkit: listing threads: %w", err) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"not ready", wrap(store.ErrNotReady), true},
		{"deadline", wrap(context.DeadlineExceeded), true},
		{"connect", wrap(&pgconn.ConnectError{}), true},
		{"admin shutdown", wrap(&pgconn.PgError{Code: "57P01"}), true},
		{"starting up", wrap(&pgconn.PgError{Code: "57P03"}), true},
		{"too many connections", wrap(&pgconn.PgError{Code: "53300"}), true},
		{"disk full", wrap(&pgconn.PgError{Code: "53100"}), true},
		{"connection failure", wrap(&pgconn.PgError{Code: "08006"}), true},
		{"unique violation", wrap(&pgconn.PgError{Code: "23505"}), false},
		{"syntax error", wrap(&pgconn.PgError{Code: "42601"}), false},
		{"socket", wrap(&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}), true},
		{"conn closed", errors.New("conn closed"), true},
	} {
		if got := store.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// An SQLite write refused by the file (read-only here; a full disk gives
// SQLITE_FULL, a failing one SQLITE_IOERR) is unavailable; a constraint is
// not.
func TestUnavailableSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	rw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Exec("CREATE TABLE t (x INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	_, err = rw.Exec("INSERT INTO t VALUES (1), (1)")
	if err == nil || store.Unavailable(err) {
		t.Fatalf("constraint violation: Unavailable(%v) = true", err)
	}
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.Exec("INSERT INTO t VALUES (2)")
	if err == nil || !store.Unavailable(err) {
		t.Fatalf("read-only file: Unavailable(%v) = false", err)
	}
}
