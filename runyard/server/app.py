"""The ASGI application: routes, middleware and background tasks of the tracking server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from runyard import __version__
from runyard.server.api import (
    agents,
    artifacts,
    automations,
    filestream,
    health,
    people,
    queues,
    runs,
    storage,
    sweeps,
    usage,
    workspaces,
)
from runyard.server.artifacts import sweeper as artifact_sweeper
from runyard.server.clock import utcnow
from runyard.server.cluster import messages
from runyard.server.cluster.bus import Bus, make_bus
from runyard.server.cluster.locks import try_exclusive
from runyard.server.error_handlers import install_error_handlers
from runyard.server.events.dispatcher import Dispatcher
from runyard.server.events.wakeup import WAKEUP as EVENTS_WAKEUP
from runyard.server.graphql import route as graphql_route
from runyard.server.history_export import export as history_export
from runyard.server.limits import BodySizeLimit
from runyard.server.metrics import RequestBytes, RequestTimer, ServerMetrics
from runyard.server.queues.bus_delivery import deliver
from runyard.server.queues.capacity_board import CapacityBoard
from runyard.server.queues.telemetry_board import TelemetryBoard
from runyard.server.queues.wakeup import Wakeup
from runyard.server.state import ServerState
from runyard.server.storage_health import StorageHealth
from runyard.server.sweeps.controller import mark_crashed_agents, settle_agent_sweeps
from runyard.server.sweeps.launch import schedule_launch_sweeps
from runyard.server.tracking.runs import mark_crashed_runs
from runyard.server.ui.routes import mount_ui
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.web_security import install_web_security

logger = logging.getLogger(__name__)


def _sweep_crashed(state: ServerState) -> int:
    timeout = timedelta(seconds=state.settings.run_heartbeat_timeout_s)
    with UnitOfWork(state, write=True) as uow:
        return mark_crashed_runs(uow.session, timeout, uow.now())


async def _crash_detector(state: ServerState, metrics: ServerMetrics) -> None:
    """Periodically mark runs whose client went silent as crashed."""
    while True:
        await asyncio.sleep(state.settings.crash_check_interval_s)
        try:
            metrics.runs_crashed.inc(await run_in_threadpool(_sweep_crashed, state))
        except Exception:  # keep the detector alive through transient database errors
            logger.exception("crash detection failed")


async def _lease_expiry(state: ServerState, app: FastAPI) -> None:
    """Periodically requeue queue items whose agent stopped heartbeating, and wake claimers."""
    while True:
        await asyncio.sleep(state.settings.lease_check_interval_s)
        try:
            expired = await run_in_threadpool(state.queue_store.expire_leases, utcnow())
        except Exception:  # keep the sweeper alive through transient database errors
            logger.exception("lease expiry failed")
            continue
        if expired:
            app.state.metrics.leases_expired.inc(len(expired))
            logger.info("leases expired", extra={"items": [i.id for i in expired]})
            app.state.bus.publish(messages.work())


def _count_sweep(metrics: ServerMetrics, result: artifact_sweeper.SweepResult) -> None:
    metrics.artifacts_expired.inc(result.expired)
    metrics.artifact_bytes_freed.inc(result.bytes_freed)


def _sweep_pass(state: ServerState, wake: Callable[[], None]) -> None:
    # One replica at a time: two passes over one sweep would enqueue its next trial twice.
    with try_exclusive(state.engine, "sweep-scheduler") as mine:
        if not mine:
            return
        with UnitOfWork(state, write=True) as uow:
            mark_crashed_agents(uow, timedelta(seconds=state.settings.sweep_agent_timeout_s))
            settle_agent_sweeps(uow)
        schedule_launch_sweeps(state, wake)


async def _sweep_scheduler(state: ServerState, app: FastAPI) -> None:
    """Periodically crash silent sweep agents and keep launch sweeps' queues filled."""

    def wake() -> None:
        app.state.bus.publish(messages.work())

    while True:
        await asyncio.sleep(state.settings.sweep_check_interval_s)
        try:
            await run_in_threadpool(_sweep_pass, state, wake)
        except Exception:  # keep the scheduler alive through transient database errors
            logger.exception("sweep scheduling failed")


