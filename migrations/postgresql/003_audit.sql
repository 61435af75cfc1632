-- The audit toolkit: the log's Merkle hash tree (RFC 9162), signing keys, signed
-- checkpoints and time-travel states. Maintained like a projection: `audit_tree.size`
-- is the number of log positions hashed, updated in the same transaction as the nodes.
CREATE TABLE IF NOT EXISTS audit_tree (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  BIGINT NOT NULL
);
INSERT INTO audit_tree (id, size) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- Every perfect subtree: 2^level leaves from leaf idx * 2^level (level 0 = leaf hashes).
CREATE TABLE IF NOT EXISTS audit_nodes (
    level  INTEGER NOT NULL,
    idx    BIGINT NOT NULL,
    hash   BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Ed25519 keys; private_key only for a key the ledger generated itself.
CREATE TABLE IF NOT EXISTS audit_keys (
    key_id       TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    private_key  TEXT,
    source       TEXT NOT NULL,              -- generated | configured
    created_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_checkpoints_size ON audit_checkpoints (tree_size);

-- Folded facts of an enterprise after `version`, every N events, for time travel;
-- recorded_* are epoch microseconds, recorded_min over the events since the previous
-- state, recorded_max and last_day over all events up to `version`.
CREATE TABLE IF NOT EXISTS audit_states (
    uscc          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    position      BIGINT NOT NULL,
    recorded_min  BIGINT NOT NULL,
    recorded_max  BIGINT NOT NULL,
    last_day      TEXT NOT NULL,
    shape         TEXT NOT NULL,
    facts         TEXT NOT NULL,
    PRIMARY KEY (uscc, version)
);
