package store

import (
	"embed"

	"github.com/niomon/niomon/internal/sqldb"
)

// Migrations are plain SQL files named NNNN_description.sql, one directory
// per backend, applied by sqldb (each exactly once, all in one transaction
// together with their rows in schema_migrations, so a failed migration
// leaves the schema as it was). Never edit a migration that has been
// released; add the next one.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migrations is the store's set. It is the Legacy set: before sqldb, the
// store kept its versions in a single-set schema_migrations table, which
// the first Migrate of a newer binary converts.
var migrations = sqldb.MigrationSet{
	Name:   "store",
	FS:     migrationFiles,
	Dir:    "migrations",
	Legacy: true,
}
