// Package store keeps the sealed objects of the secretd runner, the untrusted
// host half of secretd.
//
// Every object is an opaque blob produced by the enclave: an AEAD ciphertext
// whose associated data binds it to its kind, id and version (DESIGN.md,
// invariant 4). The store therefore never sees plaintext and never tries to
// interpret a blob; it only guarantees what the enclave cannot check on its
// own from inside the TEE:
//
//   - Create never overwrites: two creators racing on one (kind, id) get
//     exactly one winner, so a freshly generated wallet cannot be silently
//     replaced by another.
//   - Update is a compare-and-swap on the version, and the version only moves
//     forward, so two enclave replicas updating one object cannot lose each
//     other's writes.
//   - Input is validated against named limits before the database is touched,
//     and a request that fails changes nothing (DESIGN.md, invariant 6).
//
// A malicious host can still roll an object back or delete it; that is
// detected (or not) by the enclave, not here.
//
// Two backends behave identically and share one conformance test suite:
// SQLite (pure Go, the default for a single runner) and PostgreSQL (for
// several runners sharing one database).
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// Limits. They are part of the API: the enclave must not produce objects
// that exceed them, and the error for each names it.
const (
	MaxKindLen   = 32      // bytes; kinds match [a-z0-9_]{1,32}
	MaxIDLen     = 256     // bytes of valid UTF-8, no NUL
	MaxBlobLen   = 1 << 20 // 1 MiB
	MaxVersion   = math.MaxInt64
	MaxListLimit = 1000
)

// Object is one sealed object as the enclave produced it.
type Object struct {
	Kind    string // e.g. "wallet", "master"; [a-z0-9_]{1,32}
	ID      string // 1..256 bytes, valid UTF-8, no NUL
	Version uint64 // 1..2^63-1; set by the enclave (part of the AEAD associated data)
	Blob    []byte // 1 B .. 1 MiB, opaque
}

// Write is one write of a Batch: a create when Create is set, else an
// update from version Prev.
type Write struct {
	Object Object
	Create bool
	Prev   uint64
}

// MaxBatch bounds the writes of one Batch.
const MaxBatch = 8

// Sentinel errors. Returned errors wrap them with detail; test with errors.Is.
var (
	ErrNotFound = errors.New("store: object not found")
	ErrExists   = errors.New("store: object already exists")
	ErrConflict = errors.New("store: version conflict")
	ErrInvalid  = errors.New("store: invalid input")
)

// Store is the storage of sealed objects. Implementations are safe for
// concurrent use, also by several processes sharing one database.
type Store interface {
	// Get returns the object (kind, id), or an error wrapping ErrNotFound.
	Get(ctx context.Context, kind, id string) (Object, error)
	// Create inserts o. If (o.Kind, o.ID) already exists it returns an
	// error wrapping ErrExists and leaves the stored object unchanged.
	Create(ctx context.Context, o Object) error
	// Update replaces the object (o.Kind, o.ID) with o if and only if the
	// stored version equals prevVersion and o.Version > prevVersion.
	// Otherwise it changes nothing and returns an error wrapping
	// ErrNotFound (no such object) or ErrConflict.
	Update(ctx context.Context, o Object, prevVersion uint64) error
	// Batch applies writes (creates and compare-and-swap updates, as
	// Create and Update) all or none, in one transaction: if any fails,
	// nothing is written and the error is that write's, wrapped with its
	// index. At most MaxBatch writes.
	Batch(ctx context.Context, writes []Write) error
	// List returns up to limit (1..1000) objects of kind whose IDs are
	// greater than afterID, ordered by ID in byte order. Pass the last ID
	// of one page as afterID of the next; "" starts at the beginning.
	List(ctx context.Context, kind, afterID string, limit int) ([]Object, error)
	Close() error
}

// SQLiteFileName is the name of the SQLite database inside the data directory.
const SQLiteFileName = "secretd.db"

