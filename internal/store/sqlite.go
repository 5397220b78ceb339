package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // driver "sqlite": pure Go, works with cgo off
)

// SQLite is the default backend: one database file for one runner.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// sqliteParams are applied by the driver to every new connection.
//
//   - busy_timeout: writers queue for the file lock instead of failing at
//     once with SQLITE_BUSY; several runners (or the CLI) may share a file.
//   - synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
//     loss. A lost commit here can be a freshly generated wallet that its
//     user has already been told about, so pay the fsync.
//   - foreign_keys: off by default in SQLite; on, so any later schema with
//     references is enforced from the start.
//   - _txlock=immediate: transactions take the write lock when they begin,
//     so a read-then-write transaction (the migrations) cannot fail
//     half-way with SQLITE_BUSY when another writer got in first.
//
// journal_mode=WAL (readers and the writer do not block each other) is not
// here: it is stored in the file, so OpenSQLite sets it once, and switching
// to it needs an exclusive lock that should not be taken by every new
// pooled connection.
const sqliteParams = "_busy_timeout=10000&_synchronous=FULL&_foreign_keys=1&_txlock=immediate"

// sqliteInitTimeout bounds how long OpenSQLite retries initialisation while
// another connection or process holds the database busy.
const sqliteInitTimeout = 30 * time.Second

// OpenSQLite opens (creating if needed) the SQLite database at path and
// brings its schema up to date. The file is created with mode 0600 and a
// broader mode on an existing file is narrowed to 0600; SQLite gives the
// -wal and -shm files the database file's mode.
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty SQLite path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite path: %w", err)
	}
	// Create the file here rather than let SQLite do it, which would use
	// 0644 less the umask.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().Perm()&^0o600 != 0 {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: sqlite file mode: %w", err)
	}

	// A file: URI with the path escaped, so a path containing '?', '#' or
	// '%' reaches SQLite intact. SQLite ignores the driver's _ parameters.
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: sqliteParams}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s := &SQLite{db: db}
	ctx, cancel := context.WithTimeout(context.Background(), sqliteInitTimeout)
	defer cancel()
	if err := retryBusy(ctx, s.init); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// retryBusy runs f until it does not fail with SQLITE_BUSY or SQLITE_LOCKED.
// busy_timeout covers ordinary lock waits, but while a new file is being
// switched to WAL by one connection, SQLite can answer another one BUSY at
// once, without calling the busy handler (seen with several runners, or
// goroutines, opening a fresh file together).
func retryBusy(ctx context.Context, f func(context.Context) error) error {
	delay := 5 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %v)", err, sqliteInitTimeout)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	// Primary result codes; extended codes keep them in the low byte.
	const sqliteBusy, sqliteLocked = 5, 6
	code := se.Code() & 0xff
	return code == sqliteBusy || code == sqliteLocked
}

// init switches the file to WAL (a no-op once it is) and migrates.
func (s *SQLite) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("store: sqlite journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: sqlite journal_mode: got %q, want wal", mode)
	}
	return s.migrate(ctx)
}

func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrator at a time
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	pending, err := pendingMigrations("sqlite", current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.version); err != nil {
			return fmt.Errorf("store: migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion reports the highest applied migration (for tests and ops).
func (s *SQLite) schemaVersion(ctx context.Context) (version, rows int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
	return version, rows, err
}

func (s *SQLite) Get(ctx context.Context, kind, id string) (Object, error) {
	if err := validateKey(kind, id); err != nil {
		return Object{}, err
	}
	o := Object{Kind: kind, ID: id}
	var version int64
	err := s.db.QueryRowContext(ctx,
		`SELECT version, blob FROM sealed_objects WHERE kind = ? AND id = ?`, kind, id,
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

func (s *SQLite) Create(ctx context.Context, o Object) error {
	if err := validateObject(o); err != nil {
		return err
	}
	// ON CONFLICT DO NOTHING, not an upsert: an existing object is never
	// touched. The insert is one statement, atomic under the write lock, so
	// of several racing creators exactly one sees a row inserted.
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO sealed_objects (kind, id, version, blob) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, id) DO NOTHING`,
		o.Kind, o.ID, int64(o.Version), o.Blob)
	if err != nil {
		return fmt.Errorf("store: create %s %q: %w", o.Kind, o.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: create %s %q: %w", o.Kind, o.ID, err)
	}
	if n == 0 {
		return existsError(o.Kind, o.ID)
	}
	return nil
}

func (s *SQLite) Update(ctx context.Context, o Object, prevVersion uint64) error {
	if err := validateObject(o); err != nil {
		return err
	}
	if o.Version > prevVersion {
		// The compare and the swap are one statement: no other writer can
		// change the row between them.
		res, err := s.db.ExecContext(ctx,
			`UPDATE sealed_objects
			 SET version = ?, blob = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
			 WHERE kind = ? AND id = ? AND version = ?`,
			int64(o.Version), o.Blob, o.Kind, o.ID, int64(prevVersion))
		if err != nil {
			return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
		}
		if n == 1 {
			return nil
		}
	}
	// Nothing was written; find out why.
	var stored int64
	err := s.db.QueryRowContext(ctx,
		`SELECT version FROM sealed_objects WHERE kind = ? AND id = ?`, o.Kind, o.ID,
	).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return notFoundError(o.Kind, o.ID)
	}
	if err != nil {
		return fmt.Errorf("store: update %s %q: %w", o.Kind, o.ID, err)
	}
	return conflictError(o, prevVersion, uint64(stored))
}

func (s *SQLite) List(ctx context.Context, kind, afterID string, limit int) ([]Object, error) {
	if err := validateList(kind, afterID, limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, version, blob FROM sealed_objects
		 WHERE kind = ? AND id > ? ORDER BY id LIMIT ?`,
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

// Close closes the database. Calls after Close fail.
func (s *SQLite) Close() error {
	return s.db.Close()
}
