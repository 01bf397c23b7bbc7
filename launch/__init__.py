"""Launch queues, job templating and the runyard agent (see issue: launch queues)."""
