package authdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Purpose says what a login challenge proves when it succeeds. Values
// match [a-z0-9_]{1,32}; these are the ones the server uses.
type Purpose string

const (
	PurposeSignIn      Purpose = "sign_in"      // sign in, or sign up if the address is new
	PurposeVerifyEmail Purpose = "verify_email" // add an address to a signed-in user
)

// FlowIDLen is the length of a challenge id: 16 random bytes in unpadded
// base64url.
const FlowIDLen = 22

// Challenge is one email login flow: a one-time code, a magic link, or
// both, sent to Email. Its digests are not returned: they are only ever
// compared, here.
type Challenge struct {
	ID         string // random; identifies the flow to the browser that started it
	Email      string
	Purpose    Purpose
	IP         netip.Addr // of the request that started it; zero if unknown
	HasCode    bool
	LongCode   bool // the code is a long one (see NewChallenge)
	HasLink    bool
	Attempts   int // code attempts so far, right or wrong
	CreatedAt  time.Time
	ExpiresAt  time.Time // valid while now < ExpiresAt
	ConsumedAt time.Time // zero until a right code or the link is used
}

// NewChallenge is what CreateChallenge stores. At least one of Code and
// Link is set.
type NewChallenge struct {
	Email   string // normalised
	Purpose Purpose
	Code    Digest // digest of the one-time code; zero: no code
	// LongCode says the code is a long one, which the caller limits
	// differently from a short one.
	LongCode  bool
	Link      Digest // digest of the magic-link token; zero: no link
	IP        netip.Addr
	ExpiresAt time.Time // after now, at most MaxChallengeTTL later
}

// CreateChallenge stores a new challenge under a fresh random id.
// ErrExists if another challenge has the same link digest. Rate limits are
// the caller's (Allow with ChallengesPerEmail, ChallengesPerIP).
func (d *DB) CreateChallenge(ctx context.Context, nc NewChallenge, now time.Time) (Challenge, error) {
	if err := checkEmail(nc.Email); err != nil {
		return Challenge{}, err
	}
	if err := checkToken("purpose", string(nc.Purpose), 1, MaxPurposeLen, "_"); err != nil {
		return Challenge{}, err
	}
	if nc.Code.IsZero() && nc.Link.IsZero() {
		return Challenge{}, invalid("challenge has neither a code nor a link digest")
	}
	if nc.LongCode && nc.Code.IsZero() {
		return Challenge{}, invalid("challenge has a long code but no code digest")
	}
	if err := checkTime("now", now); err != nil {
		return Challenge{}, err
	}
	if ttl := trunc(nc.ExpiresAt).Sub(trunc(now)); ttl <= 0 || ttl > MaxChallengeTTL {
		return Challenge{}, invalid("challenge lifetime is %v, want (0, %v]", ttl, MaxChallengeTTL)
	}
	var b [16]byte
	rand.Read(b[:])
	c := Challenge{
		ID:        base64.RawURLEncoding.EncodeToString(b[:]),
		Email:     nc.Email,
		Purpose:   nc.Purpose,
		IP:        nc.IP,
		HasCode:   !nc.Code.IsZero(),
		LongCode:  nc.LongCode,
		HasLink:   !nc.Link.IsZero(),
		CreatedAt: trunc(now),
		ExpiresAt: trunc(nc.ExpiresAt),
	}
	_, err := d.db.ExecContext(ctx,
		d.q(`INSERT INTO login_challenges (id, email, purpose, code_digest, long_code, link_digest, ip, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Email, string(c.Purpose), digestArg(nc.Code), nc.LongCode, digestArg(nc.Link), ipArg(c.IP), d.t(now), d.t(nc.ExpiresAt))
	if sqldb.IsUniqueViolation(err) {
		return Challenge{}, exists("challenge with this link")
	}
	if err != nil {
		return Challenge{}, dbError("create challenge", err)
	}
	return c, nil
}

const challengeColumns = `id, email, purpose, ip, code_digest, long_code, link_digest, attempts, created_at, expires_at, consumed_at`

// scanChallenge reads challengeColumns; code receives the code digest.
func scanChallenge(row scanner, code *Digest) (Challenge, error) {
	var (
		c                          Challenge
		purpose                    string
		link                       Digest
		created, expires, consumed sqldb.Time
	)
	err := row.Scan(&c.ID, &c.Email, &purpose, scanIP{&c.IP}, scanDigest{code}, &c.LongCode, scanDigest{&link},
		&c.Attempts, &created, &expires, &consumed)
	c.Purpose, c.HasCode, c.HasLink = Purpose(purpose), !code.IsZero(), !link.IsZero()
	c.CreatedAt, c.ExpiresAt, c.ConsumedAt = created.Time, expires.Time, consumed.Time
	return c, err
}

func checkFlowID(id string) error {
	if len(id) != FlowIDLen {
		return invalid("challenge id is %d bytes, want %d", len(id), FlowIDLen)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil {
		return invalid("challenge id is not unpadded base64url")
	}
	return nil
}

// GetChallenge returns the challenge, in whatever state, or ErrNotFound.
func (d *DB) GetChallenge(ctx context.Context, id string) (Challenge, error) {
	if err := checkFlowID(id); err != nil {
		return Challenge{}, err
	}
	return d.getChallenge(ctx, d.db, `id = ?`, id)
}

func (d *DB) getChallenge(ctx context.Context, q queryer, where string, arg any) (Challenge, error) {
	var code Digest
	c, err := scanChallenge(q.QueryRowContext(ctx, d.q(`SELECT `+challengeColumns+` FROM login_challenges WHERE `+where), arg), &code)
	if errors.Is(err, sql.ErrNoRows) {
		return Challenge{}, notFound("challenge")
	}
	if err != nil {
		return Challenge{}, dbError("get challenge", err)
	}
	return c, nil
}

// challengeError explains why a challenge could not be used at now.
func challengeError(c Challenge, now time.Time) error {
	switch {
	case !c.ConsumedAt.IsZero():
		return fmt.Errorf("%w: challenge", ErrConsumed)
	case !trunc(now).Before(c.ExpiresAt):
		return fmt.Errorf("%w: challenge", ErrExpired)
	case c.Attempts >= MaxCodeAttempts:
		return fmt.Errorf("%w: challenge had %d of %d code attempts", ErrTooManyAttempts, c.Attempts, MaxCodeAttempts)
	}
	return nil
}

// AttemptCode checks a code against the challenge id. Every attempt counts
// (right or wrong) and at most MaxCodeAttempts are allowed, however many
// are made at once; a right one consumes the challenge. It returns the
// consumed challenge, or ErrMismatch (a wrong code; the attempt is
// recorded), ErrTooManyAttempts, ErrExpired, ErrConsumed or ErrNotFound.
func (d *DB) AttemptCode(ctx context.Context, id string, code Digest, now time.Time) (Challenge, error) {
	if err := checkFlowID(id); err != nil {
		return Challenge{}, err
	}
	if code.IsZero() {
		return Challenge{}, invalid("code digest is zero")
	}
	if err := checkTime("now", now); err != nil {
		return Challenge{}, err
	}
	var (
		out     Challenge
		outcome error // returned after the transaction commits
	)
	err := d.tx(ctx, func(tx *sql.Tx) error {
		out, outcome = Challenge{}, nil
		// The attempt is counted and the limits checked in one
		// statement, which locks the row: a concurrent attempt waits and
		// then sees this one's count, so the limit holds under any
		// concurrency.
		var stored Digest
		c, err := scanChallenge(tx.QueryRowContext(ctx,
			d.q(`UPDATE login_challenges SET attempts = attempts + 1
				WHERE id = ? AND consumed_at IS NULL AND expires_at > ? AND attempts < ? AND code_digest IS NOT NULL
				RETURNING `+challengeColumns),
			id, d.t(now), MaxCodeAttempts), &stored)
		if errors.Is(err, sql.ErrNoRows) {
			c, err := d.getChallenge(ctx, tx, `id = ?`, id)
			if err != nil {
				return err
			}
			outcome = challengeError(c, now)
			if outcome == nil { // not consumed, not expired, attempts left
				outcome = invalid("challenge has no code")
			}
			return nil
		}
		if err != nil {
			return dbError("attempt code", err)
		}
		if !stored.Equal(code) {
			// Commit the counted attempt, report the mismatch.
			outcome = fmt.Errorf("%w (attempt %d of %d)", ErrMismatch, c.Attempts, MaxCodeAttempts)
			return nil
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE login_challenges SET consumed_at = ? WHERE id = ?`), d.t(now), id); err != nil {
			return dbError("consume challenge", err)
		}
		c.ConsumedAt = trunc(now)
		out = c
		return nil
	})
	if err != nil {
		return Challenge{}, err
	}
	return out, outcome
}

