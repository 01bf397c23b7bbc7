"""The web UI in headless Chromium: workspace charts, runs table, live runs, launch queues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient, unique_project
from support.browser import chromium, shot, signed_in
from support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    """A signed-in page: logs in with the admin API key through the form."""
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def log_runs(client: WandbClient, project: str, lrs: list[float]) -> list[str]:
    """Log one finished run per lr with the official client; return the run ids in order."""
    return [str(r["id"]) for r in log_named_runs(client, project, lrs)]


def log_named_runs(client: WandbClient, project: str, lrs: list[float]) -> list[dict[str, Any]]:
    """Log one finished run per lr; return each run's id and (generated) name, in order."""
    found = []
    for lr in lrs:
        result = client.run("ui_train.py", "--project", project, "--lr", str(lr))
        assert result.returncode == 0, result.stderr
        found.append(result.results[0])
    return found


def lines(page: Page, metric: str) -> list[str]:
    """Labels of the lines drawn in a metric's chart."""
    text = page.locator(f'figure[data-metric="{metric}"]').get_attribute("data-lines") or ""
    return [label for label in text.split("\n") if label]


def test_login_rejects_a_wrong_key(browser: Browser, sqlite_server: LiveServer) -> None:
    tab = browser.new_page()
    tab.goto(f"{sqlite_server.url}/login")
    tab.get_by_label("API key").fill("runyard-" + "x" * 40)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("alert")).to_contain_text("invalid API key")
    tab.goto(f"{sqlite_server.url}/launch")
    expect(tab).to_have_url(f"{sqlite_server.url}/login?next=/launch")
    tab.close()


