"""Every page of the web UI in headless Chromium, at 1440x900 (light) and 800x900 (dark).

The pages are the authorization matrix's UI routes (`ROUTES`, which a test keeps complete for
every route the app declares), so a new page is in the gallery the day it is added. The world
they show is the matrix's (team `t`, project `proj`, a run and an artifact logged by the
official client, queues with items, an agent) plus what makes every page full: runs with config,
scalar and media summaries, a sweep, a report and an automation. The main runs' display names
are markup, which every page must show as text.

Per page: a screenshot under build/screenshots/gallery/, the document no wider than the
window, and axe-core (from web/node_modules) with no serious or critical violation.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from conftest import WandbClient
from support.authz_expectations import (
    ROUTES,
    Auth,
    Kind,
    Route,
    fill,
    fresh_sweep,
    fresh_trigger,
)
from support.authz_world import World, add_people, logged_runs
from support.browser import SHOTS, chromium
from support.server import LiveServer

# Minutes on two busy cores: `make test-gallery` runs it (the keyboard and unit tests of the
# shell stay in `make test`).
pytestmark = pytest.mark.gallery

AXE = Path(__file__).resolve().parent.parent / "web" / "node_modules" / "axe-core" / "axe.min.js"
GALLERY = SHOTS / "gallery"
MARKUP = "<img src=x onerror=alert(1)> <b>bold</b>"
WIDTHS = [(1440, "light"), (800, "dark")]
# Pages the matrix lists that are not pages a person looks at (static files, the icon).
NOT_PAGES = {"/favicon.ico"}
# The pages that show the marked-up run's name (the others must still stay inert).
SHOWS_RUN_NAME = (
    "/{entity}/{project}",
    "/{entity}/{project}/workspace",
    "/{entity}/{project}/overview",
    "/{entity}/{project}/table",
    "/{entity}/{project}/runs/{run}",
    "/{entity}/{project}/reports/{slug}",
    "/{entity}/{project}/artifacts/{type_name}/{collection}/{version}",
    "/{entity}/{project}/artifacts/{type_name}/{collection}/{version}/{tab}",
    "/{entity}/{project}/artifacts/{type_name}/{collection}",
)


@dataclass(frozen=True)
class Shown:
    """A page of the gallery: its route and a URL to it in the world."""

    route: str
    url: str

    @property
    def slug(self) -> str:
        """A file name for its screenshot."""
        return re.sub(r"[^A-Za-z0-9]+", "_", self.route).strip("_") or "root"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The matrix's world, filled so every page has something to show."""
    tmp = tmp_path_factory.mktemp("gallery")
    server = LiveServer(tmp_path_factory.mktemp("gallery-server")).start()
    built = World(server, add_people(server))
    try:
        logged_runs(tmp, built, WandbClient)
        built.build_launch()
        built.find_run_objects()
        fill_world(built)
        yield built
    finally:
        built.close()
        server.stop()


def upsert(w: World, name: str, **fields: Any) -> None:
    """Create or update run `name` of `t/proj` with the client's own mutation."""
    body = {"name": name, "modelName": w.project, "entityName": w.team, **fields}
    answer = w.gql(
        "owner",
        "mutation($i: UpsertBucketInput!) { upsertBucket(input: $i) { bucket { id } } }",
        {"i": body},
    ).json()
    assert not answer.get("errors"), answer


def media_summary(loss: float) -> dict[str, Any]:
    """A summary as the client writes it after logging an image and a table."""
    return {
        "train/loss": loss,
        "val/acc": 1 - loss,
        "_step": 4,
        "_runtime": 12.5,
        "samples": {
            "_type": "image-file",
            "sha256": "9f" * 32,
            "path": "media/images/samples_4_9f9f9f9f.png",
            "size": 2048,
            "width": 32,
            "height": 32,
            "format": "png",
        },
        "final_table": {
            "_type": "table-file",
            "sha256": "ab" * 32,
            "path": "media/table/final_table_4_abababab.table.json",
            "size": 311,
            "ncols": 2,
            "nrows": 3,
            "_latest_artifact_path": "wandb-client-artifact://0123456789abcdef:latest/final_table.table.json",
        },
    }


