"""The artifact browser's forms: add and remove a version's aliases and tags, change its
description, delete a version (confirmed; its aliases only when ticked). Each posts the
page's CSRF token (`ui.csrf`), calls one `runyard.server.artifacts.edits` service, and goes
back to the page; a refusal is shown on the version page with its status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from runyard.server.artifacts import edits
from runyard.server.artifacts import pages as artifact_pages
from runyard.server.artifacts.tags import TagInput
from runyard.server.auth import Principal
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.ui.artifact_browser import COLLECTION, VERSION, collection_page, version_page
from runyard.server.ui.pages import _me, _to_login, check_entity_segment
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(include_in_schema=False)
Edit = Callable[[UnitOfWork, Principal, str], object]


def _base(entity: str, project: str, type_name: str, collection: str) -> str:
    return f"/{entity}/{project}/artifacts/{quote(type_name)}/{quote(collection)}"


def _apply(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    edit: Edit,
    done: Callable[[str], str] | None = None,
) -> Response:
    """Run `edit` on the version in one write unit; back to the version page (or to
    `done(version)`), or the page with the refusal."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with UnitOfWork(request.app.state.runyard, write=True) as uow:
            node, canonical = artifact_pages.version_node(
                uow, me, entity, project, type_name, collection, version
            )
            edit(uow, me, node)
    except ServiceError as exc:
        page = version_page(
            request,
            me,
            entity,
            project,
            type_name,
            collection,
            version,
            "overview",
            error=_reworded(exc),
        )
        page.status_code = exc.status
        return page
    target = (
        done(canonical) if done else f"{_base(entity, project, type_name, collection)}/{canonical}"
    )
    return RedirectResponse(target, status_code=303)


def _reworded(exc: ServiceError) -> str:
    """The refusal in the page's words where the service speaks the wire's."""
    aliases = exc.details.get("aliases") if exc.code == ErrorCode.CONFLICT else None
    if aliases:
        return (
            f"This version still has the aliases {', '.join(aliases)}: tick "
            "“Also delete its aliases” to delete them with it, or remove them first."
        )
    return exc.message


@router.post(VERSION + "/aliases/add", response_model=None)
def add_alias(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    alias: Annotated[str, Form()],
) -> Response:
    """Point an alias at the version (moving it from another version of the collection)."""
    wanted = [edits.CollectionAlias(alias=alias.strip(), artifactCollectionName=collection)]
    return _apply(
        request,
        entity,
        project,
        type_name,
        collection,
        version,
        lambda uow, me, node: edits.add_aliases(uow, me, node, wanted),
    )


@router.post(VERSION + "/aliases/remove", response_model=None)
def remove_alias(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    alias: Annotated[str, Form()],
) -> Response:
    """Remove an alias from the version."""
    gone = [edits.CollectionAlias(alias=alias, artifactCollectionName=collection)]
    return _apply(
        request,
        entity,
        project,
        type_name,
        collection,
        version,
        lambda uow, me, node: edits.delete_aliases(uow, me, node, gone),
    )


def _tags(add: list[str], remove: list[str]) -> Edit:
    def edit(uow: UnitOfWork, me: Principal, node: str) -> object:
        spec = edits.UpdateArtifactSpec(
            artifactID=node,
            tagsToAdd=[TagInput(tagName=t) for t in add],
            tagsToDelete=[TagInput(tagName=t) for t in remove],
        )
        return edits.update_artifact(uow, me, spec)

    return edit


@router.post(VERSION + "/tags/add", response_model=None)
def add_tag(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    tag: Annotated[str, Form()],
) -> Response:
    """Tag the version."""
    return _apply(
        request, entity, project, type_name, collection, version, _tags([tag.strip()], [])
    )


@router.post(VERSION + "/tags/remove", response_model=None)
def remove_tag(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    tag: Annotated[str, Form()],
) -> Response:
    """Remove a tag from the version."""
    return _apply(request, entity, project, type_name, collection, version, _tags([], [tag]))


@router.post(VERSION + "/description", response_model=None)
def set_description(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Replace the version's description (empty clears it)."""

    def edit(uow: UnitOfWork, me: Principal, node: str) -> object:
        spec = edits.UpdateArtifactSpec(artifactID=node, description=description.strip())
        return edits.update_artifact(uow, me, spec)

    return _apply(request, entity, project, type_name, collection, version, edit)


@router.post(VERSION + "/delete", response_model=None)
def delete_version(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    confirm: Annotated[str, Form()] = "",
    delete_aliases: Annotated[str, Form()] = "",
) -> Response:
    """Delete the version once confirmed; refused while aliases point at it unless
    "also delete its aliases" is ticked. Back to the collection's versions."""

    def edit(uow: UnitOfWork, me: Principal, node: str) -> object:
        if confirm != "yes":
            raise ServiceError(
                ErrorCode.INVALID,
                "confirm: tick “Yes, delete” to confirm the deletion; nothing was deleted",
            )
        return edits.delete_artifact(uow, me, node, delete_aliases == "yes")

    collection_page = _base(entity, project, type_name, collection)
    return _apply(
        request,
        entity,
        project,
        type_name,
        collection,
        version,
        edit,
        done=lambda canonical: f"{collection_page}?deleted={canonical}",
    )


def _apply_to_collection(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    edit: Edit,
    done: str,
) -> Response:
    """Run `edit` on the collection in one write unit; on to `done`, or back to the
    collection's page with the refusal."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with UnitOfWork(request.app.state.runyard, write=True) as uow:
            node = artifact_pages.collection_node(uow, me, entity, project, type_name, collection)
            edit(uow, me, node)
    except ServiceError as exc:
        page = collection_page(
            request, me, entity, project, type_name, collection, error=exc.message
        )
        page.status_code = exc.status
        return page
    return RedirectResponse(done, status_code=303)


@router.post(COLLECTION + "/description", response_model=None)
def set_collection_description(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Replace the collection's description (empty clears it)."""
    change = edits.CollectionUpdate(description=description.strip())
    return _apply_to_collection(
        request,
        entity,
        project,
        type_name,
        collection,
        lambda uow, me, node: edits.update_collection(uow, me, node, change),
        _base(entity, project, type_name, collection),
    )


@router.post(COLLECTION + "/delete", response_model=None)
def delete_collection(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Delete the collection with all its versions once confirmed; on to the project's
    artifacts."""

    def edit(uow: UnitOfWork, me: Principal, node: str) -> object:
        if confirm != "yes":
            raise ServiceError(
                ErrorCode.INVALID,
                "confirm: tick “Yes, delete” to confirm the deletion; nothing was deleted",
            )
        return edits.delete_collection(uow, me, node)

    done = f"/{entity}/{project}/artifacts?deleted={quote(collection)}"
    return _apply_to_collection(request, entity, project, type_name, collection, edit, done)
