-- The names a user gives their credentials (passkeys, API keys, device
-- keys) on the security page. Display only: the wallet policy, sealed in
-- the enclave, is what says which keys can act.
CREATE TABLE credential_names (
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL CHECK (octet_length(credential_id) BETWEEN 1 AND 1023),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    PRIMARY KEY (user_id, credential_id)
);
