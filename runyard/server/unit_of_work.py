"""The unit of work: one request's access to storage, handed to every service call.

Adapters (GraphQL, REST, UI) open one per request and never touch the database
themselves. It owns:

- the session, of the kind the request needs: a read session (never waits for writers,
  WAL) or a write session, which on SQLite takes the write lock at its first statement;
- the SQLite write-lock rule: the launch queue's SQL store shares the database, so a
  request that uses the queue store must not hold a write transaction meanwhile. Writes
  that go with queue-store calls use `write_transaction()`, a short transaction of its own
  committed at once; the unit's own session opens lazily, so a request that never runs a
  statement takes no lock;
- the queue store, the object store, the URL signer and the settings;
- the clock (`now`), so services agree on timezone-aware UTC and tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import text

from runyard.server.clock import utcnow

# Session info key holding the unit's actor (read by automations' event firing).
ACTOR_KEY = "runyard.actor"

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runyard.launch.queue.store import QueueStore
    from runyard.server.settings import ServerSettings
    from runyard.server.signing import UrlSigner
    from runyard.server.state import ServerState
    from runyard.server.storage import ObjectStore


class UnitOfWork:
    """A request's session (read or write, opened on first use), stores and clock."""

    def __init__(
        self, state: ServerState, *, write: bool = False, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.state = state
        self.write = write
        self._clock = clock
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []
        # Who the request acts for (a username), for events that name their author.
        self.actor = ""

    # --- storage ------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The unit's session; created on first use, of the kind the unit was opened for."""
        if self._session is None:
            factory = self.state.write_sessions if self.write else self.state.sessions
            self._session = factory()
            self._session.info[ACTOR_KEY] = self.actor
        return self._session

    @contextmanager
    def write_transaction(self) -> Iterator[Session]:
        """A short write transaction of its own, committed on exit (rolled back on error).

        Use it for a write that goes with queue-store calls: on SQLite the lock is released
        before the store, which shares the database, needs it. On SQLite it refuses to start
        while this unit's own write transaction holds the lock: it would wait on itself.
        """
        if self.holds_write_lock():
            raise RuntimeError(
                "write_transaction() while this unit's write session holds SQLite's lock "
                "would wait on itself: commit the unit first, or use its session"
            )
        with self.state.write_sessions.begin() as session:
            yield session

    def holds_write_lock(self) -> bool:
        """Whether this unit's session holds SQLite's write lock (an open write transaction)."""
        return (
            self.write
            and self.dialect == "sqlite"
            and self._session is not None
            and self._session.in_transaction()
        )

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A short read session of its own, closed on exit (e.g. authentication)."""
        with self.state.sessions() as session:
            yield session

    @property
    def queue_store(self) -> QueueStore:
        """The launch queue store (Redis or the server's own database)."""
        return self.state.queue_store

    @property
    def objects(self) -> ObjectStore:
        """The object store holding run files and artifacts."""
        return self.state.store

    @property
    def signer(self) -> UrlSigner:
        """Signs the capability URLs of uploads and downloads."""
        return self.state.signer

    @property
    def settings(self) -> ServerSettings:
        """The server's settings (limits and timeouts)."""
        return self.state.settings

    @property
    def dialect(self) -> str:
        """The SQL dialect of the database (`sqlite`, `postgresql`)."""
        return self.state.engine.dialect.name

    def ping(self) -> None:
        """Run a trivial statement on a connection of its own; raises if the database is down."""
        with self.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return self._clock()

    # --- ending -------------------------------------------------------------------------

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the unit's work is committed (dropped on rollback).

        For side effects outside the database (e.g. delivering an alert): they must
        not happen for work that is then rolled back.
        """
        self._after_commit.append(callback)

    def commit(self) -> None:
        """Commit what the unit's session holds (a later use starts a new transaction)."""
        if self._session is not None:
            self._session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        """Drop what the unit's session holds."""
        self._after_commit = []
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        """Close the unit's session (uncommitted work is dropped)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit when the block ended normally, else roll back; always close."""
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()
