package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the backend for several runners sharing one database.
type Postgres struct {
	*sqlStore
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations, so two runners starting together do not both try to create
// the schema. The value is "niomonST" in ASCII; any constant works as long
// as nothing else in the database uses it.
const migrationLockKey int64 = 0x6e696f6d6f6e5354

// OpenPostgres connects to the database at dsn (a URL or key=value
// connection string, as pgx accepts; search_path may be set in it) and
// brings the schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in parse errors; the DSN itself is
		// never echoed here.
		return nil, fmt.Errorf("%w: postgres DSN: %v", ErrInvalid, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Postgres{&sqlStore{db: db, d: dialect{
		name:     "postgres",
		numbered: true,
		lock:     fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLockKey),
		migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`,
		now: `now()`,
	}}, pool}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database/sql handle and then the pool under it.
func (s *Postgres) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}
