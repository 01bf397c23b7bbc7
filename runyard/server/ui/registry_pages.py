"""The Registry pages at W&B's URLs: the organization's registries (`/orgs/<org>/registry`)
and one registry (`/orgs/<org>/registry/<name>`) with its collections; the query
`selectionPath=<org>/wandb-registry-<name>/<collection>` (and `version=vN`) opens a
collection's linked versions, as the links `artifact.url` builds for registry versions.

Thin: each handler calls `registry.pages` and renders what it answers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.registry import pages as registry_pages
from runyard.server.ui.pages import _me, _page, _to_login, _uow

router = APIRouter(include_in_schema=False)


@router.get("/registry", response_model=None)
@router.get("/registry/{name}", response_model=None)
def short_url(request: Request, name: str = "") -> RedirectResponse:
    """W&B's short Registry URLs (`/registry/<name>`): the organization's pages."""
    path = f"/orgs/{registry_pages.ORGANIZATION}/registry" + (f"/{name}" if name else "")
    query = request.url.query
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=307)


@router.get("/orgs/{org}/registry", response_class=HTMLResponse, response_model=None)
def registries(request: Request, org: str) -> Response:
    """The organization's registries the caller may read."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        rows = registry_pages.registries_list(uow, me, org)
    return _page(request, "registries.html", me, org=org, registries=rows)


@router.get("/orgs/{org}/registry/{name}", response_class=HTMLResponse, response_model=None)
def registry(
    request: Request, org: str, name: str, selectionPath: str = "", version: str = ""
) -> Response:
    """A registry's collections, or one collection's linked versions (`selectionPath`),
    one of them opened (`version`)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        collection = registry_pages.selected_collection(selectionPath, org, name)
        page = registry_pages.registry_page(uow, me, org, name, collection)
    return _page(
        request,
        "registry.html",
        me,
        r=page,
        selected=collection,
        selection_path=selectionPath,
        version=version,
    )
