"""Database engine and session factory, with SQLite tuned for a single-node server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from runyard.server.tracking.json_sql import register_sqlite_regexp


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and REGEXP."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers (charts, API) proceed while a run's history is written.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            register_sqlite_regexp(dbapi_connection, record)
            # SQLAlchemy emits BEGIN itself (below); pysqlite must not add its own.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Connections of a writer engine (`writer_engine`) take the write lock at BEGIN;
            # reads stay deferred so they never wait for writers (WAL).
            immediate = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


# Also set by the launch queue's SQL store on its write transactions.
WRITE_OPTION = "runyard_write"


def writer_engine(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that write.

    On SQLite, a transaction that reads and then writes after another writer committed
    fails at once with "database is locked"; taking the write lock at BEGIN makes it wait
    its turn instead. BEGIN is lazy: a session that never runs a statement takes no lock.
    Other databases ignore the option.
    """
    return engine.execution_options(**{WRITE_OPTION: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
