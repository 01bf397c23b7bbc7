"""Report pages at W&B's URLs: a project's reports list and a report with live panels."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from runyard.server.reports import pages as report_pages
from runyard.server.reports import views as report_views
from runyard.server.tracking.ids import encode_id
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment

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


@router.get("/{entity}/{project}/reports/{slug}", response_class=HTMLResponse, response_model=None)
def report(request: Request, entity: str, project: str, slug: str) -> Response:
    """A report: its blocks, with line plots drawn live over each grid's run set.

    Print it (the browser's print-to-PDF, or Chromium's `page.pdf()`) for a PDF: the print
    stylesheet hides the site's navigation.
    """
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        page = report_pages.report_page(uow, me, entity, project, slug)
        grids = {
            i: {
                "entity": g.entity,
                "project": g.project,
                "runs": [{"id": r["name"], "name": r["display_name"]} for r in g.runs],
                "scalars": g.scalars,
            }
            for i, g in page.grids.items()
        }
        context = {
            "title": page.view.display_name or page.view.name,
            "description": page.view.description,
            "updated": page.view.updated_at,
            "author": page.view.user.username if page.view.user else None,
            "revision": page.view.revision,
        }
    return _page(
        request,
        "report.html",
        me,
        entity=entity,
        project=project,
        blocks=page.blocks,
        grids=grids,
        **context,
    )
