"""Cluster-wide locks on PostgreSQL advisory locks: one replica runs a pass, others skip it.

SQLite serves one process, so the lock is always granted there. Locks are session-level on a
pooled connection and released after the pass; a replica killed mid-pass loses its
connection, and PostgreSQL releases the lock with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (advisory locks take a bigint)."""
    digest = hashlib.sha256(f"runyard:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def try_exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this process holds the lock `name` (held until the block ends)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock `name`, waiting for it (start-up work such as migrations)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
