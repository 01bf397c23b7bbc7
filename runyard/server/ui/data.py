"""JSON the workspace script reads with the session cookie: sampled history and run changes."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from runyard.server.api import runs as runs_api
from runyard.server.api.models import SampledHistory, SystemMetrics
from runyard.server.auth import Principal
from runyard.server.tracking import history, project_reads, run_reads
from runyard.server.tracking.run_reads import RunPath
from runyard.server.ui import views
from runyard.server.ui.session import ui_principal
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.workspaces import media

router = APIRouter(prefix="/ui/api", include_in_schema=False)
MeDep = Annotated[Principal, Depends(ui_principal)]
POLL_INTERVAL_S = 0.5
# The status logged for a read whose client left before the answer (nginx's "client closed").
CLIENT_GONE = 499


def _uow(request: Request) -> UnitOfWork:
    """A read unit of work for one JSON read (the ServiceError handler maps refusals)."""
    return UnitOfWork(request.app.state.runyard)


@router.get("/runs/{entity}/{project}/{run}/sampled", response_model=SampledHistory)
def sampled(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    run: str,
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
    step_min: int | None = None,
    step_max: int | None = None,
) -> SampledHistory:
    """Every numeric metric of a run as min/max/last buckets (the REST endpoint, cookie auth)."""
    path = RunPath(entity, project, run)
    with _uow(request) as uow:
        series = run_reads.sampled_history(uow, me, path, None, buckets, step_min, step_max)
    return SampledHistory(
        buckets=buckets, series={k: runs_api.buckets_out(v) for k, v in series.items()}
    )


@router.get("/runs/{entity}/{project}/{run}/system", response_model=SystemMetrics)
def system(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    run: str,
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
) -> SystemMetrics:
    """A run's system metrics and their charts (the REST endpoint, cookie auth)."""
    with _uow(request) as uow:
        charts = run_reads.system_charts(uow, me, RunPath(entity, project, run), buckets)
    return runs_api.system_metrics_out(charts.panels, charts.series)


@router.get("/runs/{entity}/{project}/{run}/console")
def console_after(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    run: str,
    since: Annotated[int, Query(ge=0, description="First console line number wanted")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 2000,
) -> dict[str, Any]:
    """Console lines numbered `since` and later: what the run page appends while a run runs.

    The page asks again from its last shown line, so a line the client rewrote in place
    (a progress bar) is replaced rather than duplicated.
    """
    path = RunPath(entity, project, run)
    with _uow(request) as uow:
        row, lines = run_reads.console_since(uow, me, path, since=since, limit=limit)
        return {"lines": [[n, text] for n, text in lines], "state": row.state}


async def _client_gone(request: Request) -> None:
    """Return once the client has closed the connection (run it as a task beside the work).

    It waits on the request's ASGI messages rather than asking `is_disconnected()`, which
    never sees the disconnect behind the app's `@app.middleware("http")` (BaseHTTPMiddleware
    cancels its own receive there): a left page's long poll kept querying for its full wait.
    """
    while (await request.receive())["type"] != "http.disconnect":
        pass


# A panel's runs are read this many at a time, so a read whose page was left stops early.
RUNS_PER_STEP = 5


def _read_panel(
    request: Request,
    me: Principal,
    entity: str,
    project: str,
    names: list[str],
    keys: list[str],
    buckets: int,
    step_min: int | None,
    step_max: int | None,
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Buckets of `keys` for the runs `names`, each bucket as a plain dict of the REST shape."""
    with _uow(request) as uow:
        found = project_reads.metric_of_runs(
            uow, me, entity, project, names, keys, buckets, step_min, step_max
        )
    return {
        name: {k: [vars(b) for b in series] for k, series in per_key.items()}
        for name, per_key in found.items()
    }


@router.get("/projects/{entity}/{project}/metric")
async def metric_of_runs(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    key: Annotated[list[str], Query(description="Metric names")],
    runs: Annotated[str, Query(description="Comma-separated run ids")],
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
    step_min: int | None = None,
    step_max: int | None = None,
) -> Response:
    """Sampled buckets of a few metrics for many runs in one request: what one panel draws.

    Panels load as they scroll into view, so a big workspace paints its first charts
    without computing every metric of every run first. A zoomed panel passes
    `step_min`/`step_max` and gets finer buckets of that window.

    The runs are read a few at a time, and the read stops when the client has gone: a page
    that was left (its reads cancelled) must not keep the server busy while the next page
    loads. Each bucket has the REST shape (`BucketOut`), written straight to JSON: a panel
    of 20 runs is 10,000 buckets, and making and checking a model object for each cost the
    server more than reading them.
    """
    names = [r for r in runs.split(",") if r][: project_reads.MAX_RUNS_PER_METRIC_READ]
    body: dict[str, dict[str, list[dict[str, float]]]] = {}
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        # At least one step: a project that is missing or hidden is refused even with no runs.
        for start in range(0, max(len(names), 1), RUNS_PER_STEP):
            if gone.done():
                return Response(status_code=CLIENT_GONE)  # nobody reads it
            chunk = names[start : start + RUNS_PER_STEP]
            body.update(
                await run_in_threadpool(
                    _read_panel,
                    request,
                    me,
                    entity,
                    project,
                    chunk,
                    key,
                    buckets,
                    step_min,
                    step_max,
                )
            )
    finally:
        gone.cancel()
    # Ingest keeps finite numbers only, so plain JSON (no NaN) is what comes out.
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _changed(
    request: Request, me: Principal, entity: str, project: str, since: datetime
) -> tuple[list[str], list[dict[str, Any]]]:
    """Runs updated after `since` and, when there are any, the project's metric names."""
    with _uow(request) as uow:
        found = project_reads.runs_changed_since(uow, me, entity, project, since)
        return found.metrics, [
            {
                **views.sidebar_run(r),
                "updated": r.updated_at.isoformat(),
                # New media keys get panels without a reload.
                "media": media.media_keys_of_summaries([r.summary or {}]),
            }
            for r in found.runs
        ]


@router.get("/projects/{entity}/{project}/changes")
async def changes(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    since: datetime,
    wait: Annotated[float, Query(ge=0, le=30)] = 20,
) -> dict[str, Any]:
    """Long poll: runs updated after `since`, answered as soon as there are any (or at `wait`).

    Between checks it holds no thread and no database connection, and it stops as soon as
    the client goes away (a page that was left).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        while True:
            metrics, runs = await run_in_threadpool(_changed, request, me, entity, project, since)
            if runs or loop.time() >= deadline:
                break
            await asyncio.wait({gone}, timeout=POLL_INTERVAL_S)
            if gone.done():
                break  # nobody is left to read the answer
    finally:
        gone.cancel()
    cursor = max([r["updated"] for r in runs], default=since.isoformat())
    return {"runs": runs, "metrics": metrics, "cursor": cursor}
