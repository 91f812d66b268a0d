package store

import "embed"

// migrationFiles holds the store's own schema changes.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func init() { RegisterMigrations("store", migrationFiles, "migrations") }
