"""The UI's HTML pages: login, projects, workspace, runs table, run page, launch queues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from runyard.server.api import runs as runs_api
from runyard.server.auth import AuthError, Principal, principal_for_key
from runyard.server.clock import utcnow
from runyard.server.db.models import ConsoleLine, Entity, Project, Run
from runyard.server.queues import launched
from runyard.server.tracking import rollups
from runyard.server.tracking.access import accessible_project, accessible_run
from runyard.server.tracking.filters import FilterError, compile_filter, compile_order
from runyard.server.tracking.runs import TrackingError
from runyard.server.ui import table, views
from runyard.server.ui.data import project_metric_keys
from runyard.server.ui.filters import OPERATORS, filter_document
from runyard.server.ui.session import (
    LoginRequired,
    clear_session_cookie,
    session_token,
    set_session_cookie,
    ui_principal,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["duration"] = views.human_duration
templates.env.filters["cell"] = views.cell
templates.env.globals.update(
    next_order=table.next_order,
    sort_mark=table.sort_mark,
    aria_sort=table.aria_sort,
    table_query=table.table_query,
)
TABLE_LIMIT = 500


def _me(request: Request) -> Principal | None:
    try:
        return ui_principal(request)
    except LoginRequired:
        return None


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _page(request: Request, name: str, me: Principal, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"me": me, **context})


def _error(request: Request, me: Principal, status: int, message: str) -> HTMLResponse:
    response = _page(request, "error.html", me, message=message)
    response.status_code = status
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form: paste the API key printed at first start (or one from `runyard key`)."""
    return templates.TemplateResponse(request, "login.html", {"next": next, "error": None})


