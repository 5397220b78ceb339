-- The niomon server's database: users and everything about signing in.
--
-- No secret is stored: one-time codes, magic-link tokens and session tokens
-- appear only as 32-byte HMAC-SHA256 digests computed by the server with a
-- key that is not in the database. Public keys and credential ids are not
-- secrets.
--
-- Timestamps are TEXT, 'YYYY-MM-DDTHH:MM:SS.mmmZ' (sqldb.Time): fixed width
-- and UTC, so text order is time order. They are passed in by the Go code,
-- never taken from the database's clock. Booleans are 0/1 INTEGERs. TEXT
-- compares with BINARY (memcmp) collation. STRICT refuses values of the
-- wrong type. The Go code enforces the full limits (authdb.go); the CHECKs
-- here are a last line of defence.

CREATE TABLE users (
    id                   TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    created_at           TEXT NOT NULL,
    -- WebAuthn user.id: opaque random bytes, no personal data (WebAuthn
    -- §14.6.1); what an authenticator returns as userHandle.
    webauthn_handle      BLOB NOT NULL UNIQUE CHECK (length(webauthn_handle) BETWEEN 1 AND 64),
    -- pending until the user's wallet exists, then active.
    state                TEXT NOT NULL CHECK (state IN ('pending', 'active')),
    activated_at         TEXT,
    -- The credential the wallet was created with (its policy's first).
    wallet_credential_id BLOB,
    CHECK ((state = 'active') = (activated_at IS NOT NULL)),
    CHECK ((state = 'active') = (wallet_credential_id IS NOT NULL))
) STRICT;
-- Cleanup of abandoned sign-ups.
CREATE INDEX users_pending_by_age ON users (created_at) WHERE state = 'pending';

CREATE TABLE email_identities (
    -- Normalised by the caller; unique as bytes.
    email       TEXT NOT NULL PRIMARY KEY CHECK (email <> ''),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    verified_at TEXT
) STRICT;
CREATE INDEX email_identities_by_user ON email_identities (user_id);

CREATE TABLE login_challenges (
    id          TEXT NOT NULL PRIMARY KEY,
    email       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    code_digest BLOB CHECK (length(code_digest) = 32),
    link_digest BLOB UNIQUE CHECK (length(link_digest) = 32),
    ip          TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    consumed_at TEXT,
    CHECK (code_digest IS NOT NULL OR link_digest IS NOT NULL),
    CHECK (expires_at > created_at)
) STRICT;
CREATE INDEX login_challenges_by_expiry ON login_challenges (expires_at);

-- Fixed-window counters. A window is identified by its bounds, so one
-- bucket used with two window lengths keeps two counts.
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    hits         INTEGER NOT NULL CHECK (hits >= 1),
    PRIMARY KEY (bucket, window_start, window_end),
    CHECK (window_end > window_start)
) STRICT;
CREATE INDEX rate_limits_by_end ON rate_limits (window_end);

CREATE TABLE sessions (
    -- The digest of the session token.
    id                   BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    created_at           TEXT NOT NULL,
    last_seen            TEXT NOT NULL,
    -- Absolute expiry; rotation carries it over. The idle timeout is the
    -- caller's, from last_seen.
    expires_at           TEXT NOT NULL,
    user_agent           TEXT NOT NULL DEFAULT '',
    ip                   TEXT,
    device_credential_id BLOB,
    revoked_at           TEXT,
    -- The session this one was rotated into (a later use of this one is a
    -- replayed token).
    rotated_to           BLOB CHECK (length(rotated_to) = 32),
    CHECK (rotated_to IS NULL OR revoked_at IS NOT NULL)
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
    -- Lowercase hex SHA-256 of spki.
    id         TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 64),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    spki       BLOB NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);

CREATE TABLE passkeys (
    credential_id      BLOB NOT NULL PRIMARY KEY CHECK (length(credential_id) >= 1),
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key         BLOB NOT NULL, -- COSE_Key
    spki               BLOB NOT NULL,
    alg                INTEGER NOT NULL, -- COSE algorithm
    sign_count         INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports         TEXT NOT NULL DEFAULT '', -- comma-separated
    backup_eligible    INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backup_state       INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
    aaguid             BLOB NOT NULL CHECK (length(aaguid) = 16),
    attestation_format TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT,
    -- WebAuthn §6.3.3: BS may be set only on a backup-eligible credential.
    CHECK (backup_eligible = 1 OR backup_state = 0)
) STRICT;
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- Deliberately no index on email: an identity is linked only by an
-- explicit call, never found through an email address.
CREATE TABLE oidc_identities (
    provider   TEXT NOT NULL CHECK (provider <> ''),
    subject    TEXT NOT NULL CHECK (subject <> ''),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL DEFAULT '', -- as the provider reported it
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);

-- Device credentials (session keys) registered in a wallet's policy.
-- session_id is not a reference: sessions are deleted when they expire,
-- the record of which session registered a device stays.
CREATE TABLE devices (
    credential_id BLOB NOT NULL PRIMARY KEY CHECK (length(credential_id) >= 1),
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label         TEXT NOT NULL DEFAULT '',
    session_id    BLOB CHECK (length(session_id) = 32),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
) STRICT;
CREATE INDEX devices_by_user ON devices (user_id, created_at);

-- Public data derived in the enclave, cached.
CREATE TABLE addresses (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chain      TEXT NOT NULL,
    path       TEXT NOT NULL,
    address    TEXT NOT NULL,
    public_key BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, chain, path)
) STRICT;

-- user_id is not a reference: the log outlives the user. AUTOINCREMENT:
-- ids are never reused, even after old entries are deleted.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    user_id    TEXT,
    event      TEXT NOT NULL,
    ip         TEXT,
    request_id TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}' -- a JSON object, kept as written
) STRICT;
CREATE INDEX audit_log_by_user ON audit_log (user_id, id);
CREATE INDEX audit_log_by_time ON audit_log (at);
