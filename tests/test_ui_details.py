"""Issue 6 follow-ups in headless Chromium: chart zoom, system metrics, runs table, launch links."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import unique_project
from support.browser import chromium, run_page, shot, signed_in, stream_console, stream_run
from support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def test_zooming_a_chart_draws_finer_data_of_that_window(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    steps = 10_000
    history: list[dict[str, object]] = [
        {"_step": s, "loss": float((s * 7919) % 1000)} for s in range(steps)
    ]
    with sqlite_server.api() as api:
        path = stream_run(api, project, "long", history=history)
    page.goto(f"{sqlite_server.url}{run_page(path)}/workspace")
    fig = page.locator('figure[data-metric="loss"]')
    expect(fig.locator("canvas")).to_have_count(1)
    whole = int(fig.get_attribute("data-points") or 0)
    assert 0 < whole <= 500  # bucketed, never all 10,000 points
    assert fig.get_attribute("data-visible-points") == str(whole)

    # Drag across a tenth of the plot: uPlot zooms, the page refetches that window.
    box = fig.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    expect(fig).to_have_attribute("data-zoomed", re.compile(r"^\d+\.\.\d+$"))
    lo, hi = (int(x) for x in (fig.get_attribute("data-zoomed") or "").split(".."))
    assert 0 < lo < hi < steps - 1
    with sqlite_server.api() as api:
        coarse = api.get(
            f"/api/v1/runs/{path}/history/sampled", params={"keys": ["loss"], "buckets": 500}
        ).json()["series"]["loss"]
    before = sum(1 for b in coarse if lo <= b["x_max"] <= hi)
    shown = int(fig.get_attribute("data-visible-points") or 0)
    assert shown > 2 * before, (shown, before)
    assert shown <= 501  # still bucketed inside the window
    shot(page, "run-zoomed")

    # Double-click zooms back out to the whole run's buckets.
    fig.locator(".u-over").dblclick()
    expect(fig).not_to_have_attribute("data-zoomed", re.compile(".*"))
    expect(fig).to_have_attribute("data-visible-points", str(whole))


def test_workspace_plots_loss_against_a_chosen_logged_metric(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        for run, per_step in (("small", 1000), ("big", 2000)):
            history: list[dict[str, object]] = [
                {"_step": s, "loss": 1.0 / (s + 1), "train/tokens": per_step * (s + 1)}
                for s in range(100)
            ]
            stream_run(api, project, run, history=history)
    page.goto(f"{sqlite_server.url}/admin/{project}")
    fig = page.locator('figure[data-metric="loss"]')
    expect(fig.locator("canvas")).to_have_count(1)
    expect(fig).to_have_attribute("data-x-range", "0..99")

    # Each run's loss is drawn against that run's own token count at the same steps.
    page.get_by_label("X axis").select_option(label="train/tokens")
    expect(fig).to_have_attribute("data-x-range", "1000..200000")
    assert fig.get_attribute("data-lines") == "small\nbig"
    shot(page, "workspace-x-metric")
    page.get_by_label("X axis").select_option(label="Step")
    expect(fig).to_have_attribute("data-x-range", "0..99")


def test_workspace_sidebar_filters_and_sorts_runs_by_config_and_summary(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    finals = {"alpha": (0.01, 0.3), "beta": (0.1, 0.1), "gamma": (0.01, 0.2)}
    with sqlite_server.api() as api:
        for run, (lr, loss) in finals.items():
            history: list[dict[str, object]] = [
                {"_step": s, "loss": loss + (9 - s) * 0.1} for s in range(10)
            ]
            stream_run(
                api, project, run, history=history, config={"lr": lr}, summary={"loss": loss}
            )
    page.goto(f"{sqlite_server.url}/admin/{project}")
    fig = page.locator('figure[data-metric="loss"]')
    expect(fig.locator("canvas")).to_have_count(1)
    expect(page.locator("#visible-count")).to_have_text("3 of 3 visualized")

    # A filter on config hides the other runs from the list and their lines from the charts.
    page.get_by_label("Filter").fill("config.lr = 0.01")
    expect(page.locator("#visible-count")).to_have_text("2 of 3 visualized")
    expect(fig).to_have_attribute("data-lines", "alpha\ngamma")
    expect(page.locator("#run-list li")).to_have_count(2)
    page.get_by_label("Filter").fill("config.lr = 0.01 and summary.loss < 0.25")
    expect(page.locator("#visible-count")).to_have_text("1 of 3 visualized")
    expect(fig).to_have_attribute("data-lines", "gamma")

    # A filter it cannot read says which part and how to write it, and hides nothing.
    page.get_by_label("Filter").fill("lr == 0.01")
    expect(page.locator("#filter-error")).to_contain_text('unknown field "lr"')
    expect(page.locator("#filter-error")).to_contain_text("config.<key>")
    expect(page.get_by_label("Filter")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#visible-count")).to_have_text("3 of 3 visualized")
    shot(page, "workspace-filter-error")
    page.get_by_label("Filter").fill("")
    expect(page.locator("#filter-error")).to_have_text("")

    # Sorting by a summary metric orders the sidebar by each run's final loss.
    order = page.locator("#run-list li")
    expect(order.nth(0)).to_have_attribute("data-run", "alpha")
    page.get_by_label("Sort by").select_option("summary_metrics.loss")
    expect(order.nth(0)).to_have_attribute("data-run", "beta")
    expect(order.nth(1)).to_have_attribute("data-run", "gamma")
    expect(order.nth(2)).to_have_attribute("data-run", "alpha")
    page.get_by_label("Descending").check()
    expect(order.nth(0)).to_have_attribute("data-run", "alpha")
    expect(order.nth(2)).to_have_attribute("data-run", "beta")
    shot(page, "workspace-sorted")


def _samples(gpus: int) -> list[dict[str, object]]:
    """Twenty system-metric samples, 15 s apart, as the client streams them."""
    rows: list[dict[str, object]] = []
    for i in range(20):
        row: dict[str, object] = {"_runtime": 15.0 * i, "_timestamp": 1.7e9 + 15 * i}
        row.update({"system.cpu": 10.0 + i, "system.memory_percent": 40.0})
        for g in range(gpus):
            row.update({f"system.gpu.{g}.gpu": 50.0 + g, f"system.gpu.{g}.memoryAllocated": 20.0})
        rows.append(row)
    return rows


def test_run_page_charts_system_metrics_with_gpu_panels(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        gpu_run = stream_run(
            api, project, "gpu", history=[{"_step": 0, "loss": 1.0}], events=_samples(2)
        )
        cpu_run = stream_run(
            api, project, "cpu", history=[{"_step": 0, "loss": 1.0}], events=_samples(0)
        )
    page.goto(f"{sqlite_server.url}{run_page(gpu_run)}/system")
    system = page.locator("#system-panels")
    gpu = system.locator('section[data-section="gpu"]')
    expect(gpu.get_by_role("heading", name="GPU")).to_be_visible()
    expect(gpu.locator("figure canvas")).to_have_count(2)
    utilisation = gpu.locator('figure[data-system="GPU gpu"]')
    expect(utilisation).to_have_attribute("data-lines", "GPU 0\nGPU 1")
    expect(utilisation).to_have_attribute("data-points", "20")
    cpu = system.locator('section[data-section="system"] figure[data-system="cpu"]')
    expect(cpu.locator("canvas")).to_have_count(1)
    shot(page, "run-system")
    # System metrics are not mixed into the logged-metric charts (the Charts tab).
    page.get_by_role("navigation", name="Run").get_by_role("link", name="Charts").click()
    expect(page.locator("#panels figure")).to_have_count(1)

    page.goto(f"{sqlite_server.url}{run_page(cpu_run)}/system")
    expect(system.locator('figure[data-system="cpu"] canvas')).to_have_count(1)
    expect(system.locator('section[data-section="gpu"]')).to_have_count(0)


def test_run_page_console_shows_new_lines_of_a_running_run(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        path = stream_run(api, project, "talky", history=[{"_step": 0, "loss": 1.0}])
        stream_console(api, path, 0, ["epoch 0 starting", "epoch 0 done"])
    page.goto(f"{sqlite_server.url}{run_page(path)}/logs")
    console = page.locator("#console .line")
    expect(console).to_have_text(["epoch 0 starting", "epoch 0 done"])
    page.get_by_label("Search console").fill("done")

    # The run prints while the page is open: its lines appear without a reload,
    # and the search still applies to them.
    with sqlite_server.api() as api:
        stream_console(api, path, 2, ["epoch 1 starting", "epoch 1 done"])
    expect(page.locator("#console .line:visible")).to_have_text(["epoch 0 done", "epoch 1 done"])
    page.get_by_label("Search console").fill("")
    expect(console).to_have_text(
        ["epoch 0 starting", "epoch 0 done", "epoch 1 starting", "epoch 1 done"]
    )
    shot(page, "run-console-live")


def _table_project(server: LiveServer) -> str:
    """Four runs with config lr/batch and a summary loss, streamed straight to the server."""
    project = unique_project()
    specs = [
        ("r1", 0.01, 32, 0.5),
        ("r2", 0.1, 64, 0.9),
        ("r3", 0.01, 64, 0.3),
        ("r4", 0.1, 32, 0.2),
    ]
    with server.api() as api:
        for name, lr, batch, loss in specs:
            stream_run(
                api, project, name, config={"lr": lr, "batch": batch}, summary={"loss": loss}
            )
    return project


def test_runs_table_multi_sort_columns_keys_and_groups(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = _table_project(sqlite_server)
    page.goto(f"{sqlite_server.url}/admin/{project}/table")
    runs = page.locator("#runs-table tr[data-run]")
    expect(runs).to_have_count(4)
    order = "rows => rows.map(r => r.dataset.run)"

    # Click sorts by lr; Shift+click on loss adds it as the second key (ties on lr broken by loss).
    page.locator('a[data-sort="config.lr"]').click()
    expect(page.locator('a[data-sort="config.lr"]')).to_contain_text("▲")
    page.locator('a[data-sort="summary_metrics.loss"]').click(modifiers=["Shift"])
    expect(page.locator('a[data-sort="summary_metrics.loss"]')).to_contain_text("▲2")
    expect(page.locator('a[data-sort="config.lr"]')).to_contain_text("▲1")
    assert runs.evaluate_all(order) == ["r3", "r1", "r4", "r2"]
    # Keyboard: Shift+Enter on the loss header flips the second key to descending.
    page.locator('a[data-sort="summary_metrics.loss"]').focus()
    page.keyboard.press("Shift+Enter")
    expect(page.locator('a[data-sort="summary_metrics.loss"]')).to_contain_text("▼2")
    assert runs.evaluate_all(order) == ["r1", "r3", "r2", "r4"]
    expect(page.locator('th[aria-sort="ascending"] a[data-sort="config.lr"]')).to_have_count(1)

    # Arrow keys move between the runs' links.
    runs.nth(0).get_by_role("link").focus()
    page.keyboard.press("ArrowDown")
    expect(runs.nth(1).get_by_role("link")).to_be_focused()
    page.keyboard.press("End")
    expect(runs.nth(3).get_by_role("link")).to_be_focused()

    # The column picker hides a column, and remembers it after a reload.
    batch = page.locator('#runs-table th[data-col="config.batch"]')
    expect(batch).to_be_visible()
    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("checkbox", name="config.batch").uncheck()
    expect(batch).to_be_hidden()
    expect(page.locator('#runs-table td[data-col="config.batch"]').first).to_be_hidden()
    page.reload()
    expect(page.locator('#runs-table th[data-col="config.batch"]')).to_be_hidden()
    expect(page.locator('#runs-table th[data-col="config.lr"]')).to_be_visible()

    # Group by lr: one body per value with its count; the sort still applies inside groups.
    page.get_by_label("Group by").select_option("lr")
    page.get_by_role("button", name="Group", exact=True).click()
    groups = page.locator("#runs-table tbody[data-group]")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).locator("tr.group-row")).to_contain_text("config.lr = 0.01 · 2 runs")
    expect(groups.nth(1).locator("tr.group-row")).to_contain_text("config.lr = 0.1 · 2 runs")
    assert groups.nth(1).locator("tr[data-run]").evaluate_all(order) == ["r2", "r4"]
    shot(page, "runs-table-grouped")


def _launched_run(server: LiveServer) -> dict[str, str]:
    """A queue item claimed by an agent that reports the run it started (streamed here)."""
    queue, project = unique_project(), unique_project()
    with server.api() as api:
        api.post(
            "/api/v1/queues", json={"name": queue, "entity": "admin", "resource": "kubernetes"}
        ).raise_for_status()
        item = api.post(
            f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {"project": project}}
        ).json()
        agent = api.post("/api/v1/agents", json={"name": "links", "queues": [f"admin/{queue}"]})
        claim = {"agent_id": agent.json()["id"], "queues": [f"admin/{queue}"]}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item["id"]
        path = stream_run(api, project, "launched1", history=[{"_step": 0, "loss": 1.0}])
        report = {"agent_id": claim["agent_id"], "state": "running", "run_id": "launched1"}
        api.post(f"/api/v1/items/{item['id']}/report", json=report).raise_for_status()
        other = stream_run(api, project, "by-hand")
        assert api.get(f"/api/v1/runs/{path}/launch-item").json()["id"] == item["id"]
        missing = api.get(f"/api/v1/runs/{other}/launch-item")
        assert missing.status_code == 404
        assert "not launched from a queue" in missing.json()["detail"]
    return {"queue": queue, "item": item["id"], "run": path, "other": other}


def test_run_page_links_to_its_launch_item_and_back(page: Page, sqlite_server: LiveServer) -> None:
    launched = _launched_run(sqlite_server)
    page.goto(f"{sqlite_server.url}{run_page(launched['run'])}")
    origin = page.locator("#launch-item")
    expect(origin).to_contain_text(f"queue admin/{launched['queue']}")
    expect(origin).to_contain_text("(running)")
    shot(page, "run-launched")
    origin.get_by_role("link", name=f"admin/{launched['queue']}").click()
    expect(page.locator(f'tr[data-item="{launched["item"]}"]')).to_have_attribute(
        "data-state", "running"
    )
    # Each item's run opens through /launch/items/{id}/run (the queue page's link target).
    page.goto(f"{sqlite_server.url}/launch/items/{launched['item']}/run")
    expect(page).to_have_url(f"{sqlite_server.url}{run_page(launched['run'])}")
    page.goto(f"{sqlite_server.url}{run_page(launched['other'])}")
    expect(page.locator("#launch-item")).to_have_text("not launched from a queue")
