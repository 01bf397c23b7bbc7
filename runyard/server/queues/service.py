"""What the queue routes do, over any QueueStore: validate and render at enqueue, report
size problems, and summarise a queue. Synchronous; routes run it in a worker thread."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from runyard.launch.gangs import gang_size
from runyard.launch.kubernetes.allowlists import PoolPolicy
from runyard.launch.models import EnqueueRequest, Priority, Queue, QueueItem
from runyard.launch.queue.store import PendingSummary, QueueStore
from runyard.launch.run_spec import missing_entry_point
from runyard.launch.template_sandbox import (
    ForbiddenTemplate,
    RenderLimits,
    TemplateLimitError,
    TemplateTooLarge,
)
from runyard.launch.templating import render_config, requirements_of, validate_values
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues.pools import check_pools


class SpecTooLarge(ServiceError, ValueError):
    """An item whose run spec, template values or rendered config is over the value limit."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TOO_LARGE, message)


class TemplateRefused(ServiceError, ValueError):
    """A queue template that would do more work than allowed, or uses a tag it cannot."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNPROCESSABLE, message)


class NoEntryPoint(ServiceError, ValueError):
    """A local-process item that says nothing to run."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNPROCESSABLE, message)


class QueueStats(BaseModel):
    """A queue's items by state, pending ones by priority, and the oldest pending age."""

    by_state: dict[str, int]
    pending_by_priority: dict[str, int]
    oldest_pending_s: float | None


def enqueue(
    store: QueueStore,
    queue: Queue,
    request: EnqueueRequest,
    now: datetime,
    max_bytes: int,
    pools: Sequence[PoolPolicy] = (),
    enqueued_by: str | None = None,
) -> tuple[QueueItem, bool]:
    """Check the item can run there, validate template values, render the queue's config,
    check it against the allow-lists of the serving `pools` (`pools.serving_policies`), and
    add the item.

    The run spec, the template values and the rendered config are each held to `max_bytes`
    (RUNYARD_MAX_VALUE_BYTES), and rendering is refused before it would make much more.
    """
    fix = "put large inputs in an artifact or file and reference it"
    _check_size("run_spec", request.run_spec, max_bytes, fix)
    problem = missing_entry_point(queue.resource, f"{queue.entity}/{queue.name}", request.run_spec)
    if problem:
        raise NoEntryPoint(problem)
    fix = "pass large inputs as files or artifacts, not template values"
    _check_size("template_values", request.template_values, max_bytes, fix)
    values = validate_values(queue.variables, request.template_values)
    fields: dict[str, Any] = {"queue": queue.name, "entity": queue.entity}
    project = request.run_spec.get("project")
    if isinstance(project, str):
        fields["project"] = project
    try:
        rendered = render_config(queue.config, values, fields, RenderLimits(max_bytes=max_bytes))
    except TemplateTooLarge as exc:
        raise SpecTooLarge(f"queue {queue.entity}/{queue.name}: {exc}") from exc
    except (TemplateLimitError, ForbiddenTemplate) as exc:
        raise TemplateRefused(f"queue {queue.entity}/{queue.name}: {exc}") from exc
    fix = "make the queue's config template repeat less, or use smaller template values"
    _check_size("the rendered config", rendered, max_bytes, fix)
    check_pools(rendered, pools)
    # A gang (JobSet, PyTorchJob) needs room for all its pods at once: count them now.
    requirements = requirements_of(values).model_copy(update={"pods": gang_size(rendered)})
    return store.enqueue(queue, request, values, rendered, requirements, now, enqueued_by)


def _check_size(what: str, value: Any, max_bytes: int, fix: str) -> None:
    """Refuse a value over the value limit, naming it, the limit and the fix."""
    size = len(json.dumps(value))
    if size > max_bytes:
        raise SpecTooLarge(
            f"{what} is {size:,} bytes, over the {max_bytes:,}-byte limit "
            f"(RUNYARD_MAX_VALUE_BYTES): {fix}"
        )


def queue_stats(by_state: dict[str, int], pending: PendingSummary, now: datetime) -> QueueStats:
    """A queue's stats from the store's counts (pure)."""
    oldest = pending.oldest_created_at
    return QueueStats(
        by_state=by_state,
        pending_by_priority={p.name.lower(): pending.by_priority.get(p.value, 0) for p in Priority},
        oldest_pending_s=(now - oldest).total_seconds() if oldest else None,
    )
