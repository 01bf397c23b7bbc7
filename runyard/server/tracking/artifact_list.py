"""Listing a project's artifact collections of one type with their committed versions
(the web app's jobs page lists collections of type `job`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection
from runyard.server.tracking.access import accessible_project
from runyard.server.unit_of_work import UnitOfWork

JOB_TYPE = "job"
# A page lists at most this many collections and versions (the newest): a project that
# made thousands of job versions must not make one page load them all.
MAX_COLLECTIONS = 200
MAX_VERSIONS = 2_000


class VersionRow(BaseModel):
    """One committed version: `v3`, its aliases, when it was made."""

    version: str
    aliases: list[str]
    created_at: datetime
    description: str | None


class CollectionRow(BaseModel):
    """A collection and its committed versions, newest first."""

    name: str
    type: str
    versions: list[VersionRow]


def collections_of_type(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, type_name: str
) -> list[CollectionRow]:
    """The project's collections of `type_name` (by name) with their versions, for a reader.

    At most MAX_COLLECTIONS collections and MAX_VERSIONS versions, the newest.
    """
    session = uow.session
    owner = accessible_project(session, principal, entity, project)
    collections = session.scalars(
        select(ArtifactCollection)
        .where(ArtifactCollection.project_id == owner.id, ArtifactCollection.type_name == type_name)
        .order_by(ArtifactCollection.name)
        .limit(MAX_COLLECTIONS)
    ).all()
    ids = [c.id for c in collections]
    versions = session.scalars(
        select(Artifact)
        .where(Artifact.collection_id.in_(ids), Artifact.state == "COMMITTED")
        .order_by(Artifact.id.desc())
        .limit(MAX_VERSIONS)
    ).all()
    version_ids = [v.id for v in versions]
    aliases: dict[int, list[str]] = {}
    for alias in session.scalars(
        select(ArtifactAlias)
        .where(ArtifactAlias.artifact_id.in_(version_ids))
        .order_by(ArtifactAlias.alias)
    ):
        aliases.setdefault(alias.artifact_id, []).append(alias.alias)
    by_collection: dict[int, list[VersionRow]] = {}
    for version in versions:
        by_collection.setdefault(version.collection_id, []).append(
            VersionRow(
                version=f"v{version.version_index}",
                aliases=aliases.get(version.id, []),
                created_at=version.created_at,
                description=version.description,
            )
        )
    return [
        CollectionRow(name=c.name, type=c.type_name, versions=by_collection.get(c.id, []))
        for c in collections
    ]
