package sqldb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations (of every set), so two processes starting together do not
// both try to create a schema. The value is "niomonST" in ASCII, the key
// internal/store used before sqldb existed, so an old and a new binary
// still exclude each other; any constant works as long as nothing else in
// the database uses it.
const migrationLockKey int64 = 0x6e696f6d6f6e5354

var postgresDialect = dialect{
	name:     Postgres,
	numbered: true,
	lock:     fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLockKey),
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   text        NOT NULL CHECK (set_name <> ''),
		version    integer     NOT NULL CHECK (version >= 1),
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (set_name, version)
	)`,
	// to_regclass resolves the name the way the unqualified statements
	// do, through search_path.
	probeMigrationsTable: `SELECT
		(to_regclass('schema_migrations') IS NOT NULL)::int,
		(EXISTS (SELECT 1 FROM pg_attribute
			WHERE attrelid = to_regclass('schema_migrations')
			AND attname = 'set_name' AND NOT attisdropped))::int`,
	now: `now()`,
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in parse errors; the DSN itself is
		// never echoed here.
		return nil, fmt.Errorf("%w: postgres DSN: %v", ErrConfig, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open postgres: %w", err)
	}
	return &DB{DB: stdlib.OpenDBFromPool(pool), d: postgresDialect, pool: pool}, nil
}
