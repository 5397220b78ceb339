package authdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/niomon/niomon/internal/sqldb"
)

// UserState is where a user is in sign-up.
type UserState string

const (
	// UserPending: signed up, no wallet yet. Pending users that never get
	// one are deleted by cleanup (ListPendingUsers, DeletePendingUser).
	UserPending UserState = "pending"
	// UserActive: the wallet exists. An active user is never deleted here.
	UserActive UserState = "active"
)

// User is one account.
type User struct {
	ID        string // canonical lowercase UUID (v4), issued by CreateUser
	CreatedAt time.Time
	State     UserState
	// WebAuthnHandle is the user's WebAuthn user.id, 1..64 opaque bytes,
	// unique: what authenticators return as userHandle.
	WebAuthnHandle []byte
	// Set by ActivateUser: when, and the credential the wallet was
	// created with (the first in its policy). Zero/nil while pending.
	ActivatedAt        time.Time
	WalletCredentialID []byte
}

// NewUser is what CreateUser links to a new user in the same transaction,
// so that a sign-up either gets its identity or does not happen (two
// sign-ups racing for one email: one user, not two).
type NewUser struct {
	Email           string        // optional: a normalised email address
	EmailVerifiedAt time.Time     // zero: not verified
	OIDC            *OIDCIdentity // optional: Provider, Subject, Email
	// WebAuthnHandle is the WebAuthn user.id, when a passkey ceremony
	// chose it before the user existed; empty: CreateUser generates 64
	// random bytes (WebAuthn §14.6.1).
	WebAuthnHandle []byte
}

// WebAuthnHandleLen is the length of the user handles CreateUser
// generates; MaxWebAuthnHandleLen bounds any (WebAuthn §5.4.3).
const (
	WebAuthnHandleLen    = 64
	MaxWebAuthnHandleLen = 64
)

