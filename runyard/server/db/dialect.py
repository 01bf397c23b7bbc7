"""Dialect-specific SQL the server needs on both SQLite and PostgreSQL (upserts)."""

from __future__ import annotations

from collections.abc import Iterable
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


def pg_array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal (`{1,2.5,NULL}` / `{"a","b"}`) of numbers or of strings.

    For bulk inserts over `unnest(%s::type[])`: psycopg adapts a list element by element in
    Python (a regular-expression escape per string), which costs more than the insert
    itself; this joins at C speed. Numbers use `repr` (floats round-trip exactly); strings
    are quoted once per distinct value. None is NULL.
    """
    items = values if isinstance(values, list | tuple) else list(values)
    if not items:
        return "{}"
    if isinstance(items[0], str):
        quoted = {
            item: "NULL"
            if item is None
            else '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for item in set(items)
        }
        return "{" + ",".join(map(quoted.__getitem__, items)) + "}"
    if None in items:
        return "{" + ",".join(["NULL" if item is None else repr(item) for item in items]) + "}"
    return "{" + ",".join(map(repr, items)) + "}"
