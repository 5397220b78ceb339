-- The app registry: apps a developer registers, the origins each may be
-- used from (with the token that proves its domain, and when it was
-- proved), and its OIDC redirect URIs. An administrator's vetting sets
-- status with its reason; the decision itself is an audit event.
CREATE TABLE apps (
    id            text COLLATE "C" PRIMARY KEY CHECK (length(id) = 22),
    owner_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    icon_url      text NOT NULL CHECK (length(icon_url) <= 2048),
    contact       text NOT NULL CHECK (length(contact) BETWEEN 1 AND 320),
    status        text NOT NULL CHECK (status IN ('pending', 'verified', 'rejected', 'suspended')),
    status_reason text NOT NULL CHECK (length(status_reason) <= 1024),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX apps_by_owner ON apps (owner_id);
CREATE INDEX apps_by_status ON apps (status, created_at);
CREATE TABLE app_origins (
    app_id      text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    origin      text COLLATE "C" NOT NULL CHECK (length(origin) BETWEEN 1 AND 300),
    token       text COLLATE "C" NOT NULL CHECK (length(token) = 43),
    method      text NOT NULL CHECK (method IN ('', 'dns', 'file')),
    verified_at timestamptz,
    PRIMARY KEY (app_id, origin),
    CHECK ((method = '') = (verified_at IS NULL))
);
CREATE TABLE app_redirect_uris (
    app_id text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    uri    text COLLATE "C" NOT NULL CHECK (length(uri) BETWEEN 1 AND 2048),
    PRIMARY KEY (app_id, uri)
);
