"""Resolvers for artifacts seen from a run or a type: thin adapters over
`runyard.server.tracking.run_artifacts` (run.logged_artifacts / used_artifacts, list_jobs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.graphql.context import ctx
from runyard.server.tracking import run_artifacts as service
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Artifact, ArtifactCollection, Project, Run

run_type = ObjectType("Run")
project_type = ObjectType("Project")
type_type = ObjectType("ArtifactType")
sequence_type = ObjectType("ArtifactSequence")

T = TypeVar("T")


def _connection(
    page: service.Page[T], cursor: Callable[[T], str], **extra: Callable[[T], Any]
) -> dict[str, Any]:
    edges = [
        {"node": row, "cursor": cursor(row), **{k: f(row) for k, f in extra.items()}}
        for row in page.rows
    ]
    return {
        "totalCount": page.total,
        "edges": edges,
        "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": page.has_next,
        },
    }


def _artifact_cursor(artifact: Artifact) -> str:
    return encode_id("Artifact", artifact.id)


@run_type.field("outputArtifacts")
def resolve_output_artifacts(
    run: Run, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """The versions the run logged."""
    page = service.logged_by(ctx(info).uow, run, after, first)
    return _connection(page, _artifact_cursor)


@run_type.field("inputArtifacts")
def resolve_input_artifacts(
    run: Run, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """The versions the run used."""
    context = ctx(info)
    page = service.used_by(context.uow, context.principal, run, after, first)
    return _connection(page, _artifact_cursor)


@project_type.field("artifactType")
def resolve_artifact_type(
    project: Project, info: GraphQLResolveInfo, name: str
) -> service.TypeInProject | None:
    """The type if the project holds collections of it."""
    return service.type_in_project(ctx(info).uow, project, name)


@project_type.field("artifactTypes")
def resolve_artifact_types(project: Project, info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    """Every type the project holds collections of (one page: there are few)."""
    kinds = service.types_in_project(ctx(info).uow, project)
    edges = [{"node": kind, "cursor": kind.name} for kind in kinds]
    end = edges[-1]["cursor"] if edges else None
    return {"edges": edges, "pageInfo": {"endCursor": end, "hasNextPage": False}}


@type_type.field("id")
def resolve_type_id(kind: service.TypeInProject | dict[str, Any], _: GraphQLResolveInfo) -> str:
    """A node id for the type within its project (Artifact.artifactType answers a dict)."""
    if isinstance(kind, dict):
        return str(kind["id"])
    return encode_id("ArtifactType", f"{kind.project.id}:{kind.name}")


@type_type.field("name")
def resolve_type_name(kind: service.TypeInProject | dict[str, Any], _: GraphQLResolveInfo) -> str:
    """The type's name."""
    return str(kind["name"]) if isinstance(kind, dict) else kind.name


@type_type.field("artifactCollections")
def resolve_type_collections(
    kind: service.TypeInProject | dict[str, Any],
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The project's collections of the type."""
    uow = ctx(info).uow
    if isinstance(kind, dict):
        # Reached through Artifact.artifactType: the type of that version's own project.
        artifact: Artifact = kind["artifact"]
        kind = service.TypeInProject(artifact.collection.project, artifact.collection.type_name)
    page = service.collections_of_type(uow, kind, after, first)
    return _connection(page, lambda c: encode_id("ArtifactCollection", c.id))


@sequence_type.field("artifacts")
def resolve_collection_artifacts(
    collection: ArtifactCollection,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The collection's versions, newest first."""
    page = service.versions_of(ctx(info).uow, collection, after, first)
    return _connection(page, _artifact_cursor, version=lambda a: f"v{a.version_index}")


BINDABLES = [run_type, project_type, type_type, sequence_type]
