"""Resolvers for forks, rewinds and alerts: `rewindRun`, `notifyScriptableRunAlert`, Run fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.graphql.context import ctx
from runyard.server.tracking import alerts, forks

if TYPE_CHECKING:
    from runyard.server.db.models import Run

mutation = MutationType()
run_type = ObjectType("Run")


@mutation.field("rewindRun")
def resolve_rewind_run(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Rewind a run to a `_step`; its later history is kept as an archive run."""
    context = ctx(info)
    run = forks.rewind_run(
        context.uow,
        context.principal,
        input.get("entityName"),
        input.get("projectName"),
        input["runName"],
        input["metricName"],
        input["metricValue"],
    )
    return {"rewoundRun": run}


@mutation.field("notifyScriptableRunAlert")
def resolve_notify_alert(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Store an alert (unless a repeat within its wait duration) and deliver it after commit."""
    context = ctx(info)
    alerts.send_alert(context.uow, context.principal, alerts.AlertInput.model_validate(input))
    return {"success": True}


@run_type.field("forkedFrom")
def resolve_forked_from(run: Run, _: GraphQLResolveInfo) -> dict[str, Any] | None:
    """The run this one branched from, and the step."""
    parent = run.forked_from
    if parent is None:
        return None
    return {"run": parent, "runName": parent.name, "step": run.fork_step or 0}


@run_type.field("archivedFrom")
def resolve_archived_from(run: Run, _: GraphQLResolveInfo) -> Run | None:
    """The rewound run this archive was kept for."""
    return run.archived_of


@run_type.field("archived")
def resolve_archived(run: Run, _: GraphQLResolveInfo) -> bool:
    """Whether the run is a rewind's archive."""
    return run.archived_at is not None


@run_type.field("alerts")
def resolve_alerts(run: Run, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """The run's alerts, newest first."""
    return [
        {
            "id": str(a.id),
            "title": a.title,
            "text": a.text,
            "severity": a.level,
            "waitDuration": a.wait_duration_ms,
            "createdAt": as_utc(a.created_at).isoformat(),  # type: ignore[union-attr]
        }
        for a in alerts.alerts_of_run(ctx(info).uow, run)
    ]


BINDABLES = [mutation, run_type]
