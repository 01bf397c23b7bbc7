"""Artifact services: listings of types, collections and versions, and lineage; edits and
retention (aliases, tags, descriptions, TTL, deletion and blob GC).

Logging versions lives in `runyard.server.tracking.artifacts`.
"""
