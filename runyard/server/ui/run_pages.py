"""The run page as tabs, at W&B's URLs: `/{entity}/{project}/runs/{run}` (overview) and
`.../runs/{run}/{overview,workspace,system,logs,files,artifacts}`; a file's preview at
`.../runs/{run}/files/{name}`, and the bytes of an image file for its inline `<img>`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from runyard.server.artifacts import pages as artifact_pages
from runyard.server.auth import Principal
from runyard.server.deps import public_base_url
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import alerts, forks, run_file_preview, run_metadata, run_reads
from runyard.server.tracking.run_files import CONSOLE_FILE, files_page
from runyard.server.tracking.run_reads import RunPath
from runyard.server.ui import run_views, views
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment
from runyard.server.ui.session import ui_principal

if TYPE_CHECKING:
    from runyard.server.db.models import Run

router = APIRouter(include_in_schema=False)
MeDep = Annotated[Principal, Depends(ui_principal)]

# (path segment, label): W&B's run tabs; `workspace` is W&B's name for the charts.
TABS = (
    ("overview", "Overview"),
    ("workspace", "Charts"),
    ("system", "System"),
    ("logs", "Logs"),
    ("files", "Files"),
    ("artifacts", "Artifacts"),
)
TAB_NAMES = {name for name, _ in TABS}
CONSOLE_TAIL = 2000
FILES_SHOWN = 1000


def _header(run: Run, entity: str, project: str, tab: str) -> dict[str, Any]:
    """What every tab shows above its content: the run, its state and the tab bar."""
    return {
        "run": run,
        "entity": entity,
        "project": project,
        "tab": tab,
        "tabs": TABS,
        "base": f"/{entity}/{project}/runs/{run.name}",
        "duration": views.run_seconds(run.created_at, run.finished_at, run.heartbeat_at),
    }


def _charts_data(run: Run, entity: str, project: str, metrics: list[str]) -> dict[str, Any]:
    """The JSON the chart script reads: this one run, its metrics, where to poll from."""
    return {
        "entity": entity,
        "project": project,
        "runs": [{**views.sidebar_run(run), "color": 0}],
        "metrics": metrics,
        "cursor": run.updated_at.isoformat(),
        "single": True,
    }


def _overview(request: Request, me: Principal, path: RunPath) -> dict[str, Any]:
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        return {
            **_header(run, path.entity, path.project, "overview"),
            "machine": run_metadata.run_machine(uow, run),
            "user": run.user.username if run.user else None,
            "config_rows": run_views.config_rows(run.config or {}),
            "summary_rows": run_views.summary_rows(run.summary or {}),
            "launch_item": run_reads.find_launch_item(uow, path),
            "lineage": forks.lineage(uow, run),
            "alerts": alerts.alerts_of_run(uow, run),
        }


def _charts(request: Request, me: Principal, path: RunPath) -> dict[str, Any]:
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        metrics = run_reads.metric_names(uow, run)
        return {
            **_header(run, path.entity, path.project, "workspace"),
            "data": _charts_data(run, path.entity, path.project, metrics),
        }


def _system(request: Request, me: Principal, path: RunPath) -> dict[str, Any]:
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        return {
            **_header(run, path.entity, path.project, "system"),
            "data": _charts_data(run, path.entity, path.project, []),
        }


def _logs(request: Request, me: Principal, path: RunPath) -> dict[str, Any]:
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        lines = run_reads.console_tail(uow, run, CONSOLE_TAIL)
        log_file = files_page(uow, run, public_base_url(request), names=[CONSOLE_FILE], first=1)
        data = _charts_data(run, path.entity, path.project, [])
        data["console_next"] = lines[-1][0] + 1 if lines else 0
        return {
            **_header(run, path.entity, path.project, "logs"),
            "console": lines,
            "download": log_file.files[0].url if log_file.files else None,
            "data": data,
        }


def _files(
    request: Request, me: Principal, path: RunPath, preview_name: str | None = None
) -> dict[str, Any]:
    base_url = public_base_url(request)
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        listed = files_page(uow, run, base_url, first=FILES_SHOWN)
        preview = None
        if preview_name is not None:
            preview = run_file_preview.file_preview(uow, me, path, preview_name, base_url)
        return {
            **_header(run, path.entity, path.project, "files"),
            "files": [(f, run_file_preview.preview_kind(f.name)) for f in listed.files],
            "files_more": listed.total - len(listed.files),
            "preview": preview,
        }


def _artifacts(request: Request, me: Principal, path: RunPath) -> dict[str, Any]:
    with _uow(request) as uow:
        run = run_reads.read_run(uow, me, path)
        return {
            **_header(run, path.entity, path.project, "artifacts"),
            "artifacts": artifact_pages.run_artifacts(uow, me, run),
        }


_TAB_CONTEXT = {
    "overview": _overview,
    "workspace": _charts,
    "system": _system,
    "logs": _logs,
    "files": _files,
    "artifacts": _artifacts,
}


@router.get("/{entity}/{project}/runs/{run}", response_class=HTMLResponse, response_model=None)
def run_page(request: Request, entity: str, project: str, run: str) -> Response:
    """One run (W&B's run URL): its Overview tab."""
    return run_tab(request, entity, project, run, "overview")


@router.get(
    "/{entity}/{project}/runs/{run}/{tab}", response_class=HTMLResponse, response_model=None
)
def run_tab(request: Request, entity: str, project: str, run: str, tab: str) -> Response:
    """One tab of a run's page: overview, workspace (charts), system, logs, files, artifacts."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    if tab not in TAB_NAMES:
        names = ", ".join(name for name, _ in TABS)
        raise ServiceError(ErrorCode.NOT_FOUND, f"a run page has no tab {tab!r}; try {names}")
    context = _TAB_CONTEXT[tab](request, me, RunPath(entity, project, run))
    return _page(request, "run.html", me, **context)


@router.get(
    "/{entity}/{project}/runs/{run}/files/{name:path}",
    response_class=HTMLResponse,
    response_model=None,
)
def run_file_page(request: Request, entity: str, project: str, run: str, name: str) -> Response:
    """The Files tab with one file previewed: an image inline, the start of a text file."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    context = _files(request, me, RunPath(entity, project, run), name)
    return _page(request, "run.html", me, **context)


@router.get("/ui/api/runs/{entity}/{project}/{run}/image/{name:path}", response_model=None)
def run_image(
    request: Request, me: MeDep, entity: str, project: str, run: str, name: str
) -> Response:
    """An image file of the run with its image type, so an `<img>` shows it in the page."""
    with _uow(request) as uow:
        path = RunPath(entity, project, run)
        chunks, mimetype = run_file_preview.image_bytes(uow, me, path, name)
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(chunks, media_type=mimetype, headers=headers)
