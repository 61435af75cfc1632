-- Indexes for the list queries, so their latency stays flat as the ledger grows.
-- The lists walk one flag's segments in USCC order and keep those valid as of the
-- date: with valid_until in the index that test needs no visit to the row.
DROP INDEX IF EXISTS standing_segments_reward;
DROP INDEX IF EXISTS standing_segments_punishment;
CREATE INDEX IF NOT EXISTS standing_segments_reward_range
    ON standing_segments (set_id, uscc, valid_from, valid_until) WHERE on_reward = 1;
CREATE INDEX IF NOT EXISTS standing_segments_punishment_range
    ON standing_segments (set_id, uscc, valid_from, valid_until) WHERE on_punishment = 1;
-- A list filtered by district and/or place type walks that subset of enterprises in
-- USCC order instead of every listed enterprise.
CREATE INDEX IF NOT EXISTS enterprise_facts_district_type
    ON enterprise_facts (set_id, district, place_type, uscc);
CREATE INDEX IF NOT EXISTS enterprise_facts_type ON enterprise_facts (set_id, place_type, uscc);
CREATE INDEX IF NOT EXISTS enterprise_facts_district ON enterprise_facts (set_id, district, uscc);
