package authdb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// The OpenID Provider's state (migration 0007). The caller (the
// server's provider) decides what a request means; these methods keep
// the rules that must hold across servers sharing one database: a code
// is spent once, a refresh token is used once, and a second use of
// either revokes everything issued from its grant.

// Limits of OIDC rows.
const (
	MaxOIDCRequestLen = 16384
	MaxOIDCScopesLen  = 1024
	MaxOIDCAMRLen     = 64
	MaxOIDCKeyLen     = 4096
)

// OIDCGrant is an authorization request and what was issued from it.
type OIDCGrant struct {
	ID        string
	AppID     string
	UserID    string    // "" until the user has signed in and allowed it
	Request   []byte    // the authorization request, as the caller encodes it
	AuthTime  time.Time // when the user proved who they are
	AMR       string    // how, space-separated (e.g. "pwd", "hwk")
	CodeUsed  bool
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

// OIDCToken is an access token or a refresh token of a grant.
type OIDCToken struct {
	ID        string
	GrantID   string
	Kind      string // "access" or "refresh"
	Digest    Digest // a refresh token's; zero for access tokens
	Scopes    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // a refresh token exchanged for new tokens
	RevokedAt time.Time
}

// NewOIDCID is a fresh id for a grant or a token.
func NewOIDCID() string { return newAppID() }

const grantColumns = `id, app_id, user_id, request, auth_time, amr, code_used_at, created_at, expires_at, revoked_at`

// grantRow receives a grant's columns (grantColumns, in order).
type grantRow struct {
	g                                  OIDCGrant
	user                               sql.NullString
	request                            string
	auth, used, created, expires, revk sqldb.Time
}

func (r *grantRow) dest() []any {
	return []any{&r.g.ID, &r.g.AppID, &r.user, &r.request, &r.auth, &r.g.AMR, &r.used, &r.created, &r.expires, &r.revk}
}

func (r *grantRow) grant() OIDCGrant {
	g := r.g
	g.UserID, g.Request = r.user.String, []byte(r.request)
	g.AuthTime, g.CodeUsed, g.CreatedAt, g.ExpiresAt, g.RevokedAt = r.auth.Time, !r.used.Time.IsZero(), r.created.Time, r.expires.Time, r.revk.Time
	return g
}

// grantColumnsOf is grantColumns, each qualified by table alias a.
func grantColumnsOf(a string) string {
	cols := strings.Split(grantColumns, ", ")
	for i := range cols {
		cols[i] = a + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

func scanGrant(row scanner) (OIDCGrant, error) {
	var r grantRow
	err := row.Scan(r.dest()...)
	return r.grant(), err
}

// CreateOIDCGrant stores a new authorization request (ID, AppID,
// Request, CreatedAt, ExpiresAt). ErrNotFound if the app does not exist.
func (d *DB) CreateOIDCGrant(ctx context.Context, g OIDCGrant) error {
	if err := checkFlowID(g.ID); err != nil {
		return invalid("grant id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	if err := checkBytes("request", g.Request, 1, MaxOIDCRequestLen); err != nil {
		return err
	}
	if err := checkTime("created", g.CreatedAt); err != nil {
		return err
	}
	if !g.ExpiresAt.After(g.CreatedAt) {
		return invalid("grant expires before it is created")
	}
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO oidc_grants (id, app_id, request, amr, created_at, expires_at) VALUES (?, ?, ?, '', ?, ?)`),
		g.ID, g.AppID, string(g.Request), d.t(g.CreatedAt), d.t(g.ExpiresAt))
	switch {
	case sqldb.IsForeignKeyViolation(err):
		return notFound("app " + g.AppID)
	case sqldb.IsUniqueViolation(err):
		return exists("grant")
	case err != nil:
		return dbError("create grant", err)
	}
	return nil
}

// GetOIDCGrant reads a grant. ErrNotFound if there is none; ErrRevoked
// or ErrExpired (with the grant) if it can no longer be used.
func (d *DB) GetOIDCGrant(ctx context.Context, id string, now time.Time) (OIDCGrant, error) {
	g, err := scanGrant(d.db.QueryRowContext(ctx, d.q(`SELECT `+grantColumns+` FROM oidc_grants WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCGrant{}, notFound("grant")
	}
	if err != nil {
		return OIDCGrant{}, dbError("get grant", err)
	}
	return g, grantError(g, now)
}

func grantError(g OIDCGrant, now time.Time) error {
	switch {
	case !g.RevokedAt.IsZero():
		return ErrRevoked
	case !now.Before(g.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// AuthorizeOIDCGrant records that userID signed in (at authTime, by amr)
// and allowed the request. ErrConflict if the grant already has a user.
func (d *DB) AuthorizeOIDCGrant(ctx context.Context, id, userID string, authTime time.Time, amr string, now time.Time) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkText("amr", amr, 0, MaxOIDCAMRLen); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`UPDATE oidc_grants SET user_id = ?, auth_time = ?, amr = ?
		WHERE id = ? AND user_id IS NULL AND revoked_at IS NULL AND expires_at > ?`),
		userID, d.optT(authTime), amr, id, d.t(now)))
	if err != nil {
		return dbError("authorize grant", err)
	}
	if n != 1 {
		return conflict("the grant is unknown, ended, or already authorized")
	}
	return nil
}

// SetOIDCCode stores the digest of the code issued for an authorized
// grant. ErrConflict if the grant has no user yet or already a code.
func (d *DB) SetOIDCCode(ctx context.Context, id string, code Digest) error {
	if code.IsZero() {
		return invalid("code digest is zero")
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`UPDATE oidc_grants SET code_digest = ? WHERE id = ? AND user_id IS NOT NULL AND code_digest IS NULL AND revoked_at IS NULL`),
		code[:], id))
	if err != nil {
		return dbError("set code", err)
	}
	if n != 1 {
		return conflict("the grant is not authorized or already has a code")
	}
	return nil
}

