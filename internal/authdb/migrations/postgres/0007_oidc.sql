-- Niomon as an OpenID Provider ("Login with Niomon").
--
-- sessions.auth_time is when the user last proved who they are; a
-- rotation carries it over (NULL for sessions from before it was kept,
-- which max_age and prompt=login treat as too old).
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;

-- An app's OIDC client: NULL secret_digest is a public client, which
-- must use PKCE; otherwise the digest of its client secret.
CREATE TABLE oidc_clients (
    app_id        text COLLATE "C" PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    secret_digest bytea CHECK (secret_digest IS NULL OR octet_length(secret_digest) = 32),
    created_at    timestamptz NOT NULL
);

-- A grant is one authorization request and everything issued from it:
-- its code (by digest, usable once) and its tokens. Revoking the grant
-- ends every token issued from it, as a reused code or refresh token does.
CREATE TABLE oidc_grants (
    id           text COLLATE "C" PRIMARY KEY CHECK (length(id) = 22),
    app_id       text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id      text COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    request      text NOT NULL CHECK (length(request) <= 16384),
    auth_time    timestamptz,
    amr          text NOT NULL CHECK (length(amr) <= 64),
    code_digest  bytea UNIQUE CHECK (code_digest IS NULL OR octet_length(code_digest) = 32),
    code_used_at timestamptz,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX oidc_grants_by_user ON oidc_grants (user_id, app_id);
CREATE INDEX oidc_grants_by_expiry ON oidc_grants (expires_at);

-- Access tokens (opaque to the app; the row is what makes one valid) and
-- refresh tokens (by digest). A refresh token is used once: using it
-- again revokes its grant.
CREATE TABLE oidc_tokens (
    id         text COLLATE "C" PRIMARY KEY CHECK (length(id) = 22),
    grant_id   text COLLATE "C" NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('access', 'refresh')),
    digest     bytea UNIQUE CHECK (digest IS NULL OR octet_length(digest) = 32),
    scopes     text NOT NULL CHECK (length(scopes) <= 1024),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CHECK ((kind = 'refresh') = (digest IS NOT NULL))
);
CREATE INDEX oidc_tokens_by_grant ON oidc_tokens (grant_id);

-- The provider's signing keys, sealed under a key derived from the
-- server's token key (never stored here); the newest signs.
CREATE TABLE oidc_keys (
    id         text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    sealed     bytea NOT NULL CHECK (octet_length(sealed) <= 4096),
    created_at timestamptz NOT NULL
);

-- What a user allowed an app to learn (space-separated scopes).
CREATE TABLE oidc_consents (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    scopes     text NOT NULL CHECK (length(scopes) <= 1024),
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, app_id)
);
