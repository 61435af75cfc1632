-- Personal data (contract.md, "Personal data"): the values of the personal fields
-- (legal_representative, signatory, inspector, verified_by) and their salts. The event
-- log stores only the commitment "sha256:" + hex(SHA-256(salt || UTF-8 value)); rows
-- here are written in the same transaction as their event, and deleted for good by an
-- erasure (the commitment in the log then proves nothing about anyone).
CREATE TABLE IF NOT EXISTS personal_data (
    position    INTEGER NOT NULL,           -- the event's log position
    field       TEXT NOT NULL,              -- legal_representative | signatory | inspector | verified_by
    uscc        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    commitment  TEXT NOT NULL,              -- as stored in the event
    value       TEXT NOT NULL,
    salt        TEXT NOT NULL,              -- 16 random bytes, hex
    PRIMARY KEY (position, field)
);
CREATE INDEX IF NOT EXISTS personal_data_uscc ON personal_data (uscc, version);

-- Erasures, for auditors: who erased which fields of which events, and when (never
-- the values).
CREATE TABLE IF NOT EXISTS personal_erasures (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,              -- UTC, ISO 8601 with microseconds
    uscc        TEXT NOT NULL,
    fields      TEXT NOT NULL,              -- JSON list of the fields asked for
    positions   TEXT NOT NULL,              -- JSON list of the log positions erased
    erased_by   TEXT NOT NULL               -- the API key's name, or "cli:<user>"
);
CREATE INDEX IF NOT EXISTS personal_erasures_uscc ON personal_erasures (uscc, id);