// GetOIDCGrantByCode reads the grant a code was issued for, changing
// nothing (CodeUsed says whether it was spent). ErrNotFound for an
// unknown code; ErrRevoked or ErrExpired (with the grant) for a grant
// that can no longer be used.
func (d *DB) GetOIDCGrantByCode(ctx context.Context, code Digest, now time.Time) (OIDCGrant, error) {
	g, err := scanGrant(d.db.QueryRowContext(ctx, d.q(`SELECT `+grantColumns+` FROM oidc_grants WHERE code_digest = ?`), code[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCGrant{}, notFound("code")
	}
	if err != nil {
		return OIDCGrant{}, dbError("get grant by code", err)
	}
	return g, grantError(g, now)
}

// RevokeOIDCAppGrants ends every live grant of an app except those of
// keepUserID ("" keeps none): an app that stops being verified keeps
// only its developer's sign-ins, a suspended one none.
func (d *DB) RevokeOIDCAppGrants(ctx context.Context, appID, keepUserID string, now time.Time) (int64, error) {
	n, err := affected(d.db.ExecContext(ctx, d.q(`UPDATE oidc_grants SET revoked_at = ?
		WHERE app_id = ? AND revoked_at IS NULL AND (user_id IS NULL OR user_id <> ?)`), d.t(now), appID, keepUserID))
	if err != nil {
		return 0, dbError("revoke app grants", err)
	}
	return n, nil
}

// SpendOIDCCode spends a code once, extending its grant's life to keep
// (the refresh tokens' lifetime). A second use revokes the grant, and so
// every token issued from it, and is ErrRevoked (so is the loser of two
// concurrent uses); ErrNotFound for an
// unknown code; ErrExpired for one whose grant expired.
func (d *DB) SpendOIDCCode(ctx context.Context, code Digest, now, keep time.Time) (OIDCGrant, error) {
	var g OIDCGrant
	reused := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, d.q(`SELECT `+grantColumns+` FROM oidc_grants WHERE code_digest = ?`), code[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("code")
		}
		if err != nil {
			return dbError("spend code", err)
		}
		if err := grantError(g, now); err != nil {
			return err
		}
		if g.CodeUsed {
			reused = true
			return d.revokeGrant(ctx, tx, g.ID, now)
		}
		n, err := affected(tx.ExecContext(ctx, d.q(`UPDATE oidc_grants SET code_used_at = ?, expires_at = ? WHERE id = ? AND code_used_at IS NULL`),
			d.t(now), d.t(keep), g.ID))
		if err != nil {
			return dbError("spend code", err)
		}
		if n != 1 {
			// Another request spent it meanwhile: two holders of one
			// code, a replay like any other.
			reused = true
			return d.revokeGrant(ctx, tx, g.ID, now)
		}
		g.CodeUsed, g.ExpiresAt = true, trunc(keep)
		return nil
	})
	if reused && err == nil {
		return OIDCGrant{}, ErrRevoked
	}
	return g, err
}

