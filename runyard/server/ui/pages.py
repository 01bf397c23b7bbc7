"""The UI's HTML pages: login, projects, workspace, runs table, run page, launch queues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from runyard.server.auth import AuthError, Principal
from runyard.server.clock import utcnow
from runyard.server.errors import ServiceError
from runyard.server.people.names import is_reserved
from runyard.server.reports import saved_views
from runyard.server.tracking import project_reads
from runyard.server.tracking.run_search import RunQuery, search_runs
from runyard.server.ui import csrf, nav, table, views
from runyard.server.ui.filters import OPERATORS, filter_document
from runyard.server.ui.next_path import login_url, safe_next
from runyard.server.ui.session import (
    LoginRequired,
    clear_session_cookie,
    login_principal,
    session_token,
    set_session_cookie,
    ui_principal,
)
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.workspaces import media

if TYPE_CHECKING:
    from runyard.server.db.models import Run

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["duration"] = views.human_duration
templates.env.filters["cell"] = views.cell
templates.env.filters["filesize"] = views.human_size
templates.env.filters["flatten"] = views.flatten
templates.env.globals.update(
    next_order=table.next_order,
    sort_mark=table.sort_mark,
    aria_sort=table.aria_sort,
    is_long=table.truncated,
    table_query=table.table_query,
    nav_crumbs=nav.breadcrumbs,
    nav_main=nav.main_nav,
    nav_project_tabs=nav.project_tabs,
)
TABLE_LIMIT = 500


def _me(request: Request) -> Principal | None:
    try:
        me = ui_principal(request)
    except LoginRequired:
        return None
    request.state.ui_me = me  # a ServiceError on this request becomes an error page
    return me


def _uow(request: Request) -> UnitOfWork:
    """A read unit of work for a page (pages only read; forms post elsewhere)."""
    return UnitOfWork(request.app.state.runyard)


def _to_login(request: Request) -> RedirectResponse:
    """Send a logged-out visitor to the login page, which sends them back to this link."""
    return RedirectResponse(login_url(request.url.path, request.url.query), status_code=303)


def check_entity_segment(entity: str) -> None:
    """404 for a W&B-style page URL whose first segment is one of the server's own paths:
    `/api/nope` stays an API 404 (JSON), not a login redirect or a page."""
    if is_reserved(entity):
        raise HTTPException(404, f"no page or endpoint at this path (/{entity}/ is not an entity)")


def _page(request: Request, name: str, me: Principal, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"me": me, **context})


def _error(request: Request, me: Principal, status: int, message: str) -> HTMLResponse:
    response = _page(request, "error.html", me, message=message)
    response.status_code = status
    return response


def error_page(request: Request, exc: ServiceError) -> Response | None:
    """The UI's one mapping of a service's refusal: an error page (plain text for a CSV);
    None for requests that are not UI pages."""
    me: Principal | None = getattr(request.state, "ui_me", None)
    if me is None:
        return None
    if request.url.path.endswith(".csv"):
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return _error(request, me, exc.status, exc.message)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form: paste the API key printed at first start (or one from `runyard key`)."""
    context = {"next": safe_next(next), "error": None}
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login", response_model=None)
def login(
    request: Request, api_key: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    """Exchange an API key for a signed session cookie."""
    state = request.app.state.runyard
    try:
        principal = login_principal(state, api_key.strip())
    except AuthError as exc:
        context = {"next": safe_next(next), "error": str(exc)}
        refused = templates.TemplateResponse(request, "login.html", context)
        refused.status_code = 401
        return refused
    response = RedirectResponse(safe_next(next), status_code=303)
    token = session_token(state.signer, principal.user_id)
    set_session_cookie(request, response, token, state.signer.ttl_s)
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.get("/", response_class=HTMLResponse, response_model=None)
def projects(request: Request) -> Response:
    """Projects of the user's entity with run count, last activity and total compute."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    return projects_of(request, me, me.entity_name)


def projects_of(request: Request, me: Principal, entity: str) -> HTMLResponse:
    """The projects page of `entity`: each project's runs, last activity and compute."""
    with _uow(request) as uow:
        activity = project_reads.project_activity(uow, me, entity)
    items: list[dict[str, Any]] = [
        {
            "name": p.name,
            "entity": p.entity,
            "description": p.description,
            "runs": p.run_count,
            "last": p.last_activity or p.created_at,
            "compute": sum(
                views.run_seconds(r.created_at, r.finished_at, r.heartbeat_at) for r in p.spans
            ),
        }
        for p in activity
    ]
    items.sort(key=lambda p: p["last"], reverse=True)
    return _page(request, "projects.html", me, projects=items, entity=entity)


def _run_payload(run: Run, color: int) -> dict[str, Any]:
    return {**views.sidebar_run(run), "color": color}


@router.get("/{entity}/{project}", response_class=HTMLResponse, response_model=None)
@router.get("/{entity}/{project}/workspace", response_class=HTMLResponse, response_model=None)
def workspace(request: Request, entity: str, project: str, nw: str | None = None) -> Response:
    """The workspace (W&B's project URL): runs sidebar and one chart per metric; `?nw=<id>`
    lays the charts out as a saved view (`wandb_workspaces`) does."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        found = project_reads.workspace(uow, me, entity, project)
        cursor = max((r.updated_at for r in found.runs), default=utcnow())
        payload: dict[str, Any] = {
            "entity": entity,
            "project": project,
            "runs": [_run_payload(r, i) for i, r in enumerate(found.runs)],
            "metrics": found.metrics,
            "cursor": cursor.isoformat(),
            # Keys whose last value is media: the media panels ask for their steps later.
            "media": media.media_keys_of_summaries([r.summary or {} for r in found.runs]),
            "csrf": csrf.token_for(request),
        }
        if nw:
            payload["view"] = saved_views.saved_view(uow, me, entity, project, nw)
    return _page(
        request,
        "workspace.html",
        me,
        entity=entity,
        project=project,
        data=payload,
    )


def _table_rows(
    runs: list[Run], everything: bool = False
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Columns and rows of the runs table; `everything` also keeps `_`-keys of the summary
    (the page hides them and media internals until picked; the CSV leaves them out)."""
    configs = [views.flatten(r.config or {}) for r in runs]
    if everything:
        summaries = [views.flatten(r.summary or {}) for r in runs]
    else:
        summaries = [views.visible_summary(r.summary or {}) for r in runs]
    rows = [
        {
            "run": r,
            "duration": views.run_seconds(r.created_at, r.finished_at, r.heartbeat_at),
            "config": c,
            "summary": s,
        }
        for r, c, s in zip(runs, configs, summaries, strict=True)
    ]
    return views.column_keys(configs), views.column_keys(summaries), rows


def _query_runs(
    request: Request, me: Principal, entity: str, project: str, filters: str, order: str
) -> tuple[list[Run], int]:
    query = RunQuery(filters=filters, order=order or None, limit=TABLE_LIMIT, with_total=True)
    with _uow(request) as uow:
        page = search_runs(uow, me, entity, project, query)
        for run in page.runs:  # load before the session closes
            _ = run.project.entity.name
    return page.runs, page.total or 0


@router.get("/{entity}/{project}/table", response_class=HTMLResponse, response_model=None)
def runs_table(
    request: Request,
    entity: str,
    project: str,
    field: str = "",
    op: str = "$eq",
    value: str = "",
    filters: str = "",
    order: str = "-created_at",
    group: str = "",
) -> Response:
    """Runs as a table with every config key and summary metric as a column.

    `order` takes several comma-separated keys (shift-click on a header adds one);
    `group` groups the rows by a config key, with a count per group.
    """
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        document = filter_document(field, op, value)
    except ValueError as exc:
        return _error(request, me, 400, str(exc))
    if document is not None:
        filters = json.dumps(document)
    runs, total = _query_runs(request, me, entity, project, filters, order)
    config_keys, summary_keys, rows = _table_rows(runs, everything=True)
    groups = table.group_rows(rows, group) if group in config_keys else None
    hidden: set[str] = set()
    for r in runs:
        hidden |= {f"config.{k}" for k in table.hidden_by_default(r.config or {})}
        hidden |= {f"summary.{k}" for k in table.hidden_by_default(r.summary or {})}
    return _page(
        request,
        "table.html",
        me,
        entity=entity,
        project=project,
        rows=rows,
        total=total,
        config_keys=config_keys,
        summary_keys=summary_keys,
        hidden=hidden,
        filters=filters,
        order=order,
        group=group if groups is not None else "",
        groups=groups,
        truncated=total > len(rows),
        field=field,
        op=op,
        value=value,
        operators=OPERATORS,
    )


@router.get("/{entity}/{project}/table.csv", response_model=None)
def runs_csv(
    request: Request, entity: str, project: str, filters: str = "", order: str = "-created_at"
) -> Response:
    """The runs table (same filter and order) as a CSV download."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    runs, _ = _query_runs(request, me, entity, project, filters, order)
    config_keys, summary_keys, rows = _table_rows(runs)
    header = ["state", "name", "id", "tags", "created", "duration_s"]
    header += [f"config.{k}" for k in config_keys] + [f"summary.{k}" for k in summary_keys]
    body = views.runs_csv(
        header,
        (
            [
                row["run"].state,
                row["run"].display_name or row["run"].name,
                row["run"].name,
                row["run"].tags or [],
                row["run"].created_at.isoformat(),
                round(row["duration"], 3),
                *[row["config"].get(k) for k in config_keys],
                *[row["summary"].get(k) for k in summary_keys],
            ]
            for row in rows
        ),
    )
    disposition = f'attachment; filename="{entity}-{project}-runs.csv"'
    return Response(body, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """No icon; answer quickly instead of a 404 in every browser log."""
    return Response(status_code=204)
