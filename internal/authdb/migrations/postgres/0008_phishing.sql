-- Administrators' phishing overrides: a verdict for a host and its
-- subdomains, with the reason it was made and what a blocked user is
-- told. Every server reads them; a change is also an audit event.
CREATE TABLE phishing_overrides (
    host       text COLLATE "C" PRIMARY KEY CHECK (length(host) BETWEEN 1 AND 253),
    verdict    text NOT NULL CHECK (verdict IN ('allow', 'warn', 'block')),
    reason     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1024),
    appeal     text NOT NULL CHECK (length(appeal) <= 1024),
    admin_id   text COLLATE "C" NOT NULL,
    updated_at timestamptz NOT NULL
);
