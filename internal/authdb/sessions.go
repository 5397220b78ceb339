package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// SessionKind is how the session token travels.
type SessionKind string

const (
	SessionCookie SessionKind = "cookie" // browser, HttpOnly cookie
	SessionBearer SessionKind = "bearer" // Authorization header (SDKs, CLI)
)

// Client describes the other end of a request, for the user's list of
// sessions. Callers truncate a longer user agent to MaxUserAgentLen.
type Client struct {
	UserAgent string
	IP        netip.Addr // zero if unknown
}

// Session is one signed-in session. Its ID is the digest of its token.
type Session struct {
	ID        Digest
	UserID    string
	Kind      SessionKind
	CreatedAt time.Time
	LastSeen  time.Time // for the caller's idle timeout
	ExpiresAt time.Time // absolute; valid while now < ExpiresAt
	Client    Client
	// The device credential (session key) bound to this session, if any.
	DeviceCredentialID []byte
	RevokedAt          time.Time // zero while not revoked
	// The session this one was rotated into; zero if it was not. Seeing
	// a rotated session's token again means it was replayed.
	RotatedTo Digest
	// AuthTime is when the user last proved who they are to get this
	// session (a rotation carries it over); zero if not known.
	AuthTime time.Time
	// APIKeyID is the API key the session was signed in with ("" for
	// other sign-ins); a rotation carries it over, and revoking the key
	// revokes the session.
	APIKeyID string
}

// NewSession is what CreateSession stores.
type NewSession struct {
	ID                 Digest // digest of the new token
	UserID             string
	Kind               SessionKind
	ExpiresAt          time.Time // after now, at most MaxSessionTTL later
	Client             Client
	DeviceCredentialID []byte // optional
	APIKeyID           string // optional: the API key it was signed in with
}

func checkClient(c Client) error {
	return checkText("user agent", c.UserAgent, 0, MaxUserAgentLen)
}

// CreateSession stores a new session. ErrExists if a session has this ID;
// ErrNotFound if the user does not exist.
func (d *DB) CreateSession(ctx context.Context, ns NewSession, now time.Time) (Session, error) {
	if ns.ID.IsZero() {
		return Session{}, invalid("session id is zero")
	}
	if err := checkUserID(ns.UserID); err != nil {
		return Session{}, err
	}
	if ns.Kind != SessionCookie && ns.Kind != SessionBearer {
		return Session{}, invalid("session kind is not cookie or bearer")
	}
	if err := checkClient(ns.Client); err != nil {
		return Session{}, err
	}
	if err := checkBytes("device credential id", ns.DeviceCredentialID, 0, MaxCredentialIDLen); err != nil {
		return Session{}, err
	}
	if ns.APIKeyID != "" {
		if err := checkKeyID(ns.APIKeyID); err != nil {
			return Session{}, err
		}
	}
	if err := checkTime("now", now); err != nil {
		return Session{}, err
	}
	if ttl := trunc(ns.ExpiresAt).Sub(trunc(now)); ttl <= 0 || ttl > MaxSessionTTL {
		return Session{}, invalid("session lifetime is %v, want (0, %v]", ttl, MaxSessionTTL)
	}
	s := Session{
		ID: ns.ID, UserID: ns.UserID, Kind: ns.Kind,
		CreatedAt: trunc(now), LastSeen: trunc(now), ExpiresAt: trunc(ns.ExpiresAt),
		Client: ns.Client, DeviceCredentialID: ns.DeviceCredentialID, AuthTime: trunc(now), APIKeyID: ns.APIKeyID,
	}
	return s, d.insertSession(ctx, d.db, s)
}

