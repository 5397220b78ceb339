package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/sqldb"
)

// sqlStore is the Store both backends share over sqldb: the statements
// are the same SQL, written with ? placeholders; the dialect says how the
// backend spells them.
type sqlStore struct {
	db *sqldb.DB
	// get is Get's statement, prepared once: a cache miss of the enclave
	// is a Get, and SQLite would otherwise parse the query on each one.
	get *sql.Stmt
}

// q rewrites ? placeholders for the dialect.
func (s *sqlStore) q(query string) string { return s.db.Q(query) }

// open migrates the schema and prepares the statements.
func (s *sqlStore) open(ctx context.Context) error {
	if err := s.db.Migrate(ctx, migrations); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	get, err := s.db.PrepareContext(ctx, s.q(`SELECT version, blob FROM sealed_objects WHERE kind = ? AND id = ?`))
	if err != nil {
		return fmt.Errorf("store: prepare: %w", err)
	}
	s.get = get
	return nil
}

// schemaVersion reports the highest applied migration of the store's set
// and how many rows record it (for tests and ops).
func (s *sqlStore) schemaVersion(ctx context.Context) (version, rows int, err error) {
	err = s.db.QueryRowContext(ctx,
		s.q(`SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations WHERE set_name = ?`), migrations.Name,
	).Scan(&version, &rows)
	return version, rows, err
}

func (s *sqlStore) Get(ctx context.Context, kind, id string) (Object, error) {
	if err := validateKey(kind, id); err != nil {
		return Object{}, err
	}
	o := Object{Kind: kind, ID: id}
	var version int64
	err := s.get.QueryRowContext(ctx, kind, id).Scan(&version, &o.Blob)
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
			s.q(`UPDATE sealed_objects SET version = ?, blob = ?, updated_at = `+s.db.Now()+`
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

func (s *sqlStore) Batch(ctx context.Context, writes []Write) error {
	if len(writes) == 0 || len(writes) > MaxBatch {
		return fmt.Errorf("%w: a batch holds 1..%d writes", ErrInvalid, MaxBatch)
	}
	for i, w := range writes {
		if err := validateObject(w.Object); err != nil {
			return fmt.Errorf("store: batch write %d: %w", i, err)
		}
		if !w.Create && w.Object.Version <= w.Prev {
			return fmt.Errorf("store: batch write %d: %w", i, conflictError(w.Object, w.Prev, w.Prev))
		}
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for i, w := range writes {
			o := w.Object
			var res sql.Result
			var err error
			if w.Create {
				res, err = tx.ExecContext(ctx, s.q(`INSERT INTO sealed_objects (kind, id, version, blob) VALUES (?, ?, ?, ?)
					 ON CONFLICT (kind, id) DO NOTHING`), o.Kind, o.ID, int64(o.Version), o.Blob)
			} else {
				res, err = tx.ExecContext(ctx, s.q(`UPDATE sealed_objects SET version = ?, blob = ?, updated_at = `+s.db.Now()+`
					 WHERE kind = ? AND id = ? AND version = ?`), int64(o.Version), o.Blob, o.Kind, o.ID, int64(w.Prev))
			}
			if err != nil {
				return err // IsRetryable ones are retried by Tx
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 1 {
				continue
			}
			if w.Create {
				return fmt.Errorf("store: batch write %d: %w", i, existsError(o.Kind, o.ID))
			}
			var stored int64
			err = tx.QueryRowContext(ctx, s.q(`SELECT version FROM sealed_objects WHERE kind = ? AND id = ?`), o.Kind, o.ID).Scan(&stored)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: batch write %d: %w", i, notFoundError(o.Kind, o.ID))
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("store: batch write %d: %w", i, conflictError(o, w.Prev, uint64(stored)))
		}
		return nil
	})
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
func (s *sqlStore) Close() error {
	s.get.Close()
	return s.db.Close()
}