def fill_world(w: World) -> None:
    """Markup display names on the team's runs, more runs with config and summaries, a sweep,
    a report and an automation."""
    runs = w.api("owner").get("/api/v1/runs", params={"project": f"{w.team}/{w.project}"})
    assert runs.status_code == 200, runs.text
    for i, found in enumerate(runs.json()["runs"]):
        name = MARKUP if found["id"] == w.run else f"{MARKUP} {i}"
        upsert(w, found["id"], displayName=name)
    upsert(
        w,
        w.run,
        jobType="train",
        tags=["baseline", "<i>tag</i>"],
        summaryMetrics=json.dumps(media_summary(0.25)),
    )
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        config = {
            "lr": {"value": lr},
            "batch": {"value": 32 * (i + 1)},
            "optimizer": {"value": {"name": "adam", "betas": [0.9, 0.999]}},
            "notes_path": {"value": "/data/" + "very-long-directory-name/" * 6 + "train.csv"},
        }
        upsert(
            w,
            f"extra{i}",
            displayName=f"sweep-{i}-{'long-' * 8}name",
            jobType="eval" if i else "train",
            config=json.dumps(config),
            summaryMetrics=json.dumps(media_summary(0.5 - i / 10)),
        )
    sweep = fresh_sweep(w)["sweep"]
    for name in (w.run, "extra0", "extra1"):
        upsert(w, name, sweep=sweep)
    fresh_trigger(w)
    urls = {
        "/{entity}/{project}/sweeps/{sweep}": f"/{w.team}/{w.project}/sweeps/{sweep}",
        "/{entity}/{project}/reports/{slug}": report_over_runs(w),
        # The queue whose item launched the marked-up run.
        "/launch/{entity}/{name}": f"/launch/{w.team}/{w.launch_queue}",
    }
    w.gallery_urls = urls  # type: ignore[attr-defined]


def report_over_runs(w: World) -> str:
    """A report with a heading, text and a panel grid over the project's runs; its URL."""
    grid = {
        "type": "panel-grid",
        "metadata": {
            "runSets": [{"name": "All runs", "project": {"entityName": w.team, "name": w.project}}],
            "panelBankSectionConfig": {
                "panels": [
                    {"viewType": "Run History Line Plot", "config": {"metrics": ["loss"]}},
                    {"viewType": "Scalar Chart", "config": {"metrics": ["train/loss"]}},
                ]
            },
        },
    }
    heading = {"type": "heading", "level": 1, "children": [{"text": "Gallery report"}]}
    text = {"type": "paragraph", "children": [{"text": "Loss of every run, " * 12}]}
    spec = json.dumps({"blocks": [heading, text, grid]})
    saved = w.gql(
        "owner",
        "mutation($i: UpsertViewInput!) { upsertView(input: $i) { view { id } } }",
        {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "displayName": "Gallery",
                "spec": spec,
            }
        },
    ).json()
    assert not saved.get("errors"), saved
    return f"/{w.team}/{w.project}/reports/Gallery--{saved['data']['upsertView']['view']['id']}"


def page_routes() -> list[Route]:
    """The UI's GET pages: every matrix entry a signed-in browser opens."""
    return [
        r
        for r in ROUTES
        if r.method == "GET"
        and r.auth is Auth.COOKIE
        and r.kind is not Kind.NOT_YET
        and r.path not in NOT_PAGES
    ]


@pytest.fixture(scope="module")
def pages(world: World) -> list[Shown]:
    """Each UI route that answers a page (HTML, 200) as its owner: redirects, CSV, JSON and
    file downloads are not pages."""
    shown: list[Shown] = []
    refused: list[str] = []
    client = world.ui("owner")
    chosen: dict[str, str] = world.gallery_urls  # type: ignore[attr-defined]
    for route in page_routes():
        if route.path in chosen:
            url, fresh = chosen[route.path], {}
        else:
            fresh = route.setup(world) if route.setup else {}
            url = route.url(world, fresh) if route.url else fill(route.path, world, fresh)
        answer = client.get(url, params=route.params(world, fresh) if route.params else None)
        if answer.is_redirect or "text/html" not in answer.headers.get("content-type", ""):
            continue
        if answer.status_code != 200:
            refused.append(f"{route.path} ({url}): HTTP {answer.status_code}")
            continue
        query = str(answer.request.url.query, "ascii") if answer.request.url.query else ""
        shown.append(Shown(route.path, url + (f"?{query}" if query else "")))
    assert not refused, f"pages that did not answer their owner: {refused}"
    assert len(shown) >= 25, [s.route for s in shown]
    return shown


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright."""
    with chromium() as launched:
        yield launched


def signed_in_context(
    browser: Browser, world: World, width: int, scheme: str = "light"
) -> BrowserContext:
    """A browser context at `width`x900 signed in as the team's admin (alice).

    `bypass_csp` lets Playwright add axe-core's script to pages whose policy allows only the
    server's own scripts; the pages' own behaviour is unchanged."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto(f"{world.server.url}/login")
    tab.get_by_label("API key").fill(str(world.keys["owner"]))
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Projects of alice")).to_be_visible()
    tab.close()
    return context


