package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Migration is one versioned SQL file of one module, in one dialect.
type Migration struct {
	// Module is the name the owning module registered its migrations under.
	Module string
	// Version counts from 1 within the module.
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// ID names the migration as operators see it: "oidc/0001_core".
func (m Migration) ID() string { return fmt.Sprintf("%s/%04d_%s", m.Module, m.Version, m.Name) }

// MigrationStatus is a migration and whether (and when) it was applied.
type MigrationStatus struct {
	Migration
	Applied   bool
	AppliedAt time.Time
	// Modified is true when the file's checksum differs from the one recorded
	// when it was applied: someone edited a shipped migration.
	Modified bool
}

// migrationFile is NNNN_name.sql (both dialects) or NNNN_name.<dialect>.sql
// (one dialect, where the SQL really differs).
var migrationFile = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

var registry struct {
	sync.Mutex
	modules map[string]fs.FS
}

// RegisterMigrations makes a module's migrations known to the store; a
// module calls it from its init function with the folder of its SQL files:
//
//	//go:embed migrations/*.sql
//	var migrationFiles embed.FS
//
//	func init() { store.RegisterMigrations("oidc", migrationFiles, "migrations") }
//
// Files are named NNNN_name.sql, numbered from 0001 within the module, and
// are never edited once shipped (add a file instead). A version is one file
// for both dialects unless the SQL really differs; then it is a pair,
// NNNN_name.sqlite.sql and NNNN_name.postgres.sql. The module owns the tables
// its files create; new tables carry the module's name as their prefix.
//
// Every module linked into the binary is migrated when the store starts, in
// a stable order (by module name, then version). Registering one name twice,
// or a malformed folder, panics: it is a programming error caught by any test
// of the module.
func RegisterMigrations(module string, fsys fs.FS, dir string) {
	sub, err := fs.Sub(fsys, dir)
	if err == nil {
		err = checkModuleMigrations(module, sub)
	}
	if err != nil {
		panic("store.RegisterMigrations: " + err.Error())
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.modules == nil {
		registry.modules = map[string]fs.FS{}
	}
	if _, dup := registry.modules[module]; dup {
		panic("store.RegisterMigrations: module " + module + " registered twice")
	}
	registry.modules[module] = sub
}

// loadMigrations returns every registered migration of one dialect, in the
// order they are applied.
func loadMigrations(d Dialect) ([]Migration, error) {
	registry.Lock()
	names := make([]string, 0, len(registry.modules))
	for name := range registry.modules {
		names = append(names, name)
	}
	folders := registry.modules
	registry.Unlock()
	sort.Strings(names)
	var out []Migration
	for _, name := range names {
		ms, err := readModuleMigrations(name, folders[name], d)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// checkModuleMigrations reads a module's files for both dialects and checks
// that each version exists in both, under one name.
func checkModuleMigrations(module string, fsys fs.FS) error {
	lite, err := readModuleMigrations(module, fsys, SQLite)
	if err != nil {
		return err
	}
	pg, err := readModuleMigrations(module, fsys, Postgres)
	if err != nil {
		return err
	}
	for i := 0; i < max(len(lite), len(pg)); i++ {
		if i >= len(lite) || i >= len(pg) || lite[i].Name != pg[i].Name {
			return fmt.Errorf("module %s: migration %04d must exist for both sqlite and postgres under one name", module, i+1)
		}
	}
	return nil
}

// readModuleMigrations reads one module's files for dialect d, checking the
// numbering: versions from 1 without gaps, one file per version and dialect.
func readModuleMigrations(module string, fsys fs.FS, d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("module %s: %v", module, err)
	}
	byVersion := map[int]Migration{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		parts := migrationFile.FindStringSubmatch(e.Name())
		if parts == nil {
			return nil, fmt.Errorf("module %s: migration %s: name must be NNNN_name.sql or NNNN_name.{sqlite,postgres}.sql", module, e.Name())
		}
		if parts[3] != "" && Dialect(parts[3]) != d {
			continue
		}
		version, _ := strconv.Atoi(parts[1])
		if prev, dup := byVersion[version]; dup {
			return nil, fmt.Errorf("module %s: migrations %04d_%s and %s share version %d for %s", module, prev.Version, prev.Name, e.Name(), version, d)
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		byVersion[version] = Migration{Module: module, Version: version, Name: parts[2], SQL: string(body), Checksum: hex.EncodeToString(sum[:])}
	}
	out := make([]Migration, 0, len(byVersion))
	for v := 1; v <= len(byVersion); v++ {
		m, ok := byVersion[v]
		if !ok {
			return nil, fmt.Errorf("module %s: %s migrations must be numbered 0001, 0002, … without gaps (%04d is missing)", module, d, v)
		}
		out = append(out, m)
	}
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS intellistack_schema_migrations (
	module     TEXT NOT NULL,
	version    BIGINT NOT NULL,
	name       TEXT NOT NULL,
	checksum   TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (module, version)
)`

// Migrate applies every pending migration, each in its own transaction with
// its bookkeeping row, and returns the ones it applied. On PostgreSQL it
// holds an advisory lock for the whole run, scoped to the current schema, so
// that several nodes starting at once apply each migration exactly once; the
// others wait, then find nothing left to do. On SQLite the write lock taken
// by each transaction does the same.
func Migrate(ctx context.Context, db *DB) ([]Migration, error) {
	all, unlock, err := beginMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	defer unlock()
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
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM intellistack_schema_migrations WHERE module = ? AND version = ?", m.Module, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.execRaw(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s (%s): %v", m.ID(), db.dialect, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO intellistack_schema_migrations (module, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)",
			m.Module, m.Version, m.Name, m.Checksum, time.Now().UnixMilli()); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// MigrationStatuses lists every known migration and whether it is applied.
func MigrationStatuses(ctx context.Context, db *DB) ([]MigrationStatus, error) {
	all, unlock, err := beginMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	defer unlock()
	recorded, err := recordedMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(all))
	for _, m := range all {
		s := MigrationStatus{Migration: m}
		if r, ok := recorded[migrationKey{m.Module, m.Version}]; ok {
			s.Applied, s.AppliedAt, s.Modified = true, time.UnixMilli(r.at).UTC(), r.checksum != m.Checksum
		}
		out = append(out, s)
	}
	return out, nil
}

type migrationKey struct {
	module  string
	version int
}

type migrationRecord struct {
	checksum string
	at       int64
}

func recordedMigrations(ctx context.Context, db *DB) (map[migrationKey]migrationRecord, error) {
	rows, err := db.Query(ctx, "SELECT module, version, checksum, applied_at FROM intellistack_schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[migrationKey]migrationRecord{}
	for rows.Next() {
		var k migrationKey
		var r migrationRecord
		if err := rows.Scan(&k.module, &k.version, &r.checksum, &r.at); err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, rows.Err()
}

// SchemaVersions maps each module with applied migrations to its highest
// applied version.
func SchemaVersions(ctx context.Context, db *DB) (map[string]int, error) {
	rows, err := db.Query(ctx, "SELECT module, MAX(version) FROM intellistack_schema_migrations GROUP BY module")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var module string
		var v int
		if err := rows.Scan(&module, &v); err != nil {
			return nil, err
		}
		out[module] = v
	}
	return out, rows.Err()
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

// beginMigrations loads the registered migrations of db's dialect, takes
// the migration lock, and makes sure the bookkeeping table exists with what
// the first release recorded carried over (legacy.go). The caller must call
// unlock.
func beginMigrations(ctx context.Context, db *DB) (all []Migration, unlock func(), err error) {
	all, err = loadMigrations(db.dialect)
	if err != nil {
		return nil, nil, err
	}
	unlock, err = lockMigrations(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.Exec(ctx, createMigrationsTable); err != nil {
		unlock()
		return nil, nil, fmt.Errorf("creating the migrations table: %v", err)
	}
	if err := adoptLegacyMigrations(ctx, db); err != nil {
		unlock()
		return nil, nil, err
	}
	return all, unlock, nil
}
