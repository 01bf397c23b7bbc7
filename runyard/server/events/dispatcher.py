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

import httpx
from starlette.concurrency import run_in_threadpool

from runyard.server.clock import utcnow
from runyard.server.events.deliveries import Job, Outcome, claim_due, record
from runyard.server.events.wakeup import WAKEUP
from runyard.server.state import ServerState

logger = logging.getLogger(__name__)


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

    def __init__(self, state: ServerState, replica: str | None = None) -> None:
        self.state = state
        self.replica = replica or f"replica-{uuid.uuid4().hex[:12]}"
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        settings = self.state.settings
        async with httpx.AsyncClient(follow_redirects=False) as client:
            try:
                while True:
                    ticket = WAKEUP.ticket()
                    free = settings.events_max_in_flight - len(self._in_flight)
                    due_in: float | None = None
                    if free > 0:
                        try:
                            jobs, due_in = await run_in_threadpool(
                                claim_due, self.state, self.replica, free, utcnow()
                            )
                        except Exception:  # keep delivering through transient database errors
                            logger.exception("claiming deliveries failed")
                            jobs = []
                        for job in jobs:
                            task = asyncio.create_task(self._deliver(client, job))
                            self._in_flight.add(task)
                            task.add_done_callback(self._in_flight.discard)
                        if jobs:
                            continue
                    wait = settings.events_poll_interval_s
                    if due_in is not None:
                        wait = min(wait, due_in)
                    await WAKEUP.wait(ticket, wait)
            finally:
                for task in list(self._in_flight):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        outcome = await send(client, job, self.state.settings.events_delivery_timeout_s)
        try:
            await run_in_threadpool(record, self.state, self.replica, job, outcome, utcnow())
        except Exception:  # the lease runs out and the delivery is tried again
            logger.exception("recording a delivery failed", extra={"delivery": job.delivery_id})
        WAKEUP.notify()
