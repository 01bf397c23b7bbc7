"""Wake waiting claimers when work appears, instead of having them poll."""

from __future__ import annotations

import asyncio


class Wakeup:
    """A broadcast signal: every waiter that started before `notify` returns at once.

    Take `ticket()` before checking for work and wait on that ticket afterwards, so
    work that arrives while the check runs is never missed.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """The event the next `notify` sets."""
        return self._event

    def notify(self) -> None:
        """Wake everyone holding a current ticket (call from the event loop)."""
        self._event.set()
        self._event = asyncio.Event()

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> bool:
        """Wait until the ticket is set or `timeout` seconds pass; True if woken."""
        try:
            await asyncio.wait_for(ticket.wait(), timeout)
        except TimeoutError:
            return False
        return True