func (d *DB) revokeGrant(ctx context.Context, q queryer, id string, now time.Time) error {
	if _, err := q.ExecContext(ctx, d.q(`UPDATE oidc_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), d.t(now), id); err != nil {
		return dbError("revoke grant", err)
	}
	if _, err := q.ExecContext(ctx, d.q(`UPDATE oidc_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL`), d.t(now), id); err != nil {
		return dbError("revoke grant", err)
	}
	return nil
}

// RevokeOIDCGrant ends a grant and every token issued from it.
func (d *DB) RevokeOIDCGrant(ctx context.Context, id string, now time.Time) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.revokeGrant(ctx, tx, id, now) })
}

// RevokeOIDCGrants ends every grant of userID to appID (to every app when
// appID is ""), returning how many were live.
func (d *DB) RevokeOIDCGrants(ctx context.Context, userID, appID string, now time.Time) (int64, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	var n int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, d.q(`SELECT id FROM oidc_grants WHERE user_id = ? AND (app_id = ? OR ? = '') AND revoked_at IS NULL`), userID, appID, appID)
		ids, err := collect(rows, err, func(row scanner) (string, error) {
			var id string
			return id, row.Scan(&id)
		})
		if err != nil {
			return dbError("revoke grants", err)
		}
		for _, id := range ids {
			if err := d.revokeGrant(ctx, tx, id, now); err != nil {
				return err
			}
		}
		n = int64(len(ids))
		return nil
	})
	return n, err
}

func checkOIDCToken(t OIDCToken) error {
	if err := checkFlowID(t.ID); err != nil {
		return invalid("token id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	if (t.Kind == "refresh") != !t.Digest.IsZero() || t.Kind != "refresh" && t.Kind != "access" {
		return invalid("a token is access (no digest) or refresh (with its digest)")
	}
	if err := checkText("scopes", t.Scopes, 0, MaxOIDCScopesLen); err != nil {
		return err
	}
	if !t.ExpiresAt.After(t.CreatedAt) {
		return invalid("token expires before it is created")
	}
	return nil
}

// CreateOIDCTokens stores tokens of one live grant. With a non-zero
// spent, the refresh token of that digest is used up in the same
// transaction: if it was used before, this is a replay, its grant is
// revoked and the answer is ErrRevoked.
func (d *DB) CreateOIDCTokens(ctx context.Context, spent Digest, now time.Time, toks ...OIDCToken) error {
	for _, t := range toks {
		if err := checkOIDCToken(t); err != nil {
			return err
		}
	}
	replay := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if !spent.IsZero() {
			var grant string
			err := tx.QueryRowContext(ctx, d.q(`UPDATE oidc_tokens SET used_at = ? WHERE digest = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING grant_id`),
				d.t(now), spent[:], d.t(now)).Scan(&grant)
			if errors.Is(err, sql.ErrNoRows) {
				if err := tx.QueryRowContext(ctx, d.q(`SELECT grant_id FROM oidc_tokens WHERE digest = ?`), spent[:]).Scan(&grant); err != nil {
					return notFound("refresh token")
				}
				replay = true
				return d.revokeGrant(ctx, tx, grant, now)
			}
			if err != nil {
				return dbError("use refresh token", err)
			}
		}
		for _, t := range toks {
			g, err := scanGrant(tx.QueryRowContext(ctx, d.q(`SELECT `+grantColumns+` FROM oidc_grants WHERE id = ?`), t.GrantID))
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("grant")
			}
			if err != nil {
				return dbError("create token", err)
			}
			if err := grantError(g, now); err != nil {
				return err
			}
			if t.ExpiresAt.After(g.ExpiresAt) {
				t.ExpiresAt = g.ExpiresAt // a token outlives neither its grant
			}
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO oidc_tokens (id, grant_id, kind, digest, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				t.ID, t.GrantID, t.Kind, digestArg(t.Digest), t.Scopes, d.t(t.CreatedAt), d.t(t.ExpiresAt)); err != nil {
				return dbError("create token", err)
			}
		}
		return nil
	})
	if replay && err == nil {
		return ErrRevoked
	}
	return err
}

const tokenColumns = `t.id, t.grant_id, t.kind, t.digest, t.scopes, t.created_at, t.expires_at, t.used_at, t.revoked_at`

func scanTokenAndGrant(row scanner) (OIDCToken, OIDCGrant, error) {
	var (
		t                            OIDCToken
		created, expires, used, revk sqldb.Time
		g                            grantRow
	)
	err := row.Scan(append([]any{&t.ID, &t.GrantID, &t.Kind, scanDigest{&t.Digest}, &t.Scopes, &created, &expires, &used, &revk}, g.dest()...)...)
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = created.Time, expires.Time, used.Time, revk.Time
	return t, g.grant(), err
}

func (d *DB) getToken(ctx context.Context, where string, arg any, now time.Time) (OIDCToken, OIDCGrant, error) {
	t, g, err := scanTokenAndGrant(d.db.QueryRowContext(ctx, d.q(`SELECT `+tokenColumns+`, `+grantColumnsOf("g")+`
		FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE `+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCToken{}, OIDCGrant{}, notFound("token")
	}
	if err != nil {
		return OIDCToken{}, OIDCGrant{}, dbError("get token", err)
	}
	switch {
	case !t.RevokedAt.IsZero() || !g.RevokedAt.IsZero():
		return t, g, ErrRevoked
	case !now.Before(t.ExpiresAt):
		return t, g, ErrExpired
	}
	return t, g, nil
}

// GetOIDCToken reads a live token and its grant by the token's id.
// ErrRevoked or ErrExpired (with both) if it can no longer be used.
func (d *DB) GetOIDCToken(ctx context.Context, id string, now time.Time) (OIDCToken, OIDCGrant, error) {
	return d.getToken(ctx, `t.id = ?`, id, now)
}

// GetOIDCRefreshToken reads a refresh token by its digest. It changes
// nothing: a token already used comes back with UsedAt set, and its
// replay is caught (and its grant revoked) only when it is spent again
// through CreateOIDCTokens, which the provider calls once the client
// has authenticated. (A read that revoked would let anyone who saw a
// used token end another client's grant.)
func (d *DB) GetOIDCRefreshToken(ctx context.Context, digest Digest, now time.Time) (OIDCToken, OIDCGrant, error) {
	return d.getToken(ctx, `t.digest = ?`, digest[:], now)
}

// RevokeOIDCToken ends one token. An unknown token is not an error
// (RFC 7009 answers the same either way).
func (d *DB) RevokeOIDCToken(ctx context.Context, id string, now time.Time) error {
	_, err := d.db.ExecContext(ctx, d.q(`UPDATE oidc_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), d.t(now), id)
	if err != nil {
		return dbError("revoke token", err)
	}
	return nil
}

