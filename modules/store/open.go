package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqliteBusyTimeout is how long an SQLite writer waits for the lock before it
// gives up; writes are short, so waiting beats failing a user's request.
const sqliteBusyTimeout = 10 * time.Second

// openDatabase opens (and for SQLite, creates) the database named by t and
// checks that it answers. It is called from the app's Start, never Provision,
// so that `caddy validate` needs no database.
func openDatabase(ctx context.Context, t target) (*DB, error) {
	switch t.dialect {
	case SQLite:
		return openSQLite(ctx, t.dsn)
	case Postgres:
		return openPostgres(ctx, t.dsn)
	}
	return nil, fmt.Errorf("database: unknown dialect %q", t.dialect)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("database: cannot create the folder for SQLite file %s: %v", path, unwrapPathError(err))
	}
	// The file holds password hashes and sealed keys: create it for this user
	// only. SQLite gives the -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoint every 4,000 WAL pages (16 MiB) instead of 1,000: a
	// checkpoint copies each page once however often it was rewritten (a
	// thread's row, a user's usage row), so fewer checkpoints copy and sync
	// less per write (issue 16: checkpoints were 5% of a turn's CPU, 2.5%
	// after). 4,000 keeps the WAL within one 4,096-frame wal-index segment,
	// so a read looks a page up in one hash table. Durability is unchanged:
	// a commit is in the WAL either way.
	q.Add("_pragma", "wal_autocheckpoint(4000)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Every transaction takes the write lock up front, so a read-modify-write
	// never fails half-way with SQLITE_BUSY on lock upgrade.
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("database: opening SQLite file %s: %v", path, err)
	}
	// InTx's connection (see writer) comes from a pool of its own, so the
	// read pool keeps its size and its figures (PoolCollector).
	writeDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("database: opening SQLite file %s: %v", path, err)
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	// WAL allows readers beside one writer (writers queue in writeGate).
	// SQLite work is CPU-bound, so more connections than cores only add
	// page caches; all of them stay open while in use (database/sql keeps
	// only 2 idle by default, and reopening costs a file open, the pragmas
	// and every prepared statement).
	conns := sqliteConns()
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{sql: sqlDB, dialect: SQLite, stmts: &stmtCache{db: sqlDB}, writers: make(writeGate, 1), writeDB: writeDB}
	// A ping alone opens lazily; a write proves the file is really writable.
	if _, err := sqlDB.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS intellistack_probe (x INTEGER); DROP TABLE intellistack_probe"); err != nil {
		sqlDB.Close()
		writeDB.Close()
		return nil, fmt.Errorf("database: SQLite file %s is not writable: %v", path, err)
	}
	return db, nil
}

// sqliteConns is the SQLite pool size for this node: a connection per core
// and a spare, at least 4.
func sqliteConns() int {
	return max(4, runtime.GOMAXPROCS(0)+1)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx errors quote the connection string; report without it.
		return nil, fmt.Errorf("database: invalid PostgreSQL URL %s", redactURL(dsn))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("database: PostgreSQL at %s: %v", redactURL(dsn), err)
	}
	db := &DB{sql: stdlib.OpenDBFromPool(pool), dialect: Postgres, pool: pool}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		db.close()
		return nil, fmt.Errorf("database: PostgreSQL at %s does not answer: %s", redactURL(dsn), oneLine(err))
	}
	return db, nil
}

// close releases the handle; only the usage pool calls it, when the last
// config generation lets go.
func (db *DB) close() error {
	db.stmts.close()
	if db.writers != nil {
		db.writers <- struct{}{} // no transaction runs on the writer meanwhile
		db.dropWriter()
		<-db.writers
	}
	if db.writeDB != nil {
		db.writeDB.Close()
	}
	err := db.sql.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// Open opens the database named by a database setting (an SQLite path or a
// postgres:// URL; empty means dataDir's default file) outside of Caddy: for
// the migrate command and for tests. It does not migrate; call Migrate. The
// caller owns the handle and must Close it. Modules inside Caddy get their
// handle from the app instead.
func Open(ctx context.Context, database, dataDir string) (*DB, error) {
	t, err := parseTarget(database, dataDir)
	if err != nil {
		return nil, err
	}
	return openDatabase(ctx, t)
}

// Close closes a handle obtained from Open. Never close the app's handle: it
// is shared by every module and config generation.
func (db *DB) Close() error { return db.close() }

// oneLine folds a multi-line driver error (pgx lists every address it tried)
// so that the operator sees one line naming the problem.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