@router.post("/login", response_model=None)
def login(
    request: Request, api_key: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    """Exchange an API key for a signed session cookie."""
    state = request.app.state.runyard
    try:
        with state.sessions() as session:
            principal = principal_for_key(session, api_key.strip())
    except AuthError as exc:
        context = {"next": next, "error": str(exc)}
        refused = templates.TemplateResponse(request, "login.html", context)
        refused.status_code = 401
        return refused
    # Only local paths: an open redirect would let a link bounce users to another site.
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
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
    state = request.app.state.runyard
    with state.sessions() as session:
        rows = session.execute(
            select(
                Project.name,
                Entity.name,
                func.count(Run.id),
                func.max(Run.updated_at),
                func.min(Project.created_at),
            )
            .join(Entity, Project.entity_id == Entity.id)
            .outerjoin(Run, Run.project_id == Project.id)
            .where(Entity.name == me.entity_name)
            .group_by(Project.id, Project.name, Entity.name)
        ).all()
        spans = session.execute(
            select(Run.project_id, Run.created_at, Run.finished_at, Run.heartbeat_at)
            .join(Project, Run.project_id == Project.id)
            .join(Entity, Project.entity_id == Entity.id)
            .where(Entity.name == me.entity_name)
        ).all()
        ids = dict(
            session.execute(
                select(Project.name, Project.id)
                .join(Entity, Project.entity_id == Entity.id)
                .where(Entity.name == me.entity_name)
            ).all()
        )
    compute: dict[int, float] = {}
    for project_id, created, finished, heartbeat in spans:
        seconds = views.run_seconds(created, finished, heartbeat)
        compute[project_id] = compute.get(project_id, 0.0) + seconds
    items = [
        {
            "name": name,
            "entity": entity,
            "runs": count,
            "last": last or created,
            "compute": compute.get(ids[name], 0.0),
        }
        for name, entity, count, last, created in rows
    ]
    items.sort(key=lambda p: p["last"], reverse=True)
    return _page(request, "projects.html", me, projects=items)


def _run_payload(run: Run, color: int) -> dict[str, Any]:
    return {**views.sidebar_run(run), "color": color}


@router.get("/projects/{entity}/{project}", response_class=HTMLResponse, response_model=None)
def workspace(request: Request, entity: str, project: str) -> Response:
    """The workspace: runs sidebar and one chart per metric (drawn by workspace.js)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    state = request.app.state.runyard
    with state.sessions() as session:
        try:
            proj = accessible_project(session, me, entity, project)
        except TrackingError as exc:
            return _error(request, me, exc.status, str(exc))
        runs = list(
            session.scalars(
                select(Run).where(Run.project_id == proj.id).order_by(Run.created_at, Run.id)
            )
        )
        cursor = max((r.updated_at for r in runs), default=utcnow())
        payload = {
            "entity": entity,
            "project": project,
            "runs": [_run_payload(r, i) for i, r in enumerate(runs)],
            "metrics": project_metric_keys(session, proj.id),
            "cursor": cursor.isoformat(),
        }
    return _page(
        request,
        "workspace.html",
        me,
        entity=entity,
        project=project,
        data=payload,
    )


def _table_rows(runs: list[Run]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    configs = [views.flatten(r.config or {}) for r in runs]
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
) -> tuple[list[Run], int] | str:
    state = request.app.state.runyard
    with state.sessions() as session:
        try:
            proj = accessible_project(session, me, entity, project)
            parsed = json.loads(filters) if filters.strip() else None
            dialect = session.get_bind().dialect.name
            condition = compile_filter(parsed, dialect)
            ordering = compile_order(order or None, dialect)
        except TrackingError as exc:
            return str(exc)
        except (json.JSONDecodeError, FilterError) as exc:
            return f"invalid filter: {exc}"
        where = (Run.project_id == proj.id, condition)
        total = session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
        runs = list(
            session.scalars(select(Run).where(*where).order_by(*ordering).limit(TABLE_LIMIT))
        )
        for run in runs:  # load before the session closes
            _ = run.project.entity.name
        return runs, total


@router.get("/projects/{entity}/{project}/runs", response_class=HTMLResponse, response_model=None)
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
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        document = filter_document(field, op, value)
    except ValueError as exc:
        return _error(request, me, 400, str(exc))
    if document is not None:
        filters = json.dumps(document)
    result = _query_runs(request, me, entity, project, filters, order)
    if isinstance(result, str):
        return _error(request, me, 400, result)
    runs, total = result
    config_keys, summary_keys, rows = _table_rows(runs)
    groups = table.group_rows(rows, group) if group in config_keys else None
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


@router.get("/projects/{entity}/{project}/runs.csv", response_model=None)
def runs_csv(
    request: Request, entity: str, project: str, filters: str = "", order: str = "-created_at"
) -> Response:
    """The runs table (same filter and order) as a CSV download."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    result = _query_runs(request, me, entity, project, filters, order)
    if isinstance(result, str):
        return Response(result, status_code=400, media_type="text/plain")
    config_keys, summary_keys, rows = _table_rows(result[0])
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


@router.get("/runs/{entity}/{project}/{run}", response_class=HTMLResponse, response_model=None)
def run_page(
    request: Request, entity: str, project: str, run: str, console_limit: int = 2000
) -> Response:
    """One run: overview, config and summary, charts, console and files."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    state = request.app.state.runyard
    with state.sessions() as session:
        try:
            row = accessible_run(session, me, entity, project, run)
        except TrackingError as exc:
            return _error(request, me, exc.status, str(exc))
        files = runs_api.list_files(request, state, session, me, entity, project, run)
        console = session.execute(
            select(ConsoleLine.line_no, ConsoleLine.text)
            .where(ConsoleLine.run_id == row.id)
            .order_by(ConsoleLine.line_no.desc())
            .limit(min(max(console_limit, 1), 10_000))
        ).all()
        lines = [(n, text) for n, text in reversed(console)]
        metrics = list(rollups.metric_counts(session, row.id))
        launch_item = launched.item_for_run(state.queue_store, entity, project, run)
        payload = {
            "entity": entity,
            "project": project,
            "runs": [_run_payload(row, 0)],
            "metrics": metrics,
            "cursor": row.updated_at.isoformat(),
            "single": True,
            "console_next": lines[-1][0] + 1 if lines else 0,
        }
        context = {
            "run": row,
            "duration": views.run_seconds(row.created_at, row.finished_at, row.heartbeat_at),
            "config": views.flatten(row.config or {}),
            "summary": views.visible_summary(row.summary or {}),
            "files": files,
            "launch_item": launch_item,
            "console": lines,
            "metrics": metrics,
            "entity": entity,
            "project": project,
            "data": payload,
        }
        return _page(request, "run.html", me, **context)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """No icon; answer quickly instead of a 404 in every browser log."""
    return Response(status_code=204)
