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
	*sqlStore
}

var sqliteDialect = dialect{
	name: "sqlite",
	// BEGIN IMMEDIATE (_txlock below) already keeps migrators apart.
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	now: `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
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
	s := &SQLite{&sqlStore{db: db, d: sqliteDialect}}
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
