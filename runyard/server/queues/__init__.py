"""Launch queues inside the server: validation before enqueue, long-poll claims, lease expiry."""
