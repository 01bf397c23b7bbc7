"""The sweep pages: the project's sweeps list and a sweep's trials, best run, parallel
coordinates and parameter importance, for a sweep run with `wandb.agent(function=...)`;
and the pure parameter-importance fit."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient, unique_project
from runyard.server.sweeps.importance import correlation, importance
from support.browser import chromium, shot, signed_in
from support.server import LiveServer

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}, "opt": {"values": ["adam", "sgd"]}},
}


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


def test_the_sweep_pages_show_trials_best_run_chart_and_importance(
    page: Page, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    result = sqlite_client.run("sweep_function_agent.py", project, "6", json.dumps(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    sweep, runs = result.results[0]["sweep"], result.results[0]["runs"]
    assert len(runs) == 6
    # The grid is done and every run ended: the server finishes the sweep by itself.
    with sqlite_server.api() as api:
        for _ in range(60):
            if api.get(f"/api/v1/sweeps/admin/{project}/{sweep}").json()["state"] == "FINISHED":
                break
            time.sleep(0.5)

    page.goto(f"{sqlite_server.url}/admin/{project}/sweeps")
    row = page.locator(f'tr[data-sweep="{sweep}"]')
    expect(row).to_contain_text("finished")
    expect(row).to_contain_text("6 / 6")
    # The list names the best run by its display name too.
    with sqlite_server.api() as api:
        listed = api.get(f"/api/v1/sweeps/admin/{project}/{sweep}").json()
    best_listed = result.results[0]["names"][listed["best_run"]]
    expect(row.get_by_role("link", name=best_listed, exact=True)).to_have_count(1)
    row.get_by_role("link").first.click()

    expect(page.get_by_role("heading", name=f"Sweep {sweep}")).to_be_visible()
    expect(page.locator("table.trials tbody tr")).to_have_count(6)
    best = page.locator("#best-run")
    with sqlite_server.api() as api:
        detail = api.get(f"/api/v1/sweeps/admin/{project}/{sweep}").json()
    best_trial = min(detail["trials"], key=lambda t: t["metric"])
    assert best_trial["params"] == {"lr": 0.001, "opt": "adam"}
    # Runs show by their display names (as W&B shows them), linking to the run's id.
    names = result.results[0]["names"]
    best_name = names[best_trial["run"]]
    assert best_name and best_name != best_trial["run"]
    assert best_trial["run_name"] == best_name
    expect(best.get_by_role("link")).to_have_text(best_name)
    href = f"/admin/{project}/runs/{best_trial['run']}"
    expect(best.get_by_role("link")).to_have_attribute("href", href)
    for run_id, name in names.items():
        link = page.locator(f'table.trials tr[data-run="{run_id}"] a').first
        expect(link).to_have_text(name)
    # The parallel-coordinates chart is drawn (uPlot's canvas), with an axis per parameter.
    expect(page.locator("#parallel .uplot canvas")).to_have_count(1)
    expect(page.locator("#parallel")).to_contain_text("opt (adam · sgd)")
    # lr drives the loss far more than opt: it is the most important parameter.
    params = page.locator("table.importance tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.param)"
    )
    assert params == ["lr", "opt"]
    shot(page, "sweep")


def test_the_sweep_page_pauses_resumes_and_cancels(page: Page, sqlite_server: LiveServer) -> None:
    project = unique_project()
    config = {"method": "random", "parameters": {"lr": {"min": 0.1, "max": 0.2}}}
    with sqlite_server.api() as api:
        created = api.post(
            "/api/v1/sweeps", json={"project": project, "config": json.dumps(config)}
        )
    assert created.status_code == 201, created.text
    sweep = created.json()["id"]
    page.goto(f"{sqlite_server.url}/admin/{project}/sweeps/{sweep}")
    state = page.locator("#sweep-state")
    expect(state).to_have_text("running")
    page.get_by_role("button", name="Pause").click()
    expect(state).to_have_text("paused")
    page.get_by_role("button", name="Resume").click()
    expect(state).to_have_text("running")
    page.get_by_role("button", name="Cancel").click()
    expect(state).to_have_text("canceled")
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)


def test_importance_ranks_the_parameter_the_metric_follows() -> None:
    rng = random.Random(7)
    rows = []
    for _ in range(200):
        params = {"lr": rng.random(), "noise": rng.random(), "opt": rng.choice(["adam", "sgd"])}
        metric = 3 * params["lr"] + (0.4 if params["opt"] == "sgd" else 0) + 0.01 * rng.random()
        rows.append((params, metric))
    ranked = importance(rows)
    assert [p.name for p in ranked] == ["lr", "opt", "noise"]
    assert abs(sum(p.importance for p in ranked) - 1) < 1e-9
    by_name = {p.name: p for p in ranked}
    assert by_name["lr"].correlation is not None and by_name["lr"].correlation > 0.9
    assert by_name["noise"].importance < 0.05


def test_correlation_of_a_constant_is_undefined() -> None:
    assert correlation([1, 1, 1], [1, 2, 3]) is None
    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert importance([]) == []
