-- A new device asking to join a user's wallet: its credential waits here
-- for a device of the wallet to find it by its code and approve it with a
-- stamped policy change, which the new device then proves and sends. The
-- code is derived from the credential's public key, so the device that
-- approves can check it was given the key the new device shows.
CREATE TABLE device_pairings (
    id          TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 22),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code        TEXT NOT NULL CHECK (length(code) = 10),
    credential  BLOB NOT NULL CHECK (length(credential) BETWEEN 1 AND 4096),
    user_agent  TEXT NOT NULL DEFAULT '',
    approval    BLOB CHECK (length(approval) BETWEEN 1 AND 65536),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    UNIQUE (user_id, code),
    CHECK (expires_at > created_at)
) STRICT;
CREATE INDEX device_pairings_by_expiry ON device_pairings (expires_at);
