"""Running several server replicas and worker processes on one database: the message bus,
sweeper locks and the start-up checks of a replicated configuration."""
