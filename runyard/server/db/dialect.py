"""Dialect-specific SQL the server needs on both SQLite and PostgreSQL (upserts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, model: Any) -> Any:
    """An INSERT for `model` that supports ON CONFLICT, in the session's SQL dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