async def _history_exporter(state: ServerState) -> None:
    """Periodically export finished runs' history to Parquet (fast `scan_history`)."""
    while True:
        await asyncio.sleep(state.settings.history_export_interval_s)
        try:
            await run_in_threadpool(_export_pass, state)
        except Exception:  # keep the exporter alive through transient database errors
            logger.exception("history export failed")


def _export_pass(state: ServerState) -> None:
    # One replica at a time: two would build the same file twice.
    with try_exclusive(state.engine, "history-export") as mine:
        if mine:
            history_export.export_pass(state)


def _make_bus(
    state: ServerState, wakeup: Wakeup, board: CapacityBoard, telemetry: TelemetryBoard
) -> Bus:
    settings = state.settings
    url = settings.resolved_database_url()
    kind, why_not = messages.choose_bus(settings.bus, url, settings.queue_redis_url)
    if kind is None:
        raise ValueError(why_not)
    return make_bus(
        kind,
        partial(
            deliver,
            wakeup=wakeup,
            board=board,
            telemetry=telemetry,
            wake_dispatcher=EVENTS_WAKEUP.notify,
        ),
        url,
        settings.queue_redis_url,
        settings.queue_redis_prefix,
    )


def create_app(state: ServerState) -> FastAPI:
    """Build the server app around an opened ServerState (see `state.open_state`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.bus.start()
        # Deliveries written here wake the dispatchers of every replica and worker process
        # (one process alone wakes its own on commit already).
        stop_forwarding: Callable[[], None] = lambda: None  # noqa: E731
        if app.state.bus.kind is not messages.BusKind.LOCAL:
            stop_forwarding = EVENTS_WAKEUP.forward_commits(
                lambda: app.state.bus.publish(messages.events())
            )
        tasks = [
            asyncio.create_task(_crash_detector(state, app.state.metrics)),
            asyncio.create_task(_lease_expiry(state, app)),
            asyncio.create_task(
                artifact_sweeper.run_sweeper(state, partial(_count_sweep, app.state.metrics))
            ),
            asyncio.create_task(_sweep_scheduler(state, app)),
            asyncio.create_task(_history_exporter(state)),
        ]
        if state.settings.events_dispatch:
            dispatcher = Dispatcher(state, on_recorded=app.state.metrics.count_deliveries)
            tasks.append(asyncio.create_task(dispatcher.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stop_forwarding()
            await app.state.bus.close()
            state.engine.dispose()

    app = FastAPI(
        title="Runyard",
        version=__version__,
        description="Self-hosted experiment tracking with a W&B-compatible wire protocol.",
        lifespan=lifespan,
    )
    app.state.runyard = state
    app.state.metrics = ServerMetrics()
    app.state.metrics.watch_queues(state.queue_store)
    app.state.queue_wakeup = Wakeup()
    app.state.capacity_board = CapacityBoard()
    app.state.telemetry_board = TelemetryBoard()
    app.state.bus = _make_bus(
        state, app.state.queue_wakeup, app.state.capacity_board, app.state.telemetry_board
    )
    app.state.metrics.watch(app.state.telemetry_board)
    app.state.storage_health = StorageHealth()
    install_error_handlers(app)

    app.add_middleware(RequestTimer, histogram=app.state.metrics.requests)

    # Signed upload URLs carry whole files (a 1 GB model): `max_upload_bytes` limits them.
    app.add_middleware(
        BodySizeLimit, max_bytes=state.settings.max_request_bytes, exempt_puts=("/storage/",)
    )
    install_web_security(app, state.settings, state.signer)
    # Outermost: counts every body byte that reaches the server (uploads included).
    app.add_middleware(RequestBytes, counter=app.state.metrics.request_bytes)
    routers = (
        health,
        graphql_route,
        filestream,
        storage,
        runs,
        queues,
        agents,
        people,
        artifacts,
        usage,
        automations,
        sweeps,
        workspaces,
    )
    for module in routers:
        app.include_router(module.router)
    mount_ui(app)
    return app
