"""The artifact browser at W&B's URLs: a project's types and collections
(`/<entity>/<project>/artifacts`), a collection's versions (`.../artifacts/<type>/<name>`) and
one version (`.../<version>`, with the tabs `files` and `lineage`).

Thin: each handler calls `tracking.artifact_pages` and renders what it answers.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from runyard.server.access import Action, allows
from runyard.server.artifacts import pages as artifact_pages
from runyard.server.auth import Principal
from runyard.server.deps import public_base_url
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.ui import lineage_layout
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment

router = APIRouter(include_in_schema=False)
VERSION_NAME = re.compile(r"v\d+")
COLLECTION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")

ARTIFACTS = "/{entity}/{project}/artifacts"
COLLECTION = ARTIFACTS + "/{type_name}/{collection}"
VERSION = COLLECTION + "/{version}"
# W&B's version tabs; overview, metadata and usage are one page here.
TABS = {"overview": "overview", "metadata": "overview", "usage": "overview"}
TABS |= {"files": "files", "lineage": "lineage"}


def _listing(
    request: Request, entity: str, project: str, type_name: str | None, deleted: str = ""
) -> Response:
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        groups = artifact_pages.project_artifacts(uow, me, entity, project, type_name)
    notice = f"Deleted {deleted} and its versions." if COLLECTION_NAME.fullmatch(deleted) else None
    return _page(
        request,
        "artifacts.html",
        me,
        entity=entity,
        project=project,
        groups=groups,
        only_type=type_name,
        notice=notice,
    )


@router.get(ARTIFACTS, response_class=HTMLResponse, response_model=None)
def artifacts(request: Request, entity: str, project: str, deleted: str = "") -> Response:
    """The project's artifact types, each with its collections (W&B's Artifacts tab);
    `deleted` names the collection a delete form just removed."""
    return _listing(request, entity, project, None, deleted)


@router.get(ARTIFACTS + "/{type_name}", response_class=HTMLResponse, response_model=None)
def artifacts_of_type(request: Request, entity: str, project: str, type_name: str) -> Response:
    """The project's collections of one artifact type."""
    return _listing(request, entity, project, type_name)


def collection_page(
    request: Request,
    me: Principal,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    after: str = "",
    **extra: object,
) -> HTMLResponse:
    """Render a collection's page; `extra` carries a form's outcome (error, notice)."""
    with _uow(request) as uow:
        view = artifact_pages.collection_view(
            uow, me, entity, project, type_name, collection, after or None
        )
    context = {"error": None, "notice": None, **extra}
    return _page(
        request,
        "artifact_collection.html",
        me,
        c=view,
        entity=entity,
        project=project,
        can_edit=allows(me, entity, Action.WRITE),
        **context,
    )


@router.get(COLLECTION, response_class=HTMLResponse, response_model=None)
def collection(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    after: str = "",
    deleted: str = "",
) -> Response:
    """A collection's versions, newest first, with aliases, tags, sizes and the logging run
    (`deleted` names the version a delete form just removed)."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    notice = f"Deleted {collection}:{deleted}." if VERSION_NAME.fullmatch(deleted) else None
    return collection_page(
        request, me, entity, project, type_name, collection, after, notice=notice
    )


def version_page(
    request: Request,
    me: Principal,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    tab: str,
    page: int = 1,
    **extra: object,
) -> Response:
    """Render one tab of a version page; `extra` carries a form's outcome (error, notice)."""
    base = public_base_url(request)
    with _uow(request) as uow:
        artifact = artifact_pages.find_version(
            uow, me, entity, project, type_name, collection, version
        )
        view = artifact_pages.version_view(uow, me, artifact)
        files = graph = None
        if tab == "files":
            files = artifact_pages.files_page(
                uow, artifact, page, lambda key: uow.signer.url(base, "GET", key)
            )
        if tab == "lineage":
            graph = lineage_layout.layout(artifact_pages.lineage(uow, me, artifact))
    context = {"error": None, "notice": None, **extra}
    return _page(
        request,
        "artifact_version.html",
        me,
        v=view,
        entity=entity,
        project=project,
        tab=tab,
        files=files,
        graph=graph,
        can_edit=allows(me, entity, Action.WRITE),
        **context,
    )


@router.get(VERSION, response_class=HTMLResponse, response_model=None)
def version(
    request: Request, entity: str, project: str, type_name: str, collection: str, version: str
) -> Response:
    """One version's overview: digest, aliases, tags, description, metadata, usage."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    return version_page(request, me, entity, project, type_name, collection, version, "overview")


@router.get(VERSION + "/{tab}", response_class=HTMLResponse, response_model=None)
def version_tab(
    request: Request,
    entity: str,
    project: str,
    type_name: str,
    collection: str,
    version: str,
    tab: str,
    page: int = 1,
) -> Response:
    """A tab of a version page: `files` (with download links), `lineage`, or the overview."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    if tab not in TABS:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"an artifact version has no {tab!r} tab: use overview, files or lineage",
        )
    return version_page(
        request, me, entity, project, type_name, collection, version, TABS[tab], page
    )
