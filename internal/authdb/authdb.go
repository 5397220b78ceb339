// Package authdb is the niomon server's database: users and everything
// about signing in (email identities, login challenges, rate limits,
// sessions, API keys, passkeys, OIDC identities, devices), a cache of
// public addresses and an audit log. It runs on SQLite or PostgreSQL
// through sqldb; both behave identically and share one conformance suite.
//
// It stores no secret in plaintext. One-time codes, magic-link tokens and
// session tokens reach it only as Digests, HMAC-SHA256(server key, secret)
// computed by the caller; it stores and compares those and never sees the
// secrets. A copy of the database therefore lets nobody sign in.
//
// Every time is passed in by the caller (now), so one clock decides and
// tests control it. Times are stored to the millisecond
// (sqldb.TimePrecision); values read back are truncated accordingly.
//
// Errors wrap the sentinels below with detail; test them with errors.Is.
// Their text never contains an input that could be a secret (digests,
// codes, tokens) nor an email address.
package authdb

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Sentinel errors.
var (
	ErrNotFound        = errors.New("authdb: not found")
	ErrExists          = errors.New("authdb: already exists")
	ErrInvalid         = errors.New("authdb: invalid input")
	ErrConflict        = errors.New("authdb: conflicting state") // e.g. activating an active user
	ErrExpired         = errors.New("authdb: expired")
	ErrConsumed        = errors.New("authdb: already used")
	ErrRevoked         = errors.New("authdb: revoked")
	ErrTooManyAttempts = errors.New("authdb: too many attempts")
	ErrMismatch        = errors.New("authdb: code does not match")
	ErrLimited         = errors.New("authdb: rate limit reached")
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Migrations is the package's schema, as a sqldb migration set (for ops
// tools; Open and New apply it).
var Migrations = sqldb.MigrationSet{Name: "authdb", FS: migrationFiles, Dir: "migrations"}

// DB is the auth database. It is safe for concurrent use, also by several
// processes sharing one database.
type DB struct {
	db  *sqldb.DB
	own bool // Close closes db
}

// Open opens the database cfg names, brings its schema up to date, and
// owns it: Close closes it.
func Open(ctx context.Context, cfg sqldb.Config) (*DB, error) {
	db, err := sqldb.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("authdb: %w", err)
	}
	d, err := New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	d.own = true
	return d, nil
}

// New brings the schema of an open database (which other packages may
// share) up to date. Close does not close db.
func New(ctx context.Context, db *sqldb.DB) (*DB, error) {
	if err := db.Migrate(ctx, Migrations); err != nil {
		return nil, fmt.Errorf("authdb: %w", err)
	}
	return &DB{db: db}, nil
}

// Close closes the database if Open opened it.
func (d *DB) Close() error {
	if d.own {
		return d.db.Close()
	}
	return nil
}

// Digest is HMAC-SHA256(server key, secret) of a one-time code, a
// magic-link token or a session token, computed by the caller. The zero
// Digest means "none" where a digest is optional.
type Digest [32]byte

// IsZero reports whether d is the zero Digest.
func (d Digest) IsZero() bool { return d == Digest{} }

// Equal compares in constant time.
func (d Digest) Equal(e Digest) bool { return subtle.ConstantTimeCompare(d[:], e[:]) == 1 }

// Hex is the lowercase hex form, e.g. a session id shown to its user.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// ParseDigest parses the Hex form (64 lowercase hex digits), as a session
// id comes back from a client.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return Digest{}, fmt.Errorf("%w: digest is %d characters, want %d hex digits", ErrInvalid, len(s), 2*len(d))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Digest{}, fmt.Errorf("%w: digest has a character other than 0-9a-f at offset %d", ErrInvalid, i)
		}
	}
	hex.Decode(d[:], []byte(s))
	return d, nil
}

// digestArg is the query argument for an optional digest: NULL for zero.
func digestArg(d Digest) any {
	if d.IsZero() {
		return nil
	}
	return d[:]
}

// scanDigest reads a 32-byte (or NULL, as zero) column.
type scanDigest struct{ d *Digest }

func (s scanDigest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.d = Digest{}
	case []byte:
		if len(v) != len(s.d) {
			return fmt.Errorf("authdb: stored digest is %d bytes, want %d", len(v), len(s.d))
		}
		copy(s.d[:], v)
	default:
		return fmt.Errorf("authdb: scan %T as a digest", src)
	}
	return nil
}

// ipArg is the query argument for an optional address: NULL if invalid.
func ipArg(ip netip.Addr) any {
	if !ip.IsValid() {
		return nil
	}
	return ip.String()
}

// scanIP reads an address column (NULL as the zero Addr).
type scanIP struct{ ip *netip.Addr }

func (s scanIP) Scan(src any) error {
	var str string
	switch v := src.(type) {
	case nil:
		*s.ip = netip.Addr{}
		return nil
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("authdb: scan %T as an IP address", src)
	}
	ip, err := netip.ParseAddr(str)
	if err != nil {
		return fmt.Errorf("authdb: stored IP address does not parse")
	}
	*s.ip = ip
	return nil
}

// bytesArg is the query argument for optional bytes: NULL for empty.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// textArg is the query argument for optional text: NULL for "".
func textArg(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// t is the query argument for a time.
func (d *DB) t(tm time.Time) any { return d.db.Time(tm) }

// optT is the query argument for an optional time: NULL for zero.
func (d *DB) optT(tm time.Time) any {
	if tm.IsZero() {
		return nil
	}
	return d.db.Time(tm)
}

// q rewrites placeholders for the dialect.
func (d *DB) q(query string) string { return d.db.Q(query) }

// tx runs fn in a retried transaction (sqldb.DB.Tx).
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error { return d.db.Tx(ctx, fn) }

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(...any) error }

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// affected returns the rows an Exec changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// dbError wraps an unexpected database error with what was being done.
// The detail never includes the arguments.
func dbError(op string, err error) error {
	return fmt.Errorf("authdb: %s: %w", op, err)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, err error, scan func(row scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func notFound(what string) error { return fmt.Errorf("%w: %s", ErrNotFound, what) }

func exists(what string) error { return fmt.Errorf("%w: %s", ErrExists, what) }

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConflict}, args...)...)
}

// trunc is t as it reads back from the database.
func trunc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(sqldb.TimePrecision)
}

// Ping checks that the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("authdb: ping: %w", err)
	}
	return nil
}
