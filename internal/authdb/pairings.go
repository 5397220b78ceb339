package authdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Limits of device pairings.
const (
	PairingCodeLen     = 10 // Crockford base32 symbols
	MaxPairingTTL      = 15 * time.Minute
	MaxPairingCred     = 4096  // bytes of the credential's CBOR
	MaxPairingApproval = 65536 // bytes of the approval's JSON
	MaxLivePairings    = 5     // per user, at once
)

// Pairing is a new device's request to join a user's wallet (see
// migrations 0004): its credential, found by its code, and once a device
// of the wallet approved it, that device's stamped policy change.
type Pairing struct {
	ID         string // random; the new device polls with it
	UserID     string
	Code       string
	Credential []byte // canonical CBOR of the policy credential
	UserAgent  string
	Approval   []byte // JSON of the stamped request; nil until approved
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// ErrTooMany reports a user with MaxLivePairings pairings waiting.
var ErrTooMany = errors.New("authdb: too many pairings waiting")

func checkPairingCode(code string) error {
	if len(code) != PairingCodeLen || strings.Trim(code, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return invalid("pairing code must be %d Crockford base32 symbols", PairingCodeLen)
	}
	return nil
}

// CreatePairing stores a pairing under a fresh random id. ErrExists if
// the user has a live pairing with that code; ErrTooMany if they have
// MaxLivePairings live ones.
func (d *DB) CreatePairing(ctx context.Context, userID, code string, credential []byte, userAgent string, now, expires time.Time) (Pairing, error) {
	if err := checkUserID(userID); err != nil {
		return Pairing{}, err
	}
	if err := checkPairingCode(code); err != nil {
		return Pairing{}, err
	}
	if len(credential) == 0 || len(credential) > MaxPairingCred {
		return Pairing{}, invalid("pairing credential must be 1..%d bytes", MaxPairingCred)
	}
	if err := checkTime("now", now); err != nil {
		return Pairing{}, err
	}
	if ttl := trunc(expires).Sub(trunc(now)); ttl <= 0 || ttl > MaxPairingTTL {
		return Pairing{}, invalid("pairing lifetime is %v, want (0, %v]", ttl, MaxPairingTTL)
	}
	if len(userAgent) > MaxUserAgentLen {
		userAgent = userAgent[:MaxUserAgentLen]
	}
	userAgent = strings.ToValidUTF8(userAgent, "")
	var b [16]byte
	rand.Read(b[:])
	p := Pairing{ID: base64.RawURLEncoding.EncodeToString(b[:]), UserID: userID, Code: code, Credential: credential,
		UserAgent: userAgent, CreatedAt: trunc(now), ExpiresAt: trunc(expires)}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		// Expired pairings of this user go first, so they count for nothing
		// and free their codes.
		if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM device_pairings WHERE user_id = ? AND expires_at <= ?`), userID, d.t(now)); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, d.q(`SELECT count(*) FROM device_pairings WHERE user_id = ?`), userID).Scan(&live); err != nil {
			return err
		}
		if live >= MaxLivePairings {
			return ErrTooMany
		}
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO device_pairings (id, user_id, code, credential, user_agent, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), p.ID, userID, code, credential, userAgent, d.t(now), d.t(expires))
		return err
	})
	switch {
	case errors.Is(err, ErrTooMany):
		return Pairing{}, err
	case sqldb.IsUniqueViolation(err):
		return Pairing{}, exists("pairing with this code")
	case err != nil:
		return Pairing{}, dbError("create pairing", err)
	}
	return p, nil
}

const pairingColumns = `id, user_id, code, credential, user_agent, approval, created_at, expires_at`

func scanPairing(row scanner) (Pairing, error) {
	var (
		p                Pairing
		created, expires sqldb.Time
	)
	err := row.Scan(&p.ID, &p.UserID, &p.Code, &p.Credential, &p.UserAgent, &p.Approval, &created, &expires)
	p.CreatedAt, p.ExpiresAt = created.Time, expires.Time
	return p, err
}

func (d *DB) getPairing(ctx context.Context, where string, now time.Time, args ...any) (Pairing, error) {
	if err := checkTime("now", now); err != nil {
		return Pairing{}, err
	}
	p, err := scanPairing(d.db.QueryRowContext(ctx, d.q(`SELECT `+pairingColumns+` FROM device_pairings WHERE `+where+` AND expires_at > ?`), append(args, d.t(now))...))
	if errors.Is(err, sql.ErrNoRows) {
		return Pairing{}, notFound("pairing")
	}
	if err != nil {
		return Pairing{}, dbError("get pairing", err)
	}
	return p, nil
}

// GetPairing returns the user's live pairing with id, or ErrNotFound.
func (d *DB) GetPairing(ctx context.Context, userID, id string, now time.Time) (Pairing, error) {
	if err := checkUserID(userID); err != nil {
		return Pairing{}, err
	}
	if err := checkFlowID(id); err != nil {
		return Pairing{}, invalid("pairing id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	return d.getPairing(ctx, `user_id = ? AND id = ?`, now, userID, id)
}

// GetPairingByCode returns the user's live pairing with code, or
// ErrNotFound.
func (d *DB) GetPairingByCode(ctx context.Context, userID, code string, now time.Time) (Pairing, error) {
	if err := checkUserID(userID); err != nil {
		return Pairing{}, err
	}
	if err := checkPairingCode(code); err != nil {
		return Pairing{}, err
	}
	return d.getPairing(ctx, `user_id = ? AND code = ?`, now, userID, code)
}

// ApprovePairing records the approval of the user's live, unapproved
// pairing with code. ErrNotFound if there is none; ErrConsumed if it was
// approved already.
func (d *DB) ApprovePairing(ctx context.Context, userID, code string, approval []byte, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkPairingCode(code); err != nil {
		return err
	}
	if len(approval) == 0 || len(approval) > MaxPairingApproval {
		return invalid("pairing approval must be 1..%d bytes", MaxPairingApproval)
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`UPDATE device_pairings SET approval = ?
		WHERE user_id = ? AND code = ? AND approval IS NULL AND expires_at > ?`), approval, userID, code, d.t(now)))
	if err != nil {
		return dbError("approve pairing", err)
	}
	if n == 0 {
		if _, err := d.GetPairingByCode(ctx, userID, code, now); err != nil {
			return err
		}
		return fmt.Errorf("%w: pairing approved already", ErrConsumed)
	}
	return nil
}

// DeletePairing removes the user's pairing with id (done with, or
// abandoned). ErrNotFound if there is none.
func (d *DB) DeletePairing(ctx context.Context, userID, id string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkFlowID(id); err != nil {
		return invalid("pairing id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM device_pairings WHERE user_id = ? AND id = ?`), userID, id))
	if err != nil {
		return dbError("delete pairing", err)
	}
	if n == 0 {
		return notFound("pairing")
	}
	return nil
}

// DeleteExpiredPairings deletes the pairings that expired at or before
// before, and returns how many.
func (d *DB) DeleteExpiredPairings(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM device_pairings WHERE expires_at <= ?`), d.t(before)))
	if err != nil {
		return 0, dbError("delete expired pairings", err)
	}
	return n, nil
}
