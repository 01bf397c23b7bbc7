"""`/api/v1/runs`: list, filter and read runs, their history, console and files; stop a run."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import func, select

from runyard.launch.models import QueueItem
from runyard.server.api.errors import http_error
from runyard.server.api.models import (
    BucketOut,
    ConsoleLineOut,
    ConsoleOut,
    FileOut,
    RunList,
    RunOut,
    SampledHistory,
    SystemLineOut,
    SystemMetrics,
    SystemPanelOut,
    ViewerOut,
)
from runyard.server.db.models import ConsoleLine, Run, RunFile
from runyard.server.deps import PrincipalDep, SessionDep, StateDep, public_base_url
from runyard.server.input_limits import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from runyard.server.queues import launched
from runyard.server.tracking import history, rollups, system_metrics
from runyard.server.tracking.access import accessible_project, accessible_run
from runyard.server.tracking.files import run_file_key
from runyard.server.tracking.filters import FilterError, compile_filter, compile_order
from runyard.server.tracking.runs import TrackingError, request_stop

router = APIRouter(prefix="/api/v1", tags=["runs"])


def _run(session: SessionDep, principal: PrincipalDep, entity: str, project: str, run: str) -> Run:
    try:
        return accessible_run(session, principal, entity, project, run)
    except TrackingError as exc:
        raise http_error(exc) from exc


@router.get("/viewer", response_model=ViewerOut)
def viewer(principal: PrincipalDep) -> ViewerOut:
    """Who the API key belongs to."""
    return ViewerOut(
        username=principal.username,
        email=principal.email,
        entity=principal.entity_name,
        is_admin=principal.is_admin,
    )


@router.get("/runs", response_model=RunList)
def list_runs(
    session: SessionDep,
    principal: PrincipalDep,
    project: Annotated[str, Query(description="`entity/project`")],
    filters: Annotated[
        str | None, Query(description='W&B MongoDB-style filter as JSON, e.g. {"state":"finished"}')
    ] = None,
    order: Annotated[
        str | None, Query(description="e.g. -created_at, +summary_metrics.loss")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> RunList:
    """List a project's runs, filtered and ordered like W&B's public API."""
    entity_name, sep, project_name = project.partition("/")
    if not sep or not entity_name or not project_name:
        raise HTTPException(400, f"project must be 'entity/project', got {project!r}")
    try:
        proj = accessible_project(session, principal, entity_name, project_name)
    except TrackingError as exc:
        raise http_error(exc) from exc
    try:
        parsed = json.loads(filters) if filters else None
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"filters is not valid JSON: {exc}") from exc
    try:
        dialect = session.get_bind().dialect.name
        condition = compile_filter(parsed, dialect)
        ordering = compile_order(order, dialect)
    except FilterError as exc:
        raise HTTPException(400, f"invalid filter: {exc}") from exc
    where = (Run.project_id == proj.id, condition)
    total = session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
    rows = session.scalars(
        select(Run).where(*where).order_by(*ordering).limit(limit).offset(offset)
    )
    runs = [RunOut.from_run(r) for r in rows]
    next_offset = offset + len(runs) if offset + len(runs) < total else None
    return RunList(runs=runs, total=total, next_offset=next_offset)


@router.get("/runs/{entity}/{project}/{run}", response_model=RunOut)
def get_run(
    session: SessionDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> RunOut:
    """One run with its config, summary and state."""
    return RunOut.from_run(_run(session, principal, entity, project, run))


@router.post("/runs/{entity}/{project}/{run}/stop", response_model=RunOut)
def stop_run(
    session: SessionDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> RunOut:
    """Ask the run's client to stop; `wandb` ends the run as soon as it hears of it."""
    row = _run(session, principal, entity, project, run)
    try:
        request_stop(session, row)
    except TrackingError as exc:
        raise http_error(exc) from exc
    return RunOut.from_run(row)


