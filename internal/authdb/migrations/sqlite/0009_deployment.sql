-- sessions.api_key_id is the API key a session was signed in with (NULL
-- for other sign-ins): revoking the key ends its sessions.
ALTER TABLE sessions ADD COLUMN api_key_id TEXT CHECK (length(api_key_id) = 64);
CREATE INDEX sessions_by_api_key ON sessions (api_key_id) WHERE api_key_id IS NOT NULL;

-- What every server of one deployment must agree on, recorded by the
-- first server to start: the secretd client key (a wallet answers only
-- the client key that made it) and the secretd cluster identity.
CREATE TABLE deployment (
    name   TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    value  TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 1024),
    set_at TEXT NOT NULL
) STRICT;
