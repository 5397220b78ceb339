package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// MaxSetNameLen bounds MigrationSet.Name, which matches [a-z0-9_]{1,32}.
const MaxSetNameLen = 32

// A MigrationSet is the schema of one package: plain SQL files named
// NNNN_description.sql in <Dir>/sqlite/ and <Dir>/postgres/ of FS (usually
// an embed.FS). Versions run 1, 2, 3, … without gaps. Never edit a
// migration that has been released; add the next one.
//
// Several sets live side by side in one database: schema_migrations is
// keyed by (set_name, version).
type MigrationSet struct {
	Name string // [a-z0-9_]{1,32}; the key in schema_migrations
	FS   fs.FS
	Dir  string
	// Legacy marks the one set (internal/store's) whose versions may be
	// recorded in the single-set schema_migrations table (version,
	// applied_at) written before sqldb existed. Migrate converts such a
	// table in place, giving its rows to this set. A set without Legacy
	// refuses to touch it.
	Legacy bool
}

// Migration is one migration file.
type Migration struct {
	Version int
	Name    string // file name, for messages
	SQL     string
}

// Load reads the set's migrations for dialect and checks that their
// versions run 1, 2, 3, … without gaps or duplicates.
func (s MigrationSet) Load(dialect string) ([]Migration, error) {
	if err := validateSetName(s.Name); err != nil {
		return nil, err
	}
	dir := path.Join(s.Dir, dialect)
	entries, err := fs.ReadDir(s.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqldb: read %s/%s migrations: %w", s.Name, dialect, err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || e.IsDir() || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqldb: migration %s/%s/%s: want name NNNN_description.sql", s.Name, dialect, name)
		}
		b, err := fs.ReadFile(s.FS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sqldb: read migration %s/%s/%s: %w", s.Name, dialect, name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("sqldb: migration %s/%s/%s has version %d, want %d", s.Name, dialect, m.Name, m.Version, i+1)
		}
	}
	return ms, nil
}

// Pending returns the set's migrations for dialect after version current.
// A database whose schema is newer than this binary knows is refused:
// running old code on it could misread or damage data written by the newer
// one.
func (s MigrationSet) Pending(dialect string, current int) ([]Migration, error) {
	ms, err := s.Load(dialect)
	if err != nil {
		return nil, err
	}
	return pending(s.Name, ms, current)
}

func pending(set string, ms []Migration, current int) ([]Migration, error) {
	if current < 0 || current > len(ms) {
		return nil, fmt.Errorf("sqldb: migration set %s: database schema version %d is newer than this binary supports (%d)", set, current, len(ms))
	}
	return ms[current:], nil
}

func validateSetName(name string) error {
	if len(name) == 0 || len(name) > MaxSetNameLen {
		return fmt.Errorf("sqldb: migration set name is %d bytes, want 1..%d", len(name), MaxSetNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("sqldb: migration set name has byte 0x%02x at offset %d, want only [a-z0-9_]", c, i)
		}
	}
	return nil
}

// Migrate brings the set's schema up to date: it applies the migrations
// after the set's recorded version in order, each exactly once, all in one
// transaction together with their rows in schema_migrations, so a failed
// migration leaves the schema as it was. Concurrent migrators (goroutines
// or processes) are serialised by a lock; the later ones find nothing to do.
func (db *DB) Migrate(ctx context.Context, set MigrationSet) error {
	ms, err := set.Load(db.d.name)
	if err != nil {
		return err
	}
	return retryStartup(ctx, func(ctx context.Context) error { return db.migrate(ctx, set, ms) })
}