@router.get(
    "/runs/{entity}/{project}/{run}/history",
    responses={200: {"description": '`{"rows": [...], "next_after": int|null}`'}},
)
def get_history(
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    after: Annotated[
        int,
        Query(ge=INT32_MIN, le=INT32_MAX, description="Return lines after this line number."),
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=history.MAX_PAGE)] = 1000,
) -> Response:
    """Logged history rows exactly as the client sent them, a page at a time."""
    row = _run(session, principal, entity, project, run)
    lines = history.history_lines_with_numbers(session, row, after=after, limit=limit)
    next_after = lines[-1][0] if len(lines) == limit else None
    # Rows go out verbatim (no parse/re-encode): exact values, and cheap for long runs.
    body = '{"rows":[' + ",".join(text for _, text in lines) + '],"next_after":'
    body += json.dumps(next_after) + "}"
    return Response(body, media_type="application/json")


@router.get("/runs/{entity}/{project}/{run}/history/sampled", response_model=SampledHistory)
def get_sampled_history(
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    keys: Annotated[list[str] | None, Query(description="Metrics; default: all numeric.")] = None,
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 1000,
    step_min: Annotated[
        int | None, Query(ge=INT64_MIN, le=INT64_MAX, description="Only steps at or after this.")
    ] = None,
    step_max: Annotated[
        int | None, Query(ge=INT64_MIN, le=INT64_MAX, description="Only steps at or before this.")
    ] = None,
) -> SampledHistory:
    """Each metric as at most `buckets` x-ranges with min, max and last: what a chart needs.

    A zoomed chart passes `step_min`/`step_max` and gets finer buckets of just that window.
    """
    row = _run(session, principal, entity, project, run)
    names = keys or list(rollups.metric_counts(session, row.id))
    series = {
        key: [
            BucketOut(**vars(b))
            for b in rollups.sampled_series(session, row.id, key, buckets, step_min, step_max)
        ]
        for key in names
    }
    return SampledHistory(buckets=buckets, series=series)


@router.get("/runs/{entity}/{project}/{run}/system", response_model=SystemMetrics)
def get_system_metrics(
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
) -> SystemMetrics:
    """System metrics (CPU, memory, GPUs, ...) as buckets over run time, grouped into charts."""
    row = _run(session, principal, entity, project, run)
    series = system_metrics.system_series(session, row.id, buckets)
    return SystemMetrics(
        panels=[
            SystemPanelOut(
                section=p.section,
                title=p.title,
                lines=[SystemLineOut(key=line.key, label=line.label) for line in p.lines],
            )
            for p in system_metrics.panels(series)
        ],
        series={k: [BucketOut(**vars(b)) for b in v] for k, v in series.items()},
    )


@router.get("/runs/{entity}/{project}/{run}/launch-item", response_model=QueueItem)
def get_launch_item(
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
) -> QueueItem:
    """The launch queue item that started this run (404 when it was not launched from a queue)."""
    _run(session, principal, entity, project, run)
    item = launched.item_for_run(state.queue_store, entity, project, run)
    if item is None:
        raise HTTPException(404, f"run {entity}/{project}/{run} was not launched from a queue")
    return item


@router.get("/runs/{entity}/{project}/{run}/console", response_model=ConsoleOut)
def get_console(
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    after: Annotated[
        int,
        Query(ge=INT32_MIN, le=INT32_MAX, description="Return lines after this line number."),
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=history.MAX_PAGE)] = 1000,
) -> ConsoleOut:
    """The run's console output (stdout and stderr), a page at a time."""
    row = _run(session, principal, entity, project, run)
    lines = session.execute(
        select(ConsoleLine.line_no, ConsoleLine.text)
        .where(ConsoleLine.run_id == row.id, ConsoleLine.line_no > after)
        .order_by(ConsoleLine.line_no)
        .limit(limit)
    ).all()
    out = [ConsoleLineOut(line=n, text=t) for n, t in lines]
    return ConsoleOut(lines=out, next_after=out[-1].line if len(out) == limit else None)


@router.get("/runs/{entity}/{project}/{run}/files", response_model=list[FileOut])
def list_files(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
) -> list[FileOut]:
    """The run's files, each with a signed download URL once uploaded."""
    row = _run(session, principal, entity, project, run)
    base = public_base_url(request)
    files = session.scalars(select(RunFile).where(RunFile.run_id == row.id).order_by(RunFile.name))
    return [
        FileOut(
            name=f.name,
            size=f.size,
            md5=f.md5,
            uploaded=f.uploaded,
            url=state.signer.url(base, "GET", run_file_key(row, f.name)) if f.uploaded else None,
        )
        for f in files
    ]
