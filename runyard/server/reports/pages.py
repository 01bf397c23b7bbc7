"""What a report page shows: the saved view, its blocks, and each grid's runs and scalars."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import Run, View
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.reports import sharing, views
from runyard.server.reports.render import BlockOut, PanelOut, page_blocks
from runyard.server.reports.runsets import matches
from runyard.server.tracking import project_reads
from runyard.server.unit_of_work import UnitOfWork

# A grid draws at most this many runs per run set (W&B's report default is a page of them).
MAX_RUNS_PER_RUNSET = 200


def run_fields(run: Run) -> dict[str, Any]:
    """A run as filters and charts read it."""
    return {
        "name": run.name,
        "display_name": run.display_name or run.name,
        "state": run.state,
        "group": run.group_name,
        "job_type": run.job_type,
        "tags": list(run.tags or []),
        "config": dict(run.config or {}),
        "summary": dict(run.summary or {}),
        "created_at": run.created_at.isoformat() if run.created_at else None,
    }


def aggregate(values: list[float], how: str) -> float | None:
    """A scalar chart's value over its runs' summaries (mean, min, max, median, sum)."""
    if not values:
        return None
    match how:
        case "min":
            return min(values)
        case "max":
            return max(values)
        case "median":
            return float(statistics.median(values))
        case "sum":
            return float(sum(values))
        case _:
            return float(statistics.fmean(values))


@dataclass
class GridRuns:
    """A grid's runs, by project, and its scalar panels' values."""

    entity: str
    project: str
    runs: list[dict[str, Any]]
    scalars: list[float | None] = field(default_factory=list)


@dataclass
class ReportPage:
    """A report ready to draw."""

    view: View
    entity: str
    project: str
    blocks: list[BlockOut]
    grids: dict[int, GridRuns]


def report_id_from_slug(slug: str) -> str:
    """The view's node id from W&B's `<Title>--<id>` URL segment."""
    _, sep, node_id = slug.rpartition("--")
    if not sep or not node_id:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"report {slug!r} does not exist: report URLs end in --<id>"
        )
    return node_id


RunsOf = Callable[[str, str], list[Run]]


def _grid_runs(runs_of: RunsOf, block: BlockOut, entity: str, project: str) -> GridRuns:
    # Every run set of a grid is drawn together; W&B colours them apart, Runyard by run.
    first = block.runsets[0] if block.runsets else None
    rs_entity = (first.entity if first else None) or entity
    rs_project = (first.project if first else None) or project
    picked: list[dict[str, Any]] = []
    for run in runs_of(rs_entity, rs_project):
        fields = run_fields(run)
        if not block.runsets or any(matches(fields, rs.filters) for rs in block.runsets):
            picked.append(fields)
    picked = picked[:MAX_RUNS_PER_RUNSET]
    scalars: list[float | None] = []
    for panel in block.panels:
        scalars.append(_scalar(panel, picked) if panel.kind == "scalar" else None)
    return GridRuns(rs_entity, rs_project, picked, scalars)


def _scalar(panel: PanelOut, runs: list[dict[str, Any]]) -> float | None:
    metric = panel.metrics[0] if panel.metrics else ""
    values = [
        float(v)
        for r in runs
        if isinstance(v := r["summary"].get(metric), (int, float)) and not isinstance(v, bool)
    ]
    return aggregate(values, panel.agg)


def _page(view: View, entity: str, project: str, slug: str, runs_of: RunsOf) -> ReportPage:
    if view.project.entity.name != entity or view.project.name != project:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"report {slug!r} does not exist in {entity}/{project}"
        )
    blocks = page_blocks(json.loads(view.spec))
    grids = {
        i: _grid_runs(runs_of, block, entity, project)
        for i, block in enumerate(blocks)
        if block.kind == "grid"
    }
    return ReportPage(view, entity, project, blocks, grids)


def report_page(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, slug: str
) -> ReportPage:
    """A report of `entity/project` by its URL segment, with its grids' runs resolved."""
    view = views.read_view(uow, principal, report_id_from_slug(slug))

    def runs_of(e: str, p: str) -> list[Run]:
        # A grid over a project the reader may not see draws no runs; the rest still shows.
        try:
            return project_reads.workspace(uow, principal, e, p).runs
        except ServiceError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                return []
            raise

    return _page(view, entity, project, slug, runs_of)


def shared_report_page(
    uow: UnitOfWork, token: str, entity: str, project: str, slug: str
) -> ReportPage:
    """A report opened by its share link: only the link's report, only its projects' runs
    (a grid over a project the link does not name draws no runs)."""
    link = sharing.active(uow, token)
    view = link.view
    if report_id_from_slug(slug) != views.node_id(view):
        raise ServiceError(ErrorCode.NOT_FOUND, "this share link opens another report")

    def runs_of(e: str, p: str) -> list[Run]:
        try:
            proj = sharing.shared_project(uow, token, e, p)
        except ServiceError:
            return []
        return list(
            uow.session.scalars(
                select(Run)
                .where(Run.project_id == proj.id, Run.archived_at.is_(None))
                .order_by(Run.created_at, Run.id)
            )
        )

    return _page(view, entity, project, slug, runs_of)
