"""Resolvers for artifact listings and lineage: thin adapters over
`runyard.server.artifacts.listing` and `runyard.server.artifacts.lineage`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType, UnionType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.artifacts import lineage, listing
from runyard.server.artifacts.listing import Page, TypeInProject
from runyard.server.graphql.context import ctx
from runyard.server.graphql.registry import tags_connection
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import (
        Artifact,
        ArtifactCollection,
        Project,
        Run,
    )

query = QueryType()
project_type = ObjectType("Project")
type_type = ObjectType("ArtifactType")
sequence_type = ObjectType("ArtifactSequence")
artifact_type = ObjectType("Artifact")
run_type = ObjectType("Run")
initiator = UnionType("Initiator")


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


def _connection(page: Page[Any], **extra: Callable[[Any], Any]) -> dict[str, Any]:
    edges = [
        {"node": row, "cursor": cursor, **{k: f(row) for k, f in extra.items()}}
        for row, cursor in zip(page.rows, page.cursors, strict=True)
    ]
    return {
        "totalCount": page.total,
        "edges": edges,
        "pageInfo": {
            "endCursor": page.cursors[-1] if page.cursors else None,
            "hasNextPage": page.has_next,
        },
    }


# --- Query / Project -------------------------------------------------------------------------


@query.field("artifactCollection")
def resolve_collection_by_id(
    _: Any, info: GraphQLResolveInfo, id: str
) -> ArtifactCollection | None:
    """A collection by node id; null when missing or unreadable."""
    context = ctx(info)
    return listing.collection_by_id(context.uow, context.principal, id)


@project_type.field("artifactType")
def resolve_artifact_type(
    project: Project, info: GraphQLResolveInfo, name: str
) -> TypeInProject | None:
    """The type if the project holds collections of it."""
    return listing.type_in_project(ctx(info).uow, project, name)


@project_type.field("artifactTypes")
def resolve_artifact_types(
    project: Project,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    **_: Any,
) -> dict[str, Any]:
    """The types the project holds collections of."""
    return _connection(listing.types_in_project(ctx(info).uow, project, after, first))


@project_type.field("artifactCollections")
def resolve_project_collections(
    project: Project, info: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    """The project's collections of every type."""
    return _connection(listing.collections(ctx(info).uow, project, None, **args))


# --- ArtifactType ----------------------------------------------------------------------------


@type_type.field("id")
def resolve_type_id(kind: TypeInProject, _: GraphQLResolveInfo) -> str:
    """A node id for the type within its project."""
    return encode_id("ArtifactType", f"{kind.project.id}:{kind.name}")


@type_type.field("name")
def resolve_type_name(kind: TypeInProject, _: GraphQLResolveInfo) -> str:
    """The type's name."""
    return kind.name


@type_type.field("description")
def resolve_type_description(kind: TypeInProject, _: GraphQLResolveInfo) -> None:
    """Runyard keeps no type descriptions."""
    return None


@type_type.field("createdAt")
def resolve_type_created(kind: TypeInProject, _: GraphQLResolveInfo) -> str | None:
    """When the project's first collection of the type was made."""
    return _iso(kind.created_at)


@type_type.field("artifactCollections")
def resolve_type_collections(
    kind: TypeInProject, info: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    """The project's collections of the type."""
    return _connection(listing.collections(ctx(info).uow, kind.project, kind.name, **args))


@type_type.field("artifactCollection")
@type_type.field("artifactSequence")
def resolve_type_collection(
    kind: TypeInProject, info: GraphQLResolveInfo, name: str
) -> ArtifactCollection | None:
    """A collection of the type by name."""
    return listing.collection_in_type(ctx(info).uow, kind, name)


@type_type.field("artifact")
def resolve_type_artifact(
    kind: TypeInProject, info: GraphQLResolveInfo, name: str
) -> Artifact | None:
    """A committed version of the type by `name:alias` or `name:vN`."""
    return listing.version_in_type(ctx(info).uow, kind, name)


# --- ArtifactCollection ----------------------------------------------------------------------


@sequence_type.field("description")
def resolve_collection_description(
    collection: ArtifactCollection, _: GraphQLResolveInfo
) -> str | None:
    """The collection's description (`updateArtifactSequence`)."""
    return collection.description


@sequence_type.field("createdAt")
def resolve_collection_created(collection: ArtifactCollection, _: GraphQLResolveInfo) -> str | None:
    """When the collection's first version was started."""
    return _iso(collection.created_at)


@sequence_type.field("updatedAt")
def resolve_collection_updated(
    collection: ArtifactCollection, info: GraphQLResolveInfo
) -> str | None:
    """When the newest version last changed."""
    return _iso(listing.collection_updated_at(ctx(info).uow, collection))


@sequence_type.field("defaultArtifactType")
def resolve_collection_type(collection: ArtifactCollection, _: GraphQLResolveInfo) -> TypeInProject:
    """The collection's type."""
    return TypeInProject(collection.project, collection.type_name, None)


@sequence_type.field("tags")
def resolve_collection_tags(
    collection: ArtifactCollection, _: GraphQLResolveInfo, **__: Any
) -> Any:
    """The collection's tags by name (`createArtifactCollectionTagAssignments`)."""
    return tags_connection(collection)


@sequence_type.field("aliases")
def resolve_collection_aliases(
    collection: ArtifactCollection,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The aliases of the collection's versions."""
    return _connection(listing.collection_aliases(ctx(info).uow, collection, after, first))


@sequence_type.field("artifacts")
def resolve_collection_artifacts(
    collection: ArtifactCollection, info: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    """The collection's committed versions."""
    page = listing.versions(ctx(info).uow, collection, **args)
    return _connection(page, version=lambda a: f"v{a.version_index}")


# --- lineage ---------------------------------------------------------------------------------


@initiator.type_resolver
def resolve_initiator_type(*_: Any) -> str:
    """Runyard records runs as the creators of versions."""
    return "Run"


@artifact_type.field("createdBy")
def resolve_created_by(artifact: Artifact, info: GraphQLResolveInfo) -> Run | None:
    """The run that logged the version."""
    context = ctx(info)
    return lineage.creator_of(context.uow, context.principal, artifact)


@artifact_type.field("usedBy")
def resolve_used_by(
    artifact: Artifact,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The runs that used the version; without `first`, up to MAX_PAGE of them (clients ask
    for one page and read no cursor)."""
    context = ctx(info)
    size = listing.MAX_PAGE if first is None else first
    return _connection(lineage.users_of(context.uow, context.principal, artifact, after, size))


@run_type.field("outputArtifacts")
def resolve_output_artifacts(
    run: Run, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """The versions the run logged."""
    context = ctx(info)
    return _connection(lineage.logged_by_run(context.uow, context.principal, run, after, first))


@run_type.field("inputArtifacts")
def resolve_input_artifacts(
    run: Run, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """The versions the run used."""
    context = ctx(info)
    return _connection(lineage.used_by_run(context.uow, context.principal, run, after, first))


BINDABLES = [
    query,
    project_type,
    type_type,
    sequence_type,
    artifact_type,
    run_type,
    initiator,
]
