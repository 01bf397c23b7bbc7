"""The dispatcher: a thin async runner started with the server that sends due deliveries.

It claims due deliveries (see deliveries.py), POSTs each one on its own task, and records
the outcome; it sleeps until woken by a commit that wrote deliveries, the next retry is
due, or the poll interval passes (other replicas' events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import httpx
from starlette.concurrency import run_in_threadpool

from runyard.server.clock import utcnow
from runyard.server.events.deliveries import (
    Job,
    Outcome,
    claim_due,
    next_due_in,
    prune,
    record_many,
)
from runyard.server.events.wakeup import WAKEUP
from runyard.server.state import ServerState

logger = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0


async def send(client: httpx.AsyncClient, job: Job, timeout_s: float) -> Outcome:
    """POST one delivery; never raises (a failure is an outcome)."""
    started = utcnow()
    clock = time.perf_counter()
    try:
        response = await client.post(
            job.url, content=job.body.encode(), headers=job.headers, timeout=timeout_s
        )
        status: int | None = response.status_code
        text, error = response.text, None
    except httpx.HTTPError as exc:
        status, text, error = None, "", f"{type(exc).__name__}: {exc}"
    return Outcome(status, text, error, started, int((time.perf_counter() - clock) * 1000))


class Dispatcher:
    """Delivers this server's outbox; one per replica."""

    def __init__(
        self,
        state: ServerState,
        replica: str | None = None,
        on_recorded: Callable[[list[str]], None] = lambda verdicts: None,
    ) -> None:
        self.state = state
        self.replica = replica or f"replica-{uuid.uuid4().hex[:12]}"
        # Told each round's verdicts (succeeded, retry, failed, superseded): server metrics.
        self.on_recorded = on_recorded
        self._in_flight: set[asyncio.Task[None]] = set()
        # Finished tries waiting to be recorded, in one transaction per round.
        self._done: list[tuple[Job, Outcome]] = []
        self._pruned_at = 0.0

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with httpx.AsyncClient(follow_redirects=False) as client:
            try:
                while True:
                    await self._round(client)
            finally:
                for task in list(self._in_flight):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # Record what was sent before stopping, so a restart does not send it again.
                if self._done:
                    done, self._done = self._done, []
                    with contextlib.suppress(Exception):
                        await run_in_threadpool(
                            record_many, self.state, self.replica, done, utcnow()
                        )

    async def _round(self, client: httpx.AsyncClient) -> None:
        settings = self.state.settings
        ticket = WAKEUP.ticket()
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            try:
                await run_in_threadpool(prune, self.state, utcnow())
            except Exception:  # the next round tries again
                logger.exception("pruning old events failed")
        if self._done:
            done, self._done = self._done, []
            try:
                verdicts = await run_in_threadpool(
                    record_many, self.state, self.replica, done, utcnow()
                )
            except Exception:  # their leases run out and they are tried again
                logger.exception("recording deliveries failed")
            else:
                self.on_recorded(verdicts)
        wait = settings.events_poll_interval_s
        free = settings.events_max_in_flight - len(self._in_flight)
        if free > 0:
            try:
                # A read first: the write transaction of a claim (SQLite's lock) only when due.
                due_in = await run_in_threadpool(next_due_in, self.state, utcnow())
                jobs: list[Job] = []
                if due_in is not None and due_in <= 0:
                    jobs, due_in = await run_in_threadpool(
                        claim_due, self.state, self.replica, free, utcnow()
                    )
            except Exception:  # keep delivering through transient database errors
                logger.exception("claiming deliveries failed")
                jobs, due_in = [], None
            for job in jobs:
                task = asyncio.create_task(self._deliver(client, job))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if jobs:
                return
            if due_in is not None:
                wait = min(wait, due_in)
        if not self._done:
            await WAKEUP.wait(ticket, wait)

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        outcome = await send(client, job, self.state.settings.events_delivery_timeout_s)
        self._done.append((job, outcome))
        WAKEUP.notify()
