"""What a launch sweep enqueues: the queue, the trial's base run spec, the template values and
how many trials may be in flight. Built from W&B's `launchScheduler` (`wandb launch-sweep`)
or from the native API (`runyard sweep create --queue`), and checked against the queue
before the sweep exists, so a sweep that could never enqueue is refused naming the field."""

from __future__ import annotations

import json
from typing import Any

from runyard.launch.run_spec import missing_entry_point
from runyard.launch.templating import TemplateValueError, validate_values
from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues.queue_service import get_queue
from runyard.server.unit_of_work import UnitOfWork

# W&B's scheduler runs 8 trials at once unless `scheduler.num_workers` says otherwise.
DEFAULT_WORKERS = 8
MAX_WORKERS = 1000


def workers_of(value: Any, field: str) -> int:
    """A worker count: a positive integer up to MAX_WORKERS."""
    if value is None:
        return DEFAULT_WORKERS
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = 0
    if not 1 <= workers <= MAX_WORKERS or isinstance(value, bool):
        raise ServiceError(
            ErrorCode.INVALID, f"{field}: {value!r} is not a whole number from 1 to {MAX_WORKERS}"
        )
    return workers


def _scheduler_run_config(scheduler: dict[str, Any]) -> dict[str, Any]:
    """The run_config of W&B's scheduler run spec (where `scheduler.num_workers` lives)."""
    text = scheduler.get("run_spec")
    try:
        spec = json.loads(text) if isinstance(text, str) else (text or {})
    except json.JSONDecodeError as exc:
        raise ServiceError(
            ErrorCode.INVALID, f"launchScheduler.run_spec: not valid JSON: {exc}"
        ) from exc
    overrides = spec.get("overrides") if isinstance(spec, dict) else None
    run_config = overrides.get("run_config") if isinstance(overrides, dict) else None
    return run_config if isinstance(run_config, dict) else {}


def from_wandb(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    raw: dict[str, Any],
    scheduler: dict[str, Any],
    template_values: dict[str, Any],
) -> dict[str, Any]:
    """The launch settings of a `wandb launch-sweep` (its `launchScheduler` JSON)."""
    queue = scheduler.get("queue")
    if not isinstance(queue, str) or not queue:
        raise ServiceError(
            ErrorCode.INVALID, "launchScheduler.queue: name the queue (`wandb launch-sweep -q`)"
        )
    settings = _scheduler_run_config(scheduler).get("scheduler") or {}
    workers = workers_of(settings.get("num_workers"), "scheduler.num_workers")
    return build(uow, principal, entity, queue, project, raw, template_values, workers)


def base_run_spec(
    raw: dict[str, Any], entity: str, project: str, entry_point: list[str] | None = None
) -> dict[str, Any]:
    """A trial's run spec before its parameters: the sweep's job, or its image and/or its
    command (`entry_point`, else `python <program>`)."""
    spec: dict[str, Any] = {"entity": entity, "project": project}
    if raw.get("job"):
        spec["job"] = str(raw["job"])
    elif raw.get("image_uri"):
        spec["docker"] = {"docker_image": str(raw["image_uri"])}
    if entry_point:
        spec["entry_point"] = list(entry_point)
    elif raw.get("program") and not raw.get("job"):
        spec["entry_point"] = ["python", str(raw["program"])]
    return spec


def build(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    queue_name: str,
    project: str,
    raw: dict[str, Any],
    template_values: dict[str, Any],
    workers: int,
    entry_point: list[str] | None = None,
) -> dict[str, Any]:
    """Check the queue takes the sweep's trials; return what the scheduler enqueues."""
    if raw.get("job") and raw.get("image_uri"):
        raise ServiceError(
            ErrorCode.INVALID,
            "config.job: a launch sweep runs either `job` or `image_uri`, not both",
        )
    queue = get_queue(uow, principal, entity, queue_name, Action.WRITE, what="queue")
    run_spec = base_run_spec(raw, entity, project, entry_point)
    problem = missing_entry_point(queue.resource, f"{queue.entity}/{queue.name}", run_spec)
    if problem or not (
        run_spec.get("job") or run_spec.get("docker") or run_spec.get("entry_point")
    ):
        raise ServiceError(
            ErrorCode.INVALID,
            f"config.job: a launch sweep's trials need `job` (a W&B job), `image_uri` or "
            f"`program` in the sweep config{': ' + problem if problem else ''}",
        )
    try:
        values = validate_values(queue.variables, template_values)
    except TemplateValueError as exc:
        raise ServiceError(
            ErrorCode.INVALID,
            f"template_variables: queue {queue.entity}/{queue.name}: {exc} "
            "(set them under scheduler.template_variables, or `-v NAME=VALUE`)",
            details={"problems": exc.problems},
        ) from exc
    return {
        "entity": queue.entity,
        "queue": queue.name,
        "project": project,
        "run_spec": run_spec,
        "template_values": values,
        "workers": workers,
    }
