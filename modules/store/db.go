package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is the handle every module uses. It wraps database/sql for both dialects
// so that a module writes its SQL once, with '?' placeholders, where SQLite
// and PostgreSQL agree; Dialect tells it where they do not.
//
// A DB is shared by every module and every config generation: never Close it.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	pool    *pgxpool.Pool // PostgreSQL only
	stmts   *stmtCache    // SQLite only
	writers writeGate     // SQLite only
	w       *writer       // SQLite only: InTx's connection, used under writers
	writeDB *sql.DB       // SQLite only: the one-connection pool w comes from
	shared  sync.Map      // Shared's values
}

// Shared returns the value kept under key for as long as this handle
// lives, making it with newValue the first time (callers that race may
// each make one; one is kept, so newValue must not start anything that
// needs stopping). Modules keep there what must be one per database rather
// than one per config generation or per request (a batcher of reads, say).
// key should be a type of the caller's own package, as with context keys.
func (db *DB) Shared(key any, newValue func() any) any {
	if v, ok := db.shared.Load(key); ok {
		return v
	}
	v, _ := db.shared.LoadOrStore(key, newValue())
	return v
}

// Dialect reports which SQL dialect the database speaks.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the underlying database/sql handle. Queries sent through it are
// not rebound: use '$1' on PostgreSQL.
func (db *DB) SQL() *sql.DB { return db.sql }

// Pool returns the pgx pool on PostgreSQL (for COPY, LISTEN or batches) and
// nil on SQLite.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Rebind rewrites '?' placeholders for the dialect: '$1', '$2'… on PostgreSQL.
// Question marks inside quoted strings and identifiers are left alone.
func (db *DB) Rebind(query string) string { return rebind(db.dialect, query) }

// Exec runs a statement written with '?' placeholders. On SQLite it waits
// for the in-process write gate (see writeGate).
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := db.writers.enter(ctx); err != nil {
		return nil, err
	}
	defer db.writers.leave()
	if s := db.stmts.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return db.sql.ExecContext(ctx, db.Rebind(query), args...)
}

// Query runs a query written with '?' placeholders.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.stmts.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.sql.QueryContext(ctx, db.Rebind(query), args...)
}

// QueryRow runs a single-row query written with '?' placeholders.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.stmts.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, db.Rebind(query), args...)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Tx is a transaction with the same '?' placeholder convenience as DB.
type Tx struct {
	tx      *sql.Tx // PostgreSQL
	dialect Dialect
	stmts   *stmtCache
	w       *writer // SQLite: the transaction runs on the writer's connection
}

// Dialect reports which SQL dialect the transaction speaks.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// SQL returns the underlying *sql.Tx on PostgreSQL, and nil on SQLite,
// whose transactions run on a connection of their own (see writer).
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// execRaw runs query as written (no '?' rebinding, several statements
// allowed), as a migration's file is.
func (tx *Tx) execRaw(ctx context.Context, query string) (sql.Result, error) {
	if tx.w != nil {
		return tx.w.conn.ExecContext(tx.stmtCtx(ctx), query)
	}
	return tx.tx.ExecContext(ctx, query)
}

// Exec runs a statement written with '?' placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.stmtCtx(ctx)
	if tx.w != nil {
		if s := tx.w.stmt(ctx, query); s != nil {
			return s.ExecContext(ctx, args...)
		}
		return tx.w.conn.ExecContext(ctx, query, args...)
	}
	if s := tx.stmts.get(ctx, query); s != nil {
		return tx.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, rebind(tx.dialect, query), args...)
}

// Query runs a query written with '?' placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.stmtCtx(ctx)
	if tx.w != nil {
		if s := tx.w.stmt(ctx, query); s != nil {
			return s.QueryContext(ctx, args...)
		}
		return tx.w.conn.QueryContext(ctx, query, args...)
	}
	if s := tx.stmts.get(ctx, query); s != nil {
		return tx.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, rebind(tx.dialect, query), args...)
}

// QueryRow runs a single-row query written with '?' placeholders.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = tx.stmtCtx(ctx)
	if tx.w != nil {
		if s := tx.w.stmt(ctx, query); s != nil {
			return s.QueryRowContext(ctx, args...)
		}
		return tx.w.conn.QueryRowContext(ctx, query, args...)
	}
	if s := tx.stmts.get(ctx, query); s != nil {
		return tx.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, rebind(tx.dialect, query), args...)
}

// stmtCtx is the context a statement of the transaction runs with. On
// SQLite, the driver watches a statement whose context can end with a
// goroutine of its own, started and stopped per statement (and per BEGIN and
// COMMIT): measurable in a turn's CPU (issue 16). Statements in a transaction
// are short and run under the write gate, so they run to their end instead:
// ctx is checked before each one (a done ctx fails it at once) and before the
// commit (InTx), and a done ctx rolls the transaction back.
func (tx *Tx) stmtCtx(ctx context.Context) context.Context {
	if tx.dialect != SQLite || ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// InTx runs fn in a transaction and commits it when fn returns nil; any error
// or panic rolls it back, so a failed request never leaves a half-written row.
// On SQLite the transaction takes the write lock when it begins (BEGIN
// IMMEDIATE), so read-then-write logic inside fn is serialized, and it waits
// for the in-process write gate first; fn must use tx, never db. SQLite
// transactions all run on one connection (see writer and inWriterTx).
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if db.dialect == SQLite {
		return db.inWriterTx(ctx, fn)
	}
	if err := db.writers.enter(ctx); err != nil {
		return err
	}
	defer db.writers.leave()
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(&Tx{tx: sqlTx, dialect: db.dialect, stmts: db.stmts}); err != nil {
		return err
	}
	// A context that ended during fn rolls back (database/sql's watcher may
	// already have, and Commit would then say only ErrTxDone): the caller
	// learns why.
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = sqlTx.Commit(); errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// IsUniqueViolation reports whether err is a unique or primary key violation,
// in either dialect.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// rebound remembers the PostgreSQL form of the queries seen, so hot reads
// (a session lookup per get-session) and the statements of transactions do
// not rewrite their SQL each time. The modules' queries are constants;
// reboundMax bounds the map should a caller build queries from data.
var (
	rebound      sync.Map
	reboundCount atomic.Int64
)

const reboundMax = 4096

// rebind turns '?' into '$n' for PostgreSQL, skipping quoted text.
func rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	q := rewritePlaceholders(query)
	if reboundCount.Load() < reboundMax {
		if _, loaded := rebound.LoadOrStore(query, q); !loaded {
			reboundCount.Add(1)
		}
	}
	return q
}

// rewritePlaceholders numbers the '?' outside quotes: '$1', '$2'…
func rewritePlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
