"""`deleteRun`: `wandb job create` deletes the run it used; the public API's `Run.delete()`."""

from __future__ import annotations

import logging
from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.access import Action
from runyard.server.db.models import Run
from runyard.server.graphql.context import ctx
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.artifacts import delete_created_by
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.runs import TrackingError

logger = logging.getLogger(__name__)
mutation = MutationType()


@mutation.field("deleteRun")
def resolve_delete_run(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Delete a run with its history and files; its artifacts stay unless asked otherwise."""
    context = ctx(info)
    try:
        pk = decode_id("Run", input["id"])
    except ValueError as exc:
        raise TrackingError(f"id: {exc}") from exc
    run = context.session.get(Run, pk)
    if run is None:
        raise TrackingError(f"id: no run {input['id']!r}", status=404)
    check_entity_access(context.principal, run.project.entity.name, Action.WRITE)
    deleted_artifacts = (
        delete_created_by(context.session, run) if input.get("deleteArtifacts") else 0
    )
    context.session.delete(run)
    context.session.flush()
    logger.info(
        "run deleted",
        extra={"run": run.name, "project": run.project.name, "artifacts": deleted_artifacts},
    )
    return {"clientMutationId": input.get("clientMutationId")}


BINDABLES = [mutation]