def settle(tab: Page) -> None:
    """Let the page's scripts draw (charts fetch their data after load)."""
    # A page that keeps polling (the workspace's live updates) never goes idle.
    with contextlib.suppress(PlaywrightError):
        tab.wait_for_load_state("networkidle", timeout=1500)


WIDER_THAN_WINDOW = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const culprits = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && el.offsetParent !== null) {
      const cls = typeof el.className === "string" && el.className ? "." + el.className : "";
      culprits.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls +
        " right=" + Math.round(box.right));
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, culprits: culprits.slice(0, 6)};
}"""

# Elements the name would make if it were HTML: an <img src="x">, a <b> holding "bold".
MADE_FROM_NAME = """() => document.querySelectorAll('img[src="x"]').length +
  [...document.querySelectorAll("b")].filter(b => b.textContent === "bold").length"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


@pytest.mark.parametrize(("width", "scheme"), WIDTHS, ids=[f"{w}-{s}" for w, s in WIDTHS])
def test_every_page_fits_the_window_and_passes_axe(
    browser: Browser, world: World, pages: list[Shown], width: int, scheme: str
) -> None:
    assert AXE.exists(), f"axe-core is missing: run `make web` (npm ci in web/) to get {AXE}"
    folder = GALLERY / f"{width}-{scheme}"
    folder.mkdir(parents=True, exist_ok=True)
    context = signed_in_context(browser, world, width, scheme)
    too_wide: dict[str, Any] = {}
    violations: dict[str, Any] = {}
    try:
        tab = context.new_page()
        for shown in pages:
            answer = tab.goto(world.server.url + shown.url)
            assert answer is not None and answer.ok, f"{shown.url}: {answer and answer.status}"
            settle(tab)
            tab.screenshot(path=str(folder / f"{shown.slug}.png"), full_page=True)
            wide = tab.evaluate(WIDER_THAN_WINDOW)
            if wide:
                too_wide[shown.url] = wide
            tab.add_script_tag(path=str(AXE))
            found = tab.evaluate(AXE_RUN)
            if found:
                violations[shown.url] = found
    finally:
        context.close()
    assert not too_wide, f"pages wider than a {width}px window: {json.dumps(too_wide, indent=1)}"
    assert not violations, f"axe-core ({scheme}): {json.dumps(violations, indent=1)}"


def test_login_page_fits_and_passes_axe(browser: Browser, world: World) -> None:
    for width, scheme in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{world.server.url}/login")
        tab.screenshot(path=str(GALLERY / f"{width}-{scheme}" / "login.png"), full_page=True)
        assert tab.evaluate(WIDER_THAN_WINDOW) is None
        tab.add_script_tag(path=str(AXE))
        assert tab.evaluate(AXE_RUN) == []
        context.close()


def test_a_run_name_made_of_markup_is_text_on_every_page(
    browser: Browser, world: World, pages: list[Shown]
) -> None:
    context = signed_in_context(browser, world, 1440)
    dialogs: list[str] = []
    created: dict[str, int] = {}
    missing: list[str] = []
    try:
        tab = context.new_page()
        tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for shown in pages:
            tab.goto(world.server.url + shown.url)
            settle(tab)
            # An element made from the name: an <img src="x"> or a <b> holding "bold".
            made = tab.evaluate(MADE_FROM_NAME)
            if made:
                created[shown.url] = made
            shows = tab.get_by_text(MARKUP, exact=False).filter(visible=True)
            if shown.route in SHOWS_RUN_NAME and not shows.count():
                missing.append(shown.url)
    finally:
        context.close()
    assert not dialogs, f"a run name ran script: {dialogs}"
    assert not created, f"a run name became elements on: {created}"
    assert not missing, f"the run name is not shown as text on: {missing}"
    assert {s.route for s in pages} >= set(SHOWS_RUN_NAME)
