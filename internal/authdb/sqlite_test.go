package authdb

import (
	"path/filepath"
	"testing"

	"github.com/niomon/niomon/internal/sqldb"
)

func newSQLiteStorage(t *testing.T) storage {
	path := filepath.Join(t.TempDir(), "niomon.db")
	return storage{connect: func() (*DB, error) {
		return Open(ctx, sqldb.Config{SQLitePath: path})
	}}
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, newSQLiteStorage)
}
