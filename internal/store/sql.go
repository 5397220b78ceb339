package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// sqlStore is the Store both backends share over database/sql: the
// statements are the same SQL, written with ? placeholders; a dialect says
// how the backend spells them and sets up its schema.
type sqlStore struct {
	db *sql.DB
	d  dialect
}

type dialect struct {
	name string // migrations/<name>/
	// numbered placeholders ($1, $2 …) instead of ?
	numbered bool
	// lock, run first in the migration transaction, keeps two migrators
	// apart (empty: the transaction itself does, as SQLite's BEGIN
	// IMMEDIATE).
	lock string
	// migrationsTable creates schema_migrations if it is missing.
	migrationsTable string
	// now is the SQL for the current time in the schema's timestamp form.
	now string
}

// q rewrites ? placeholders for the dialect. The statements here contain
// no ? inside string literals.
func (s *sqlStore) q(query string) string {
	if !s.d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *sqlStore) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if s.d.lock != "" {
		// Taken first, before even CREATE TABLE IF NOT EXISTS (which is
		// not safe against a concurrent twin), and released by commit or
		// rollback.
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.migrationsTable); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	pending, err := pendingMigrations(s.d.name, current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version) VALUES (?)`), m.version); err != nil {
			return fmt.Errorf("store: migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion reports the highest applied migration (for tests and ops).
func (s *sqlStore) schemaVersion(ctx context.Context) (version, rows int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
	return version, rows, err
}

func (s *sqlStore) Get(ctx context.Context, kind, id string) (Object, error) {
	if err := validateKey(kind, id); err != nil {
		return Object{}, err
	}
	o := Object{Kind: kind, ID: id}
	var version int64
	err := s.db.QueryRowContext(ctx,
		s.q(`SELECT version, blob FROM sealed_objects WHERE kind = ? AND id = ?`), kind, id,
	).Scan(&version, &o.Blob)
	if errors.Is(err, sql.ErrNoRows) {
		return Object{}, notFoundError(kind, id)
	}
	if err != nil {
		return Object{}, fmt.Errorf("store: get %s %q: %w", kind, id, err)
	}
	o.Version = uint64(version)
	return o, nil
}

func (s *sqlStore) Create(ctx context.Context, o Object) error {
	if err := validateObject(o); err != nil {
		return err
	}
	// ON CONFLICT DO NOTHING, not an upsert: an existing object is never
	// touched. The insert is one statement; a concurrent insert of the
	// same key waits on the primary key (PostgreSQL) or the write lock
	// (SQLite) and then does nothing, so exactly one creator wins.
	res, err := s.db.ExecContext(ctx,
		s.q(`INSERT INTO sealed_objects (kind, id, version, blob) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, id) DO NOTHING`),
		o.Kind, o.ID, int64(o.Version), o.Blob)
	if err != nil {
		return fmt.Errorf("store: create %s %q: %w", o.Kind, o.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: create %s %q: %w", o.Kind, o.ID, err)
	} else if n == 0 {
		return existsError(o.Kind, o.ID)
	}
	return nil
}

func (s *sqlStore) Update(ctx context.Context, o Object, prevVersion uint64) error {
	if err := validateObject(o); err != nil {
		return err
	}
	if o.Version > prevVersion {
		// The compare and the swap are one statement: a concurrent update
		// of the row makes this one wait and then re-check the WHERE
		// clause against the new row, so of two updates from the same
		// prevVersion only one matches.
		res, err := s.db.ExecContext(ctx,
			s.q(`UPDATE sealed_objects SET version = ?, blob = ?, updated_at = `+s.d.now+`
			 WHERE kind = ? AND id = ? AND version = ?`),
			int64(o.Version), o.Blob, o.Kind, o.ID, int64(prevVersion))
		if err != nil {
			return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
		} else if n == 1 {
			return nil
		}
	}
	// Nothing was written; find out why.
	var stored int64
	err := s.db.QueryRowContext(ctx,
		s.q(`SELECT version FROM sealed_objects WHERE kind = ? AND id = ?`), o.Kind, o.ID,
	).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return notFoundError(o.Kind, o.ID)
	}
	if err != nil {
		return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
	}
	return conflictError(o, prevVersion, uint64(stored))
}

func (s *sqlStore) List(ctx context.Context, kind, afterID string, limit int) ([]Object, error) {
	if err := validateList(kind, afterID, limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx,
		s.q(`SELECT id, version, blob FROM sealed_objects
		 WHERE kind = ? AND id > ? ORDER BY id LIMIT ?`),
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

// Close closes the database; calls after Close fail.
func (s *sqlStore) Close() error { return s.db.Close() }
