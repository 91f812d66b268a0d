package store

import (
	"context"
	"fmt"
)

// The first release kept one global sequence of migrations in
// intellistack_migrations (version, name, checksum, applied_at), all four in
// the store's folder. Since modules own their migrations, a database created
// by that release is adopted once: each of its rows is recorded under the
// module that now owns the same SQL (the files were moved unchanged, so the
// recorded checksums still match). Version 1 created intellistack_meta,
// which nothing read; it maps to nothing, so the store's own first migration
// drops that table.
//
// The old table is left in place, untouched: a node of the first release
// that starts during a rolling upgrade still finds its four migrations
// applied instead of trying to create existing tables. It can be dropped
// once no such node remains.
var legacyMigrations = map[int]struct {
	module  string
	version int
	name    string
}{
	2: {"ratelimit", 1, "events"},
	3: {"chatkit", 1, "threads"},
	4: {"oidc", 1, "core"},
}

// adoptLegacyMigrations records the first release's migrations in the
// per-module table, once (when that table is still empty).
func adoptLegacyMigrations(ctx context.Context, db *DB) error {
	legacy, err := db.tableExists(ctx, "intellistack_migrations")
	if err != nil || !legacy {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM intellistack_schema_migrations").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil // adopted before
		}
		rows, err := tx.Query(ctx, "SELECT version, checksum, applied_at FROM intellistack_migrations")
		if err != nil {
			return err
		}
		type row struct {
			version  int
			checksum string
			at       int64
		}
		var old []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.version, &r.checksum, &r.at); err != nil {
				rows.Close()
				return err
			}
			old = append(old, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range old {
			to, ok := legacyMigrations[r.version]
			if !ok {
				continue
			}
			if _, err := tx.Exec(ctx, "INSERT INTO intellistack_schema_migrations (module, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)",
				to.module, to.version, to.name, r.checksum, r.at); err != nil {
				return fmt.Errorf("adopting migration %04d: %v", r.version, err)
			}
		}
		return nil
	})
}

// tableExists reports whether the current schema (PostgreSQL) or the
// database file (SQLite) has a table of that name.
func (db *DB) tableExists(ctx context.Context, name string) (bool, error) {
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if db.dialect == Postgres {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	var n int
	err := db.QueryRow(ctx, q, name).Scan(&n)
	return n > 0, err
}
