"""Wake the dispatcher when a transaction that wrote deliveries commits.

`outbox.write_event` marks its session; a listener on every session's commit notifies the
process's dispatcher and calls the forwarders the running apps registered, which tell the
other replicas and worker processes over the cluster bus (their poll is the fallback should
a message be lost).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

MARK = "runyard.events_written"


class ThreadsafeWakeup:
    """A broadcast signal dispatchers wait on (one per event loop), notified from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._forwarders: list[Callable[[], None]] = []

    def forward_commits(self, forward: Callable[[], None]) -> Callable[[], None]:
        """Call `forward` after each commit that wrote deliveries (an app's bus publish);
        returns the function that stops it (call it when the app stops)."""
        with self._lock:
            self._forwarders.append(forward)

        def stop() -> None:
            with self._lock:
                if forward in self._forwarders:
                    self._forwarders.remove(forward)

        return stop

    def committed(self) -> None:
        """A transaction that wrote deliveries committed: wake dispatchers here and elsewhere."""
        self.notify()
        with self._lock:
            forwarders = list(self._forwarders)
        for forward in forwarders:
            forward()

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
        WAKEUP.committed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(MARK, None)
