package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/intellistack/intellistack/migrations"
)

// Migration is one versioned SQL file.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// MigrationStatus is a migration and whether (and when) it was applied.
type MigrationStatus struct {
	Migration
	Applied   bool
	AppliedAt time.Time
	// Modified is true when the file's checksum differs from the one recorded
	// when it was applied: someone edited a shipped migration.
	Modified bool
}

// loadMigrations reads the embedded migrations of one dialect, in order.
func loadMigrations(d Dialect) ([]Migration, error) {
	dir := string(d)
	entries, err := fs.ReadDir(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", dir, e.Name())
		}
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), version)
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(migrations.FS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{Version: version, Name: rest, SQL: string(body), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS intellistack_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	checksum   TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Migrate applies every pending migration, each in its own transaction, and
// returns the ones it applied. On PostgreSQL it holds an advisory lock for the
// whole run, scoped to the current schema, so that several nodes starting at
// once apply each migration exactly once; the others wait, then find nothing
// left to do. On SQLite the write lock taken by each transaction does the same.
func Migrate(ctx context.Context, db *DB) ([]Migration, error) {
	all, err := loadMigrations(db.dialect)
	if err != nil {
		return nil, err
	}
	unlock, err := lockMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := db.Exec(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("creating the migrations table: %v", err)
	}
	var applied []Migration
	for _, m := range all {
		done, err := applyMigration(ctx, db, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m)
		}
	}
	return applied, nil
}

// applyMigration applies m unless it already is, in one transaction with its
// bookkeeping row, so a failed migration leaves no trace.
func applyMigration(ctx context.Context, db *DB, m Migration) (bool, error) {
	var done bool
	err := db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM intellistack_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.SQL().ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %04d_%s (%s): %v", m.Version, m.Name, db.dialect, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO intellistack_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
			m.Version, m.Name, m.Checksum, time.Now().UnixMilli()); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// MigrationStatuses lists every known migration and whether it is applied.
func MigrationStatuses(ctx context.Context, db *DB) ([]MigrationStatus, error) {
	all, err := loadMigrations(db.dialect)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("creating the migrations table: %v", err)
	}
	rows, err := db.Query(ctx, "SELECT version, checksum, applied_at FROM intellistack_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type rec struct {
		checksum string
		at       int64
	}
	recorded := map[int]rec{}
	for rows.Next() {
		var v int
		var r rec
		if err := rows.Scan(&v, &r.checksum, &r.at); err != nil {
			return nil, err
		}
		recorded[v] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(all))
	for _, m := range all {
		s := MigrationStatus{Migration: m}
		if r, ok := recorded[m.Version]; ok {
			s.Applied, s.AppliedAt, s.Modified = true, time.UnixMilli(r.at).UTC(), r.checksum != m.Checksum
		}
		out = append(out, s)
	}
	return out, nil
}

// SchemaVersion is the highest applied migration version (0 when none).
func SchemaVersion(ctx context.Context, db *DB) (int, error) {
	var v int
	err := db.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM intellistack_migrations").Scan(&v)
	return v, err
}

// lockMigrations serializes migration runs across nodes. PostgreSQL advisory
// locks belong to a session, so the lock and unlock run on one pinned
// connection; the key includes the schema so that test schemas (or several
// installations in one database) do not wait on each other.
func lockMigrations(ctx context.Context, db *DB) (func(), error) {
	if db.dialect != Postgres {
		return func() {}, nil
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, err
	}
	const key = "hashtext('intellistack.migrate.' || current_schema())"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("taking the migration lock: %v", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock("+key+")")
		conn.Close()
	}, nil
}
