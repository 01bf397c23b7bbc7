"""Reading a run: the one path GraphQL, REST and the UI take to a run and what it logged.

Functions named by a path (`entity, project, run`) apply the access rule first; those that
take a `Run` serve a run the caller already reached through an access-checked lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from runyard.launch.models import QueueItem
from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import ConsoleLine, EventLine, HistoryLine, Project, Run, RunFile
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues import launched
from runyard.server.tracking import direct_uploads, history, rollups, system_metrics
from runyard.server.tracking.access import accessible_project, accessible_run
from runyard.server.tracking.files import run_file_key
from runyard.server.tracking.rollups import Bucket, MetricStats
from runyard.server.tracking.runs import request_stop
from runyard.server.unit_of_work import UnitOfWork

HISTORY_TAIL_LINES = 10


@dataclass(frozen=True)
class RunPath:
    """Where a run lives: `entity/project/run` (the run's client-chosen name)."""

    entity: str
    project: str
    run: str


@dataclass(frozen=True)
class RunFileInfo:
    """A run file as readers see it; `url` is a signed download URL once uploaded."""

    name: str
    size: int | None
    md5: str | None
    uploaded: bool
    url: str | None


@dataclass(frozen=True)
class RunOverview:
    """What a run's page shows: the run, its files, console tail, metrics and launch item."""

    run: Run
    files: list[RunFileInfo]
    console: list[tuple[int, str]]
    metrics: list[str]
    launch_item: QueueItem | None


@dataclass(frozen=True)
class SystemCharts:
    """A run's system metrics as buckets over run time, and the charts they group into."""

    panels: list[system_metrics.Panel]
    series: dict[str, list[Bucket]]


# --- finding ---------------------------------------------------------------------------------


def read_project(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, action: Action = Action.READ
) -> Project:
    """An existing project the caller may use (404/403 ServiceError otherwise)."""
    return accessible_project(uow.session, principal, entity, project, action)


def read_run(
    uow: UnitOfWork, principal: Principal, path: RunPath, action: Action = Action.READ
) -> Run:
    """An existing run the caller may use (404/403 ServiceError otherwise)."""
    return accessible_run(uow.session, principal, path.entity, path.project, path.run, action)


def stop_run(uow: UnitOfWork, principal: Principal, path: RunPath) -> Run:
    """Ask the run's client to stop; it learns of it at its next file_stream post."""
    run = read_run(uow, principal, path, Action.WRITE)
    request_stop(uow.session, run)
    return run


# --- history ---------------------------------------------------------------------------------


def history_lines(
    uow: UnitOfWork, principal: Principal, path: RunPath, *, after: int, limit: int
) -> list[tuple[int, str]]:
    """Verbatim history lines after line `after`, each with its line number."""
    run = read_run(uow, principal, path)
    return history.history_lines_with_numbers(uow.session, run, after=after, limit=limit)


def sampled_history(
    uow: UnitOfWork,
    principal: Principal,
    path: RunPath,
    keys: list[str] | None,
    buckets: int,
    step_min: int | None = None,
    step_max: int | None = None,
) -> dict[str, list[Bucket]]:
    """Each metric (default: every numeric one) as at most `buckets` min/max/last buckets."""
    run = read_run(uow, principal, path)
    names = keys or list(rollups.metric_counts(uow.session, run.id))
    return {
        key: rollups.sampled_series(uow.session, run.id, key, buckets, step_min, step_max)
        for key in names
    }


def system_charts(
    uow: UnitOfWork, principal: Principal, path: RunPath, buckets: int
) -> SystemCharts:
    """System metrics (CPU, memory, GPUs, ...) bucketed over run time, grouped into charts."""
    run = read_run(uow, principal, path)
    series = system_metrics.system_series(uow.session, run.id, buckets)
    return SystemCharts(panels=system_metrics.panels(series), series=series)


def history_tail(uow: UnitOfWork, run: Run, *, events: bool = False) -> list[str]:
    """The last history (or system-metrics) lines of a run, oldest first."""
    model = EventLine if events else HistoryLine
    return history.history_tail(uow.session, run, model, HISTORY_TAIL_LINES)


def history_range(
    uow: UnitOfWork, run: Run, min_step: int | None, max_step: int | None, samples: int | None
) -> list[str]:
    """Verbatim history lines with `min_step <= step < max_step`, at most a page."""
    # No `samples` (or none that makes sense: zero, negative) asks for a whole page.
    limit = min(samples, history.MAX_PAGE) if samples and samples > 0 else history.MAX_PAGE
    return history.lines_in_steps(uow.session, run.id, min_step, max_step, limit)


def sampled_rows(
    uow: UnitOfWork,
    run: Run,
    keys: list[str],
    samples: int,
    min_step: int | None = None,
    max_step: int | None = None,
) -> list[dict[str, Any]]:
    """Up to `samples` history rows holding all `keys`, evenly spread over the step range
    `min_step..max_step` (inclusive; a range with no more rows than `samples` comes whole)."""
    # Every row comes with its `_step`; the client lists it among the keys.
    wanted = [key for key in keys if key != "_step"]
    return history.sampled_rows(uow.session, run, wanted, samples, min_step, max_step)


def sampled_events(uow: UnitOfWork, run: Run, samples: int) -> list[str]:
    """Up to `samples` system-metrics lines, verbatim and evenly spread over the run."""
    return history.sampled_events(uow.session, run, samples)


def latest_system_metrics(uow: UnitOfWork, run: Run) -> dict[str, Any]:
    """The latest value of each system metric (W&B's `Run.systemMetrics`)."""
    lines = history.history_tail(uow.session, run, EventLine, HISTORY_TAIL_LINES)
    return system_metrics.latest_values(lines)


def history_page(uow: UnitOfWork, run: Run, limit: int = history.MAX_PAGE) -> list[str]:
    """The first `limit` verbatim history lines."""
    return history.history_page(uow.session, run, limit=limit)


def history_keys(uow: UnitOfWork, run: Run) -> tuple[dict[str, MetricStats], int | None]:
    """Each numeric metric with its point count and latest value, and the last step (None:
    no history)."""
    stats = rollups.metric_stats(uow.session, run.id)
    last_step = uow.session.scalar(
        select(func.max(HistoryLine.step)).where(HistoryLine.run_id == run.id)
    )
    return stats, last_step


def metric_names(uow: UnitOfWork, run: Run) -> list[str]:
    """The run's numeric metrics, by name."""
    return list(rollups.metric_counts(uow.session, run.id))


# --- console, files, launch ------------------------------------------------------------------


def console_lines(
    uow: UnitOfWork, run: Run, *, first: int = 0, limit: int = 1000
) -> list[tuple[int, str]]:
    """Console lines numbered `first` and later, in order."""
    rows = uow.session.execute(
        select(ConsoleLine.line_no, ConsoleLine.text)
        .where(ConsoleLine.run_id == run.id, ConsoleLine.line_no >= first)
        .order_by(ConsoleLine.line_no)
        .limit(limit)
    ).all()
    return [(n, text) for n, text in rows]


def console_page(
    uow: UnitOfWork, principal: Principal, path: RunPath, *, after: int, limit: int
) -> list[tuple[int, str]]:
    """The run's console lines after line `after`, in order."""
    return console_lines(uow, read_run(uow, principal, path), first=after + 1, limit=limit)


def console_since(
    uow: UnitOfWork, principal: Principal, path: RunPath, *, since: int, limit: int
) -> tuple[Run, list[tuple[int, str]]]:
    """The run and its console lines numbered `since` and later."""
    run = read_run(uow, principal, path)
    return run, console_lines(uow, run, first=since, limit=limit)


def console_tail(uow: UnitOfWork, run: Run, limit: int) -> list[tuple[int, str]]:
    """The last `limit` console lines, oldest first."""
    rows = uow.session.execute(
        select(ConsoleLine.line_no, ConsoleLine.text)
        .where(ConsoleLine.run_id == run.id)
        .order_by(ConsoleLine.line_no.desc())
        .limit(limit)
    ).all()
    return [(n, text) for n, text in reversed(rows)]


def run_files(uow: UnitOfWork, run: Run, base_url: str) -> list[RunFileInfo]:
    """The run's files by name, each with a signed download URL once uploaded."""
    direct_uploads.reconcile_run_files(uow, run)
    files = uow.session.scalars(
        select(RunFile).where(RunFile.run_id == run.id).order_by(RunFile.name)
    )
    return [
        RunFileInfo(
            name=f.name,
            size=f.size,
            md5=f.md5,
            uploaded=f.uploaded,
            url=uow.signer.url(base_url, "GET", run_file_key(run, f.name)) if f.uploaded else None,
        )
        for f in files
    ]


def list_run_files(
    uow: UnitOfWork, principal: Principal, path: RunPath, base_url: str
) -> list[RunFileInfo]:
    """The files of the run at `path` (see `run_files`)."""
    return run_files(uow, read_run(uow, principal, path), base_url)


def launch_item(uow: UnitOfWork, principal: Principal, path: RunPath) -> QueueItem:
    """The launch queue item that started the run (not found when it was not launched)."""
    read_run(uow, principal, path)
    item = launched.item_for_run(uow.queue_store, path.entity, path.project, path.run)
    if item is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"run {path.entity}/{path.project}/{path.run} was not launched from a queue",
        )
    return item


def find_launch_item(uow: UnitOfWork, path: RunPath) -> QueueItem | None:
    """The launch item of a run already read, or None."""
    return launched.item_for_run(uow.queue_store, path.entity, path.project, path.run)


def run_overview(
    uow: UnitOfWork, principal: Principal, path: RunPath, *, console_lines: int, base_url: str
) -> RunOverview:
    """A run with its files, last `console_lines` console lines, metric names and launch item."""
    run = read_run(uow, principal, path)
    return RunOverview(
        run=run,
        files=run_files(uow, run, base_url),
        console=console_tail(uow, run, console_lines),
        metrics=metric_names(uow, run),
        launch_item=find_launch_item(uow, path),
    )
