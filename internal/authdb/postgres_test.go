package authdb

import (
	"testing"

	"github.com/niomon/niomon/internal/pgtest"
	"github.com/niomon/niomon/internal/sqldb"
)

func newPostgresStorage(t *testing.T) storage {
	dsn := pgtest.NewSchema(t)
	return storage{connect: func() (*DB, error) {
		return Open(ctx, sqldb.Config{PostgresDSN: dsn})
	}}
}

func TestPostgresConformance(t *testing.T) {
	pgtest.DSN(t) // skip (or, under CI, fail) here rather than in every subtest
	runConformance(t, newPostgresStorage)
}
