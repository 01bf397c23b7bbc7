"""Forking and rewinding runs (`wandb.init(fork_from=...)`, `wandb.init(resume_from=...)`).

Both branch a run's history at a `_step` of a source run. The branched run gets a
copy of the source's history lines (and their metric points and rollups) up to the
branch step, so every reader — REST history, GraphQL history/sampledHistory/scan, charts —
reads one run's own rows and needs no knowledge of lineage.

- A fork is a new run: upsertBucket answers `historyLineCount` = the copied lines, and
  newer clients continue after them; older ones count their own lines from 0, so their
  offsets are shifted by `history_base` (decided at the first post, filestream.py).
- A rewind keeps the run's id: all its history moves to a new *archive* run (readable,
  hidden from project run lists), the prefix is copied back, and the client continues at
  the `historyLineCount` that `rewindRun` returns. The run's "forked from" then names the
  archive, as W&B's run overview does.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.history_segment_models import HistorySegment
from runyard.server.db.models import HistoryLine, MediaLine, MetricChunk, MetricRollup, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import metric_chunks
from runyard.server.tracking.media_index import copy_media_prefix
from runyard.server.tracking.rollup_writes import store_rollups
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.tracking.runs import find_project, find_run, resolve_entity
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BranchPoint:
    """Where a run branches: the source run's id (its name) and a `_step` of its history."""

    run_id: str
    step: int


def parse_step(value: Any, field: str) -> int:
    """A branch step as an int; refuse fractions, negatives and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServiceError(ErrorCode.INVALID, f"{field}: _step must be a number, got {value!r}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ServiceError(
            ErrorCode.INVALID, f"{field}: _step must be a whole number, got {value!r}"
        )
    if value < 0:
        raise ServiceError(ErrorCode.INVALID, f"{field}: _step must be 0 or more, got {value!r}")
    return int(value)


def branch_point_of(internals: dict[str, Any]) -> BranchPoint | None:
    """The `branch_point` the client puts in the `_wandb` config for fork_from/resume_from."""
    raw = internals.get("branch_point")
    if not isinstance(raw, dict):
        return None
    run_id = raw.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ServiceError(
            ErrorCode.INVALID, f"fork_from: the run id must be a non-empty string, got {run_id!r}"
        )
    return BranchPoint(run_id, parse_step(raw.get("step"), "fork_from"))


def _step_range(session: Session, run: Run) -> str:
    lo, hi = session.execute(
        select(func.min(HistoryLine.step), func.max(HistoryLine.step)).where(
            HistoryLine.run_id == run.id
        )
    ).one()
    return "it has no history yet" if lo is None else f"its steps run {lo}..{hi}"


def cut_line(session: Session, source: Run, step: int, field: str) -> int:
    """The number of leading history lines of `source` that a branch at `step` keeps.

    Refuses a step the source never logged, naming the steps it has.
    """
    found = session.scalar(
        select(HistoryLine.line_no)
        .where(HistoryLine.run_id == source.id, HistoryLine.step == step)
        .limit(1)
    )
    if found is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"{field}: run {source.name!r} has no history at _step={step} "
            f"({_step_range(session, source)}): pick a logged step",
        )
    first_after = session.scalar(
        select(func.min(HistoryLine.line_no)).where(
            HistoryLine.run_id == source.id, HistoryLine.step > step
        )
    )
    return int(first_after) if first_after is not None else source.history_line_count


def copy_history_prefix(session: Session, source_id: int, target_id: int, cut: int) -> None:
    """Copy history lines `0..cut-1` of one run, with their points and media, to another."""
    session.execute(
        insert(HistoryLine).from_select(
            ["run_id", "line_no", "step", "data"],
            select(
                literal(target_id), HistoryLine.line_no, HistoryLine.step, HistoryLine.data
            ).where(HistoryLine.run_id == source_id, HistoryLine.line_no < cut),
        )
    )
    metric_chunks.copy_prefix(session, source_id, target_id, cut)
    copy_media_prefix(session, source_id, target_id, cut)
    _rebuild_rollups(session, target_id)


def _rebuild_rollups(session: Session, run_id: int) -> None:
    """Roll up a run's metric values afresh (after its chunks were copied in)."""
    for points in metric_chunks.run_points(session, run_id):
        store_rollups(session, run_id, points)


def apply_fork(session: Session, run: Run, internals: dict[str, Any]) -> None:
    """Make a run that has logged nothing yet a fork of the run its `_wandb` config names.

    A no-op for runs without a branch point, for rewinds (the branch names the run
    itself; `rewind_run` handled it) and for runs already branched.
    """
    point = branch_point_of(internals)
    if (
        point is None
        or point.run_id == run.name
        or run.forked_from_id is not None
        or run.archived_of_id is not None
        or run.history_line_count > 0
    ):
        return
    project = run.project
    parent = find_run(session, project, point.run_id)
    if parent is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"fork_from: run {project.entity.name}/{project.name}/{point.run_id} does not "
            "exist: fork from a run of the same project "
            '(fork_from="<run id>?_step=<step>")',
        )
    cut = cut_line(session, parent, point.step, "fork_from")
    copy_history_prefix(session, parent.id, run.id, cut)
    run.forked_from = parent
    run.fork_step = point.step
    run.history_base = None  # decided by the client's first history post
    run.history_line_count = cut
    session.flush()
    logger.info(
        "run forked",
        extra={"run": run.name, "parent": parent.name, "step": point.step, "lines": cut},
    )


