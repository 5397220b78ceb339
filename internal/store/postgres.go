package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the backend for several runners sharing one database.
type Postgres struct {
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
	s := &Postgres{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Postgres) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// Taken first, before even CREATE TABLE IF NOT EXISTS (which is not
	// safe against a concurrent twin), and released by commit or rollback.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	pending, err := pendingMigrations("postgres", current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		// No arguments: pgx sends it with the simple protocol, which
		// allows several statements in one file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("store: migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion reports the highest applied migration (for tests and ops).
func (s *Postgres) schemaVersion(ctx context.Context) (version, rows int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
	return version, rows, err
}

func (s *Postgres) Get(ctx context.Context, kind, id string) (Object, error) {
	if err := validateKey(kind, id); err != nil {
		return Object{}, err
	}
	o := Object{Kind: kind, ID: id}
	var version int64
	err := s.pool.QueryRow(ctx,
		`SELECT version, blob FROM sealed_objects WHERE kind = $1 AND id = $2`, kind, id,
	).Scan(&version, &o.Blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return Object{}, notFoundError(kind, id)
	}
	if err != nil {
		return Object{}, fmt.Errorf("store: get %s %q: %w", kind, id, err)
	}
	o.Version = uint64(version)
	return o, nil
}

func (s *Postgres) Create(ctx context.Context, o Object) error {
	if err := validateObject(o); err != nil {
		return err
	}
	// ON CONFLICT DO NOTHING, not an upsert: an existing object is never
	// touched. A concurrent insert of the same key waits on the unique
	// index and then does nothing, so exactly one creator wins.
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO sealed_objects (kind, id, version, blob) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (kind, id) DO NOTHING`,
		o.Kind, o.ID, int64(o.Version), o.Blob)
	if err != nil {
		return fmt.Errorf("store: create %s %q: %w", o.Kind, o.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return existsError(o.Kind, o.ID)
	}
	return nil
}

func (s *Postgres) Update(ctx context.Context, o Object, prevVersion uint64) error {
	if err := validateObject(o); err != nil {
		return err
	}
	if o.Version > prevVersion {
		// One statement: a concurrent update of the row makes this one
		// wait and then re-check the WHERE clause against the new row, so
		// of two updates from the same prevVersion only one matches.
		tag, err := s.pool.Exec(ctx,
			`UPDATE sealed_objects SET version = $1, blob = $2, updated_at = now()
			 WHERE kind = $3 AND id = $4 AND version = $5`,
			int64(o.Version), o.Blob, o.Kind, o.ID, int64(prevVersion))
		if err != nil {
			return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	// Nothing was written; find out why.
	var stored int64
	err := s.pool.QueryRow(ctx,
		`SELECT version FROM sealed_objects WHERE kind = $1 AND id = $2`, o.Kind, o.ID,
	).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFoundError(o.Kind, o.ID)
	}
	if err != nil {
		return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
	}
	return conflictError(o, prevVersion, uint64(stored))
}

func (s *Postgres) List(ctx context.Context, kind, afterID string, limit int) ([]Object, error) {
	if err := validateList(kind, afterID, limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx,
		`SELECT id, version, blob FROM sealed_objects
		 WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3`,
		kind, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", kind, err)
	}
	defer rows.Close()
	out := make([]Object, 0, min(limit, 64))
	for rows.Next() {
		o := Object{Kind: kind}
		var version int64
		if err := rows.Scan(&o.ID, &version, &o.Blob); err != nil {
			return nil, fmt.Errorf("store: list %s: %w", kind, err)
		}
		o.Version = uint64(version)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list %s: %w", kind, err)
	}
	return out, nil
}

// Close closes the connection pool, waiting for connections in use to be
// released. Calls after Close fail.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}
