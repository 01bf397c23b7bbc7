"""Creating, updating and controlling sweeps: W&B's `upsertSweep` and the native API."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, Project
from runyard.server.db.sweep_models import Sweep, SweepTrial
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps import engine, launch_spec, states
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.runs import get_or_create_project, resolve_entity
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_CONFIG_BYTES = 256 * 1024


class UpsertSweepInput(BaseModel):
    """The fields of W&B's `UpsertSweepInput` that Runyard uses."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str | None = None
    config: str | None = None
    description: str | None = None
    entity: str | None = Field(None, alias="entityName", max_length=128)
    project: str | None = Field(None, alias="projectName", max_length=128)
    display_name: str | None = Field(None, alias="displayName", max_length=256)
    state: str | None = None
    launch_scheduler: str | None = Field(None, alias="launchScheduler")
    controller: str | None = None
    template_variable_values: str | None = Field(None, alias="templateVariableValues")


def new_sweep_name() -> str:
    """An 8-character sweep id, as W&B's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def load_config(text: str) -> dict[str, Any]:
    """The sweep YAML as a mapping, or an error naming `config` and what is wrong."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ServiceError(
            ErrorCode.TOO_LARGE,
            f"config: {len(text):,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit",
        )
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ServiceError(ErrorCode.INVALID, f"config: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ServiceError(
            ErrorCode.INVALID,
            "config: a sweep config is a mapping with method, metric and parameters",
        )
    return raw


