"""Report pages at W&B's URLs: a project's reports list, a report with live panels, and a
report opened by its read-only share link."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.api import runs as runs_api
from runyard.server.errors import ServiceError
from runyard.server.reports import editing, sharing
from runyard.server.reports import pages as report_pages
from runyard.server.reports import views as report_views
from runyard.server.tracking import history
from runyard.server.tracking.ids import encode_id
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment, templates
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(include_in_schema=False)


def report_slug(title: str, node_id: str) -> str:
    """W&B's URL segment for a report: its title with dashes, then `--<id>`."""
    return f"{title.replace(' ', '-')}--{node_id}"


@router.get("/{entity}/{project}/reports", response_class=HTMLResponse, response_model=None)
def reports_list(request: Request, entity: str, project: str) -> Response:
    """The project's published reports, newest first."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        _, rows = report_views.project_reports(uow, me, entity, project)
        reports = [
            {
                "title": v.display_name or v.name,
                "description": v.description,
                "updated": v.updated_at,
                "slug": report_slug(v.display_name or "Untitled", encode_id("View", v.id)),
            }
            for v in rows
        ]
    return _page(request, "reports.html", me, entity=entity, project=project, reports=reports)


@router.post("/{entity}/{project}/reports", response_model=None)
def create_report(
    request: Request,
    entity: str,
    project: str,
    title: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    markdown: Annotated[str, Form()] = "",
) -> Response:
    """Write a new report from the list page's form, then open it."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with UnitOfWork(request.app.state.runyard, write=True) as uow:
        view = editing.create_report(uow, me, entity, project, title, description, markdown)
        slug = report_slug(view.display_name, encode_id("View", view.id))
    return RedirectResponse(f"/{entity}/{project}/reports/{quote(slug)}", status_code=303)


@router.post("/{entity}/{project}/reports/{slug}/edit", response_model=None)
def edit_report(
    request: Request,
    entity: str,
    project: str,
    slug: str,
    title: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    markdown: Annotated[str, Form()] = "",
) -> Response:
    """Save the report page's edit form as a new revision, then show the report."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    node_id = report_pages.report_id_from_slug(slug)
    with UnitOfWork(request.app.state.runyard, write=True) as uow:
        view = editing.edit_report(uow, me, node_id, title, description, markdown)
        slug = report_slug(view.display_name, encode_id("View", view.id))
    return RedirectResponse(f"/{entity}/{project}/reports/{quote(slug)}", status_code=303)


def _metric_url(entity: str, project: str, token: str | None) -> str:
    """Where a grid's panels fetch their metrics: the session's JSON, or the share link's."""
    if token:
        query = urlencode({"accessToken": token, "entity": entity, "project": project})
        return f"/ui/api/shared-reports/metric?{query}"
    return f"/ui/api/projects/{quote(entity, safe='')}/{quote(project, safe='')}/metric"


@router.get("/{entity}/{project}/reports/{slug}", response_class=HTMLResponse, response_model=None)
def report(
    request: Request, entity: str, project: str, slug: str, accessToken: str | None = None
) -> Response:
    """A report: its blocks, with line plots drawn live over each grid's run set.

    With `?accessToken=` (a share link) anyone may read it, signed in or not. Print it (the
    browser's print-to-PDF, or Chromium's `page.pdf()`) for a PDF: the print stylesheet hides
    the site's navigation.
    """
    check_entity_segment(entity)
    me = _me(request)
    if me is None and not accessToken:
        return _to_login(request)
    with _uow(request) as uow:
        if accessToken:
            try:
                page = report_pages.shared_report_page(uow, accessToken, entity, project, slug)
            except ServiceError as exc:
                # A signed-out reader of a dead link gets a page, not the API's JSON error.
                failed: dict[str, Any] = {"me": me, "message": exc.message}
                return templates.TemplateResponse(
                    request, "error.html", failed, status_code=exc.status
                )
        else:
            assert me is not None
            page = report_pages.report_page(uow, me, entity, project, slug)
        grids = {
            i: {
                "entity": g.entity,
                "project": g.project,
                "metricUrl": _metric_url(g.entity, g.project, accessToken),
                "runs": [{"id": r["name"], "name": r["display_name"]} for r in g.runs],
                "scalars": g.scalars,
            }
            for i, g in page.grids.items()
        }
        context: dict[str, Any] = {
            "me": me,
            "entity": entity,
            "project": project,
            "blocks": page.blocks,
            "grids": grids,
            "title": page.view.display_name or page.view.name,
            "description": page.view.description,
            "updated": page.view.updated_at,
            "author": page.view.user.username if page.view.user else None,
            "revision": page.view.revision,
            "shared": bool(accessToken),
            "slug": slug,
        }
    return templates.TemplateResponse(request, "report.html", context)


@router.get("/ui/api/shared-reports/metric")
def shared_metric(
    request: Request,
    accessToken: str,
    entity: str,
    project: str,
    key: Annotated[list[str], Query(description="Metric names")],
    runs: Annotated[str, Query(description="Comma-separated run ids")],
    buckets: Annotated[int, Query(ge=1, le=history.MAX_BUCKETS)] = 500,
) -> dict[str, Any]:
    """One panel's metrics for a shared report's reader (the link is the credential)."""
    names = [r for r in runs.split(",") if r]
    with _uow(request) as uow:
        found = sharing.shared_metric(uow, accessToken, entity, project, names, key, buckets)
    return {
        name: {k: [b.model_dump() for b in runs_api.buckets_out(v)] for k, v in series.items()}
        for name, series in found.items()
    }
