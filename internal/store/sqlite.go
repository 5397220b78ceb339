package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/sqldb"
)

// SQLite is the default backend: one database file for one runner.
type SQLite struct {
	*sqlStore
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the SQLite database at path and
// brings its schema up to date. The file is created with mode 0600 and a
// broader mode on an existing file is narrowed to 0600; SQLite gives the
// -wal and -shm files the database file's mode (see sqldb for the
// connection settings: WAL, synchronous=FULL, busy timeout, immediate
// transactions).
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty SQLite path", ErrInvalid)
	}
	// sqldb bounds its own retries while a fresh file is busy; there is no
	// caller context to honour here.
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Config{SQLitePath: path})
	if err != nil {
		return nil, openError(err)
	}
	s := &SQLite{&sqlStore{db: db}}
	if err := s.open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openError keeps the store's error contract: a configuration sqldb
// refuses is ErrInvalid.
func openError(err error) error {
	if errors.Is(err, sqldb.ErrConfig) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return fmt.Errorf("store: %w", err)
}