// CreateUser creates a pending user with nu's identities. If an identity
// is already linked to someone it returns ErrExists and creates nothing.
func (d *DB) CreateUser(ctx context.Context, nu NewUser, now time.Time) (User, error) {
	if err := checkTime("now", now); err != nil {
		return User{}, err
	}
	if nu.Email != "" {
		if err := checkEmail(nu.Email); err != nil {
			return User{}, err
		}
		if !nu.EmailVerifiedAt.IsZero() {
			if err := checkTime("email verified at", nu.EmailVerifiedAt); err != nil {
				return User{}, err
			}
		}
	}
	if nu.OIDC != nil {
		if err := checkOIDC(*nu.OIDC); err != nil {
			return User{}, err
		}
	}
	handle := nu.WebAuthnHandle
	if len(handle) == 0 {
		handle = make([]byte, WebAuthnHandleLen)
		rand.Read(handle)
	} else if err := checkBytes("WebAuthn user handle", handle, 1, MaxWebAuthnHandleLen); err != nil {
		return User{}, err
	}
	u := User{ID: uuid.NewString(), CreatedAt: trunc(now), State: UserPending, WebAuthnHandle: bytes.Clone(handle)}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			d.q(`INSERT INTO users (id, created_at, webauthn_handle, state) VALUES (?, ?, ?, 'pending')`),
			u.ID, d.t(now), u.WebAuthnHandle)
		if sqldb.IsUniqueViolation(err) {
			return exists("WebAuthn user handle")
		}
		if err != nil {
			return dbError("create user", err)
		}
		if nu.Email != "" {
			if _, err := d.linkEmail(ctx, tx, u.ID, nu.Email, nu.EmailVerifiedAt, now); err != nil {
				return err
			}
		}
		if nu.OIDC != nil {
			if _, err := d.linkOIDC(ctx, tx, u.ID, *nu.OIDC, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

const userColumns = `id, created_at, webauthn_handle, state, activated_at, wallet_credential_id`

func scanUser(row scanner) (User, error) {
	var (
		u                  User
		created, activated sqldb.Time
		state              string
		walletCredentialID []byte
	)
	if err := row.Scan(&u.ID, &created, &u.WebAuthnHandle, &state, &activated, &walletCredentialID); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.State, u.ActivatedAt, u.WalletCredentialID = created.Time, UserState(state), activated.Time, walletCredentialID
	return u, nil
}

// GetUser returns the user, or ErrNotFound.
func (d *DB) GetUser(ctx context.Context, id string) (User, error) {
	if err := checkUserID(id); err != nil {
		return User{}, err
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, d.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, notFound("user " + id)
	}
	if err != nil {
		return User{}, dbError("get user", err)
	}
	return u, nil
}

// ActivateUser moves a pending user to active, recording the credential
// its wallet was created with. ErrNotFound if there is no such user (it may
// just have been deleted as abandoned), ErrConflict if it is not pending.
func (d *DB) ActivateUser(ctx context.Context, id string, walletCredentialID []byte, now time.Time) error {
	if err := checkUserID(id); err != nil {
		return err
	}
	if err := checkBytes("wallet credential id", walletCredentialID, 1, MaxCredentialIDLen); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	// One statement: it and DeletePendingUser exclude each other on the
	// row, so a user is either activated or deleted, never both.
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE users SET state = 'active', activated_at = ?, wallet_credential_id = ?
			WHERE id = ? AND state = 'pending'`),
		d.t(now), walletCredentialID, id))
	if err != nil {
		return dbError("activate user", err)
	}
	if n == 1 {
		return nil
	}
	return d.userStateError(ctx, id, "activate")
}

// userStateError explains why a statement conditional on "pending"
// changed nothing.
func (d *DB) userStateError(ctx context.Context, id, op string) error {
	u, err := d.GetUser(ctx, id)
	if err != nil {
		return err
	}
	return conflict("%s user %s: it is %s, want pending", op, id, u.State)
}

// ListPendingUsers returns up to limit pending users created before
// createdBefore, oldest first: abandoned sign-ups for cleanup.
func (d *DB) ListPendingUsers(ctx context.Context, createdBefore time.Time, limit int) ([]User, error) {
	if err := checkTime("created before", createdBefore); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+userColumns+` FROM users WHERE state = 'pending' AND created_at < ?
			ORDER BY created_at, id LIMIT ?`),
		d.t(createdBefore), limit)
	us, err := collect(rows, err, scanUser)
	if err != nil {
		return nil, dbError("list pending users", err)
	}
	return us, nil
}

// DeletePendingUser deletes a user, and everything that belongs to it,
// only if it is still pending: ErrConflict for an active user (whatever
// the caller believed), ErrNotFound if it does not exist.
func (d *DB) DeletePendingUser(ctx context.Context, id string) error {
	if err := checkUserID(id); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM users WHERE id = ? AND state = 'pending'`), id))
	if err != nil {
		return dbError("delete pending user", err)
	}
	if n == 1 {
		return nil
	}
	return d.userStateError(ctx, id, "delete")
}

// EmailIdentity links a normalised email address to a user.
type EmailIdentity struct {
	Email      string
	UserID     string
	CreatedAt  time.Time
	VerifiedAt time.Time // zero: not verified
}

// LinkEmail links email to the user. ErrExists if the address is linked
// (to anyone), ErrNotFound if the user does not exist.
func (d *DB) LinkEmail(ctx context.Context, userID, email string, verifiedAt, now time.Time) (EmailIdentity, error) {
	if err := checkUserID(userID); err != nil {
		return EmailIdentity{}, err
	}
	if err := checkEmail(email); err != nil {
		return EmailIdentity{}, err
	}
	if !verifiedAt.IsZero() {
		if err := checkTime("verified at", verifiedAt); err != nil {
			return EmailIdentity{}, err
		}
	}
	if err := checkTime("now", now); err != nil {
		return EmailIdentity{}, err
	}
	return d.linkEmail(ctx, d.db, userID, email, verifiedAt, now)
}

