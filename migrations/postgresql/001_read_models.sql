-- Read models of the credit projections. Dates are ISO text (YYYY-MM-DD, CST).
CREATE TABLE IF NOT EXISTS projection_sets (
    id          TEXT PRIMARY KEY,
    policy      TEXT NOT NULL,
    state       TEXT NOT NULL,              -- building | ready | live | retired
    position    BIGINT NOT NULL DEFAULT 0, -- last log position applied (tracking)
    created_at  TEXT NOT NULL,
    swapped_at  TEXT
);

CREATE TABLE IF NOT EXISTS enterprise_facts (
    set_id      TEXT NOT NULL,
    uscc        TEXT NOT NULL,
    name        TEXT NOT NULL,
    place_type  TEXT NOT NULL,
    district    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    position    BIGINT NOT NULL,
    due_kind    TEXT,
    due_on      TEXT,
    facts       TEXT NOT NULL,
    PRIMARY KEY (set_id, uscc)
);
CREATE INDEX IF NOT EXISTS enterprise_facts_due ON enterprise_facts (set_id, due_on)
    WHERE due_on IS NOT NULL;
CREATE INDEX IF NOT EXISTS enterprise_facts_name ON enterprise_facts (set_id, name);

CREATE TABLE IF NOT EXISTS standing_segments (
    set_id        TEXT NOT NULL,
    uscc          TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    on_reward     INTEGER NOT NULL,
    on_punishment INTEGER NOT NULL,
    standing      TEXT NOT NULL,
    PRIMARY KEY (set_id, uscc, valid_from)
);
CREATE INDEX IF NOT EXISTS standing_segments_reward ON standing_segments (set_id, uscc, valid_from)
    WHERE on_reward = 1;
CREATE INDEX IF NOT EXISTS standing_segments_punishment
    ON standing_segments (set_id, uscc, valid_from) WHERE on_punishment = 1;
