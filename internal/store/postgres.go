package store

import (
	"context"

	"github.com/niomon/niomon/internal/sqldb"
)

// Postgres is the backend for several runners sharing one database.
type Postgres struct {
	*sqlStore
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the database at dsn (a URL or key=value
// connection string, as pgx accepts; search_path may be set in it) and
// brings the schema up to date. Concurrent migrators are serialised by an
// advisory lock (see sqldb).
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	if dsn == "" {
		// sqldb would read an empty DSN as "no PostgreSQL"; here it is
		// simply not a DSN.
		return nil, openError(sqldb.ErrConfig)
	}
	db, err := sqldb.Open(ctx, sqldb.Config{PostgresDSN: dsn})
	if err != nil {
		return nil, openError(err)
	}
	s := &Postgres{&sqlStore{db: db}}
	if err := s.open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