func (db *DB) migrate(ctx context.Context, set MigrationSet, ms []Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: begin: %w", set.Name, err)
	}
	defer tx.Rollback()
	if db.d.lock != "" {
		// Taken first, before even CREATE TABLE IF NOT EXISTS (which is
		// not safe against a concurrent twin), and released by commit or
		// rollback.
		if _, err := tx.ExecContext(ctx, db.d.lock); err != nil {
			return fmt.Errorf("sqldb: migrate %s: lock: %w", set.Name, err)
		}
	}
	if err := db.convertLegacyTable(ctx, tx, set); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.d.migrationsTable); err != nil {
		return fmt.Errorf("sqldb: migrate %s: create schema_migrations: %w", set.Name, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx,
		db.Q(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE set_name = ?`), set.Name,
	).Scan(&current); err != nil {
		return fmt.Errorf("sqldb: migrate %s: read schema version: %w", set.Name, err)
	}
	todo, err := pending(set.Name, ms, current)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqldb: migrate %s: apply %s: %w", set.Name, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			db.Q(`INSERT INTO schema_migrations (set_name, version) VALUES (?, ?)`), set.Name, m.Version,
		); err != nil {
			return fmt.Errorf("sqldb: migrate %s: record %s: %w", set.Name, m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: migrate %s: commit: %w", set.Name, err)
	}
	return nil
}

// convertLegacyTable replaces a single-set schema_migrations (version,
// applied_at), as internal/store wrote it before sqldb, by the keyed one,
// giving its rows to set. It runs under the migration lock.
func (db *DB) convertLegacyTable(ctx context.Context, tx *sql.Tx, set MigrationSet) error {
	var exists, keyed int
	if err := tx.QueryRowContext(ctx, db.d.probeMigrationsTable).Scan(&exists, &keyed); err != nil {
		return fmt.Errorf("sqldb: migrate %s: inspect schema_migrations: %w", set.Name, err)
	}
	if exists == 0 || keyed == 1 {
		return nil
	}
	if !set.Legacy {
		return fmt.Errorf("sqldb: migrate %s: schema_migrations has the single-set layout of an older binary; migrate the set that owns it first", set.Name)
	}
	// Read the rows out and recreate the table rather than rename it:
	// PostgreSQL would keep the old primary key index's name and the new
	// table's could not take it. applied_at goes back as it came (text in
	// SQLite, a time in PostgreSQL).
	type row struct {
		version int64
		applied any
	}
	var old []row
	rows, err := tx.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: read legacy schema_migrations: %w", set.Name, err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.version, &r.applied); err != nil {
			rows.Close()
			return fmt.Errorf("sqldb: migrate %s: read legacy schema_migrations: %w", set.Name, err)
		}
		old = append(old, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqldb: migrate %s: read legacy schema_migrations: %w", set.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE schema_migrations`); err != nil {
		return fmt.Errorf("sqldb: migrate %s: drop legacy schema_migrations: %w", set.Name, err)
	}
	if _, err := tx.ExecContext(ctx, db.d.migrationsTable); err != nil {
		return fmt.Errorf("sqldb: migrate %s: create schema_migrations: %w", set.Name, err)
	}
	for _, r := range old {
		if _, err := tx.ExecContext(ctx,
			db.Q(`INSERT INTO schema_migrations (set_name, version, applied_at) VALUES (?, ?, ?)`),
			set.Name, r.version, r.applied,
		); err != nil {
			return fmt.Errorf("sqldb: migrate %s: copy legacy version %d: %w", set.Name, r.version, err)
		}
	}
	return nil
}

// SchemaVersion is the highest applied migration of the named set (0 if
// none, or if the database has no schema_migrations yet).
func (db *DB) SchemaVersion(ctx context.Context, set string) (int, error) {
	var exists, keyed int
	if err := db.QueryRowContext(ctx, db.d.probeMigrationsTable).Scan(&exists, &keyed); err != nil {
		return 0, fmt.Errorf("sqldb: schema version of %s: %w", set, err)
	}
	if exists == 0 {
		return 0, nil
	}
	if keyed == 0 {
		return 0, fmt.Errorf("sqldb: schema version of %s: schema_migrations has the single-set layout of an older binary", set)
	}
	var v int
	err := db.QueryRowContext(ctx,
		db.Q(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE set_name = ?`), set,
	).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqldb: schema version of %s: %w", set, err)
	}
	return v, nil
}