func (d *DB) insertSession(ctx context.Context, q queryer, s Session) error {
	_, err := q.ExecContext(ctx,
		d.q(`INSERT INTO sessions (id, user_id, kind, created_at, last_seen, expires_at, user_agent, ip, device_credential_id, auth_time, api_key_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		s.ID[:], s.UserID, string(s.Kind), d.t(s.CreatedAt), d.t(s.LastSeen), d.t(s.ExpiresAt),
		s.Client.UserAgent, ipArg(s.Client.IP), bytesArg(s.DeviceCredentialID), d.optT(s.AuthTime), textArg(s.APIKeyID))
	switch {
	case sqldb.IsUniqueViolation(err):
		return exists("session")
	case sqldb.IsForeignKeyViolation(err):
		return notFound("user " + s.UserID)
	case err != nil:
		return dbError("create session", err)
	}
	return nil
}

const sessionColumns = `id, user_id, kind, created_at, last_seen, expires_at, user_agent, ip, device_credential_id, revoked_at, rotated_to, auth_time, api_key_id`

func scanSession(row scanner) (Session, error) { return scanSessionAnd(row) }

// scanSessionAnd scans sessionColumns, then extra.
func scanSessionAnd(row scanner, extra ...any) (Session, error) {
	var (
		s                               Session
		kind                            string
		created, seen, expires, revoked sqldb.Time
		authTime                        sqldb.Time
		apiKey                          sql.NullString
	)
	err := row.Scan(append([]any{scanDigest{&s.ID}, &s.UserID, &kind, &created, &seen, &expires,
		&s.Client.UserAgent, scanIP{&s.Client.IP}, &s.DeviceCredentialID, &revoked, scanDigest{&s.RotatedTo}, &authTime, &apiKey}, extra...)...)
	s.APIKeyID = apiKey.String
	s.Kind = SessionKind(kind)
	s.CreatedAt, s.LastSeen, s.ExpiresAt, s.RevokedAt = created.Time, seen.Time, expires.Time, revoked.Time
	s.AuthTime = authTime.Time
	return s, err
}

func (d *DB) getSession(ctx context.Context, q queryer, id Digest) (Session, error) {
	// A session of a revoked API key counts as revoked then, even one
	// rotated from it after RevokeAPIKey revoked the key's sessions.
	var keyRevoked sqldb.Time
	s, err := scanSessionAnd(q.QueryRowContext(ctx, d.q(`SELECT `+sessionColumns+`,
		(SELECT revoked_at FROM api_keys k WHERE k.id = sessions.api_key_id) FROM sessions WHERE id = ?`), id[:]), &keyRevoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, notFound("session")
	}
	if err != nil {
		return Session{}, dbError("get session", err)
	}
	if s.RevokedAt.IsZero() {
		s.RevokedAt = keyRevoked.Time
	}
	return s, nil
}

// liveKey is the condition that a session's API key, if any, is not
// revoked.
const liveKey = `(api_key_id IS NULL OR NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = sessions.api_key_id AND k.revoked_at IS NOT NULL))`

// sessionError explains why a session cannot be used at now (nil if it
// can).
func sessionError(s Session, now time.Time) error {
	switch {
	case !s.RevokedAt.IsZero():
		return fmt.Errorf("%w: session", ErrRevoked)
	case !trunc(now).Before(s.ExpiresAt):
		return fmt.Errorf("%w: session", ErrExpired)
	}
	return nil
}

// GetSession returns the session whose token has digest id if it is
// neither revoked nor expired at now; else ErrNotFound, ErrExpired, or
// ErrRevoked. With ErrRevoked the session is returned too, so that the
// caller can tell a replayed rotated token (RotatedTo set) and react.
// The idle timeout is the caller's, from LastSeen.
func (d *DB) GetSession(ctx context.Context, id Digest, now time.Time) (Session, error) {
	if err := checkTime("now", now); err != nil {
		return Session{}, err
	}
	s, err := d.getSession(ctx, d.db, id)
	if err != nil {
		return Session{}, err
	}
	if err := sessionError(s, now); err != nil {
		if errors.Is(err, ErrRevoked) {
			return s, err
		}
		return Session{}, err
	}
	return s, nil
}

// TouchSession records activity at now (LastSeen never moves back).
// ErrNotFound, ErrExpired or ErrRevoked if the session is not usable.
func (d *DB) TouchSession(ctx context.Context, id Digest, now time.Time) error {
	if err := checkTime("now", now); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE sessions SET last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END
			WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND `+liveKey),
		d.t(now), d.t(now), id[:], d.t(now)))
	if err != nil {
		return dbError("touch session", err)
	}
	if n == 1 {
		return nil
	}
	s, err := d.getSession(ctx, d.db, id)
	if err != nil {
		return err
	}
	if err := sessionError(s, now); err != nil {
		return err
	}
	return conflict("session changed during the update")
}

