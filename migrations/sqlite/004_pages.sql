-- Pages: the service's own secrets (the HMAC secret of commitment links, sessions and
-- forms when LEDGER_SECRET_KEY is unset, generated at first start) and the sign-in
-- sessions of regulators (only a hash of the session id is stored).
CREATE TABLE IF NOT EXISTS service_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash     TEXT PRIMARY KEY,
    key_name    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires_at);