func (d *DB) linkEmail(ctx context.Context, q queryer, userID, email string, verifiedAt, now time.Time) (EmailIdentity, error) {
	n, err := affected(q.ExecContext(ctx,
		d.q(`INSERT INTO email_identities (email, user_id, created_at, verified_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (email) DO NOTHING`),
		email, userID, d.t(now), d.t(verifiedAt)))
	switch {
	case sqldb.IsForeignKeyViolation(err):
		return EmailIdentity{}, notFound("user " + userID)
	case err != nil:
		return EmailIdentity{}, dbError("link email", err)
	case n == 0:
		return EmailIdentity{}, exists("email identity")
	}
	return EmailIdentity{Email: email, UserID: userID, CreatedAt: trunc(now), VerifiedAt: trunc(verifiedAt)}, nil
}

const emailColumns = `email, user_id, created_at, verified_at`

func scanEmail(row scanner) (EmailIdentity, error) {
	var (
		e                 EmailIdentity
		created, verified sqldb.Time
	)
	err := row.Scan(&e.Email, &e.UserID, &created, &verified)
	e.CreatedAt, e.VerifiedAt = created.Time, verified.Time
	return e, err
}

// LookupEmail returns the identity of a normalised address, or ErrNotFound.
func (d *DB) LookupEmail(ctx context.Context, email string) (EmailIdentity, error) {
	if err := checkEmail(email); err != nil {
		return EmailIdentity{}, err
	}
	e, err := scanEmail(d.db.QueryRowContext(ctx, d.q(`SELECT `+emailColumns+` FROM email_identities WHERE email = ?`), email))
	if errors.Is(err, sql.ErrNoRows) {
		return EmailIdentity{}, notFound("email identity")
	}
	if err != nil {
		return EmailIdentity{}, dbError("lookup email", err)
	}
	return e, nil
}

