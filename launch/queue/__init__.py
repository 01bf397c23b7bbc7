"""Queue stores: the QueueStore interface, its SQL and Redis implementations, shared rules."""
