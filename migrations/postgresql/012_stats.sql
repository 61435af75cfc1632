-- Statistics (GET /v1/stats, /v1/stats/monthly, /dashboard), per projection set, kept
-- as deltas of the standing timelines (see ledger/projections/stats.py): a count as of
-- a day is the sum of the month rows before its month and the day rows of its month.
CREATE TABLE IF NOT EXISTS stats_day (
    set_id      TEXT NOT NULL,
    day         TEXT NOT NULL,
    district    TEXT NOT NULL,
    place_type  TEXT NOT NULL,
    enterprises       BIGINT NOT NULL DEFAULT 0,
    status_licensed   BIGINT NOT NULL DEFAULT 0,
    status_committed  BIGINT NOT NULL DEFAULT 0,
    status_compliant  BIGINT NOT NULL DEFAULT 0,
    status_rectifying BIGINT NOT NULL DEFAULT 0,
    status_overdue    BIGINT NOT NULL DEFAULT 0,
    status_banned     BIGINT NOT NULL DEFAULT 0,
    class_a           BIGINT NOT NULL DEFAULT 0,
    class_b           BIGINT NOT NULL DEFAULT 0,
    class_c           BIGINT NOT NULL DEFAULT 0,
    class_d           BIGINT NOT NULL DEFAULT 0,
    reward_list       BIGINT NOT NULL DEFAULT 0,
    punishment_list   BIGINT NOT NULL DEFAULT 0,
    verification_due  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, day, district, place_type)
);
-- The same deltas summed per month, and the events that occurred in each month (CST).
CREATE TABLE IF NOT EXISTS stats_month (
    set_id      TEXT NOT NULL,
    month       TEXT NOT NULL,
    district    TEXT NOT NULL,
    place_type  TEXT NOT NULL,
    enterprises       BIGINT NOT NULL DEFAULT 0,
    status_licensed   BIGINT NOT NULL DEFAULT 0,
    status_committed  BIGINT NOT NULL DEFAULT 0,
    status_compliant  BIGINT NOT NULL DEFAULT 0,
    status_rectifying BIGINT NOT NULL DEFAULT 0,
    status_overdue    BIGINT NOT NULL DEFAULT 0,
    status_banned     BIGINT NOT NULL DEFAULT 0,
    class_a           BIGINT NOT NULL DEFAULT 0,
    class_b           BIGINT NOT NULL DEFAULT 0,
    class_c           BIGINT NOT NULL DEFAULT 0,
    class_d           BIGINT NOT NULL DEFAULT 0,
    reward_list       BIGINT NOT NULL DEFAULT 0,
    punishment_list   BIGINT NOT NULL DEFAULT 0,
    verification_due  BIGINT NOT NULL DEFAULT 0,
    licences          BIGINT NOT NULL DEFAULT 0,
    commitments       BIGINT NOT NULL DEFAULT 0,
    inspections       BIGINT NOT NULL DEFAULT 0,
    rectifications    BIGINT NOT NULL DEFAULT 0,
    bans              BIGINT NOT NULL DEFAULT 0,
    repairs           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, month, district, place_type)
);
-- Sets that existed before this migration: their statistics are computed once from
-- their rows at the next start (ledger.projections.stats.backfill).
CREATE TABLE IF NOT EXISTS stats_pending (
    set_id      TEXT PRIMARY KEY
);
INSERT INTO stats_pending (set_id) SELECT id FROM projection_sets;
