"""STAND-IN until the artifact edits (branch art-edits) are merged: resolvers for
collection_edits.graphql (sequence rename and description, collection tags). Delete both
files when merging art-edits; it serves the same fields over the same columns.
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.graphql.registry import tag_nodes
from runyard.server.registry import collections

mutation = MutationType()


@mutation.field("updateArtifactSequence")
def resolve_update_sequence(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Rename a sequence or change its description."""
    if input.get("ttlDurationSeconds") is not None:
        raise ServiceError(
            ErrorCode.INVALID,
            "ttlDurationSeconds: this server keeps no collection TTLs; leave it out",
        )
    context = ctx(info)
    collection = collections.update_collection(
        context.uow,
        context.principal,
        input["artifactSequenceID"],
        "artifactSequenceID",
        input.get("name"),
        input.get("description"),
    )
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


@mutation.field("createArtifactCollectionTagAssignments")
def resolve_add_collection_tags(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Tag a collection."""
    context = ctx(info)
    args = (input["entityName"], input["projectName"], input["artifactCollectionName"])
    names = collections.add_tags(
        context.uow,
        context.principal,
        *args,
        [collections.TagSpec.model_validate(t) for t in input["tags"]],
    )
    collection = collections.named(context.uow, context.principal, *args)
    return {"tags": tag_nodes(collection, names), "clientMutationID": input.get("clientMutationID")}


@mutation.field("deleteArtifactCollectionTagAssignments")
def resolve_delete_collection_tags(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Remove tags from a collection."""
    context = ctx(info)
    collections.remove_tags(
        context.uow,
        context.principal,
        input["entityName"],
        input["projectName"],
        input["artifactCollectionName"],
        [collections.TagSpec.model_validate(t) for t in input["tags"]],
    )
    return {"success": True, "clientMutationID": input.get("clientMutationID")}


BINDABLES = [mutation]