// DeleteExpiredOIDCGrants removes grants (and their tokens) that ended
// before cutoff.
func (d *DB) DeleteExpiredOIDCGrants(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM oidc_grants WHERE expires_at < ?`), d.t(cutoff)))
	if err != nil {
		return 0, dbError("delete expired grants", err)
	}
	return n, nil
}

// PutOIDCClient sets an app's client secret digest (zero: a public
// client, which uses PKCE).
func (d *DB) PutOIDCClient(ctx context.Context, appID string, secret Digest, now time.Time) error {
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO oidc_clients (app_id, secret_digest, created_at) VALUES (?, ?, ?)
		ON CONFLICT (app_id) DO UPDATE SET secret_digest = excluded.secret_digest`), appID, digestArg(secret), d.t(now))
	switch {
	case sqldb.IsForeignKeyViolation(err):
		return notFound("app " + appID)
	case err != nil:
		return dbError("put client", err)
	}
	return nil
}

// GetOIDCClient reads an app's client secret digest (zero for a public
// client). ErrNotFound if the app has no OIDC client.
func (d *DB) GetOIDCClient(ctx context.Context, appID string) (Digest, error) {
	var secret Digest
	err := d.db.QueryRowContext(ctx, d.q(`SELECT secret_digest FROM oidc_clients WHERE app_id = ?`), appID).Scan(scanDigest{&secret})
	if errors.Is(err, sql.ErrNoRows) {
		return Digest{}, notFound("client " + appID)
	}
	if err != nil {
		return Digest{}, dbError("get client", err)
	}
	return secret, nil
}

