"""Headless Debian Chromium for the UI tests: launch, sign in, screenshots, logging runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support.server import LiveServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parent.parent.parent / "build" / "screenshots"
UPSERT = """
mutation UpsertBucket($name: String, $display: String, $project: String, $config: JSONString,
                      $summary: JSONString) {
  upsertBucket(input: {name: $name, displayName: $display, modelName: $project, config: $config,
                       summaryMetrics: $summary}) { inserted }
}
"""


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@contextmanager
def signed_in(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A page signed in with the admin API key through the login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{server.url}/")
    expect(tab).to_have_url(f"{server.url}/login?next=/")
    tab.get_by_label("API key").fill(server.admin_key)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Projects of admin")).to_be_visible()
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def stream_run(
    api: httpx.Client,
    project: str,
    run: str,
    history: list[dict[str, object]] | None = None,
    events: list[dict[str, object]] | None = None,
    config: dict[str, object] | None = None,
    summary: dict[str, object] | None = None,
    display_name: str | None = None,
) -> str:
    """Create a run and post its history and system-metric events through file_stream.

    What the official client sends, without its ~15 s batching: tests stay deterministic.
    The run is named after its id (`wandb.init(name=run, id=run)`), so charts label it so,
    unless `display_name` names it otherwise.
    Returns the run's path `admin/project/run`.
    """
    variables = {
        "name": run,
        "display": display_name or run,
        "project": project,
        "config": json.dumps({k: {"value": v} for k, v in (config or {}).items()}),
        "summary": json.dumps(summary or {}),
    }
    created = api.post("/graphql", json={"query": UPSERT, "variables": variables})
    created.raise_for_status()
    path = f"admin/{project}/{run}"
    for name, rows in (
        ("wandb-history.jsonl", history or []),
        ("wandb-events.jsonl", events or []),
    ):
        for start in range(0, len(rows), 2000):
            content = [json.dumps(r) for r in rows[start : start + 2000]]
            files = {name: {"offset": start, "content": content}}
            api.post(f"/files/{path}/file_stream", json={"files": files}).raise_for_status()
    return path


def stream_console(api: httpx.Client, path: str, offset: int, lines: list[str]) -> None:
    """Post console lines (`output.log`) starting at line `offset` through file_stream."""
    files = {"output.log": {"offset": offset, "content": lines}}
    api.post(f"/files/{path}/file_stream", json={"files": files}).raise_for_status()


def run_page(path: str) -> str:
    """The page of run `entity/project/id`: W&B's `/<entity>/<project>/runs/<id>`."""
    entity, project, run = path.split("/")
    return f"/{entity}/{project}/runs/{run}"
