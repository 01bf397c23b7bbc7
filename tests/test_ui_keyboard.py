"""Keyboard-only use of the page shell in headless Chromium: the skip link, the main navigation,
the project tabs (Tab, arrow keys, Enter), the runs table (sort with Enter, arrow keys between
rows, Enter opens a run), the column picker, and a focus ring on whatever has focus."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import unique_project
from support.browser import chromium, signed_in, stream_run
from support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    """A signed-in page."""
    with signed_in(browser, sqlite_server) as tab:
        yield tab


@pytest.fixture
def project(sqlite_server: LiveServer) -> str:
    """A project with three runs holding config, scalar and media summaries."""
    name = unique_project()
    with httpx.Client(
        base_url=sqlite_server.url, auth=("api", sqlite_server.admin_key), timeout=30
    ) as api:
        for i in range(3):
            summary = {
                "train/loss": 0.5 - i / 10,
                "_step": 3,
                "samples": {"_type": "image-file", "sha256": "ab" * 32, "path": "media/x.png"},
            }
            stream_run(api, name, f"run{i}", config={"lr": 0.1 / (i + 1)}, summary=summary)
    return name


def tab_until(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has focus (fails after `limit`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focus_ring(page: Page) -> str:
    """The outline the focused element shows (its style and width)."""
    return str(
        page.evaluate(
            """() => { const s = getComputedStyle(document.activeElement);
                       return s.outlineStyle + " " + s.outlineWidth; }"""
        )
    )


def test_tabs_and_main_nav_work_by_keyboard(
    page: Page, sqlite_server: LiveServer, project: str
) -> None:
    page.goto(f"{sqlite_server.url}/admin/{project}/table")
    # The first Tab reaches the skip link; Enter moves focus to the page's content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    assert focus_ring(page).startswith("solid")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Tab reaches the project tabs; arrow keys move along them; Enter opens one.
    tab_until(page, 'nav.tabs a[aria-current="page"]')
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Runs")
    assert focus_ring(page).startswith("solid")
    page.keyboard.press("ArrowLeft")
    expect(page.locator('nav.tabs a[data-tab="workspace"]')).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator('nav.tabs a[data-tab="overview"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{sqlite_server.url}/admin/{project}/overview")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Overview")
    expect(page.locator("#run-count")).to_have_text("3")

    # The header's navigation: Tab into it, arrow to Launch, Enter.
    page.locator("body").focus()
    tab_until(page, "nav.mainnav a")
    page.keyboard.press("ArrowRight")
    expect(page.locator("nav.mainnav a", has_text="Launch")).to_be_focused()
    assert focus_ring(page).startswith("solid")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{sqlite_server.url}/launch")
    expect(page.locator('nav.mainnav a[aria-current="page"]')).to_have_text("Launch")

    # Breadcrumbs lead back up by keyboard too.
    page.goto(f"{sqlite_server.url}/admin/{project}/runs/run1")
    crumbs = page.get_by_role("navigation", name="Breadcrumbs")
    expect(crumbs).to_contain_text(f"admin{project}Runsrun1")
    tab_until(page, f'nav.crumbs a[href="/admin/{project}/table"]')
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{sqlite_server.url}/admin/{project}/table")


def test_runs_table_by_keyboard_and_default_columns(
    page: Page, sqlite_server: LiveServer, project: str
) -> None:
    page.goto(f"{sqlite_server.url}/admin/{project}/table")
    headers = page.locator("#runs-table thead th:visible")
    labels = [t.strip() for t in headers.all_inner_texts()]
    assert labels[:6] == ["Name", "State", "Created ▼", "Runtime", "Tags", "Job type"]
    assert "config.lr" in labels and "train/loss" in labels
    # Internal keys and media internals wait in the column picker.
    assert not any(label.startswith("_") or label.startswith("samples") for label in labels)

    # Sort by loss with the keyboard: Tab to its header link, Enter.
    tab_until(page, 'a[data-sort="summary_metrics.train/loss"]')
    assert focus_ring(page).startswith("solid")
    page.keyboard.press("Enter")
    expect(page.locator('a[data-sort="summary_metrics.train/loss"]')).to_contain_text("▲")
    rows = page.locator("#runs-table tbody tr[data-run]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.run)") == ["run2", "run1", "run0"]

    # Arrow keys move between runs; Enter opens the focused one.
    tab_until(page, 'tr[data-run="run2"] a')
    page.keyboard.press("ArrowDown")
    expect(page.locator('tr[data-run="run1"] a')).to_be_focused()
    page.keyboard.press("End")
    expect(page.locator('tr[data-run="run0"] a')).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{sqlite_server.url}/admin/{project}/runs/run1")

    # The column picker opens with Enter and shows a hidden column with Space.
    page.goto(f"{sqlite_server.url}/admin/{project}/table")
    step = page.locator('#runs-table th[data-col="summary._step"]')
    expect(step).to_be_hidden()
    tab_until(page, "#column-picker summary")
    page.keyboard.press("Enter")
    tab_until(page, '#column-picker input[data-col="summary._step"]')
    page.keyboard.press("Space")
    expect(step).to_be_visible()
    stored = page.evaluate("k => localStorage.getItem(k)", f"runyard.columns:admin/{project}")
    assert json.loads(stored) == {"summary._step": True}
    page.reload()
    expect(step).to_be_visible()
    expect(page.locator('#runs-table th[data-col="summary.samples.sha256"]')).to_be_hidden()