// OIDCKey is a signing key of the provider, sealed by the caller.
type OIDCKey struct {
	ID        string
	Sealed    []byte
	CreatedAt time.Time
}

// AddOIDCKey stores a new signing key.
func (d *DB) AddOIDCKey(ctx context.Context, k OIDCKey) error {
	if err := checkText("key id", k.ID, 1, 64); err != nil {
		return err
	}
	if err := checkBytes("sealed key", k.Sealed, 1, MaxOIDCKeyLen); err != nil {
		return err
	}
	if _, err := d.db.ExecContext(ctx, d.q(`INSERT INTO oidc_keys (id, sealed, created_at) VALUES (?, ?, ?)`), k.ID, k.Sealed, d.t(k.CreatedAt)); err != nil {
		return dbError("add signing key", err)
	}
	return nil
}

// ListOIDCKeys lists the signing keys, newest first.
func (d *DB) ListOIDCKeys(ctx context.Context) ([]OIDCKey, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, sealed, created_at FROM oidc_keys ORDER BY created_at DESC, id`))
	keys, err := collect(rows, err, func(row scanner) (OIDCKey, error) {
		var k OIDCKey
		var created sqldb.Time
		err := row.Scan(&k.ID, &k.Sealed, &created)
		k.CreatedAt = created.Time
		return k, err
	})
	if err != nil {
		return nil, dbError("list signing keys", err)
	}
	return keys, nil
}

// DeleteOIDCKeysBefore removes signing keys made before cutoff.
func (d *DB) DeleteOIDCKeysBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM oidc_keys WHERE created_at < ?`), d.t(cutoff)))
	if err != nil {
		return 0, dbError("delete signing keys", err)
	}
	return n, nil
}

// GetOIDCConsent is what userID allowed appID (space-separated scopes),
// "" if nothing.
func (d *DB) GetOIDCConsent(ctx context.Context, userID, appID string) (string, error) {
	var scopes string
	err := d.db.QueryRowContext(ctx, d.q(`SELECT scopes FROM oidc_consents WHERE user_id = ? AND app_id = ?`), userID, appID).Scan(&scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", dbError("get consent", err)
	}
	return scopes, nil
}

// PutOIDCConsent records what userID allowed appID.
func (d *DB) PutOIDCConsent(ctx context.Context, userID, appID, scopes string, now time.Time) error {
	if err := checkText("scopes", scopes, 0, MaxOIDCScopesLen); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO oidc_consents (user_id, app_id, scopes, granted_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, app_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`), userID, appID, scopes, d.t(now))
	if err != nil {
		return dbError("put consent", err)
	}
	return nil
}