// RotateSession replaces session old by a new one with ID newID, in one
// transaction: old is revoked (pointing to newID) and the new session,
// same user, kind, device credential and absolute expiry, is created with
// client c. Of concurrent rotations of one session exactly one succeeds;
// the others get ErrRevoked. ErrNotFound or ErrExpired if old cannot be
// used; ErrExists if newID is taken (and then nothing changes).
func (d *DB) RotateSession(ctx context.Context, old, newID Digest, c Client, now time.Time) (Session, error) {
	if newID.IsZero() || newID == old {
		return Session{}, invalid("new session id is zero or the old one")
	}
	if err := checkClient(c); err != nil {
		return Session{}, err
	}
	if err := checkTime("now", now); err != nil {
		return Session{}, err
	}
	var out Session
	err := d.tx(ctx, func(tx *sql.Tx) error {
		// Revoke first, conditionally, in one statement that locks the
		// row: a concurrent rotation waits and then finds it revoked.
		prev, err := scanSession(tx.QueryRowContext(ctx,
			d.q(`UPDATE sessions SET revoked_at = ?, rotated_to = ?
				WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND `+liveKey+`
				RETURNING `+sessionColumns),
			d.t(now), newID[:], old[:], d.t(now)))
		if errors.Is(err, sql.ErrNoRows) {
			s, err := d.getSession(ctx, tx, old)
			if err != nil {
				return err
			}
			if err := sessionError(s, now); err != nil {
				return err
			}
			return conflict("session changed during the rotation")
		}
		if err != nil {
			return dbError("rotate session", err)
		}
		out = Session{
			ID: newID, UserID: prev.UserID, Kind: prev.Kind,
			CreatedAt: trunc(now), LastSeen: trunc(now), ExpiresAt: prev.ExpiresAt,
			Client: c, DeviceCredentialID: prev.DeviceCredentialID, AuthTime: prev.AuthTime, APIKeyID: prev.APIKeyID,
		}
		return d.insertSession(ctx, tx, out)
	})
	if err != nil {
		return Session{}, err
	}
	return out, nil
}

// RevokeSession revokes one of the user's sessions. Revoking a revoked
// session is not an error; a session of another user is ErrNotFound.
func (d *DB) RevokeSession(ctx context.Context, userID string, id Digest, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`),
		d.t(now), id[:], userID))
	if err != nil {
		return dbError("revoke session", err)
	}
	if n == 0 {
		return notFound("session")
	}
	return nil
}

// RevokeRotatedFrom revokes every session of the user that session id was
// rotated into, directly or through others: the chain along which whoever
// holds a copy of id's token may have rotated it. It returns how many it
// revoked. It is one statement, so a rotation at the same time either
// comes before it (and its new session is in the chain) or finds its
// session revoked.
func (d *DB) RevokeRotatedFrom(ctx context.Context, userID string, id Digest, now time.Time) (int64, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	if err := checkTime("now", now); err != nil {
		return 0, err
	}
	// UNION (not UNION ALL) ends the walk at a session seen before.
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`WITH RECURSIVE chain(id) AS (
				SELECT rotated_to FROM sessions WHERE id = ? AND user_id = ? AND rotated_to IS NOT NULL
				UNION
				SELECT s.rotated_to FROM sessions s JOIN chain c ON s.id = c.id
					WHERE s.user_id = ? AND s.rotated_to IS NOT NULL)
			UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IN (SELECT id FROM chain)`),
		id[:], userID, userID, d.t(now), userID))
	if err != nil {
		return 0, dbError("revoke rotated sessions", err)
	}
	return n, nil
}

// RevokeOtherSessions revokes every session of the user except keep (pass
// the zero Digest to revoke them all) and returns how many it revoked.
func (d *DB) RevokeOtherSessions(ctx context.Context, userID string, keep Digest, now time.Time) (int64, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	if err := checkTime("now", now); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`),
		d.t(now), userID, keep[:]))
	if err != nil {
		return 0, dbError("revoke sessions", err)
	}
	return n, nil
}

// ListSessions returns the user's usable sessions (not revoked, not
// expired at now), oldest first.
func (d *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if err := checkTime("now", now); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+sessionColumns+` FROM sessions
			WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND `+liveKey+`
			ORDER BY created_at, id LIMIT ?`),
		userID, d.t(now), MaxListLimit)
	ss, err := collect(rows, err, scanSession)
	if err != nil {
		return nil, dbError("list sessions", err)
	}
	return ss, nil
}

// DeleteExpiredSessions deletes the sessions (revoked or not) that expired
// at or before before, and returns how many. Revoked sessions are kept
// until then so that a replayed token is recognised as such.
func (d *DB) DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM sessions WHERE expires_at <= ?`), d.t(before)))
	if err != nil {
		return 0, dbError("delete expired sessions", err)
	}
	return n, nil
}
