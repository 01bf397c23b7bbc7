"""Creating and updating runs: W&B's `UpsertBucket`, run lookup, stop requests, crash detection."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.automations import firing
from runyard.server.clock import utcnow
from runyard.server.db.dialect import insert_for
from runyard.server.db.models import Entity, Project, Run
from runyard.server.errors import ErrorCode, ServiceError, code_for_status
from runyard.server.input_limits import loads_limited
from runyard.server.tracking.config import unwrap_config
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.run_names import name_new_run

logger = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "preempted"})
RUN_STATES = frozenset({"running", *TERMINAL_STATES})


class TrackingError(ServiceError):
    """A ServiceError raised with an HTTP status (older call sites); prefer ServiceError."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(code_for_status(status), message)


class UpsertRunInput(BaseModel):
    """The fields of W&B's `UpsertBucketInput` that Runyard stores."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str | None = None
    name: str | None = Field(None, max_length=128)
    project: str | None = Field(None, alias="modelName", max_length=128)
    entity: str | None = Field(None, alias="entityName", max_length=128)
    group_name: str | None = Field(None, alias="groupName", max_length=256)
    description: str | None = None
    display_name: str | None = Field(None, alias="displayName", max_length=256)
    notes: str | None = None
    config: str | None = None
    commit: str | None = Field(None, max_length=64)
    host: str | None = Field(None, max_length=256)
    program: str | None = Field(None, alias="jobProgram")
    repo: str | None = Field(None, alias="jobRepo")
    job_type: str | None = Field(None, alias="jobType", max_length=128)
    state: str | None = None
    sweep: str | None = Field(None, max_length=128)
    tags: list[str] | None = None
    summary_metrics: str | None = Field(None, alias="summaryMetrics")


def resolve_entity(
    session: Session, principal: Principal, name: str | None, action: Action = Action.WRITE
) -> Entity:
    """Return the named entity (default: the caller's own), if the caller may `action` on it."""
    if not name or name == principal.entity_name:
        entity = session.get(Entity, principal.entity_id)
        assert entity is not None  # the caller's own entity always exists
        name = entity.name
    else:
        entity = session.scalars(select(Entity).where(Entity.name == name)).first()
    # Decide before saying whether it exists, so entity names cannot be probed.
    require(principal, name, action)
    if entity is None:
        raise TrackingError(
            f"entity {name!r} does not exist: leave entity unset to use your own", status=404
        )
    return entity


def get_or_create_project(session: Session, entity: Entity, name: str) -> Project:
    """Return project `name` of `entity`, creating it on first use (as W&B does)."""
    where = (Project.entity_id == entity.id, Project.name == name)
    project = session.scalars(select(Project).where(*where)).first()
    if project is None:
        # Many runs of a new project start at once: whoever inserts first wins, quietly.
        session.execute(
            insert_for(session, Project)
            .values(entity_id=entity.id, name=name, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["entity_id", "name"])
        )
        project = session.scalars(select(Project).where(*where)).one()
    return project


def find_project(session: Session, entity_name: str, name: str) -> Project | None:
    """Look up a project by entity and name."""
    return session.scalars(
        select(Project)
        .join(Entity, Project.entity_id == Entity.id)
        .where(Entity.name == entity_name, Project.name == name)
    ).first()


def find_run(session: Session, project: Project, name: str) -> Run | None:
    """Look up a run of `project` by its (client-chosen) name."""
    return session.scalars(
        select(Run).where(Run.project_id == project.id, Run.name == name)
    ).first()


def _parse_json_object(text: str, field: str, max_bytes: int) -> dict[str, Any]:
    if len(text) > max_bytes:
        raise TrackingError(
            f"{field} is {len(text)} bytes, over the {max_bytes}-byte limit: log large values "
            "as files or artifacts",
            status=413,
        )
    try:
        value = loads_limited(text, field)
    except json.JSONDecodeError as exc:
        raise TrackingError(f"{field} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TrackingError(f"{field} must be a JSON object, got {type(value).__name__}")
    return value


def _check_value_sizes(values: dict[str, Any], field: str, max_bytes: int) -> None:
    for key, value in values.items():
        size = len(json.dumps(value))
        if size > max_bytes:
            raise TrackingError(
                f"{field}.{key} is {size} bytes, over the {max_bytes}-byte limit per value: "
                "log large values as files or artifacts",
                status=413,
            )


def run_by_id(session: Session, principal: Principal, node_id: str, action: Action) -> Run:
    """The run with node id `node_id`, if the caller may `action` it.

    Node ids are guessable (base64 of `Run:<n>`), so a run in an entity the caller has no
    role in gets the same answer as one that does not exist: an id reveals neither.
    """
    try:
        run = session.get(Run, decode_id("Run", node_id))
    except ValueError as exc:
        raise TrackingError(f"id: {exc}; leave id unset to create a run") from exc
    missing = ServiceError(ErrorCode.NOT_FOUND, f"id: run {node_id!r} does not exist")
    if run is None:
        raise missing
    try:
        require(principal, run.project.entity.name, Action.READ)
    except ServiceError as exc:
        raise missing from exc
    require(principal, run.project.entity.name, action)
    return run


def upsert_run(
    session: Session,
    principal: Principal,
    data: UpsertRunInput,
    *,
    max_value_bytes: int,
    attributed_user_id: int | None = None,
) -> tuple[Run, bool]:
    """Create or update a run; return it and whether it was inserted.

    A non-null `id` is how the client says it is resuming: a new attempt starts
    (state back to running, the stop flag cleared, console offsets re-based).
    A new run is attributed to `attributed_user_id` (default: the caller).
    A new run without a display name gets a generated one (`gentle-river-12`).
    """
    attributed_user_id = attributed_user_id or principal.user_id
    run: Run | None = None
    if data.id:
        # Resuming by id is a write to that run (ids are guessable: run takeover).
        run = run_by_id(session, principal, data.id, Action.WRITE)
        project = run.project
    else:
        if not data.name:
            raise TrackingError("name: a run name (its id) is required when id is not given")
        entity = resolve_entity(session, principal, data.entity)
        project = get_or_create_project(session, entity, data.project or "uncategorized")
        run = find_run(session, project, data.name)

    inserted = run is None
    now = utcnow()
    if run is None:
        assert data.name is not None  # checked above: only a named upsert creates a run
        run, inserted = _insert_run(session, project, data.name, now)
        if inserted:
            run.user_id = attributed_user_id
    elif data.id:
        start_attempt(run)

    if data.config is not None:
        config, internals = unwrap_config(_parse_json_object(data.config, "config", 10**9))
        _check_value_sizes(config, "config", max_value_bytes)
        # Each upsert carries the full config; merging keeps keys set by other writers.
        run.config = {**(run.config or {}), **config}
        if internals:
            run.wandb_config = internals
    if data.summary_metrics is not None:
        run.summary = _parse_json_object(
            data.summary_metrics, "summaryMetrics", 10 * max_value_bytes
        )
    for attr, value in (
        ("display_name", data.display_name),
        ("notes", data.notes if data.notes is not None else data.description),
        ("group_name", data.group_name),
        ("job_type", data.job_type),
        ("host", data.host),
        ("program", data.program),
        ("commit", data.commit),
        ("repo", data.repo),
        ("sweep_name", data.sweep),
    ):
        if value is not None:
            setattr(run, attr, value)
    if data.tags is not None:
        run.tags = list(data.tags)
    if inserted and not run.display_name:
        name_new_run(session, run)
    run.updated_at = now
    run.heartbeat_at = now
    session.flush()
    return run, inserted


def _insert_run(session: Session, project: Project, name: str, now: datetime) -> tuple[Run, bool]:
    """Insert a new run, or return the one a concurrent call (a client retry) just made."""
    try:
        with session.begin_nested():
            run = Run(project_id=project.id, name=name, created_at=now, state="running")
            session.add(run)
        return run, True
    except IntegrityError:
        existing = find_run(session, project, name)
        if existing is None:
            raise
        return existing, False


def start_attempt(run: Run) -> None:
    """Reset a run for a resumed attempt of the training process."""
    run.state = "running"
    run.exit_code = None
    run.finished_at = None
    run.stop_requested = False
    run.console_base = None
    run.console_resume_at = run.log_line_count
    # A resumed (or rewound) client continues at the stored historyLineCount itself.
    run.history_base = 0


def request_stop(session: Session, run: Run) -> None:
    """Ask the run's client to stop; it learns of it on its next file_stream post or poll."""
    if run.state != "running":
        raise TrackingError(
            f"run {run.name!r} is {run.state}, not running: nothing to stop", status=409
        )
    run.stop_requested = True
    session.flush()


def mark_crashed_runs(session: Session, timeout: timedelta, now: datetime | None = None) -> int:
    """Turn running runs whose client went silent for `timeout` into `crashed`; return the count.

    A crashed run ends at its last heartbeat, the last moment it was known alive: ending it at
    the sweep would add the whole heartbeat timeout to its duration and compute time.
    """
    cutoff = (now or utcnow()) - timeout
    crashed = list(
        session.scalars(
            select(Run)
            .where(Run.state == "running", Run.heartbeat_at < cutoff)
            .with_for_update(of=Run)
        )
    )
    for run in crashed:
        run.state, run.finished_at = "crashed", run.heartbeat_at
        firing.on_run_state(session, run, "running")
    session.flush()
    count = len(crashed)
    if count:
        logger.info("runs marked crashed", extra={"count": count, "cutoff": cutoff.isoformat()})
    return count
