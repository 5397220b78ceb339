-- The niomon server's database: users and everything about signing in.
--
-- No secret is stored: one-time codes, magic-link tokens and session tokens
-- appear only as 32-byte HMAC-SHA256 digests computed by the server with a
-- key that is not in the database. Public keys and credential ids are not
-- secrets.
--
-- Timestamps are passed in by the Go code (truncated to milliseconds), never
-- taken from the database's clock, so every comparison uses one clock.
-- The Go code enforces the full limits (authdb.go); the CHECKs here are a
-- last line of defence. Text that is compared or ordered is COLLATE "C":
-- byte equality and byte order, as in SQLite, whatever the database's
-- default collation.

CREATE TABLE users (
    id                   text COLLATE "C" PRIMARY KEY CHECK (length(id) = 36),
    created_at           timestamptz NOT NULL,
    -- WebAuthn user.id: opaque random bytes, no personal data (WebAuthn
    -- §14.6.1); what an authenticator returns as userHandle.
    webauthn_handle      bytea NOT NULL UNIQUE CHECK (octet_length(webauthn_handle) BETWEEN 1 AND 64),
    -- pending until the user's wallet exists, then active.
    state                text NOT NULL CHECK (state IN ('pending', 'active')),
    activated_at         timestamptz,
    -- The credential the wallet was created with (its policy's first).
    wallet_credential_id bytea,
    CHECK ((state = 'active') = (activated_at IS NOT NULL)),
    CHECK ((state = 'active') = (wallet_credential_id IS NOT NULL))
);
-- Cleanup of abandoned sign-ups.
CREATE INDEX users_pending_by_age ON users (created_at) WHERE state = 'pending';

CREATE TABLE email_identities (
    -- Normalised by the caller; unique as bytes.
    email       text COLLATE "C" PRIMARY KEY CHECK (email <> ''),
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    verified_at timestamptz
);
CREATE INDEX email_identities_by_user ON email_identities (user_id);

CREATE TABLE login_challenges (
    id          text COLLATE "C" PRIMARY KEY,
    email       text COLLATE "C" NOT NULL,
    purpose     text NOT NULL,
    code_digest bytea CHECK (octet_length(code_digest) = 32),
    link_digest bytea UNIQUE CHECK (octet_length(link_digest) = 32),
    ip          text,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz,
    CHECK (code_digest IS NOT NULL OR link_digest IS NOT NULL),
    CHECK (expires_at > created_at)
);
CREATE INDEX login_challenges_by_expiry ON login_challenges (expires_at);

-- Fixed-window counters. A window is identified by its bounds, so one
-- bucket used with two window lengths keeps two counts.
CREATE TABLE rate_limits (
    bucket       text COLLATE "C" NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    hits         bigint NOT NULL CHECK (hits >= 1),
    PRIMARY KEY (bucket, window_start, window_end),
    CHECK (window_end > window_start)
);
CREATE INDEX rate_limits_by_end ON rate_limits (window_end);

CREATE TABLE sessions (
    -- The digest of the session token.
    id                   bytea PRIMARY KEY CHECK (octet_length(id) = 32),
    user_id              text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                 text NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    created_at           timestamptz NOT NULL,
    last_seen            timestamptz NOT NULL,
    -- Absolute expiry; rotation carries it over. The idle timeout is the
    -- caller's, from last_seen.
    expires_at           timestamptz NOT NULL,
    user_agent           text NOT NULL DEFAULT '',
    ip                   text,
    device_credential_id bytea,
    revoked_at           timestamptz,
    -- The session this one was rotated into (a later use of this one is a
    -- replayed token).
    rotated_to           bytea CHECK (octet_length(rotated_to) = 32),
    CHECK (rotated_to IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
    -- Lowercase hex SHA-256 of spki.
    id         text COLLATE "C" PRIMARY KEY CHECK (length(id) = 64),
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    spki       bytea NOT NULL,
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);

CREATE TABLE passkeys (
    credential_id      bytea PRIMARY KEY CHECK (octet_length(credential_id) >= 1),
    user_id            text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key         bytea NOT NULL, -- COSE_Key
    spki               bytea NOT NULL,
    alg                bigint NOT NULL, -- COSE algorithm
    sign_count         bigint NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports         text NOT NULL DEFAULT '', -- comma-separated
    backup_eligible    boolean NOT NULL,
    backup_state       boolean NOT NULL,
    aaguid             bytea NOT NULL CHECK (octet_length(aaguid) = 16),
    attestation_format text NOT NULL,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz,
    -- WebAuthn §6.3.3: BS may be set only on a backup-eligible credential.
    CHECK (backup_eligible OR NOT backup_state)
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- Deliberately no index on email: an identity is linked only by an
-- explicit call, never found through an email address.
CREATE TABLE oidc_identities (
    provider   text COLLATE "C" NOT NULL CHECK (provider <> ''),
    subject    text COLLATE "C" NOT NULL CHECK (subject <> ''),
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL DEFAULT '', -- as the provider reported it
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);

-- Device credentials (session keys) registered in a wallet's policy.
-- session_id is not a reference: sessions are deleted when they expire,
-- the record of which session registered a device stays.
CREATE TABLE devices (
    credential_id bytea PRIMARY KEY CHECK (octet_length(credential_id) >= 1),
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label         text NOT NULL DEFAULT '',
    session_id    bytea CHECK (octet_length(session_id) = 32),
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX devices_by_user ON devices (user_id, created_at);

-- Public data derived in the enclave, cached.
CREATE TABLE addresses (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chain      text COLLATE "C" NOT NULL,
    path       text COLLATE "C" NOT NULL,
    address    text NOT NULL,
    public_key bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, chain, path)
);

-- user_id is not a reference: the log outlives the user.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    user_id    text COLLATE "C",
    event      text NOT NULL,
    ip         text,
    request_id text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '{}' -- a JSON object, kept as written
);
CREATE INDEX audit_log_by_user ON audit_log (user_id, id);
CREATE INDEX audit_log_by_time ON audit_log (at);
