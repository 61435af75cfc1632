"""The auditor's toolkit: an RFC 9162 Merkle hash tree over the event log, signed
checkpoints, inclusion and consistency proofs, verification of the store and of
offline exports, and time travel (``as_of`` a date, ``known_at`` a moment)."""
