"""LaunchQueue -> the queue body the server's REST API takes, and status from its stats.

The template is rendered once here with sample values (defaults, else the smallest allowed
value), so a template that cannot render is reported on the CR instead of failing every item.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from runyard.launch.models import QueueSpec, TemplateVariable
from runyard.launch.templating import render_config, validate_values

from .launch_queue import LaunchQueueSpec
from .objects import SpecError

SAMPLE_RUN = {
    "entity": "entity",
    "project": "project",
    "run_id": "run",
    "queue": "queue",
    "item_id": "item",
    "image": "image:latest",
    "job": "job",
}
_FIELDS = {"variables": "spec.variables", "config": "spec.config", "name": "spec.queueName"}


def _sample(variable: TemplateVariable) -> Any:
    if variable.default is not None:
        return variable.default
    if variable.enum:
        return variable.enum[0]
    if variable.type == "string":
        return "sample"
    return variable.minimum if variable.minimum is not None else 1


def queue_spec(name: str, spec: LaunchQueueSpec) -> QueueSpec:
    """The server's queue model; raises SpecError naming the field when it is unusable."""
    try:
        queue = spec.to_queue_spec(name)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = _FIELDS.get(loc[0], f"spec.{loc[0]}") if loc else "spec"
            rest = ".".join(loc[1:])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}{'.' + rest if rest else ''}: {message}")
        raise SpecError("; ".join(problems)) from None
    values = {v.name: _sample(v) for v in queue.variables}
    try:
        values = validate_values(queue.variables, values)
        render_config(queue.config, values, SAMPLE_RUN)
    except ValueError as exc:
        raise SpecError(f"spec.config: the template does not render: {exc}") from None
    return queue


def queue_body(name: str, spec: LaunchQueueSpec) -> dict[str, Any]:
    """JSON body of POST/PUT /api/v1/queues."""
    return queue_spec(name, spec).model_dump(mode="json")


def queue_status(stats: dict[str, Any]) -> dict[str, Any]:
    """Status fields from the server's queue stats (`QueueOut.stats`)."""
    by_state = stats.get("by_state") or {}
    by_priority = {str(k): int(v) for k, v in (stats.get("pending_by_priority") or {}).items()}
    running = sum(int(by_state.get(s, 0)) for s in ("claimed", "launching", "running"))
    return {
        "pending": int(by_state.get("pending", 0)),
        "pendingByPriority": by_priority,
        "running": running,
        "oldestPendingSeconds": stats.get("oldest_pending_s"),
    }
