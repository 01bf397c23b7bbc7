"""`deleteRun`: `wandb job create` deletes the run it used; the public API's `Run.delete()`."""

from __future__ import annotations

import logging
from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.access import Action
from runyard.server.graphql.context import ctx
from runyard.server.tracking.artifacts import delete_created_by
from runyard.server.tracking.runs import run_by_id

logger = logging.getLogger(__name__)
mutation = MutationType()


@mutation.field("deleteRun")
def resolve_delete_run(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Delete a run with its history and files; its artifacts stay unless asked otherwise."""
    context = ctx(info)
    run = run_by_id(context.session, context.principal, input["id"], Action.WRITE)
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
