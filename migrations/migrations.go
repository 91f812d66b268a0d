// Package migrations embeds the versioned SQL that builds IntelliStack's schema,
// one folder per dialect.
//
// Files are named NNNN_module_what.sql. The number is the version: it is
// applied once, in ascending order, and never edited after it has shipped (add
// a new file instead). Both folders use the same numbers so that SQLite and
// PostgreSQL installations always have the same tables. A module owns the
// tables its files create; no module reads another's tables.
//
// Conventions that keep each module's SQL portable across the two dialects:
//   - timestamps are BIGINT Unix milliseconds (UTC), never a native date type;
//   - identifiers are TEXT (UUIDs or random strings made by Go code);
//   - booleans are INTEGER 0/1 on SQLite and BOOLEAN on PostgreSQL only where a
//     module never compares them in shared SQL; prefer INTEGER in both;
//   - JSON documents are TEXT.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
