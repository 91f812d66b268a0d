package oidc

import (
	"embed"

	"github.com/intellistack/intellistack/modules/store"
)

// migrationFiles holds this module's schema, versioned from 0001 (see
// store.RegisterMigrations for the naming and the rules).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func init() { store.RegisterMigrations("oidc", migrationFiles, "migrations") }
