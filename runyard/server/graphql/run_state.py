"""`updateRunState`: the public API's `Run.update_state("pending" | "failed")`."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.graphql.context import ctx
from runyard.server.tracking.run_state import update_run_state

mutation = MutationType()


@mutation.field("updateRunState")
def resolve_update_run_state(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Move a run to `pending` or `failed`; a transition W&B refuses is an error."""
    context = ctx(info)
    update_run_state(context.uow, context.principal, input["id"], input["state"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


BINDABLES = [mutation]
