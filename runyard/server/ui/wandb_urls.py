"""W&B's URL scheme beyond the workspace, table, run and sweep pages (those live in `pages`
and `sweep_pages`): the jobs list, clear 404s for pages Runyard does not have yet, and
redirects from the UI's earlier URLs (`/projects/...`, `/runs/...`) so old bookmarks keep
working."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.artifacts import listing
from runyard.server.ui.pages import _error, _me, _page, _to_login, _uow, check_entity_segment

router = APIRouter(include_in_schema=False)

# What each missing W&B page is, by the path segment after `/<entity>/<project>/`.
NOT_YET = {
    "artifacts": "Artifact pages",
}


def _moved(request: Request, path: str) -> RedirectResponse:
    """A permanent redirect to `path`, keeping the query (filters, order) of the old link."""
    query = request.url.query
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=308)


@router.get("/projects/{entity}/{project}", include_in_schema=False)
def old_workspace(request: Request, entity: str, project: str) -> RedirectResponse:
    """The workspace's earlier URL."""
    return _moved(request, f"/{entity}/{project}")


@router.get("/projects/{entity}/{project}/runs", include_in_schema=False)
def old_table(request: Request, entity: str, project: str) -> RedirectResponse:
    """The runs table's earlier URL."""
    return _moved(request, f"/{entity}/{project}/table")


@router.get("/projects/{entity}/{project}/runs.csv", include_in_schema=False)
def old_csv(request: Request, entity: str, project: str) -> RedirectResponse:
    """The runs CSV's earlier URL."""
    return _moved(request, f"/{entity}/{project}/table.csv")


@router.get("/runs/{entity}/{project}/{run}", include_in_schema=False)
def old_run(request: Request, entity: str, project: str, run: str) -> RedirectResponse:
    """The run page's earlier URL."""
    return _moved(request, f"/{entity}/{project}/runs/{run}")


@router.get("/{entity}/{project}/runs", include_in_schema=False)
def runs_list(request: Request, entity: str, project: str) -> RedirectResponse:
    """W&B's runs list: the runs table."""
    check_entity_segment(entity)
    return _moved(request, f"/{entity}/{project}/table")


@router.get("/{entity}/{project}/jobs", response_class=HTMLResponse, response_model=None)
def jobs(request: Request, entity: str, project: str) -> Response:
    """The project's launch jobs (artifacts of type `job`) with their versions and aliases:
    the page `wandb job create` links to."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        rows = listing.collections_with_versions(uow, me, entity, project, listing.JOB_TYPE)
    return _page(request, "jobs.html", me, entity=entity, project=project, jobs=rows)


def _not_yet(request: Request, entity: str, project: str, feature: str) -> Response:
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    what = NOT_YET[feature]
    message = (
        f"{what} are not available in Runyard yet: /{entity}/{project}/{feature}/ has no page. "
        f"The project's runs are at /{entity}/{project}."
    )
    return _error(request, me, 404, message)


@router.get("/{entity}/{project}/artifacts", response_class=HTMLResponse, response_model=None)
@router.get(
    "/{entity}/{project}/artifacts/{rest:path}", response_class=HTMLResponse, response_model=None
)
def artifacts(request: Request, entity: str, project: str, rest: str = "") -> Response:
    """W&B's artifact pages: not available yet (a clear 404 page)."""
    return _not_yet(request, entity, project, "artifacts")
