"""Storage: connections, the event log, recorders (gap-free positions, group
commit) and migrations."""
