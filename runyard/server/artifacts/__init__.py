"""Artifact edits and retention: aliases, tags, descriptions, TTL, deletion and blob GC.

Logging and reading versions live in `runyard.server.tracking.artifacts`; this package
changes versions and collections after they exist and removes them again.
"""
