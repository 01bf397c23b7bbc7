"""JSON the workspace script reads with the session cookie: sampled history and run changes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from runyard.server.api import runs as runs_api
from runyard.server.api.models import BucketOut, SampledHistory, SystemMetrics
from runyard.server.auth import Principal
from runyard.server.db.models import ConsoleLine, MetricRollup, Run
from runyard.server.errors import ServiceError
from runyard.server.tracking import history, rollups
from runyard.server.tracking.access import accessible_project, accessible_run
from runyard.server.ui import views
from runyard.server.ui.session import ui_principal

router = APIRouter(prefix="/ui/api", include_in_schema=False)
MeDep = Annotated[Principal, Depends(ui_principal)]
POLL_INTERVAL_S = 0.5


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
    with request.app.state.runyard.sessions() as session:
        return runs_api.get_sampled_history(
            session, me, entity, project, run, None, buckets, step_min, step_max
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
    with request.app.state.runyard.sessions() as session:
        return runs_api.get_system_metrics(session, me, entity, project, run, buckets)


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
    with request.app.state.runyard.sessions() as session:
        try:
            row = accessible_run(session, me, entity, project, run)
        except ServiceError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        lines = session.execute(
            select(ConsoleLine.line_no, ConsoleLine.text)
            .where(ConsoleLine.run_id == row.id, ConsoleLine.line_no >= since)
            .order_by(ConsoleLine.line_no)
            .limit(limit)
        ).all()
        return {"lines": [[n, text] for n, text in lines], "state": row.state}


def project_metric_keys(session: Session, project_id: int) -> list[str]:
    """Every numeric metric logged by any run of a project (one row per key, from rollups)."""
    return list(
        session.scalars(
            select(MetricRollup.key)
            .join(Run, Run.id == MetricRollup.run_id)
            .where(Run.project_id == project_id, MetricRollup.level == rollups.TOP_LEVEL)
            .distinct()
            .order_by(MetricRollup.key)
        )
    )


@router.get("/projects/{entity}/{project}/metric")
def metric_of_runs(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    key: Annotated[list[str], Query(description="Metric names")],
    runs: Annotated[str, Query(description="Comma-separated run ids")],
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
    step_min: int | None = None,
    step_max: int | None = None,
) -> dict[str, dict[str, list[BucketOut]]]:
    """Sampled buckets of a few metrics for many runs in one request: what one panel draws.

    Panels load as they scroll into view, so a big workspace paints its first charts
    without computing every metric of every run first. A zoomed panel passes
    `step_min`/`step_max` and gets finer buckets of that window.
    """
    names = [r for r in runs.split(",") if r][:500]
    with request.app.state.runyard.sessions() as session:
        try:
            proj = accessible_project(session, me, entity, project)
        except ServiceError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        ids = dict(
            session.execute(
                select(Run.name, Run.id).where(Run.project_id == proj.id, Run.name.in_(names))
            ).all()
        )
        return {
            name: {
                k: [
                    BucketOut(**vars(b))
                    for b in rollups.sampled_series(
                        session, rid, k, buckets, step_min, step_max, coarse=True
                    )
                ]
                for k in key
            }
            for name, rid in ids.items()
        }


def _changed(
    request: Request, me: Principal, entity: str, project: str, since: datetime
) -> tuple[list[str], list[dict[str, Any]]]:
    """Runs updated after `since` and, when there are any, the project's metric names."""
    with request.app.state.runyard.sessions() as session:
        try:
            proj = accessible_project(session, me, entity, project)
        except ServiceError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        runs = session.scalars(
            select(Run).where(Run.project_id == proj.id, Run.updated_at > since)
        ).all()
        if not runs:
            return [], []
        return project_metric_keys(session, proj.id), [
            {**views.sidebar_run(r), "updated": r.updated_at.isoformat()} for r in runs
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
    """Long poll: runs updated after `since`, answered as soon as there are any (or at `wait`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        metrics, runs = await run_in_threadpool(_changed, request, me, entity, project, since)
        if runs or loop.time() >= deadline or await request.is_disconnected():
            cursor = max([r["updated"] for r in runs], default=since.isoformat())
            return {"runs": runs, "metrics": metrics, "cursor": cursor}
        await asyncio.sleep(POLL_INTERVAL_S)