def _archive_name(session: Session, run: Run) -> str:
    n = 1
    while True:
        name = f"{run.name[:100]}-archive-{n}"
        if find_run(session, run.project, name) is None:
            return name
        n += 1


def summary_of_prefix(lines: list[str]) -> dict[str, Any]:
    """The summary a run's history lines imply: each key's last logged value."""
    summary: dict[str, Any] = {}
    for text in lines:
        row = json.loads(text)
        if isinstance(row, dict):
            summary.update(row)
    return summary


def _already_rewound(run: Run, step: int, cut: int) -> bool:
    """Whether the run was just rewound to `step` and has logged nothing since."""
    parent = run.forked_from
    return (
        parent is not None
        and parent.archived_of_id == run.id
        and run.fork_step == step
        and run.history_line_count == cut
    )


def rewind_run(
    uow: UnitOfWork,
    principal: Principal,
    entity_name: str | None,
    project_name: str | None,
    run_name: str,
    metric_name: str,
    metric_value: float,
) -> Run:
    """Rewind a run's history to a `_step`: the lines after it move to an archive run.

    The run keeps its id and its lines up to the step; its summary becomes what those
    lines imply; the archive holds the whole history as it was and stays readable.
    """
    session = uow.session
    if metric_name != "_step":
        raise ServiceError(
            ErrorCode.INVALID,
            f"metricName: only `_step` can rewind a run, got {metric_name!r} "
            '(resume_from="<run id>?_step=<step>")',
        )
    step = parse_step(metric_value, "resume_from")
    entity = resolve_entity(session, principal, entity_name, Action.WRITE)
    project = find_project(session, entity.name, project_name or "uncategorized")
    run = find_run(session, project, run_name) if project else None
    if run is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"resume_from: run {entity.name}/{project_name}/{run_name} does not exist: "
            "rewind a run that has logged history",
        )
    if run.archived_of_id is not None:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"resume_from: run {run.name!r} is an archive of a rewound run and stays as it "
            "is: fork from it instead (fork_from=...)",
        )
    cut = cut_line(session, run, step, "resume_from")
    if _already_rewound(run, step, cut):
        return run  # a retried rewindRun: the first one did the work
    now = uow.now()
    archive = Run(
        project_id=run.project_id,
        name=_archive_name(session, run),
        display_name=f"{run.display_name or run.name} (archived at rewind)",
        notes=run.notes,
        group_name=run.group_name,
        job_type=run.job_type,
        tags=list(run.tags or []),
        host=run.host,
        program=run.program,
        commit=run.commit,
        repo=run.repo,
        sweep_name=run.sweep_name,
        config=dict(run.config or {}),
        wandb_config=dict(run.wandb_config or {}),
        summary=dict(run.summary or {}),
        state=run.state if run.state != "running" else "finished",
        exit_code=run.exit_code,
        history_line_count=run.history_line_count,
        created_at=run.created_at,
        updated_at=now,
        heartbeat_at=run.heartbeat_at,
        finished_at=run.finished_at or now,
        user_id=run.user_id,
        forked_from=run.forked_from,
        fork_step=run.fork_step,
        archived_of=run,
        archived_at=now,
    )
    session.add(archive)
    session.flush()
    # Move, not copy, the whole history: only the kept prefix is copied back. Its Parquet
    # export goes along (it is the archive's history now); the run is exported anew.
    for model in (HistoryLine, MetricChunk, MetricRollup, MediaLine, HistorySegment):
        session.execute(
            update(model)
            .where(model.run_id == run.id)
            .values(run_id=archive.id)
            .execution_options(synchronize_session=False)
        )
    copy_history_prefix(session, archive.id, run.id, cut)
    kept = list(
        session.scalars(
            select(HistoryLine.data)
            .where(HistoryLine.run_id == run.id)
            .order_by(HistoryLine.line_no)
        )
    )
    run.summary = summary_of_prefix(kept)
    run.history_line_count = cut
    run.history_base = 0
    run.forked_from = archive
    run.fork_step = step
    run.updated_at = now
    session.flush()
    logger.info(
        "run rewound",
        extra={"run": run.name, "step": step, "archive": archive.name, "lines": cut},
    )
    return run


@dataclass(frozen=True)
class Lineage:
    """What a run page and the APIs show about a run's branches."""

    forked_from: Run | None
    fork_step: int | None
    archived_of: Run | None
    archives: list[Run]
    forks: list[Run]


def lineage(uow: UnitOfWork, run: Run) -> Lineage:
    """The run's parent (or rewind archive), what it archives, its archives and its forks."""
    session = uow.session
    parent = session.get(Run, run.forked_from_id) if run.forked_from_id else None
    archived_of = session.get(Run, run.archived_of_id) if run.archived_of_id else None
    children = list(
        session.scalars(select(Run).where(Run.forked_from_id == run.id).order_by(Run.id))
    )
    archives = list(
        session.scalars(select(Run).where(Run.archived_of_id == run.id).order_by(Run.id))
    )
    # A rewound run names its archive as parent; the archive is not also its "fork".
    forks = [c for c in children if c.archived_of_id is None and c.id != run.archived_of_id]
    return Lineage(parent, run.fork_step, archived_of, archives, forks)


def run_lineage(uow: UnitOfWork, principal: Principal, path: RunPath) -> tuple[Run, Lineage]:
    """A run the caller may read, with its lineage."""
    run = read_run(uow, principal, path)
    return run, lineage(uow, run)
