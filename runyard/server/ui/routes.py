"""Mount the UI on the app: pages, their JSON, and the static files esbuild writes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from runyard.server.ui import (
    artifact_browser,
    artifact_edits,
    automation_pages,
    csrf,
    data,
    launch_links,
    launch_pages,
    overview_pages,
    pages,
    people_pages,
    registry_pages,
    report_pages,
    run_pages,
    sweep_pages,
    wandb_urls,
    workspace_data,
)

STATIC = Path(__file__).parent / "static"


def mount_ui(app: FastAPI) -> None:
    """Add the web UI to `app` (after the API routes, so their paths win)."""
    STATIC.joinpath("build").mkdir(parents=True, exist_ok=True)
    # Every POST form carries `{{ csrf_token(request) }}` in a hidden `csrf_token` field.
    pages.templates.env.globals["csrf_token"] = csrf.token_for
    app.mount("/static/ui", StaticFiles(directory=STATIC), name="ui-static")
    # Order matters: W&B's `/<entity>/<project>/...` pages come last, so every fixed path
    # (`/teams/x`, `/launch/x/y`, the old `/projects/...` redirects) is matched first; the
    # names of those first segments are reserved (`people.names.RESERVED_NAMES`).
    routers = (
        data,
        workspace_data,
        launch_links,
        launch_pages,
        people_pages,
        artifact_browser,
        artifact_edits,
        registry_pages,
        sweep_pages,
        report_pages,
        run_pages,
        wandb_urls,
        automation_pages,
        pages,
        overview_pages,
    )
    for module in routers:
        app.include_router(module.router)
