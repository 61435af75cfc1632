-- Idempotency records are now stored in the write's own transaction, complete or not at
-- all: the old claims left 'pending' by a crash held no events; drop them so their keys
-- run afresh. `state` stays, always 'done'.
DELETE FROM idempotency_records WHERE state <> 'done';
