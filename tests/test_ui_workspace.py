"""The workspace in headless Chromium: run colours, eye toggles, tooltips, panel editing,
saved views, and media panels for what the official client logs over steps."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient, unique_project
from support.browser import chromium, shot, signed_in
from support.server import LiveServer

LOADED_16PX = "img => img.complete && img.naturalWidth === 16"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    """A signed-in page."""
    with signed_in(browser, sqlite_server) as tab:
        yield tab


@pytest.fixture(scope="module")
def lines_project(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A project with two finished runs logged by the official client (10 steps each)."""
    client = WandbClient(tmp_path_factory.mktemp("lines"), sqlite_server)
    project = unique_project()
    found = []
    for lr in (0.01, 0.1):
        result = client.run("ui_train.py", "--project", project, "--lr", str(lr))
        assert result.returncode == 0, result.stderr
        found.append({k: str(v) for k, v in result.results[0].items()})
    yield project, found
    client.kill_leftovers()


@pytest.fixture(scope="module")
def media_project(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[tuple[str, str]]:
    """A project whose one run logged images, a histogram, a table, HTML and audio."""
    tmp = tmp_path_factory.mktemp("media")
    client = WandbClient(tmp, sqlite_server)
    project = unique_project()
    result = client.run("media_log.py", "--project", project, "--workdir", str(tmp / "work"))
    assert result.returncode == 0, result.stderr
    yield project, str(result.results[0]["id"])
    client.kill_leftovers()


def _workspace(page: Page, server: LiveServer, project: str) -> None:
    page.goto(f"{server.url}/admin/{project}")
    expect(page.locator("body[data-charts-ready]")).to_have_count(1)


def _swatch(page: Page, run_id: str) -> str:
    return str(page.locator(f'li[data-run="{run_id}"] .swatch').evaluate("e => e.style.background"))


def test_run_colours_depend_on_the_run_only(
    page: Page, sqlite_server: LiveServer, lines_project: tuple[str, list[dict[str, str]]]
) -> None:
    project, found = lines_project
    _workspace(page, sqlite_server, project)
    colours = {r["id"]: _swatch(page, r["id"]) for r in found}
    assert len(set(colours.values())) == 2
    # Sorting the list the other way, hiding a run by search and reloading keep every colour.
    page.get_by_label("Descending").check()
    assert {r["id"]: _swatch(page, r["id"]) for r in found} == colours
    page.get_by_label("Search runs (regex)").fill(found[1]["name"])
    expect(page.locator("#run-list li")).to_have_count(1)
    assert _swatch(page, found[1]["id"]) == colours[found[1]["id"]]
    page.reload()
    expect(page.locator("body[data-charts-ready]")).to_have_count(1)
    assert {r["id"]: _swatch(page, r["id"]) for r in found} == colours
    # The chart draws each run in its list colour (read from the hover tooltip's swatches).
    fig = page.locator('figure[data-metric="val/acc"]')
    box = fig.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = fig.get_by_role("tooltip")
    expect(tip).to_be_visible()
    for r in found:
        row = tip.locator(".tip-row").filter(has_text=r["name"])
        assert row.locator(".swatch").evaluate("e => e.style.background") == colours[r["id"]]


def test_tooltip_shows_each_runs_value_at_the_cursor_step_and_no_legend(
    page: Page, sqlite_server: LiveServer, lines_project: tuple[str, list[dict[str, str]]]
) -> None:
    project, found = lines_project
    _workspace(page, sqlite_server, project)
    fig = page.locator('figure[data-metric="val/acc"]')
    expect(fig.locator("canvas")).to_have_count(1)
    # No always-on legend listing every run.
    expect(page.locator(".u-legend")).to_have_count(0)
    tip = fig.get_by_role("tooltip")
    expect(tip).to_be_hidden()
    box = fig.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    expect(tip).to_be_visible()
    step = int(float(tip.get_attribute("data-x") or "nan"))
    assert 1 <= step <= 9
    expect(tip.locator(".tip-x")).to_have_text(f"step {step}")
    # ui_train.py logs val/acc = step / 10 for every run.
    value = f"{step / 10:#.4g}"
    for r in found:
        expect(tip.locator(".tip-row").filter(has_text=r["name"])).to_contain_text(value)
    shot(page, "workspace-tooltip")
    page.mouse.move(box["x"] - 40, box["y"] - 40)
    expect(tip).to_be_hidden()


def test_eye_hides_a_runs_series_and_says_so(
    page: Page, sqlite_server: LiveServer, lines_project: tuple[str, list[dict[str, str]]]
) -> None:
    project, found = lines_project
    _workspace(page, sqlite_server, project)
    hidden = found[0]
    eye = page.get_by_role("button", name=f"Show {hidden['name']} in charts")
    expect(eye).to_have_attribute("aria-pressed", "true")
    fig = page.locator('figure[data-metric="train/loss"]')
    expect(fig).to_have_attribute("data-lines", re.compile(re.escape(hidden["name"])))
    eye.click()
    expect(eye).to_have_attribute("aria-pressed", "false")
    expect(fig).to_have_attribute("data-lines", found[1]["name"])
    box = fig.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    expect(fig.get_by_role("tooltip")).to_be_visible()
    expect(fig.get_by_role("tooltip")).not_to_contain_text(hidden["name"])
    eye.click()
    expect(fig).to_have_attribute("data-lines", re.compile(re.escape(hidden["name"])))


def test_panel_search_sections_and_adding_and_removing_panels(
    page: Page, sqlite_server: LiveServer, lines_project: tuple[str, list[dict[str, str]]]
) -> None:
    project, _ = lines_project
    _workspace(page, sqlite_server, project)
    panels = page.locator("figure.panel")
    expect(panels).to_have_count(2)
    page.get_by_label("Search panels").fill("loss")
    expect(page.locator("figure.panel:visible")).to_have_count(1)
    expect(page.locator('figure[data-metric="train/loss"]')).to_be_visible()
    expect(page.locator('section[data-section="val"]')).to_be_hidden()
    page.get_by_label("Search panels").fill("")
    expect(page.locator("figure.panel:visible")).to_have_count(2)

    train = page.locator('section[data-section="train"]')
    toggle = train.get_by_role("button", name="train", exact=True)
    toggle.click()
    expect(page.locator('section[data-section="train"] figure')).to_have_count(0)
    expect(page.locator('section[data-section="train"] .section-toggle')).to_have_attribute(
        "aria-expanded", "false"
    )
    page.locator('section[data-section="train"] .section-toggle').click()
    expect(page.locator('section[data-section="train"] figure')).to_have_count(1)

    page.get_by_role("button", name="Rename section train").click()
    page.get_by_label("New name of section train").fill("Training")
    page.keyboard.press("Enter")
    section = page.locator('section[data-section="Training"]')
    expect(section.get_by_role("button", name="Training", exact=True)).to_have_attribute(
        "aria-expanded", "true"
    )

    section.get_by_label("Panel to add to Training").select_option("line:val/acc")
    section.get_by_role("button", name="Add panel to Training").click()
    added = section.locator('figure[data-metric="val/acc"]')
    expect(added).to_have_count(1)
    expect(added.locator("canvas")).to_have_count(1)
    shot(page, "workspace-sections")
    added.get_by_role("button", name="Remove panel val/acc").click()
    expect(section.locator("figure")).to_have_count(1)


def test_saved_view_restores_the_layout_for_its_owner(
    page: Page, sqlite_server: LiveServer, lines_project: tuple[str, list[dict[str, str]]]
) -> None:
    project, found = lines_project
    _workspace(page, sqlite_server, project)
    page.get_by_role("button", name="Rename section val").click()
    page.get_by_label("New name of section val").fill("Validation")
    page.keyboard.press("Enter")
    page.get_by_role("button", name=f"Show {found[1]['name']} in charts").click()
    page.get_by_label("View name").fill("  ")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#view-status")).to_contain_text("name: a view name is 1 to 128")
    page.get_by_label("View name").fill("focus")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#view-status")).to_have_text("Saved view focus")

    page.reload()
    expect(page.locator('section[data-section="val"]')).to_have_count(1)
    page.get_by_label("Saved view", exact=True).select_option("focus")
    expect(page.locator('section[data-section="Validation"]')).to_have_count(1)
    eye = page.get_by_role("button", name=f"Show {found[1]['name']} in charts")
    expect(eye).to_have_attribute("aria-pressed", "false")
    expect(page.locator('figure[data-metric="val/acc"]')).to_have_attribute(
        "data-lines", found[0]["name"]
    )


def test_media_panels_show_what_the_official_client_logged(
    page: Page, sqlite_server: LiveServer, media_project: tuple[str, str]
) -> None:
    project, _ = media_project
    _workspace(page, sqlite_server, project)

    # Images: the step slider changes the picture and its caption.
    images = page.locator('figure[data-kind="image"][data-metric="samples"]')
    img = images.locator("img")
    expect(images.locator("figcaption").last).to_have_text("blue at step 2")
    last_src = img.get_attribute("src")
    page.wait_for_function(LOADED_16PX, arg=img.element_handle())
    images.get_by_label("Step of samples").fill("0")
    expect(images.locator(".media-item figcaption")).to_have_text("red at step 0")
    assert img.get_attribute("src") != last_src
    page.wait_for_function(LOADED_16PX, arg=img.element_handle())
    pixel = page.evaluate(
        """img => { const c = document.createElement('canvas'); c.width = c.height = 1;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0, 1, 1);
        return Array.from(g.getImageData(0, 0, 1, 1).data.slice(0, 3)); }""",
        img.element_handle(),
    )
    assert pixel == [255, 0, 0]

    # A histogram over time: a heatmap with one column per step and drawn cells.
    heatmap = page.locator('figure[data-kind="histogram"][data-metric="weights"] canvas.heatmap')
    expect(heatmap).to_have_attribute("data-steps", "3")
    assert int(heatmap.get_attribute("data-cells") or "0") >= 6

    # A wandb.Table: sorted by a column when its header is clicked, filtered by text.
    table = page.get_by_role("table", name="Table scores")
    expect(table.locator("tbody tr")).to_have_count(4)
    table.get_by_role("button", name="score").click()
    expect(table.locator("tbody tr td:first-child")).to_have_text(["a", "b", "d", "c"])
    table.get_by_role("button", name="score").click()
    expect(table.locator("tbody tr td:first-child")).to_have_text(["c", "d", "b", "a"])
    page.get_by_label("Filter rows of scores").fill("d")
    expect(table.locator("tbody tr td:first-child")).to_have_text(["d"])

    # HTML in an iframe sandboxed without allow-same-origin.
    frame = page.locator('figure[data-kind="html"] iframe')
    sandbox = frame.get_attribute("sandbox") or ""
    assert "allow-same-origin" not in sandbox
    expect(page.frame_locator('figure[data-kind="html"] iframe').locator("h1")).to_have_text(
        "Logged HTML"
    )

    # Audio: a player whose metadata loads with a duration.
    audio = page.locator('figure[data-kind="audio"] audio')
    expect(audio).to_have_count(1)
    page.wait_for_function("a => a.readyState >= 1 && a.duration > 0", arg=audio.element_handle())
    duration = audio.evaluate("a => a.duration")
    assert 0.4 < duration < 0.6
    shot(page, "workspace-media")

    # The files come with the content types browsers need.
    src = audio.get_attribute("src") or ""
    assert page.request.get(f"{sqlite_server.url}{src}").headers["content-type"] == "audio/x-wav"
    answer = page.request.get(f"{sqlite_server.url}{img.get_attribute('src')}")
    assert answer.headers["content-type"] == "image/png"
    assert "sandbox" in answer.headers["content-security-policy"]
