"""Artifact services: listings of types, collections and versions, and lineage."""