// VerifyEmail marks the address verified at now, unless it already is
// (the first verification time is kept).
func (d *DB) VerifyEmail(ctx context.Context, email string, now time.Time) error {
	if err := checkEmail(email); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE email_identities SET verified_at = COALESCE(verified_at, ?) WHERE email = ?`),
		d.t(now), email))
	if err != nil {
		return dbError("verify email", err)
	}
	if n == 0 {
		return notFound("email identity")
	}
	return nil
}

// ListEmails returns the user's addresses in the order they were linked.
func (d *DB) ListEmails(ctx context.Context, userID string) ([]EmailIdentity, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+emailColumns+` FROM email_identities WHERE user_id = ? ORDER BY created_at, email LIMIT ?`),
		userID, MaxListLimit)
	es, err := collect(rows, err, scanEmail)
	if err != nil {
		return nil, dbError("list emails", err)
	}
	return es, nil
}

// OIDCIdentity links an account at an OpenID Connect provider to a user.
// It is found only by (Provider, Subject): an email address the provider
// reports is recorded, never used to link or find anyone.
type OIDCIdentity struct {
	Provider  string // issuer URL or configured name; 1..255 bytes
	Subject   string // the provider's sub; 1..255 bytes
	Email     string // as the provider reported it, unverified by us; may be empty
	UserID    string // set by LinkOIDC / CreateUser
	CreatedAt time.Time
}

// CheckOIDCSubject reports whether a provider's sub can be stored: 1 to
// MaxSubjectLen bytes of UTF-8 without control characters.
func CheckOIDCSubject(sub string) error { return checkText("subject", sub, 1, MaxSubjectLen) }

// CheckReportedEmail reports whether a provider's email claim can be
// stored as reported: up to MaxEmailLen bytes of UTF-8 without control
// characters.
func CheckReportedEmail(email string) error {
	return checkText("reported email", email, 0, MaxEmailLen)
}

func checkOIDC(o OIDCIdentity) error {
	if err := checkText("provider", o.Provider, 1, MaxProviderLen); err != nil {
		return err
	}
	if err := CheckOIDCSubject(o.Subject); err != nil {
		return err
	}
	return CheckReportedEmail(o.Email)
}

// LinkOIDC links (o.Provider, o.Subject) to the user; o.UserID and
// o.CreatedAt are ignored. ErrExists if that identity is linked (to
// anyone), ErrNotFound if the user does not exist.
func (d *DB) LinkOIDC(ctx context.Context, userID string, o OIDCIdentity, now time.Time) (OIDCIdentity, error) {
	if err := checkUserID(userID); err != nil {
		return OIDCIdentity{}, err
	}
	if err := checkOIDC(o); err != nil {
		return OIDCIdentity{}, err
	}
	if err := checkTime("now", now); err != nil {
		return OIDCIdentity{}, err
	}
	return d.linkOIDC(ctx, d.db, userID, o, now)
}

func (d *DB) linkOIDC(ctx context.Context, q queryer, userID string, o OIDCIdentity, now time.Time) (OIDCIdentity, error) {
	n, err := affected(q.ExecContext(ctx,
		d.q(`INSERT INTO oidc_identities (provider, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (provider, subject) DO NOTHING`),
		o.Provider, o.Subject, userID, o.Email, d.t(now)))
	switch {
	case sqldb.IsForeignKeyViolation(err):
		return OIDCIdentity{}, notFound("user " + userID)
	case err != nil:
		return OIDCIdentity{}, dbError("link OIDC identity", err)
	case n == 0:
		return OIDCIdentity{}, exists("OIDC identity")
	}
	o.UserID, o.CreatedAt = userID, trunc(now)
	return o, nil
}

const oidcColumns = `provider, subject, email, user_id, created_at`

func scanOIDC(row scanner) (OIDCIdentity, error) {
	var (
		o       OIDCIdentity
		created sqldb.Time
	)
	err := row.Scan(&o.Provider, &o.Subject, &o.Email, &o.UserID, &created)
	o.CreatedAt = created.Time
	return o, err
}

// LookupOIDC returns the identity (provider, subject), or ErrNotFound.
func (d *DB) LookupOIDC(ctx context.Context, provider, subject string) (OIDCIdentity, error) {
	if err := checkOIDC(OIDCIdentity{Provider: provider, Subject: subject}); err != nil {
		return OIDCIdentity{}, err
	}
	o, err := scanOIDC(d.db.QueryRowContext(ctx,
		d.q(`SELECT `+oidcColumns+` FROM oidc_identities WHERE provider = ? AND subject = ?`), provider, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCIdentity{}, notFound("OIDC identity")
	}
	if err != nil {
		return OIDCIdentity{}, dbError("lookup OIDC identity", err)
	}
	return o, nil
}

// ListOIDC returns the user's OIDC identities in the order they were linked.
func (d *DB) ListOIDC(ctx context.Context, userID string) ([]OIDCIdentity, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+oidcColumns+` FROM oidc_identities WHERE user_id = ? ORDER BY created_at, provider, subject LIMIT ?`),
		userID, MaxListLimit)
	os, err := collect(rows, err, scanOIDC)
	if err != nil {
		return nil, dbError("list OIDC identities", err)
	}
	return os, nil
}

// UnlinkOIDC removes the user's identity (provider, subject); ErrNotFound
// if the user has no such identity.
func (d *DB) UnlinkOIDC(ctx context.Context, userID, provider, subject string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkOIDC(OIDCIdentity{Provider: provider, Subject: subject}); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`DELETE FROM oidc_identities WHERE provider = ? AND subject = ? AND user_id = ?`), provider, subject, userID))
	if err != nil {
		return dbError("unlink OIDC identity", err)
	}
	if n == 0 {
		return notFound("OIDC identity")
	}
	return nil
}
