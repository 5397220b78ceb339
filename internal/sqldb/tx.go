package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// MaxTxTries bounds how often Tx runs a transaction that the database
// refused with a retryable error.
const MaxTxTries = 5

// Tx runs fn in a transaction and commits it if fn returns nil; otherwise
// it rolls back and returns fn's error as it is (so callers' sentinel
// errors pass through).
//
// When the database refuses the transaction with an error that says "try
// again" (IsRetryable: SQLite BUSY/LOCKED, a PostgreSQL serialization
// failure or deadlock), at begin, in fn or at commit, Tx rolls back and
// runs fn again, up to MaxTxTries times in all, with a short jittered
// backoff. fn must therefore be safe to rerun: it should reset any state
// it builds outside the transaction.
//
// Isolation: SQLite transactions begin IMMEDIATE and so run one at a time.
// PostgreSQL runs them at its default, READ COMMITTED: a read that a later
// write depends on must lock its row (SELECT … FOR UPDATE) or, better, be
// folded into one conditional UPDATE … RETURNING.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for try := 1; try <= MaxTxTries; try++ {
		if try > 1 {
			if werr := sleep(ctx, backoff(try)); werr != nil {
				return fmt.Errorf("sqldb: transaction: %w (while retrying after: %v)", werr, err)
			}
		}
		err = db.txOnce(ctx, fn)
		if err == nil || !IsRetryable(err) {
			return err
		}
	}
	return fmt.Errorf("sqldb: transaction gave up after %d tries: %w", MaxTxTries, err)
}

func (db *DB) txOnce(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	// A no-op after Commit; on an error or a panic in fn it undoes fn.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	return nil
}

// backoff before try (2…): 10, 20, 40, 80 ms, each ±50% so that retrying
// contenders spread out.
func backoff(try int) time.Duration {
	d := 10 * time.Millisecond << (try - 2)
	return d/2 + rand.N(d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SQLite result codes (https://sqlite.org/rescode.html). The driver turns
// on extended codes; the primary code is the low byte.
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraintFK     = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	sqliteConstraintPK     = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
)

func sqliteCode(err error) (int, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return se.Code(), true
}

func pgCode(err error) (string, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "", false
	}
	return pe.Code, true
}

// IsRetryable reports whether err says the transaction may succeed if run
// again: SQLITE_BUSY or SQLITE_LOCKED (any extended code), or PostgreSQL's
// serialization_failure or deadlock_detected.
func IsRetryable(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code&0xff == sqliteBusy || code&0xff == sqliteLocked
	}
	if code, ok := pgCode(err); ok {
		return code == pgSerializationFailure || code == pgDeadlockDetected
	}
	return false
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint violation.
func IsUniqueViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqliteConstraintUnique || code == sqliteConstraintPK
	}
	code, ok := pgCode(err)
	return ok && code == pgUniqueViolation
}

// IsForeignKeyViolation reports whether err is a FOREIGN KEY constraint
// violation (a reference to a row that does not exist).
func IsForeignKeyViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqliteConstraintFK
	}
	code, ok := pgCode(err)
	return ok && code == pgForeignKeyViolation
}