def _json_object(text: str | None, field: str) -> dict[str, Any] | None:
    if text is None or text in ("", "null"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: not valid JSON: {exc}") from exc
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ServiceError(ErrorCode.INVALID, f"{field}: must be a JSON object")
    return value


def is_local_controller(raw: dict[str, Any]) -> bool:
    """Whether the sweep runs W&B's local controller (`wandb sweep --controller`): the
    client then chooses the runs, the server hands them to agents."""
    controller = raw.get("controller")
    return isinstance(controller, dict) and controller.get("type") == "local"


def run_cap_of(raw: dict[str, Any]) -> int | None:
    """The config's `run_cap` (a positive integer), if set."""
    cap = raw.get("run_cap")
    if cap is None:
        return None
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ServiceError(ErrorCode.INVALID, f"config.run_cap: {cap!r} is not a positive integer")
    return cap


def upsert_sweep(
    uow: UnitOfWork, principal: Principal, data: UpsertSweepInput
) -> tuple[Sweep, list[str]]:
    """Create a sweep from its YAML, or update one by id (config, description, state)."""
    if data.id:
        return update_sweep(uow, principal, data), []
    if not data.config:
        raise ServiceError(ErrorCode.INVALID, "config: the sweep's YAML config is required")
    raw = load_config(data.config)
    engine.parse_config(raw)
    run_cap = run_cap_of(raw)
    project_name = str(data.project or raw.get("project") or "uncategorized")
    launch = None
    scheduler = _json_object(data.launch_scheduler, "launchScheduler")
    if scheduler is not None:
        # The queue store shares SQLite: read it before this unit's session takes the lock.
        values = _json_object(data.template_variable_values, "templateVariableValues") or {}
        entity_name = data.entity or principal.entity_name
        launch = launch_spec.from_wandb(
            uow, principal, entity_name, project_name, raw, scheduler, values
        )
    session = uow.session
    entity = resolve_entity(session, principal, data.entity)
    state = states.parse_state(data.state) if data.state else states.RUNNING
    # The server schedules launch sweeps itself: there is no scheduler job to wait for.
    if launch is not None and state == states.PENDING:
        state = states.RUNNING
    project = get_or_create_project(session, entity, project_name)
    sweep = create_sweep_row(uow, principal, project, data.config, raw, state, run_cap, launch)
    sweep.description = data.description
    sweep.display_name = data.display_name or raw.get("name")
    if is_local_controller(raw):
        sweep.controller = _json_object(data.controller, "controller") or {}
        sweep.scheduler = {"scheduled": []}
    session.flush()
    logger.info("sweep created", extra={"sweep": sweep.name, "project": project_name})
    return sweep, []


def create_sweep_row(
    uow: UnitOfWork,
    principal: Principal,
    project: Project,
    config_yaml: str,
    raw: dict[str, Any],
    state: str,
    run_cap: int | None,
    launch: dict[str, Any] | None,
) -> Sweep:
    """Insert the sweep row under a fresh 8-character name."""
    session = uow.session
    now = uow.now()
    for _ in range(5):
        name = new_sweep_name()
        taken = session.scalars(
            select(Sweep.id).where(Sweep.project_id == project.id, Sweep.name == name)
        ).first()
        if taken is None:
            break
    sweep = Sweep(
        project_id=project.id,
        name=name,
        config_yaml=config_yaml,
        config=raw,
        method=str(raw.get("method")),
        state=state,
        run_cap=run_cap,
        launch=launch,
        user_id=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(sweep)
    session.flush()
    return sweep


def sweep_by_node_id(session: Session, principal: Principal, node_id: str, action: Action) -> Sweep:
    """A sweep by its node id (or its name, as older clients send), if the caller may."""
    sweep: Sweep | None = None
    try:
        sweep = session.get(Sweep, decode_id("Sweep", node_id))
    except ValueError:
        sweep = session.scalars(select(Sweep).where(Sweep.name == node_id)).first()
    missing = ServiceError(ErrorCode.NOT_FOUND, f"id: sweep {node_id!r} does not exist")
    if sweep is None:
        raise missing
    try:
        require(principal, sweep.project.entity.name, Action.READ)
    except ServiceError as exc:
        raise missing from exc
    require(principal, sweep.project.entity.name, action)
    return sweep


def update_sweep(uow: UnitOfWork, principal: Principal, data: UpsertSweepInput) -> Sweep:
    """Change a sweep's state, config or description (`wandb sweep --pause`, `--update`)."""
    assert data.id is not None
    sweep = sweep_by_node_id(uow.session, principal, data.id, Action.WRITE)
    if data.config:
        raw = load_config(data.config)
        engine.parse_config(raw)
        sweep.run_cap = run_cap_of(raw)
        sweep.config_yaml = data.config
        sweep.config = raw
        sweep.method = str(raw.get("method"))
    if data.controller is not None and is_local_controller(sweep.config):
        # The local controller's schedule and early stops (see controller.local_commands).
        sweep.controller = _json_object(data.controller, "controller") or {}
    if data.description is not None:
        sweep.description = data.description
    if data.display_name is not None:
        sweep.display_name = data.display_name
    if data.state:
        set_state(uow, sweep, states.parse_state(data.state))
    sweep.updated_at = uow.now()
    uow.session.flush()
    return sweep


def set_state(uow: UnitOfWork, sweep: Sweep, target: str) -> None:
    """Move a sweep to `target`; cancelling ends its trials still waiting for a run."""
    states.check_transition(sweep.state, target)
    sweep.state = target
    sweep.updated_at = uow.now()
    if target == states.CANCELED:
        # Trials on a queue are canceled with their items by the launch scheduler.
        for trial in uow.session.scalars(
            select(SweepTrial).where(
                SweepTrial.sweep_id == sweep.id,
                SweepTrial.state == "pending",
                SweepTrial.queue_item_id.is_(None),
            )
        ):
            trial.state = "canceled"
            trial.ended_at = uow.now()
    logger.info("sweep state", extra={"sweep": sweep.name, "state": target})


def find_sweep(
    session: Session, principal: Principal, entity: str, project: str, name: str
) -> Sweep | None:
    """A sweep by entity, project and name, if the caller may read the entity."""
    require(principal, entity, Action.READ)
    return session.scalars(
        select(Sweep)
        .join(Project, Sweep.project_id == Project.id)
        .join(Entity, Project.entity_id == Entity.id)
        .where(Entity.name == entity, Project.name == project, Sweep.name == name)
    ).first()


def get_sweep(uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str) -> Sweep:
    """Like find_sweep, but a missing sweep is an error naming it."""
    sweep = find_sweep(uow.session, principal, entity, project, name)
    if sweep is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"sweep: {entity}/{project}/{name} does not exist")
    return sweep


def sweeps_of_project(
    session: Session, project: Project, limit: int, offset: int = 0
) -> tuple[list[Sweep], int]:
    """A project's sweeps, newest first, and how many it has."""
    where = Sweep.project_id == project.id
    total = session.scalar(select(func.count()).select_from(Sweep).where(where)) or 0
    rows = session.scalars(
        select(Sweep)
        .where(where)
        .order_by(Sweep.created_at.desc(), Sweep.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


class NativeSweepIn(BaseModel):
    """`POST /api/v1/sweeps` (`runyard sweep create`): a sweep, optionally on a launch queue."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(description="The sweep config as YAML (W&B's format).")
    entity: str | None = Field(None, max_length=128)
    project: str | None = Field(None, max_length=128)
    queue: str | None = Field(
        None, max_length=128, description="Run the trials as items of this launch queue."
    )
    template_values: dict[str, Any] = Field(default_factory=dict)
    workers: int | None = Field(None, description="At most this many trials in flight (8).")
    entry_point: list[str] | None = Field(
        None, description="The trials' command on the queue (default: `python <program>`)."
    )


def create_native(uow: UnitOfWork, principal: Principal, body: NativeSweepIn) -> Sweep:
    """Create a sweep from the native API; with `queue`, the server enqueues its trials."""
    raw = load_config(body.config)
    engine.parse_config(raw)
    run_cap = run_cap_of(raw)
    entity_name = body.entity or principal.entity_name
    project_name = str(body.project or raw.get("project") or "uncategorized")
    launch = None
    if body.queue:
        workers = launch_spec.workers_of(body.workers, "workers")
        launch = launch_spec.build(
            uow,
            principal,
            entity_name,
            body.queue,
            project_name,
            raw,
            body.template_values,
            workers,
            body.entry_point,
        )
    elif body.template_values or body.workers is not None or body.entry_point:
        raise ServiceError(
            ErrorCode.INVALID,
            "queue: template values, workers and a command are for launch sweeps; name the "
            "queue (--queue)",
        )
    entity = resolve_entity(uow.session, principal, entity_name)
    project = get_or_create_project(uow.session, entity, project_name)
    sweep = create_sweep_row(
        uow, principal, project, body.config, raw, states.RUNNING, run_cap, launch
    )
    sweep.display_name = raw.get("name")
    sweep.description = raw.get("description")
    uow.session.flush()
    return sweep
