"""Links: a committed version linked into a PORTFOLIO collection (`linkArtifact`).

The version stays in the sequence it was logged to; the link gives it its own v<N> in the
portfolio, and its aliases there (`latest` moves to the version linked last) belong to the
portfolio alone. One version may be linked into many portfolios. Targets are a registry of
the organization (`wandb-registry-<name>/<collection>`, its role rule decides) or a project
of an entity, such as the legacy `<entity>/model-registry/<registered model>`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection, Project
from runyard.server.db.registry_models import ArtifactLink, Registry
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.directory import ORGANIZATION
from runyard.server.registry import access
from runyard.server.registry.names import is_registry_project, registry_name
from runyard.server.tracking import artifact_service
from runyard.server.tracking.artifacts import (
    LATEST,
    PORTFOLIO,
    Membership,
    check_alias,
    check_collection_name,
    find_collection,
    move_alias,
)
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.tracking.runs import TrackingError, get_or_create_project, resolve_entity
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


class LinkAliasInput(BaseModel):
    """An alias to set in the target collection."""

    model_config = ConfigDict(extra="ignore")

    alias: str
    artifactCollectionName: str | None = None


class LinkSpec(BaseModel):
    """The LinkArtifactInput fields Runyard acts on."""

    model_config = ConfigDict(extra="ignore")

    artifactID: str | None = None
    clientID: str | None = None
    artifactPortfolioName: str | None = None
    artifactPortfolioID: str | None = None
    entityName: str | None = None
    projectName: str | None = None
    aliases: list[LinkAliasInput] | None = None


@dataclass(frozen=True)
class Target:
    """Where a link goes: the project and whether a registry's rule governs it."""

    project: Project
    registry: Registry | None


def _target_project(uow: UnitOfWork, principal: Principal, spec: LinkSpec) -> Target:
    session = uow.session
    entity_name = spec.entityName or principal.entity_name
    project_name = spec.projectName or ""
    if access.governs(entity_name, project_name):
        project = access.accessible_registry(session, principal, project_name, Action.WRITE)
        return Target(project, session.get(Registry, project.id))
    if is_registry_project(project_name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"entityName: registry {registry_name(project_name)!r} lives in the organization "
            f"entity {ORGANIZATION!r}, not {entity_name!r}",
        )
    if not project_name:
        raise ServiceError(ErrorCode.INVALID, "projectName: name the project to link into")
    try:
        entity = resolve_entity(session, principal, entity_name, Action.WRITE)
    except TrackingError as exc:
        raise ServiceError(ErrorCode.NOT_FOUND, f"entityName: {exc}") from exc
    # W&B makes the legacy `model-registry` project (or any target project) on first link.
    return Target(get_or_create_project(session, entity, project_name), None)


def _portfolio(session: Session, target: Target, name: str, type_name: str) -> ArtifactCollection:
    check_collection_name(name)
    where = registry_name(target.project.name) if target.registry else target.project.name
    if target.registry is not None and not target.registry.allow_all_types:
        accepted = target.registry.artifact_types or []
        if type_name not in accepted:
            raise ServiceError(
                ErrorCode.INVALID,
                f"artifactID: registry {where!r} accepts artifact types {accepted}, not "
                f"{type_name!r}: link an artifact of an accepted type or ask a registry admin "
                "to add the type",
            )
    collection = find_collection(session, target.project, name)
    if collection is None:
        collection = ArtifactCollection(
            project_id=target.project.id, name=name, type_name=type_name, kind=PORTFOLIO
        )
        session.add(collection)
        session.flush()
        return collection
    if collection.kind != PORTFOLIO:
        raise ServiceError(
            ErrorCode.INVALID,
            f"artifactPortfolioName: {name!r} in {where!r} holds logged versions, not links: "
            "link into another collection name",
        )
    if collection.type_name != type_name:
        raise ServiceError(
            ErrorCode.INVALID,
            f"artifactPortfolioName: collection {name!r} in {where!r} accepts artifacts of "
            f"type {collection.type_name!r}, not {type_name!r}",
        )
    return collection