// Open opens the runner's store: PostgreSQL at postgresDSN if it is not
// empty, else SQLite at dataDir/secretd.db, creating dataDir (mode 0700) if
// it is missing.
func Open(ctx context.Context, dataDir, postgresDSN string) (Store, error) {
	// Each branch returns nil explicitly on error: returning the typed nil
	// pointer would make a non-nil Store.
	if postgresDSN != "" {
		s, err := OpenPostgres(ctx, postgresDSN)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%w: no data directory and no PostgreSQL DSN", ErrInvalid)
	}
	if err := PrivateDir(dataDir); err != nil {
		return nil, err
	}
	s, err := OpenSQLite(filepath.Join(dataDir, SQLiteFileName))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// validateKind checks kind against [a-z0-9_]{1,32}. Like the other
// validators it never echoes the rejected value (it may be large or
// hostile); the length and the rule are enough to find the bug.
func validateKind(kind string) error {
	if len(kind) == 0 || len(kind) > MaxKindLen {
		return fmt.Errorf("%w: kind is %d bytes, want 1..%d", ErrInvalid, len(kind), MaxKindLen)
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("%w: kind has byte 0x%02x at offset %d, want only [a-z0-9_]", ErrInvalid, c, i)
		}
	}
	return nil
}

// validateID checks an object ID: 1..256 bytes of valid UTF-8 without NUL.
// UTF-8 and no NUL are what PostgreSQL's text type can hold; enforcing them
// for SQLite too keeps the backends identical.
func validateID(id string) error {
	if len(id) == 0 || len(id) > MaxIDLen {
		return fmt.Errorf("%w: id is %d bytes, want 1..%d", ErrInvalid, len(id), MaxIDLen)
	}
	return validateIDChars("id", id)
}

func validateIDChars(name, id string) error {
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, name)
	}
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return fmt.Errorf("%w: %s has a NUL byte at offset %d", ErrInvalid, name, i)
		}
	}
	return nil
}

func validateVersion(name string, v uint64) error {
	// The version is stored as a signed 64-bit integer (PostgreSQL has no
	// unsigned type), so the top half of uint64 is refused rather than
	// wrapped: a wrapped version would compare wrongly anywhere it is
	// ordered.
	if v == 0 || v > MaxVersion {
		return fmt.Errorf("%w: %s is %d, want 1..%d", ErrInvalid, name, v, uint64(MaxVersion))
	}
	return nil
}

func validateObject(o Object) error {
	if err := validateKind(o.Kind); err != nil {
		return err
	}
	if err := validateID(o.ID); err != nil {
		return err
	}
	if err := validateVersion("version", o.Version); err != nil {
		return err
	}
	if len(o.Blob) == 0 || len(o.Blob) > MaxBlobLen {
		return fmt.Errorf("%w: blob is %d bytes, want 1..%d", ErrInvalid, len(o.Blob), MaxBlobLen)
	}
	return nil
}

func validateKey(kind, id string) error {
	if err := validateKind(kind); err != nil {
		return err
	}
	return validateID(id)
}

func validateList(kind, afterID string, limit int) error {
	if err := validateKind(kind); err != nil {
		return err
	}
	if len(afterID) > MaxIDLen {
		return fmt.Errorf("%w: afterID is %d bytes, want 0..%d", ErrInvalid, len(afterID), MaxIDLen)
	}
	if err := validateIDChars("afterID", afterID); err != nil {
		return err
	}
	if limit < 1 || limit > MaxListLimit {
		return fmt.Errorf("%w: limit is %d, want 1..%d", ErrInvalid, limit, MaxListLimit)
	}
	return nil
}

// conflictError explains why a compare-and-swap wrote nothing, given the
// version read after the attempt. It names versions only, never the blob.
func conflictError(o Object, prevVersion, stored uint64) error {
	switch {
	case stored != prevVersion:
		return fmt.Errorf("%w: %s %q is at version %d, not prevVersion %d", ErrConflict, o.Kind, o.ID, stored, prevVersion)
	case o.Version <= prevVersion:
		return fmt.Errorf("%w: %s %q: new version %d does not exceed prevVersion %d", ErrConflict, o.Kind, o.ID, o.Version, prevVersion)
	default:
		// The row did not match when the update ran but matches now: it
		// was created or changed concurrently. Still a conflict; the
		// caller re-reads and retries.
		return fmt.Errorf("%w: %s %q changed during the update", ErrConflict, o.Kind, o.ID)
	}
}

func notFoundError(kind, id string) error {
	return fmt.Errorf("%w: %s %q", ErrNotFound, kind, id)
}

func existsError(kind, id string) error {
	return fmt.Errorf("%w: %s %q", ErrExists, kind, id)
}

// PrivateDir makes dir with mode 0700 if it does not exist. An existing
// directory that other users may read, write or enter is refused, with
// the fix: a data directory holds sealed keys and the database, and its
// mode is the operator's first line of defence on the host.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data directory %s has mode %04o: other users could read or change what it holds. Make it private (chmod 700 %s) and start again", dir, perm, dir)
	}
	return nil
}
