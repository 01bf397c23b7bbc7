"""`/api/v1/runs`: list, filter and read runs, their history, console and files; stop a run."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from runyard.launch.models import QueueItem
from runyard.server.api.models import (
    AlertOut,
    BucketOut,
    ConsoleLineOut,
    ConsoleOut,
    FileOut,
    RunBranchOut,
    RunFileOut,
    RunLineageOut,
    RunList,
    RunOut,
    SampledHistory,
    SystemLineOut,
    SystemMetrics,
    SystemPanelOut,
    ViewerOut,
)
from runyard.server.deps import PrincipalDep, UowDep, public_base_url
from runyard.server.input_limits import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from runyard.server.tracking import alerts, forks, history, run_files, run_reads
from runyard.server.tracking.rollups import Bucket
from runyard.server.tracking.run_reads import RunPath
from runyard.server.tracking.run_search import RunQuery, search_runs
from runyard.server.tracking.system_metrics import Panel

router = APIRouter(prefix="/api/v1", tags=["runs"])


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
    uow: UowDep,
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
    query = RunQuery(filters=filters, order=order, offset=offset, limit=limit, with_total=True)
    page = search_runs(uow, principal, entity_name, project_name, query)
    total = page.total or 0
    runs = [RunOut.from_run(r) for r in page.runs]
    next_offset = offset + len(runs) if offset + len(runs) < total else None
    return RunList(runs=runs, total=total, next_offset=next_offset)


@router.get("/runs/{entity}/{project}/{run}", response_model=RunOut)
def get_run(uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str) -> RunOut:
    """One run with its config, summary and state."""
    return RunOut.from_run(run_reads.read_run(uow, principal, RunPath(entity, project, run)))


@router.get("/runs/{entity}/{project}/{run}/lineage", response_model=RunLineageOut)
def get_lineage(
    uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> RunLineageOut:
    """Where the run branched from, its forks, and the archives its rewinds kept."""
    _, lineage = forks.run_lineage(uow, principal, RunPath(entity, project, run))
    parent = lineage.forked_from
    return RunLineageOut(
        forked_from=RunBranchOut(run=parent.name, step=lineage.fork_step or 0)
        if parent is not None
        else None,
        archived_of=lineage.archived_of.name if lineage.archived_of is not None else None,
        forks=[RunBranchOut(run=f.name, step=f.fork_step or 0) for f in lineage.forks],
        archives=[a.name for a in lineage.archives],
    )


@router.get("/runs/{entity}/{project}/{run}/alerts", response_model=list[AlertOut])
def get_alerts(
    uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> list[AlertOut]:
    """The alerts the run's script sent (`run.alert`), newest first."""
    views = alerts.run_alerts(uow, principal, RunPath(entity, project, run))
    return [AlertOut.model_validate(v, from_attributes=True) for v in views]


@router.post("/runs/{entity}/{project}/{run}/stop", response_model=RunOut)
def stop_run(uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str) -> RunOut:
    """Ask the run's client to stop; `wandb` ends the run as soon as it hears of it."""
    return RunOut.from_run(run_reads.stop_run(uow, principal, RunPath(entity, project, run)))


@router.get(
    "/runs/{entity}/{project}/{run}/history",
    responses={200: {"description": '`{"rows": [...], "next_after": int|null}`'}},
)
def get_history(
    uow: UowDep,
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
    path = RunPath(entity, project, run)
    lines = run_reads.history_lines(uow, principal, path, after=after, limit=limit)
    next_after = lines[-1][0] if len(lines) == limit else None
    # Rows go out verbatim (no parse/re-encode): exact values, and cheap for long runs.
    body = '{"rows":[' + ",".join(text for _, text in lines) + '],"next_after":'
    body += json.dumps(next_after) + "}"
    return Response(body, media_type="application/json")


def buckets_out(buckets: list[Bucket]) -> list[BucketOut]:
    """The REST shape of a series of buckets."""
    return [BucketOut(**vars(b)) for b in buckets]


@router.get("/runs/{entity}/{project}/{run}/history/sampled", response_model=SampledHistory)
def get_sampled_history(
    uow: UowDep,
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
    path = RunPath(entity, project, run)
    series = run_reads.sampled_history(uow, principal, path, keys, buckets, step_min, step_max)
    return SampledHistory(buckets=buckets, series={k: buckets_out(v) for k, v in series.items()})


def system_metrics_out(panels: list[Panel], series: dict[str, list[Bucket]]) -> SystemMetrics:
    """The REST shape of a run's system charts."""
    return SystemMetrics(
        panels=[
            SystemPanelOut(
                section=p.section,
                title=p.title,
                lines=[SystemLineOut(key=line.key, label=line.label) for line in p.lines],
            )
            for p in panels
        ],
        series={k: buckets_out(v) for k, v in series.items()},
    )


@router.get("/runs/{entity}/{project}/{run}/system", response_model=SystemMetrics)
def get_system_metrics(
    uow: UowDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
) -> SystemMetrics:
    """System metrics (CPU, memory, GPUs, ...) as buckets over run time, grouped into charts."""
    charts = run_reads.system_charts(uow, principal, RunPath(entity, project, run), buckets)
    return system_metrics_out(charts.panels, charts.series)


@router.get("/runs/{entity}/{project}/{run}/launch-item", response_model=QueueItem)
def get_launch_item(
    request: Request, uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> QueueItem:
    """The launch queue item that started this run (404 when it was not launched from a queue),
    with its job's latest GPU figures while it runs."""
    item = run_reads.launch_item(uow, principal, RunPath(entity, project, run))
    item.gpu_telemetry = request.app.state.telemetry_board.get(item.id)
    return item


@router.get("/runs/{entity}/{project}/{run}/console", response_model=ConsoleOut)
def get_console(
    uow: UowDep,
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
    path = RunPath(entity, project, run)
    lines = run_reads.console_page(uow, principal, path, after=after, limit=limit)
    out = [ConsoleLineOut(line=n, text=t) for n, t in lines]
    return ConsoleOut(lines=out, next_after=out[-1].line if len(out) == limit else None)


@router.get("/runs/{entity}/{project}/{run}/files", response_model=list[FileOut])
def list_files(
    request: Request, uow: UowDep, principal: PrincipalDep, entity: str, project: str, run: str
) -> list[FileOut]:
    """The run's files, each with a signed download URL once uploaded."""
    path = RunPath(entity, project, run)
    files = run_reads.list_run_files(uow, principal, path, public_base_url(request))
    return [FileOut(**vars(f)) for f in files]


@router.get("/runs/{entity}/{project}/{run}/files/{name:path}", response_model=RunFileOut)
def read_file(
    request: Request,
    uow: UowDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    run: str,
    name: str,
) -> RunFileOut:
    """One of the run's files by name (404 naming the file when the run has none by that name)."""
    path = RunPath(entity, project, run)
    found = run_files.read_run_file(uow, principal, path, name, public_base_url(request))
    return RunFileOut(
        name=found.name,
        size=found.size,
        md5=found.md5_b64,
        mimetype=found.mimetype,
        updated_at=found.updated_at,
        url=found.url,
    )
