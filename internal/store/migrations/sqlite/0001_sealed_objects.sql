-- Sealed objects: opaque AEAD ciphertexts produced by the enclave. The store
-- never interprets blob; version is compared for compare-and-swap only.
-- The Go code enforces the full limits (store.go); the checks here are a
-- last line of defence that will not need a migration if a limit grows.
-- TEXT compares with the BINARY collation (memcmp), so ORDER BY id is byte
-- order, as List promises. STRICT refuses values of the wrong type.
CREATE TABLE sealed_objects (
    kind       TEXT    NOT NULL CHECK (length(kind) >= 1),
    id         TEXT    NOT NULL CHECK (length(id) >= 1),
    version    INTEGER NOT NULL CHECK (version >= 1),
    blob       BLOB    NOT NULL CHECK (length(blob) >= 1),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (kind, id)
) STRICT;
