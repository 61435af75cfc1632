-- The HTTP API's own tables: API keys (hashes only), idempotency records, access log.
CREATE TABLE IF NOT EXISTS api_keys (
    name        TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,       -- sha256 hex of the key; the key itself is never stored
    prefix      TEXT NOT NULL,              -- first characters of the key, to recognise it
    scopes      TEXT NOT NULL,              -- space-separated
    rate_limit  REAL,                       -- requests per second; NULL = LEDGER_RATE_LIMIT
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE IF NOT EXISTS idempotency_records (
    key_name      TEXT NOT NULL,            -- the API key that sent the request
    idem_key      TEXT NOT NULL,            -- the Idempotency-Key header
    request_hash  TEXT NOT NULL,            -- sha256 of method, path, If-Match and JSON body
    state         TEXT NOT NULL,            -- pending | done
    status        INTEGER,
    body          TEXT,
    headers       TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (key_name, idem_key)
);

CREATE TABLE IF NOT EXISTS access_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,                -- UTC, ISO 8601 with microseconds
    key_name  TEXT NOT NULL,
    method    TEXT NOT NULL,
    route     TEXT NOT NULL,                -- the route template, e.g. /v1/feed
    target    TEXT NOT NULL,                -- path and query as requested
    status    INTEGER NOT NULL,
    subjects  TEXT NOT NULL DEFAULT ''      -- USCCs read, space-separated
);
CREATE INDEX IF NOT EXISTS access_log_key ON access_log (key_name, id);
CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at);