// ConsumeLink uses the magic link whose token has digest link: once. A
// second use is ErrConsumed. A challenge that has run out of code attempts
// (someone guessing its code) refuses its link too.
func (d *DB) ConsumeLink(ctx context.Context, link Digest, now time.Time) (Challenge, error) {
	if link.IsZero() {
		return Challenge{}, invalid("link digest is zero")
	}
	if err := checkTime("now", now); err != nil {
		return Challenge{}, err
	}
	var code Digest
	c, err := scanChallenge(d.db.QueryRowContext(ctx,
		d.q(`UPDATE login_challenges SET consumed_at = ?
			WHERE link_digest = ? AND consumed_at IS NULL AND expires_at > ? AND attempts < ?
			RETURNING `+challengeColumns),
		d.t(now), link[:], d.t(now), MaxCodeAttempts), &code)
	if errors.Is(err, sql.ErrNoRows) {
		c, err := d.getChallenge(ctx, d.db, `link_digest = ?`, link[:])
		if err != nil {
			return Challenge{}, err
		}
		if err := challengeError(c, now); err != nil {
			return Challenge{}, err
		}
		return Challenge{}, conflict("challenge changed during the update")
	}
	if err != nil {
		return Challenge{}, dbError("consume link", err)
	}
	return c, nil
}

// PeekLink returns the challenge of the magic link whose token has digest
// link, without using it, if the link can still sign in; otherwise the
// error ConsumeLink would give.
func (d *DB) PeekLink(ctx context.Context, link Digest, now time.Time) (Challenge, error) {
	if link.IsZero() {
		return Challenge{}, invalid("link digest is zero")
	}
	if err := checkTime("now", now); err != nil {
		return Challenge{}, err
	}
	c, err := d.getChallenge(ctx, d.db, `link_digest = ?`, link[:])
	if err != nil {
		return Challenge{}, err
	}
	if err := challengeError(c, now); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// DeleteExpiredChallenges deletes the challenges that expired at or
// before before, and returns how many.
func (d *DB) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM login_challenges WHERE expires_at <= ?`), d.t(before)))
	if err != nil {
		return 0, dbError("delete expired challenges", err)
	}
	return n, nil
}
