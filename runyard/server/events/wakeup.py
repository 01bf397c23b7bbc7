"""Wake the dispatcher when a transaction that wrote deliveries commits.

`outbox.write_event` marks its session; a listener on every session's commit notifies the
process's dispatcher (other replicas find the rows on their next poll).
"""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

MARK = "runyard.events_written"


class ThreadsafeWakeup:
    """A broadcast signal dispatchers wait on (one per event loop), notified from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}

    def ticket(self) -> asyncio.Event:
        """The event the next notify sets (call from the waiting dispatcher's loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._events.setdefault(loop, asyncio.Event())

    def notify(self) -> None:
        """Wake every waiting dispatcher; safe from any thread."""
        with self._lock:
            events, self._events = self._events, {}
        for loop, ticket in events.items():
            try:
                loop.call_soon_threadsafe(ticket.set)
            except RuntimeError:  # that loop closed meanwhile
                continue

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> bool:
        """Wait until the ticket is set or `timeout` seconds pass; True if woken."""
        try:
            await asyncio.wait_for(ticket.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True


WAKEUP = ThreadsafeWakeup()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(MARK, False):
        WAKEUP.notify()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(MARK, None)
