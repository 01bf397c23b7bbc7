"""`deleteRun`: `wandb job create` deletes the run it used; the public API's `Run.delete()`."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.graphql.context import ctx
from runyard.server.tracking.run_writes import delete_run

mutation = MutationType()


@mutation.field("deleteRun")
def resolve_delete_run(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Delete a run with its history and files; its artifacts stay unless asked otherwise."""
    context = ctx(info)
    delete_run(
        context.uow,
        context.principal,
        input["id"],
        delete_artifacts=bool(input.get("deleteArtifacts")),
    )
    return {"clientMutationId": input.get("clientMutationId")}


BINDABLES = [mutation]
