-- Statistics (GET /v1/stats, /v1/stats/monthly, /dashboard), per projection set, kept
-- as deltas of the standing timelines (see ledger/projections/stats.py): a count as of
-- a day is the sum of the month rows before its month and the day rows of its month
-- (WITHOUT ROWID: the rows are stored in key order, so those sums read them in a run).
CREATE TABLE IF NOT EXISTS stats_day (
    set_id      TEXT NOT NULL,
    day         TEXT NOT NULL,
    district    TEXT NOT NULL,
    place_type  TEXT NOT NULL,
    enterprises       INTEGER NOT NULL DEFAULT 0,
    status_licensed   INTEGER NOT NULL DEFAULT 0,
    status_committed  INTEGER NOT NULL DEFAULT 0,
    status_compliant  INTEGER NOT NULL DEFAULT 0,
    status_rectifying INTEGER NOT NULL DEFAULT 0,
    status_overdue    INTEGER NOT NULL DEFAULT 0,
    status_banned     INTEGER NOT NULL DEFAULT 0,
    class_a           INTEGER NOT NULL DEFAULT 0,
    class_b           INTEGER NOT NULL DEFAULT 0,
    class_c           INTEGER NOT NULL DEFAULT 0,
    class_d           INTEGER NOT NULL DEFAULT 0,
    reward_list       INTEGER NOT NULL DEFAULT 0,
    punishment_list   INTEGER NOT NULL DEFAULT 0,
    verification_due  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, day, district, place_type)
) WITHOUT ROWID;
-- The same deltas summed per month, and the events that occurred in each month (CST).
CREATE TABLE IF NOT EXISTS stats_month (
    set_id      TEXT NOT NULL,
    month       TEXT NOT NULL,
    district    TEXT NOT NULL,
    place_type  TEXT NOT NULL,
    enterprises       INTEGER NOT NULL DEFAULT 0,
    status_licensed   INTEGER NOT NULL DEFAULT 0,
    status_committed  INTEGER NOT NULL DEFAULT 0,
    status_compliant  INTEGER NOT NULL DEFAULT 0,
    status_rectifying INTEGER NOT NULL DEFAULT 0,
    status_overdue    INTEGER NOT NULL DEFAULT 0,
    status_banned     INTEGER NOT NULL DEFAULT 0,
    class_a           INTEGER NOT NULL DEFAULT 0,
    class_b           INTEGER NOT NULL DEFAULT 0,
    class_c           INTEGER NOT NULL DEFAULT 0,
    class_d           INTEGER NOT NULL DEFAULT 0,
    reward_list       INTEGER NOT NULL DEFAULT 0,
    punishment_list   INTEGER NOT NULL DEFAULT 0,
    verification_due  INTEGER NOT NULL DEFAULT 0,
    licences          INTEGER NOT NULL DEFAULT 0,
    commitments       INTEGER NOT NULL DEFAULT 0,
    inspections       INTEGER NOT NULL DEFAULT 0,
    rectifications    INTEGER NOT NULL DEFAULT 0,
    bans              INTEGER NOT NULL DEFAULT 0,
    repairs           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, month, district, place_type)
) WITHOUT ROWID;
-- Sets that existed before this migration: their statistics are computed once from
-- their rows at the next start (ledger.projections.stats.backfill).
CREATE TABLE IF NOT EXISTS stats_pending (
    set_id      TEXT PRIMARY KEY
);
INSERT INTO stats_pending (set_id) SELECT id FROM projection_sets;