def _source(uow: UnitOfWork, principal: Principal, spec: LinkSpec) -> Artifact:
    if spec.artifactID:
        artifact = artifact_service.artifact_by_id(uow, principal, spec.artifactID)
    elif spec.clientID:
        pk = uow.session.scalars(
            select(Artifact.id).where(Artifact.client_id == spec.clientID)
        ).first()
        if pk is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"clientID: no artifact {spec.clientID!r}")
        artifact = artifact_service.artifact_by_id(uow, principal, encode_id("Artifact", pk))
    else:
        raise ServiceError(ErrorCode.INVALID, "artifactID: name the version to link")
    if artifact.state != "COMMITTED":
        raise ServiceError(
            ErrorCode.INVALID, "artifactID: the version is not committed yet; wait for it first"
        )
    return artifact


def link_artifact(uow: UnitOfWork, principal: Principal, spec: LinkSpec) -> Membership:
    """Link a committed version into the named collection; return its membership there."""
    session = uow.session
    artifact = _source(uow, principal, spec)
    if not spec.artifactPortfolioName:
        raise ServiceError(
            ErrorCode.INVALID, "artifactPortfolioName: name the collection to link into"
        )
    aliases = [check_alias(a.alias) for a in spec.aliases or []]
    target = _target_project(uow, principal, spec)
    portfolio = _portfolio(
        session, target, spec.artifactPortfolioName, artifact.collection.type_name
    )
    link = session.scalars(
        select(ArtifactLink).where(
            ArtifactLink.collection_id == portfolio.id, ArtifactLink.artifact_id == artifact.id
        )
    ).first()
    if link is None:
        # Lock the portfolio row (PostgreSQL) so concurrent links number versions one by one.
        session.execute(
            select(ArtifactCollection.id)
            .where(ArtifactCollection.id == portfolio.id)
            .with_for_update()
        )
        last = session.scalar(
            select(func.max(ArtifactLink.version_index)).where(
                ArtifactLink.collection_id == portfolio.id
            )
        )
        link = ArtifactLink(
            collection_id=portfolio.id,
            artifact_id=artifact.id,
            version_index=0 if last is None else last + 1,
        )
        session.add(link)
        session.flush()
    for alias in dict.fromkeys([LATEST, *aliases]):
        move_alias(session, portfolio, alias, artifact)
    logger.info(
        "artifact linked",
        extra={
            "project": target.project.name,
            "collection": portfolio.name,
            "version": link.version_index,
            "artifact": artifact.id,
        },
    )
    return Membership(artifact, portfolio, link)


def unlink_artifact(
    uow: UnitOfWork, principal: Principal, artifact_id: str, portfolio_id: str
) -> None:
    """Remove a version's link from a portfolio with its aliases there."""
    session = uow.session
    try:
        pk = decode_id("ArtifactCollection", portfolio_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"artifactPortfolioID: {exc}") from exc
    portfolio = session.get(ArtifactCollection, pk)
    if portfolio is None or portfolio.kind != PORTFOLIO:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"artifactPortfolioID: no linked collection {portfolio_id!r}"
        )
    require_collection(session, principal, portfolio, Action.WRITE)
    artifact = artifact_service.artifact_by_id(uow, principal, artifact_id)
    link = session.scalars(
        select(ArtifactLink).where(
            ArtifactLink.collection_id == portfolio.id, ArtifactLink.artifact_id == artifact.id
        )
    ).first()
    if link is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifactID: the version is not linked into {portfolio.name!r}",
        )
    for row in session.scalars(
        select(ArtifactAlias).where(
            ArtifactAlias.collection_id == portfolio.id, ArtifactAlias.artifact_id == artifact.id
        )
    ):
        session.delete(row)
    session.delete(link)
    session.flush()


def require_collection(
    session: Session, principal: Principal, collection: ArtifactCollection, action: Action
) -> None:
    """Raise unless the caller may `action` on the collection (registry or entity rule)."""
    project = collection.project
    entity_name = project.entity.name
    if access.governs(entity_name, project.name):
        access.require_registry(session, principal, project, registry_name(project.name), action)
    else:
        require(principal, entity_name, action)
