package authdb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// APIKey is a public key a user registered to sign API requests with.
type APIKey struct {
	ID        string // KeyID(SPKI)
	UserID    string
	SPKI      []byte // DER SubjectPublicKeyInfo
	Label     string
	CreatedAt time.Time
	RevokedAt time.Time // zero while usable
}

// KeyID is an API key's id: the lowercase hex SHA-256 of its SPKI.
func KeyID(spki []byte) string {
	h := sha256.Sum256(spki)
	return hex.EncodeToString(h[:])
}

func checkKeyID(id string) error {
	if len(id) != 2*sha256.Size {
		return invalid("key id is %d bytes, want %d hex digits", len(id), 2*sha256.Size)
	}
	return checkToken("key id", id, len(id), len(id), "")
}

// CreateAPIKey registers spki for the user under KeyID(spki). ErrExists if
// that key is registered (to anyone, revoked or not: a key is never
// reused); ErrNotFound if the user does not exist.
func (d *DB) CreateAPIKey(ctx context.Context, userID string, spki []byte, label string, now time.Time) (APIKey, error) {
	if err := checkUserID(userID); err != nil {
		return APIKey{}, err
	}
	if err := checkSPKI(spki); err != nil {
		return APIKey{}, err
	}
	if err := checkText("label", label, 0, MaxLabelLen); err != nil {
		return APIKey{}, err
	}
	if err := checkTime("now", now); err != nil {
		return APIKey{}, err
	}
	k := APIKey{ID: KeyID(spki), UserID: userID, SPKI: spki, Label: label, CreatedAt: trunc(now)}
	_, err := d.db.ExecContext(ctx,
		d.q(`INSERT INTO api_keys (id, user_id, spki, label, created_at) VALUES (?, ?, ?, ?, ?)`),
		k.ID, k.UserID, k.SPKI, k.Label, d.t(now))
	switch {
	case sqldb.IsUniqueViolation(err):
		return APIKey{}, exists("API key " + k.ID)
	case sqldb.IsForeignKeyViolation(err):
		return APIKey{}, notFound("user " + userID)
	case err != nil:
		return APIKey{}, dbError("create API key", err)
	}
	return k, nil
}

const apiKeyColumns = `id, user_id, spki, label, created_at, revoked_at`

func scanAPIKey(row scanner) (APIKey, error) {
	var (
		k                APIKey
		created, revoked sqldb.Time
	)
	err := row.Scan(&k.ID, &k.UserID, &k.SPKI, &k.Label, &created, &revoked)
	k.CreatedAt, k.RevokedAt = created.Time, revoked.Time
	return k, err
}

// GetAPIKey returns the key, or ErrNotFound. A revoked key is returned
// with ErrRevoked.
func (d *DB) GetAPIKey(ctx context.Context, id string) (APIKey, error) {
	if err := checkKeyID(id); err != nil {
		return APIKey{}, err
	}
	k, err := scanAPIKey(d.db.QueryRowContext(ctx, d.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, notFound("API key " + id)
	}
	if err != nil {
		return APIKey{}, dbError("get API key", err)
	}
	if !k.RevokedAt.IsZero() {
		return k, fmt.Errorf("%w: API key %s", ErrRevoked, id)
	}
	return k, nil
}

// ListAPIKeys returns the user's keys that are not revoked, oldest first.
func (d *DB) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id LIMIT ?`),
		userID, MaxListLimit)
	ks, err := collect(rows, err, scanAPIKey)
	if err != nil {
		return nil, dbError("list API keys", err)
	}
	return ks, nil
}

// RevokeAPIKey revokes one of the user's keys (idempotent), and with it
// every session signed in with that key, in one transaction. A key of
// another user is ErrNotFound.
func (d *DB) RevokeAPIKey(ctx context.Context, userID, id string, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkKeyID(id); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx,
			d.q(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`),
			d.t(now), id, userID))
		if err != nil {
			return dbError("revoke API key", err)
		}
		if n == 0 {
			return notFound("API key " + id)
		}
		if _, err := tx.ExecContext(ctx,
			d.q(`UPDATE sessions SET revoked_at = ? WHERE api_key_id = ? AND user_id = ? AND revoked_at IS NULL`),
			d.t(now), id, userID); err != nil {
			return dbError("revoke the API key's sessions", err)
		}
		return nil
	})
}

// Passkey is a WebAuthn credential. Store its flags at registration:
// BackupEligible never changes; BackupState may, with each assertion.
type Passkey struct {
	CredentialID      []byte // 1..1023 bytes
	UserID            string
	PublicKey         []byte // COSE_Key
	SPKI              []byte // the same key as DER SubjectPublicKeyInfo
	Alg               int64  // COSE algorithm, e.g. -7 (ES256), -8 (EdDSA), -257 (RS256)
	SignCount         uint32
	Transports        []string // "usb", "nfc", "ble", "internal", "hybrid", …
	BackupEligible    bool     // BE
	BackupState       bool     // BS; only if BackupEligible
	AAGUID            [16]byte
	AttestationFormat string // "none", "packed", …
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero until used
}

