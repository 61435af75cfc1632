"""Services: the application (commands), keys and limits, idempotency, letters,
history and the demo city."""
