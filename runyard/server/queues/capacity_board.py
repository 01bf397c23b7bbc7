"""Free capacity of agents whose claims are waiting, so a claim never waits on stale numbers.

A claim's long poll starts with the capacity the agent had then. When one of the agent's
jobs ends, its GPUs are free, but the waiting claim would not know until its wait ran out
(up to 30 s of idle GPUs). The agent heartbeats its new capacity; the board records it and
wakes that agent's waiting claim, which tries again with it at once.

The board is per server process; a heartbeat reaching another replica or worker than the
one holding the claim gets here over the bus (`runyard.server.cluster.bus`).
"""

from __future__ import annotations

import asyncio

from runyard.launch.models import Requirements


class CapacityBoard:
    """Latest advertised capacity per agent with a waiting claim, and a wake per agent."""

    def __init__(self) -> None:
        self._capacity: dict[str, Requirements | None] = {}
        self._events: dict[str, asyncio.Event] = {}

    def open(self, agent_id: str, capacity: Requirements | None) -> None:
        """A claim of this agent starts waiting with this capacity."""
        self._capacity[agent_id] = capacity
        self._events[agent_id] = asyncio.Event()

    def ticket(self, agent_id: str) -> asyncio.Event:
        """The event the agent's next capacity update sets (take it before claiming)."""
        return self._events.setdefault(agent_id, asyncio.Event())

    def current(self, agent_id: str) -> Requirements | None:
        """The capacity to claim with now."""
        return self._capacity.get(agent_id)

    def update(self, agent_id: str, capacity: Requirements) -> bool:
        """Record a newer capacity and wake the agent's waiting claim; False if none waits."""
        if agent_id not in self._capacity:
            return False
        self._capacity[agent_id] = capacity
        event = self._events.pop(agent_id, None)
        if event is not None:
            event.set()
        return True

    def close(self, agent_id: str) -> None:
        """The agent's claim stopped waiting."""
        self._capacity.pop(agent_id, None)
        self._events.pop(agent_id, None)


async def wait_any(events: list[asyncio.Event], timeout: float) -> bool:
    """Wait until one of the events is set or `timeout` seconds pass; True if woken."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