// CreatePasskey registers p (p.CreatedAt and p.LastUsedAt are ignored).
// ErrExists if the credential id is registered (to anyone); ErrNotFound if
// the user does not exist.
func (d *DB) CreatePasskey(ctx context.Context, p Passkey, now time.Time) (Passkey, error) {
	if err := checkBytes("credential id", p.CredentialID, 1, MaxCredentialIDLen); err != nil {
		return Passkey{}, err
	}
	if err := checkUserID(p.UserID); err != nil {
		return Passkey{}, err
	}
	if err := checkBytes("public key", p.PublicKey, 1, MaxPublicKeyLen); err != nil {
		return Passkey{}, err
	}
	if err := checkSPKI(p.SPKI); err != nil {
		return Passkey{}, err
	}
	if p.Alg == 0 || p.Alg < math.MinInt32 || p.Alg > math.MaxInt32 {
		return Passkey{}, invalid("COSE algorithm is %d, want a non-zero 32-bit integer", p.Alg)
	}
	transports, err := encodeTransports(p.Transports)
	if err != nil {
		return Passkey{}, err
	}
	if p.BackupState && !p.BackupEligible {
		return Passkey{}, invalid("backup state set on a credential that is not backup eligible")
	}
	if err := checkToken("attestation format", p.AttestationFormat, 1, MaxAttestationFormatLen, "-"); err != nil {
		return Passkey{}, err
	}
	if err := checkTime("now", now); err != nil {
		return Passkey{}, err
	}
	p.CreatedAt, p.LastUsedAt = trunc(now), time.Time{}
	_, err = d.db.ExecContext(ctx,
		d.q(`INSERT INTO passkeys (credential_id, user_id, public_key, spki, alg, sign_count, transports,
				backup_eligible, backup_state, aaguid, attestation_format, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		p.CredentialID, p.UserID, p.PublicKey, p.SPKI, p.Alg, int64(p.SignCount), transports,
		p.BackupEligible, p.BackupState, p.AAGUID[:], p.AttestationFormat, d.t(now))
	switch {
	case sqldb.IsUniqueViolation(err):
		return Passkey{}, exists("passkey")
	case sqldb.IsForeignKeyViolation(err):
		return Passkey{}, notFound("user " + p.UserID)
	case err != nil:
		return Passkey{}, dbError("create passkey", err)
	}
	return p, nil
}

const passkeyColumns = `credential_id, user_id, public_key, spki, alg, sign_count, transports,
	backup_eligible, backup_state, aaguid, attestation_format, created_at, last_used_at`

func scanPasskey(row scanner) (Passkey, error) {
	var (
		p             Passkey
		signCount     int64
		transports    string
		aaguid        []byte
		created, used sqldb.Time
	)
	err := row.Scan(&p.CredentialID, &p.UserID, &p.PublicKey, &p.SPKI, &p.Alg, &signCount, &transports,
		&p.BackupEligible, &p.BackupState, &aaguid, &p.AttestationFormat, &created, &used)
	if err != nil {
		return Passkey{}, err
	}
	if len(aaguid) != len(p.AAGUID) || signCount < 0 || signCount > math.MaxUint32 {
		return Passkey{}, errors.New("stored passkey is malformed")
	}
	copy(p.AAGUID[:], aaguid)
	p.SignCount, p.Transports = uint32(signCount), decodeTransports(transports)
	p.CreatedAt, p.LastUsedAt = created.Time, used.Time
	return p, nil
}

// GetPasskey returns the credential, or ErrNotFound.
func (d *DB) GetPasskey(ctx context.Context, credentialID []byte) (Passkey, error) {
	if err := checkBytes("credential id", credentialID, 1, MaxCredentialIDLen); err != nil {
		return Passkey{}, err
	}
	p, err := scanPasskey(d.db.QueryRowContext(ctx,
		d.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`), credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, notFound("passkey")
	}
	if err != nil {
		return Passkey{}, dbError("get passkey", err)
	}
	return p, nil
}

