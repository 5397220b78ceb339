-- A new device asking to join a user's wallet: its credential waits here
-- for a device of the wallet to find it by its code and approve it with a
-- stamped policy change, which the new device then proves and sends. The
-- code is derived from the credential's public key, so the device that
-- approves can check it was given the key the new device shows.
CREATE TABLE device_pairings (
    id          text COLLATE "C" PRIMARY KEY CHECK (length(id) = 22),
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code        text COLLATE "C" NOT NULL CHECK (length(code) = 10),
    credential  bytea NOT NULL CHECK (octet_length(credential) BETWEEN 1 AND 4096),
    user_agent  text NOT NULL DEFAULT '',
    approval    bytea CHECK (octet_length(approval) BETWEEN 1 AND 65536),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    UNIQUE (user_id, code),
    CHECK (expires_at > created_at)
);
CREATE INDEX device_pairings_by_expiry ON device_pairings (expires_at);
