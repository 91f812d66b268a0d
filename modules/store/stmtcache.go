package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// maxCachedStatements bounds the statement cache: statements built at run
// time (an IN list of varying length) would otherwise grow it forever. Past
// the bound, statements are prepared per call as before.
const maxCachedStatements = 512

// stmtCache keeps one prepared statement per query text on SQLite, where
// parsing and planning a small statement costs more than running it (the
// pure-Go SQLite prepares every unprepared Exec and Query anew). database/sql
// prepares a cached statement once per connection, lazily, and reuses it
// inside transactions through Tx.StmtContext. PostgreSQL needs none: pgx
// caches prepared statements per connection itself.
type stmtCache struct {
	db *sql.DB
	m  sync.Map // query → *sql.Stmt
	n  atomic.Int32
}

// get returns the prepared statement for query, or nil when it cannot be
// cached (several statements in one string, the cache is full, or the
// statement does not prepare: the caller then runs it unprepared and reports
// the driver's own error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if s, ok := c.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStatements || strings.Contains(query, ";") {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := c.m.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return s
}

// close closes every cached statement.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.m.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}

// writeGate lets one writer at a time into an SQLite database in this
// process. SQLite allows one writer per file anyway; without the gate the
// writers that lose the race sleep in SQLite's busy handler (1, 2, 5, 10…
// ms steps) and a burst of writes turns into a tail of tens of milliseconds.
// Waiters on a full channel are served in arrival order. nil (PostgreSQL)
// lets everyone through.
type writeGate chan struct{}

func (g writeGate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g writeGate) leave() {
	if g != nil {
		<-g
	}
}
