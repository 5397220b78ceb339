// Package sqldb is the database layer the niomon packages share: one
// database/sql handle on SQLite (pure Go, the default) or PostgreSQL, the
// little each of those spells differently (placeholders, the current time,
// the migration lock), per-package migration sets, transactions that retry
// when the database asks them to, and error classification.
//
// Packages write their SQL once, with ? placeholders, pass it through Q,
// and keep one directory of migrations per dialect. Everything else is
// plain database/sql: DB embeds the *sql.DB.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Dialect names, as Name returns them and as the migration directories are
// named.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ErrConfig is wrapped by the errors of Open for a configuration that
// cannot work (no backend, two backends, an unparsable DSN).
var ErrConfig = errors.New("sqldb: invalid configuration")

// Config selects the backend: exactly one of the fields is set.
type Config struct {
	// SQLitePath is the database file, created with mode 0600 if missing.
	SQLitePath string
	// PostgresDSN is a URL or key=value connection string, as pgx accepts
	// (search_path may be set in it). It is never echoed in errors.
	PostgresDSN string
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	*sql.DB
	d    dialect
	pool *pgxpool.Pool // PostgreSQL only: closed after the *sql.DB
}

type dialect struct {
	name string // SQLite or Postgres; also migrations/<name>/
	// numbered placeholders ($1, $2 …) instead of ?
	numbered bool
	// lock, run first in the migration transaction, keeps two migrators
	// apart (empty: the transaction itself does, as SQLite's BEGIN
	// IMMEDIATE).
	lock string
	// migrationsTable creates schema_migrations if it is missing.
	migrationsTable string
	// probeMigrationsTable returns two 0/1 integers: whether
	// schema_migrations exists, and whether it has the set_name column.
	probeMigrationsTable string
	// now is the SQL for the current time in the schema's timestamp form.
	now string
}

// Open opens the database cfg names. For SQLite it creates the file (mode
// 0600) and switches it to WAL; it applies no migrations: each package
// that keeps tables in the database calls Migrate with its own set.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case cfg.SQLitePath != "" && cfg.PostgresDSN != "":
		return nil, fmt.Errorf("%w: both a SQLite path and a PostgreSQL DSN are set, want one", ErrConfig)
	case cfg.PostgresDSN != "":
		return openPostgres(ctx, cfg.PostgresDSN)
	case cfg.SQLitePath != "":
		return openSQLite(ctx, cfg.SQLitePath)
	default:
		return nil, fmt.Errorf("%w: neither a SQLite path nor a PostgreSQL DSN is set", ErrConfig)
	}
}

// Name is the dialect: SQLite ("sqlite") or Postgres ("postgres").
func (db *DB) Name() string { return db.d.name }

// Now is the SQL expression for the current time, in the form the schema
// keeps timestamps in (see Time): for columns the database stamps itself,
// such as an updated_at. Code that compares times should pass them in.
func (db *DB) Now() string { return db.d.now }

// Q rewrites the ? placeholders of query for the dialect: unchanged for
// SQLite, $1, $2, … for PostgreSQL. A ? inside a '…' string literal, a
// "…" identifier or a comment is left alone. E'…' escape strings and
// $$…$$ dollar quoting are not recognised, and a ? must not be followed
// directly by a digit (SQLite would read ?NNN as a numbered parameter, and
// $1 followed by digits is another number): queries are written without
// them.
func (db *DB) Q(query string) string {
	if !db.d.numbered {
		return query
	}
	return numberPlaceholders(query)
}

func numberPlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// To the closing quote. A doubled quote inside ('it''s')
			// closes and reopens, which this handles by itself.
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				end = len(query)
			} else {
				end += i + 2
			}
			b.WriteString(query[i:end])
			i = end
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query)
			} else {
				end += i + 1
			}
			b.WriteString(query[i:end])
			i = end
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			// PostgreSQL nests block comments; these queries do not.
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				end = len(query)
			} else {
				end += i + 4
			}
			b.WriteString(query[i:end])
			i = end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// Close closes the database; calls after Close fail.
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}
