"""Artifact services: listings of types, collections and versions, lineage, and the edits
and retention of versions (aliases, tags, descriptions, TTL, deletion and blob GC).

Logging and reading single versions live in `runyard.server.tracking.artifacts`.
"""
