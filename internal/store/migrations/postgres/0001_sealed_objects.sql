-- Sealed objects: opaque AEAD ciphertexts produced by the enclave. The store
-- never interprets blob; version is compared for compare-and-swap only.
-- The Go code enforces the full limits (store.go); the checks here are a
-- last line of defence that will not need a migration if a limit grows.
--
-- COLLATE "C" makes ORDER BY id byte order (List's promise, and SQLite's
-- BINARY order) whatever the database's default collation is.
CREATE TABLE sealed_objects (
    kind       text COLLATE "C" NOT NULL CHECK (kind <> ''),
    id         text COLLATE "C" NOT NULL CHECK (id <> ''),
    version    bigint      NOT NULL CHECK (version >= 1),
    blob       bytea       NOT NULL CHECK (octet_length(blob) >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

-- Blobs are ciphertext and do not compress: store them out of line without
-- trying to.
ALTER TABLE sealed_objects ALTER COLUMN blob SET STORAGE EXTERNAL;
