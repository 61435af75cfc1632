-- A projection set keeps the parameters of the policy it was built under (JSON, the
-- nested tables of a policy file), so a restart or a catch-up folds with the same
-- policy even when it came from a file (ledger projections rebuild --policy-file).
-- Sets made before this migration have none: their policy is the built-in version.
ALTER TABLE projection_sets ADD COLUMN parameters TEXT;
