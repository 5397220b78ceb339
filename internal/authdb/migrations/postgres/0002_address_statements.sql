-- The enclave's signed statement of each cached address, which a user's
-- device checks with the cluster's receipt key (NULL: cached before
-- statements existed; the server fetches one on next use).
ALTER TABLE addresses ADD COLUMN statement BYTEA CHECK (statement IS NULL OR length(statement) BETWEEN 1 AND 1024);
ALTER TABLE addresses ADD COLUMN signature BYTEA CHECK (signature IS NULL OR length(signature) = 64);
