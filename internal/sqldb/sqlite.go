package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite": pure Go, works with cgo off
)

const sqliteNow = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

var sqliteDialect = dialect{
	name: SQLite,
	// BEGIN IMMEDIATE (_txlock below) already keeps migrators apart.
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   TEXT    NOT NULL CHECK (length(set_name) >= 1),
		version    INTEGER NOT NULL CHECK (version >= 1),
		applied_at TEXT    NOT NULL DEFAULT (` + sqliteNow + `),
		PRIMARY KEY (set_name, version)
	) STRICT`,
	probeMigrationsTable: `SELECT
		(SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'),
		(SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'set_name')`,
	now: sqliteNow,
}

// sqliteParams are applied by the driver to every new connection.
//
//   - busy_timeout: writers queue for the file lock instead of failing at
//     once with SQLITE_BUSY; several processes (or the CLI) may share a file.
//   - synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
//     loss. A lost commit can be a freshly generated wallet or a revoked
//     session, so pay the fsync.
//   - foreign_keys: off by default in SQLite; on, so references are
//     enforced (and cascade) as in PostgreSQL.
//   - _txlock=immediate: transactions take the write lock when they begin,
//     so a read-then-write transaction cannot fail half-way with
//     SQLITE_BUSY when another writer got in first. Transactions are
//     therefore serialised; reads outside a transaction still run beside
//     them (WAL).
//
// journal_mode=WAL (readers and the writer do not block each other) is not
// here: it is stored in the file, so Open sets it once, and switching to it
// needs an exclusive lock that should not be taken by every new pooled
// connection.
const sqliteParams = "_busy_timeout=10000&_synchronous=FULL&_foreign_keys=1&_txlock=immediate"

// sqliteInitTimeout bounds how long Open (and Migrate) retry while another
// connection or process holds a new database busy.
const sqliteInitTimeout = 30 * time.Second

// openSQLite opens (creating if needed) the SQLite database at path. The
// file is created with mode 0600 and a broader mode on an existing file is
// narrowed to 0600; SQLite gives the -wal and -shm files the database
// file's mode.
func openSQLite(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite path: %w", err)
	}
	// Create the file here rather than let SQLite do it, which would use
	// 0644 less the umask.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().Perm()&^0o600 != 0 {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite file mode: %w", err)
	}

	// A file: URI with the path escaped, so a path containing '?', '#' or
	// '%' reaches SQLite intact. SQLite ignores the driver's _ parameters.
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: sqliteParams}).String()
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite: %w", err)
	}
	db := &DB{DB: sdb, d: sqliteDialect}
	if err := retryStartup(ctx, db.setWAL); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// setWAL switches the file to WAL (a no-op once it is).
func (db *DB) setWAL(ctx context.Context) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("sqldb: sqlite journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqldb: sqlite journal_mode: got %q, want wal", mode)
	}
	return nil
}

// retryStartup runs f until it does not fail with a retryable error
// (SQLITE_BUSY or SQLITE_LOCKED, a PostgreSQL serialization failure or
// deadlock), for up to sqliteInitTimeout. busy_timeout covers ordinary
// lock waits, but while a new file is being switched to WAL by one
// connection, SQLite can answer another one BUSY at once, without calling
// the busy handler (seen with several processes, or goroutines, opening a
// fresh file together).
func retryStartup(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, sqliteInitTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || !IsRetryable(err) {
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