def test_workspace_charts_eye_and_grouping(
    page: Page, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    logged = log_named_runs(sqlite_client, project, [0.01, 0.01, 0.1])
    ids, names = [str(r["id"]) for r in logged], [str(r["name"]) for r in logged]
    page.goto(f"{sqlite_server.url}/")
    row = page.get_by_role("row").filter(has_text=project)
    expect(row).to_contain_text("3")
    shot(page, "projects")
    row.get_by_role("link", name=project).click()

    expect(page.locator("#visible-count")).to_have_text("3 of 3 visualized")
    for metric in ("train/loss", "val/acc"):
        expect(page.locator(f'figure[data-metric="{metric}"] canvas')).to_have_count(1)
    assert page.locator("figure.panel").count() == 2
    # Lines are labelled with the runs' names (generated ones: none was given).
    assert sorted(lines(page, "train/loss")) == sorted(names)
    assert page.locator('section[data-section="train"] figure').count() == 1
    shot(page, "workspace")

    page.locator(f'li[data-run="{ids[2]}"] button.eye').click()
    expect(page.locator("#visible-count")).to_have_text("2 of 3 visualized")
    val_acc = page.locator('figure[data-metric="val/acc"]')
    expect(val_acc).to_have_attribute("data-lines", "\n".join(names[:2]))
    page.locator(f'li[data-run="{ids[2]}"] button.eye').click()

    page.get_by_label("Group by").select_option("lr")
    expect(page.locator('figure[data-metric="train/loss"]')).to_have_attribute(
        "data-lines", "lr=0.01 (mean of 2)\nlr=0.1 (mean of 1)"
    )
    # Each group is a mean line with a min-max band.
    expect(page.locator('figure[data-metric="train/loss"]')).to_have_attribute("data-bands", "2")
    shot(page, "workspace-grouped")

    page.goto(f"{sqlite_server.url}/admin/{project}/runs/{ids[0]}")
    expect(page.get_by_role("table", name="Config")).to_contain_text("0.01")
    page.goto(f"{sqlite_server.url}/admin/{project}/runs/{ids[0]}/workspace")
    expect(page.locator('figure[data-metric="train/loss"] canvas')).to_have_count(1)
    page.goto(f"{sqlite_server.url}/admin/{project}/runs/{ids[0]}/files")
    expect(page.get_by_role("table", name="Files")).to_contain_text("config.yaml")
    shot(page, "run")


def test_runs_table_filters_sorts_and_downloads(
    page: Page, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    ids = log_runs(sqlite_client, project, [0.01, 0.1, 0.01])
    page.goto(f"{sqlite_server.url}/admin/{project}/table")
    table_rows = page.locator("#runs-table tbody tr")
    expect(table_rows).to_have_count(3)
    runs_in_order = "rows => rows.map(r => r.dataset.run)"
    # Keyboard: focus the loss column's sort link and press Enter (ascending, then descending).
    sort = page.locator('a[data-sort="summary_metrics.train/loss"]')
    sort.focus()
    page.keyboard.press("Enter")
    expect(sort).to_contain_text("▲")
    assert table_rows.evaluate_all(runs_in_order)[2] == ids[1]  # lr 0.1 ends with the top loss
    sort.focus()
    page.keyboard.press("Enter")
    expect(sort).to_contain_text("▼")
    assert table_rows.evaluate_all(runs_in_order)[0] == ids[1]

    page.get_by_label("Field").fill("config.lr")
    page.get_by_label("Value").fill("0.01")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(table_rows).to_have_count(2)
    assert sorted(table_rows.evaluate_all(runs_in_order)) == sorted([ids[0], ids[2]])
    expect(page.locator("#f-json")).to_have_value('{"config.lr": 0.01}')
    shot(page, "runs-table")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("state,name,id,tags,created,duration_s,config.lr")
    assert len(text.splitlines()) == 3


def test_a_logging_run_appears_and_its_chart_grows(
    page: Page, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    log_runs(sqlite_client, project, [0.01])
    page.goto(f"{sqlite_server.url}/admin/{project}")
    expect(page.locator("#visible-count")).to_have_text("1 of 1 visualized")
    proc = sqlite_client.popen(
        "ui_train.py", "--project", project, "--lr", "0.2", "--steps", "100", "--sleep", "0.2"
    )
    try:
        expect(page.locator("#visible-count")).to_have_text("2 of 2 visualized", timeout=30_000)
        seen: set[str] = set()
        # The client sends history every ~15 s, so a 20 s run arrives in at least two parts.
        for _ in range(80):
            seen.add(
                page.locator('figure[data-metric="val/acc"]').get_attribute("data-points") or ""
            )
            if len(seen) >= 3:
                break
            page.wait_for_timeout(500)
        assert len(seen) >= 3, f"chart did not grow: {seen}"
        shot(page, "workspace-live")
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0


def _queue_with_three_items(server: LiveServer) -> dict[str, Any]:
    name = unique_project()
    with server.api() as api:
        api.post(
            "/api/v1/queues",
            json={
                "name": name,
                "entity": "admin",
                "resource": "kubernetes",
                "config": {"args": ["--lr", "{{lr}}"]},
                "variables": [{"name": "lr", "type": "number"}],
            },
        ).raise_for_status()
        items = [
            api.post(
                f"/api/v1/queues/admin/{name}/items",
                json={"template_values": {"lr": lr}, "priority": p},
            ).json()
            for lr, p in ((0.5, 1), (0.25, 2), (0.125, 3))
        ]
        agent = api.post(
            "/api/v1/agents", json={"name": "ui-agent", "queues": [f"admin/{name}"]}
        ).json()
        claim = {"agent_id": agent["id"], "queues": [f"admin/{name}"]}
        running = api.post("/api/v1/agents/claim", json=claim).json()
        api.post(
            f"/api/v1/items/{running['id']}/report",
            json={"agent_id": agent["id"], "state": "running", "run_id": "r1"},
        ).raise_for_status()
        failed = api.post("/api/v1/agents/claim", json=claim).json()
        api.post(
            f"/api/v1/items/{failed['id']}/report",
            json={
                "agent_id": agent["id"],
                "state": "failed",
                "error": {"stage": "launch", "message": "image pull failed: no such image"},
            },
        ).raise_for_status()
    return {"name": name, "items": items, "running": running["id"], "failed": failed["id"]}


def test_queue_page_shows_states_and_cancel_works(page: Page, sqlite_server: LiveServer) -> None:
    queue = _queue_with_three_items(sqlite_server)
    page.goto(f"{sqlite_server.url}/launch")
    row = page.get_by_role("table", name="Queues").get_by_role("row").filter(has_text=queue["name"])
    expect(row).to_contain_text("1")  # one pending (low), one running
    expect(page.get_by_role("table", name="Agents")).to_contain_text("ui-agent")
    shot(page, "launch")
    row.get_by_role("link", name=queue["name"]).click()
    rows = page.locator("#items tbody tr")
    expect(rows).to_have_count(3)
    states = {r.get_attribute("data-item"): r.get_attribute("data-state") for r in rows.all()}
    assert sorted(states.values()) == ["failed", "pending", "running"]
    failed = page.locator(f'tr[data-item="{queue["failed"]}"]')
    expect(failed).to_contain_text("launch: image pull failed: no such image")
    expect(page.locator("#items")).to_contain_text("lr=0.5")
    expect(page.locator("#items")).to_contain_text("lr=0.125")
    pending = next(i for i, s in states.items() if s == "pending")
    expect(page.locator(f'tr[data-item="{pending}"] .reason')).to_contain_text(
        "waiting for an agent"
    )
    shot(page, "queue")
    page.locator(f'tr[data-item="{pending}"]').get_by_role("button", name="Cancel").click()
    expect(page.locator(f'tr[data-item="{pending}"]')).to_have_attribute("data-state", "canceled")
    with sqlite_server.api() as api:
        assert api.get(f"/api/v1/items/{pending}").json()["state"] == "canceled"
