"""Launch pages in headless Chromium (issue 19): a failed item's exit code and log tail, a run
link only when the run exists, and an agent's page with its jobs, heartbeat and GPUs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient
from support.browser import chromium, shot, signed_in, stream_run
from support.server import LiveServer

FAILING_JOB = "import sys; print('loading data'); print('CUDA out of memory'); sys.exit(3)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def _wait_final(api: httpx.Client, item_id: str, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        item = api.get(f"/api/v1/items/{item_id}").json()
        if item["state"] in {"finished", "failed", "canceled", "preempted"}:
            return item
        time.sleep(0.2)
    raise AssertionError(f"item stuck: {item}\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def failed_item(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[dict[str, str]]:
    """A job on a local-process queue, run by a real `runyard agent`, that exits with code 3
    after printing two lines, without ever calling wandb.init."""
    tmp = tmp_path_factory.mktemp("launch-pages")
    queue = f"local-{uuid.uuid4().hex[:8]}"
    with sqlite_server.api() as api:
        body = {"name": queue, "entity": "admin", "resource": "local-process", "lease_seconds": 5}
        assert api.post("/api/v1/queues", json=body).status_code == 201
        client = WandbClient(tmp, sqlite_server)
        env = {**client.env, "RUNYARD_URL": sqlite_server.url}
        env["RUNYARD_API_KEY"] = sqlite_server.admin_key
        log = tmp / "agent.log"
        cmd = [sys.executable, "-m", "runyard.cli", "agent", "-q", queue]
        cmd += ["--workdir", str(tmp / "jobs"), "--gpus", "0"]
        with log.open("wb") as out:
            agent = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            spec = {"run_spec": {"entry_point": [sys.executable, "-c", FAILING_JOB]}}
            item = api.post(f"/api/v1/queues/admin/{queue}/items", json=spec).json()
            done = _wait_final(api, item["id"], log)
            assert done["state"] == "failed", done
            agents = [
                a for a in api.get("/api/v1/agents").json() if a["queues"] == [f"admin/{queue}"]
            ]
        finally:
            agent.terminate()
            agent.wait(timeout=30)
            client.kill_leftovers()
    yield {
        "queue": queue,
        "item": item["id"],
        "agent": agents[0]["id"],
        "run_id": done["run_id"] or "",
    }


def test_queue_and_item_pages_show_a_failed_jobs_exit_code_and_log_tail(
    page: Page, sqlite_server: LiveServer, failed_item: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}/launch/admin/{failed_item['queue']}")
    row = page.locator(f'tr[data-item="{failed_item["item"]}"]')
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator(".exit-code")).to_have_text("exit code 3")
    row.get_by_text("Log tail").click()
    expect(row.locator("pre.log-tail")).to_contain_text("loading data\nCUDA out of memory")
    shot(page, "queue-failed-item")

    row.get_by_role("link", name=f"Item {failed_item['item'][:12]}").click()
    expect(page).to_have_url(f"{sqlite_server.url}/launch/items/{failed_item['item']}")
    expect(page.locator("#item-exit-code")).to_have_text("3")
    expect(page.locator("#item-log")).to_contain_text("loading data\nCUDA out of memory")
    expect(page.locator('dd[data-field="error"]')).to_have_text(
        "run: the job's process exited with code 3"
    )
    shot(page, "launch-item-failed")


def test_an_item_without_a_run_has_no_run_link_and_its_old_link_explains(
    page: Page, sqlite_server: LiveServer, failed_item: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}/launch/admin/{failed_item['queue']}")
    row = page.locator(f'tr[data-item="{failed_item["item"]}"]')
    expect(row.locator("a.run-link")).to_have_count(0)
    assert failed_item["run_id"]  # the agent chose the run's id; the job never used it
    expect(row.locator(".no-run")).to_have_text("no run (the job never called wandb.init)")
    # The link the queue page used to show still answers: it opens the item, which says why.
    answer = page.goto(f"{sqlite_server.url}/launch/items/{failed_item['item']}/run")
    assert answer is not None and answer.status == 200
    expect(page).to_have_url(f"{sqlite_server.url}/launch/items/{failed_item['item']}")
    expect(page.locator("#item-run")).to_contain_text("no run")
    expect(page.locator("#item-run").get_by_role("link")).to_have_count(0)
    expect(page.get_by_role("heading", name="Something is wrong")).to_have_count(0)


def test_an_item_with_a_run_links_to_it(page: Page, sqlite_server: LiveServer) -> None:
    queue, project = f"q-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    with sqlite_server.api() as api:
        new_queue = {"name": queue, "entity": "admin", "resource": "kubernetes"}
        api.post("/api/v1/queues", json=new_queue).raise_for_status()
        spec = {"run_spec": {"project": project}}
        item = api.post(f"/api/v1/queues/admin/{queue}/items", json=spec).json()
        agent = api.post("/api/v1/agents", json={"name": "linker", "queues": [f"admin/{queue}"]})
        claim = {"agent_id": agent.json()["id"], "queues": [f"admin/{queue}"]}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item["id"]
        report = {"agent_id": claim["agent_id"], "state": "running", "run_id": "linked1"}
        api.post(f"/api/v1/items/{item['id']}/report", json=report).raise_for_status()
        page.goto(f"{sqlite_server.url}/launch/admin/{queue}")
        row = page.locator(f'tr[data-item="{item["id"]}"]')
        expect(row.locator(".no-run")).to_have_text("no run yet")  # reported, not yet logged
        # W&B shows a run by its display name; markup in it is text, never HTML.
        shown = "<b>brisk-otter</b>"
        history = [{"_step": 0, "loss": 1.0}]
        stream_run(api, project, "linked1", history=history, display_name=shown)
    page.reload()
    expect(row.locator("a.run-link")).to_have_text(f"run {shown}")
    expect(row.locator("a.run-link b")).to_have_count(0)
    row.get_by_role("link", name=f"run {shown}").click()
    expect(page).to_have_url(f"{sqlite_server.url}/admin/{project}/runs/linked1")
    page.goto(f"{sqlite_server.url}/launch/items/{item['id']}")
    expect(page.locator("#item-run").get_by_role("link")).to_have_text(shown)
    expect(page.locator("#item-run code")).to_have_text(f"admin/{project}/linked1")


def test_agent_page_shows_its_jobs_heartbeat_and_gpus(
    page: Page, sqlite_server: LiveServer, failed_item: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}/launch")
    page.locator(f'tr[data-agent="{failed_item["agent"]}"]').get_by_role("link").click()
    expect(page).to_have_url(f"{sqlite_server.url}/launch/agents/{failed_item['agent']}")
    expect(page.locator('dd[data-field="heartbeat"]')).to_contain_text(" ago")
    expect(page.locator('dd[data-field="queues"]')).to_have_text(f"admin/{failed_item['queue']}")
    expect(page.locator('dd[data-field="gpus"]')).to_contain_text("0")
    job = page.locator(f'#agent-jobs tr[data-item="{failed_item["item"]}"]')
    expect(job).to_have_attribute("data-state", "failed")
    expect(job).to_contain_text("exit code 3")
    shot(page, "launch-agent")


def test_agent_page_shows_the_gpus_its_running_job_uses(
    page: Page, sqlite_server: LiveServer
) -> None:
    """No GPU here: the agent is registered through the API and its heartbeat carries the
    NVML samples a GPU agent sends (two pinned GPUs, indices 2 and 3)."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    with sqlite_server.api() as api:
        new_queue = {"name": queue, "entity": "admin", "resource": "kubernetes"}
        api.post("/api/v1/queues", json=new_queue).raise_for_status()
        body = {"run_spec": {}, "template_values": {}}
        item = api.post(f"/api/v1/queues/admin/{queue}/items", json=body).json()
        registration = {"name": "gpu-box", "hostname": "node-7", "queues": [f"admin/{queue}"]}
        registration["capacity"] = {"gpus": 8}  # type: ignore[assignment]
        agent = api.post("/api/v1/agents", json=registration).json()["id"]
        claim = {"agent_id": agent, "queues": [f"admin/{queue}"]}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item["id"]
        report = {"agent_id": agent, "state": "running"}
        api.post(f"/api/v1/items/{item['id']}/report", json=report).raise_for_status()
        now = datetime.now(UTC).isoformat()
        samples = [
            {
                "at": now,
                "gpu": g,
                "utilization_percent": 90,
                "memory_used_mib": 40960,
                "power_w": 300,
            }
            for g in (2, 3)
        ]
        beat = {"agent_id": agent, "item_ids": [item["id"]], "status": "running"}
        beat["telemetry"] = {item["id"]: samples}  # type: ignore[assignment]
        assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
    page.goto(f"{sqlite_server.url}/launch/agents/{agent}")
    expect(page.locator('dd[data-field="host"]')).to_have_text("node-7")
    expect(page.locator('dd[data-field="gpus"]')).to_contain_text("8")
    job = page.locator(f'#agent-jobs tr[data-item="{item["id"]}"]')
    expect(job).to_have_attribute("data-state", "running")
    expect(job.locator("td.gpus")).to_have_text(
        re.compile(r"^GPU 2, 3: GPU 2: 90 %, 40.0 GiB, 300 W; GPU 3: 90 %, 40.0 GiB, 300 W$")
    )
    expect(job).to_contain_text("no run")
