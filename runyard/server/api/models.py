"""Pydantic shapes of the native REST API (`/api/v1`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from runyard.server.db.models import Run


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; all stored times are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RunBranchOut(BaseModel):
    """Where a run branched: the source run's id and the `_step` it branched at."""

    run: str
    step: int


class RunLineageOut(BaseModel):
    """A run's branches: its source, its forks, and the archives its rewinds kept."""

    forked_from: RunBranchOut | None
    archived_of: str | None
    forks: list[RunBranchOut]
    archives: list[str] = Field(description="Ids of the archives this run's rewinds kept.")


class AlertOut(BaseModel):
    """An alert a run's script sent with `run.alert`."""

    id: int
    title: str
    text: str
    level: str = Field(description="INFO, WARN or ERROR.")
    wait_duration_ms: int = Field(description="Repeats of this title within it were dropped.")
    created_at: datetime


class RunOut(BaseModel):
    """A tracked run as the native API shows it."""

    id: str = Field(description="The run id chosen by the client (W&B's run name).")
    entity: str
    project: str
    display_name: str | None
    state: str = Field(description="running, finished, failed, crashed or preempted.")
    exit_code: int | None
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str]
    group: str | None
    job_type: str | None
    notes: str | None
    host: str | None
    program: str | None
    history_line_count: int
    stop_requested: bool
    created_at: datetime
    updated_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    user: str | None = Field(
        None,
        description="Username the run is attributed to: who started it, or for a service "
        "account's run the team member named by WANDB_USERNAME.",
    )
    forked_from: RunBranchOut | None = Field(
        None,
        description="The run this one branched from: a fork's parent (`fork_from`), or for a "
        "rewound run the archive of its history before the rewind.",
    )
    archived_of: str | None = Field(
        None, description="Set on the archive a rewind keeps: the id of the rewound run."
    )

    @classmethod
    def from_run(cls, run: Run) -> RunOut:
        """Build the API view of a run row."""
        return cls(
            id=run.name,
            entity=run.project.entity.name,
            project=run.project.name,
            display_name=run.display_name or run.name,
            state=run.state,
            exit_code=run.exit_code,
            config=run.config or {},
            summary=run.summary or {},
            tags=run.tags or [],
            group=run.group_name,
            job_type=run.job_type,
            notes=run.notes,
            host=run.host,
            program=run.program,
            history_line_count=run.history_line_count,
            stop_requested=run.stop_requested,
            created_at=as_utc(run.created_at),  # type: ignore[arg-type]
            updated_at=as_utc(run.updated_at),  # type: ignore[arg-type]
            heartbeat_at=as_utc(run.heartbeat_at),  # type: ignore[arg-type]
            finished_at=as_utc(run.finished_at),
            user=run.user.username if run.user is not None else None,
            forked_from=RunBranchOut(run=run.forked_from.name, step=run.fork_step or 0)
            if run.forked_from is not None
            else None,
            archived_of=run.archived_of.name if run.archived_of is not None else None,
        )


class RunList(BaseModel):
    """One page of runs."""

    runs: list[RunOut]
    total: int
    next_offset: int | None = Field(
        description="Pass as `offset` for the next page; null at the end."
    )


class BucketOut(BaseModel):
    """One x-range of a sampled metric."""

    x_min: float
    x_max: float
    count: int
    min: float
    max: float
    last: float


class SampledHistory(BaseModel):
    """Each metric downsampled to at most `buckets` x-ranges of `_step`."""

    x_axis: str = "_step"
    buckets: int
    series: dict[str, list[BucketOut]]


class SystemLineOut(BaseModel):
    """One line of a system-metrics chart."""

    key: str
    label: str


class SystemPanelOut(BaseModel):
    """One system-metrics chart: section `system` or `gpu`, a title and its lines."""

    section: str
    title: str
    lines: list[SystemLineOut]


class SystemMetrics(BaseModel):
    """A run's `system.*` metrics bucketed over seconds since start, and the charts to draw."""

    x_axis: str = "_runtime"
    panels: list[SystemPanelOut]
    series: dict[str, list[BucketOut]]


class ConsoleLineOut(BaseModel):
    """One console line."""

    line: int
    text: str


class ConsoleOut(BaseModel):
    """A page of console output."""

    lines: list[ConsoleLineOut]
    next_after: int | None


class FileOut(BaseModel):
    """A run file and a signed URL to download it."""

    name: str
    size: int
    md5: str
    uploaded: bool
    url: str | None


class RunFileOut(BaseModel):
    """One stored run file: its size, base64 md5, MIME type and a signed download URL."""

    name: str
    size: int
    md5: str
    mimetype: str
    updated_at: datetime
    url: str


class ViewerOut(BaseModel):
    """The caller."""

    username: str
    email: str
    entity: str
    is_admin: bool
