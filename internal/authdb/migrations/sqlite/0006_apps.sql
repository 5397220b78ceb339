-- The app registry: apps a developer registers, the origins each may be
-- used from (with the token that proves its domain, and when it was
-- proved), and its OIDC redirect URIs. An administrator's vetting sets
-- status with its reason; the decision itself is an audit event.
CREATE TABLE apps (
    id            TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 22),
    owner_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    icon_url      TEXT NOT NULL CHECK (length(icon_url) <= 2048),
    contact       TEXT NOT NULL CHECK (length(contact) BETWEEN 1 AND 320),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'rejected', 'suspended')),
    status_reason TEXT NOT NULL CHECK (length(status_reason) <= 1024),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX apps_by_owner ON apps (owner_id);
CREATE INDEX apps_by_status ON apps (status, created_at);
CREATE TABLE app_origins (
    app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    origin      TEXT NOT NULL CHECK (length(origin) BETWEEN 1 AND 300),
    token       TEXT NOT NULL CHECK (length(token) = 43),
    method      TEXT NOT NULL CHECK (method IN ('', 'dns', 'file')),
    verified_at TEXT,
    PRIMARY KEY (app_id, origin),
    CHECK ((method = '') = (verified_at IS NULL))
) STRICT;
CREATE TABLE app_redirect_uris (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    uri    TEXT NOT NULL CHECK (length(uri) BETWEEN 1 AND 2048),
    PRIMARY KEY (app_id, uri)
) STRICT;
