"""The server's event bus: an outbox written with each change, and the dispatcher delivering it."""
