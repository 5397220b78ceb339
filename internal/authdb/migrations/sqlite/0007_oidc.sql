-- Niomon as an OpenID Provider ("Login with Niomon").
--
-- sessions.auth_time is when the user last proved who they are; a
-- rotation carries it over (NULL for sessions from before it was kept,
-- which max_age and prompt=login treat as too old).
ALTER TABLE sessions ADD COLUMN auth_time TEXT;

-- An app's OIDC client: NULL secret_digest is a public client, which
-- must use PKCE; otherwise the digest of its client secret.
CREATE TABLE oidc_clients (
    app_id        TEXT NOT NULL PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    secret_digest BLOB CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
    created_at    TEXT NOT NULL
) STRICT;

-- A grant is one authorization request and everything issued from it:
-- its code (by digest, usable once) and its tokens. Revoking the grant
-- ends every token issued from it, as a reused code or refresh token does.
CREATE TABLE oidc_grants (
    id           TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 22),
    app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    request      TEXT NOT NULL CHECK (length(request) <= 16384),
    auth_time    TEXT,
    amr          TEXT NOT NULL CHECK (length(amr) <= 64),
    code_digest  BLOB UNIQUE CHECK (code_digest IS NULL OR length(code_digest) = 32),
    code_used_at TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
CREATE INDEX oidc_grants_by_user ON oidc_grants (user_id, app_id);
CREATE INDEX oidc_grants_by_expiry ON oidc_grants (expires_at);

-- Access tokens (opaque to the app; the row is what makes one valid) and
-- refresh tokens (by digest). A refresh token is used once: using it
-- again revokes its grant.
CREATE TABLE oidc_tokens (
    id         TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 22),
    grant_id   TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    digest     BLOB UNIQUE CHECK (digest IS NULL OR length(digest) = 32),
    scopes     TEXT NOT NULL CHECK (length(scopes) <= 1024),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT,
    CHECK ((kind = 'refresh') = (digest IS NOT NULL))
) STRICT;
CREATE INDEX oidc_tokens_by_grant ON oidc_tokens (grant_id);

-- The provider's signing keys, sealed under a key derived from the
-- server's token key (never stored here); the newest signs.
CREATE TABLE oidc_keys (
    id         TEXT NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    sealed     BLOB NOT NULL CHECK (length(sealed) <= 4096),
    created_at TEXT NOT NULL
) STRICT;

-- What a user allowed an app to learn (space-separated scopes).
CREATE TABLE oidc_consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL CHECK (length(scopes) <= 1024),
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, app_id)
) STRICT;