// ListPasskeys returns the user's credentials, oldest first.
func (d *DB) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_id LIMIT ?`),
		userID, MaxListLimit)
	ps, err := collect(rows, err, scanPasskey)
	if err != nil {
		return nil, dbError("list passkeys", err)
	}
	return ps, nil
}

// UpdatePasskeyUse records an assertion verified at now: the signature
// counter (which never moves back here, whatever order concurrent
// assertions land in; detecting a regression is the verifier's job), the
// backup state and the time of use. ErrNotFound for an unknown credential;
// ErrInvalid for backup state on a credential that is not backup eligible.
func (d *DB) UpdatePasskeyUse(ctx context.Context, credentialID []byte, signCount uint32, backupState bool, now time.Time) error {
	if err := checkBytes("credential id", credentialID, 1, MaxCredentialIDLen); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	query := `UPDATE passkeys SET
			sign_count = CASE WHEN sign_count < ? THEN ? ELSE sign_count END,
			backup_state = ?,
			last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
		WHERE credential_id = ?`
	args := []any{int64(signCount), int64(signCount), backupState, d.t(now), d.t(now), credentialID}
	if backupState {
		query += ` AND backup_eligible = ?`
		args = append(args, true)
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(query), args...))
	if err != nil {
		return dbError("update passkey", err)
	}
	if n == 1 {
		return nil
	}
	if _, err := d.GetPasskey(ctx, credentialID); err != nil {
		return err
	}
	return invalid("backup state set on a credential that is not backup eligible")
}

// DeletePasskey deletes one of the user's credentials. A credential of
// another user is ErrNotFound.
func (d *DB) DeletePasskey(ctx context.Context, userID string, credentialID []byte) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkBytes("credential id", credentialID, 1, MaxCredentialIDLen); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`DELETE FROM passkeys WHERE credential_id = ? AND user_id = ?`), credentialID, userID))
	if err != nil {
		return dbError("delete passkey", err)
	}
	if n == 0 {
		return notFound("passkey")
	}
	return nil
}

// Device is a device credential (a session key) registered in the user's
// wallet policy.
type Device struct {
	CredentialID []byte
	UserID       string
	Label        string
	SessionID    Digest // the session that registered it; zero if none
	CreatedAt    time.Time
	RevokedAt    time.Time // zero while usable
}

// CreateDevice records a registered device credential (d.CreatedAt and
// d.RevokedAt are ignored). ErrExists if the credential id is recorded;
// ErrNotFound if the user does not exist.
func (d *DB) CreateDevice(ctx context.Context, dev Device, now time.Time) (Device, error) {
	if err := checkBytes("credential id", dev.CredentialID, 1, MaxCredentialIDLen); err != nil {
		return Device{}, err
	}
	if err := checkUserID(dev.UserID); err != nil {
		return Device{}, err
	}
	if err := checkText("label", dev.Label, 0, MaxLabelLen); err != nil {
		return Device{}, err
	}
	if err := checkTime("now", now); err != nil {
		return Device{}, err
	}
	dev.CreatedAt, dev.RevokedAt = trunc(now), time.Time{}
	_, err := d.db.ExecContext(ctx,
		d.q(`INSERT INTO devices (credential_id, user_id, label, session_id, created_at) VALUES (?, ?, ?, ?, ?)`),
		dev.CredentialID, dev.UserID, dev.Label, digestArg(dev.SessionID), d.t(now))
	switch {
	case sqldb.IsUniqueViolation(err):
		return Device{}, exists("device")
	case sqldb.IsForeignKeyViolation(err):
		return Device{}, notFound("user " + dev.UserID)
	case err != nil:
		return Device{}, dbError("create device", err)
	}
	return dev, nil
}

const deviceColumns = `credential_id, user_id, label, session_id, created_at, revoked_at`

func scanDevice(row scanner) (Device, error) {
	var (
		dev              Device
		created, revoked sqldb.Time
	)
	err := row.Scan(&dev.CredentialID, &dev.UserID, &dev.Label, scanDigest{&dev.SessionID}, &created, &revoked)
	dev.CreatedAt, dev.RevokedAt = created.Time, revoked.Time
	return dev, err
}

// GetDevice returns the device credential, or ErrNotFound. A revoked one
// is returned with ErrRevoked.
func (d *DB) GetDevice(ctx context.Context, credentialID []byte) (Device, error) {
	if err := checkBytes("credential id", credentialID, 1, MaxCredentialIDLen); err != nil {
		return Device{}, err
	}
	dev, err := scanDevice(d.db.QueryRowContext(ctx,
		d.q(`SELECT `+deviceColumns+` FROM devices WHERE credential_id = ?`), credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, notFound("device")
	}
	if err != nil {
		return Device{}, dbError("get device", err)
	}
	if !dev.RevokedAt.IsZero() {
		return dev, fmt.Errorf("%w: device", ErrRevoked)
	}
	return dev, nil
}

// ListDevices returns the user's device credentials that are not revoked,
// oldest first.
func (d *DB) ListDevices(ctx context.Context, userID string) ([]Device, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx,
		d.q(`SELECT `+deviceColumns+` FROM devices WHERE user_id = ? AND revoked_at IS NULL
			ORDER BY created_at, credential_id LIMIT ?`),
		userID, MaxListLimit)
	ds, err := collect(rows, err, scanDevice)
	if err != nil {
		return nil, dbError("list devices", err)
	}
	return ds, nil
}

// RevokeDevice revokes one of the user's device credentials (idempotent).
// One of another user is ErrNotFound.
func (d *DB) RevokeDevice(ctx context.Context, userID string, credentialID []byte, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkBytes("credential id", credentialID, 1, MaxCredentialIDLen); err != nil {
		return err
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx,
		d.q(`UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE credential_id = ? AND user_id = ?`),
		d.t(now), credentialID, userID))
	if err != nil {
		return dbError("revoke device", err)
	}
	if n == 0 {
		return notFound("device")
	}
	return nil
}
