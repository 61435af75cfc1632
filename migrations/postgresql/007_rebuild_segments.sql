-- The segments of a rebuild (ledger projections rebuild --segments S): the log up to
-- position `upto`, split by ranges of the enterprise id (a uuid5 of the USCC, so a
-- range of ids is a hash partition and each segment one range scan of the log's key).
-- A worker claims a segment with a lease (`owner` token, `lease_until` in epoch
-- seconds of the database's clock) and writes the segment's rows in the transaction
-- that marks it done, if it still holds the lease; an expired lease is claimed again.
CREATE TABLE IF NOT EXISTS rebuild_segments (
    set_id      TEXT NOT NULL,
    segment     INTEGER NOT NULL,
    segments    INTEGER NOT NULL,
    upto        BIGINT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'todo',  -- todo | done
    owner       TEXT,
    lease_until DOUBLE PRECISION,
    attempts    INTEGER NOT NULL DEFAULT 0,
    events      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, segment)
);
