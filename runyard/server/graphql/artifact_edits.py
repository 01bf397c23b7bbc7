"""Resolvers for artifact edits: thin adapters over `runyard.server.artifacts.edits`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.artifacts import edits
from runyard.server.graphql.context import ctx
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import ArtifactCollection

mutation = MutationType()
sequence_type = ObjectType("ArtifactSequence")


class DeletedCollection:
    """A collection as the mutation that deleted it answers: its fields, state DELETED."""

    state = "DELETED"

    def __init__(self, collection: ArtifactCollection) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def _aliases(items: list[dict[str, Any]]) -> list[edits.CollectionAlias]:
    return [edits.CollectionAlias.model_validate(item) for item in items]


def tag_nodes(names: list[str] | None) -> list[dict[str, str]]:
    """Tags as W&B's Tag objects (Runyard's tag id is its name)."""
    return [{"id": encode_id("Tag", name), "name": name} for name in names or []]


@mutation.field("addAliases")
def resolve_add_aliases(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Point aliases at a version."""
    context = ctx(info)
    edits.add_aliases(
        context.uow, context.principal, input["artifactID"], _aliases(input["aliases"])
    )
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("deleteAliases")
def resolve_delete_aliases(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Remove aliases from a version."""
    context = ctx(info)
    edits.delete_aliases(
        context.uow, context.principal, input["artifactID"], _aliases(input["aliases"])
    )
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("deleteArtifact")
def resolve_delete_artifact(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Delete a version."""
    context = ctx(info)
    artifact = edits.delete_artifact(
        context.uow, context.principal, input["artifactID"], bool(input.get("deleteAliases"))
    )
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


@mutation.field("updateArtifactSequence")
def resolve_update_sequence(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Rename a collection or change its description or default TTL."""
    context = ctx(info)
    change = edits.CollectionUpdate(
        name=input.get("name"),
        description=input.get("description"),
        ttl_duration_seconds=input.get("ttlDurationSeconds"),
    )
    collection = edits.update_collection(
        context.uow, context.principal, input["artifactSequenceID"], change
    )
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


@mutation.field("moveArtifactSequence")
def resolve_move_sequence(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Change a collection's artifact type."""
    context = ctx(info)
    collection = edits.move_collection(
        context.uow,
        context.principal,
        input["artifactSequenceID"],
        input["destinationArtifactTypeName"],
    )
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


@mutation.field("deleteArtifactSequence")
def resolve_delete_sequence(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Delete a collection with its versions."""
    context = ctx(info)
    collection = edits.delete_collection(
        context.uow, context.principal, input["artifactSequenceID"]
    )
    return {
        "artifactCollection": DeletedCollection(collection),
        "clientMutationId": input.get("clientMutationId"),
    }


def _tag_change(info: GraphQLResolveInfo, input: dict[str, Any], adding: bool) -> list[str]:
    context = ctx(info)
    names = [tag["tagName"] for tag in input["tags"]]
    where = (input["entityName"], input["projectName"], input["artifactCollectionName"])
    collection = edits.change_collection_tags(
        context.uow,
        context.principal,
        where,
        add=names if adding else [],
        remove=[] if adding else names,
    )
    return [name for name in collection.tags if name in names]


@mutation.field("createArtifactCollectionTagAssignments")
def resolve_add_collection_tags(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Add tags to a collection; answers the tags added."""
    added = _tag_change(info, input, adding=True)
    return {"tags": tag_nodes(added), "clientMutationID": input.get("clientMutationID")}


@mutation.field("deleteArtifactCollectionTagAssignments")
def resolve_delete_collection_tags(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Remove tags from a collection."""
    _tag_change(info, input, adding=False)
    return {"success": True, "clientMutationID": input.get("clientMutationID")}


@sequence_type.field("state")
def resolve_collection_state(collection: Any, _: GraphQLResolveInfo) -> str:
    """READY, or DELETED in the answer of the delete."""
    return str(getattr(collection, "state", "READY"))


@sequence_type.field("ttlDurationSeconds")
def resolve_collection_ttl(collection: ArtifactCollection, _: GraphQLResolveInfo) -> int | None:
    """The default TTL the collection's versions inherit."""
    return collection.ttl_duration_seconds


BINDABLES = [mutation, sequence_type]
