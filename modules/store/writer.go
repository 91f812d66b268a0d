package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
)

// writer is the SQLite connection InTx runs its transactions on, held out
// of the pool by whoever holds the write gate (issue 16). One connection
// for every transaction of this process, because:
//   - BEGIN IMMEDIATE, COMMIT and ROLLBACK are statements prepared once on
//     it; through database/sql's Tx the driver prepared and finalized each
//     one anew, and database/sql took a pooled connection and started a
//     goroutine per transaction;
//   - the statements of a transaction are prepared on it once, without
//     database/sql's per-transaction rebinding (Tx.StmtContext);
//   - its page cache stays valid from one transaction to the next: SQLite
//     drops a connection's cache when another connection has written, and
//     with the pool every transaction found one that had not.
//
// Only the holder of the write gate uses it. A failed BEGIN, COMMIT or
// ROLLBACK closes it (its state is unknown); the next transaction opens
// another.
type writer struct {
	conn                    *sql.Conn
	begin, commit, rollback *sql.Stmt
	stmts                   map[string]*sql.Stmt // query → statement prepared on conn
}

// writerConn returns the writer, opening it first if needed. The caller
// holds the write gate.
func (db *DB) writerConn(ctx context.Context) (*writer, error) {
	if db.w != nil {
		return db.w, nil
	}
	pool := db.writeDB
	if pool == nil {
		pool = db.sql
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{conn: conn, stmts: map[string]*sql.Stmt{}}
	for _, p := range []struct {
		s   **sql.Stmt
		sql string
	}{{&w.begin, "BEGIN IMMEDIATE"}, {&w.commit, "COMMIT"}, {&w.rollback, "ROLLBACK"}} {
		if *p.s, err = conn.PrepareContext(ctx, p.sql); err != nil {
			w.discard()
			return nil, err
		}
	}
	db.w = w
	return w, nil
}

// dropWriter closes the writer after a failure that leaves its state
// unknown; the caller holds the write gate.
func (db *DB) dropWriter() {
	if db.w != nil {
		db.w.discard()
		db.w = nil
	}
}

// discard closes the writer's statements and its connection, which does not
// go back to the pool.
func (w *writer) discard() {
	for _, s := range w.stmts {
		s.Close()
	}
	for _, s := range []*sql.Stmt{w.begin, w.commit, w.rollback} {
		if s != nil {
			s.Close()
		}
	}
	_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
}

// stmt returns query prepared on the writer's connection, or nil when it is
// not to be prepared (see stmtCache.get: several statements in one string,
// too many statements, or one that does not prepare).
func (w *writer) stmt(ctx context.Context, query string) *sql.Stmt {
	if s, ok := w.stmts[query]; ok {
		return s
	}
	if len(w.stmts) >= maxCachedStatements || strings.Contains(query, ";") {
		return nil
	}
	s, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	w.stmts[query] = s
	return s
}

// inWriterTx is InTx on SQLite: fn runs in a transaction on the writer.
// Statements, BEGIN and COMMIT run to their end (see stmtCtx); ctx is
// checked before each statement and before the commit, and a done ctx
// rolls the transaction back. BEGIN IMMEDIATE waits only for other
// processes' writers (the write gate queues this one's), for at most
// busy_timeout.
func (db *DB) inWriterTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if err := db.writers.enter(ctx); err != nil {
		return err
	}
	defer db.writers.leave()
	w, err := db.writerConn(ctx)
	if err != nil {
		return err
	}
	run := context.WithoutCancel(ctx)
	if _, err := w.begin.ExecContext(run); err != nil {
		db.dropWriter()
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		if _, rerr := w.rollback.ExecContext(run); rerr != nil {
			// After a failed COMMIT SQLite may have rolled back already;
			// either way the connection's state is unknown.
			db.dropWriter()
		}
	}()
	if err = fn(&Tx{dialect: SQLite, w: w}); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if _, err = w.commit.ExecContext(run); err != nil {
		return err
	}
	committed = true
	return nil
}
