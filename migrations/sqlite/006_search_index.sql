-- Public search by name: a covering index, so a substring match reads the index
-- (name, uscc, place type, district) and never the rows with their facts documents.
DROP INDEX IF EXISTS enterprise_facts_name;
CREATE INDEX IF NOT EXISTS enterprise_facts_name_cover
    ON enterprise_facts (set_id, name, uscc, place_type, district);
