"""A page's reads leave room for the next page (issue 19: the run page's Charts tab opened
right after the workspace waited seconds for connections the workspace still held).

The workspace asks for at most three panels' data at a time and cancels its reads and its
long poll when it is left; the server lets go of a long poll whose client went away."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from conftest import unique_project
from support.browser import chromium, signed_in, stream_run
from support.server import LiveServer

METRICS = 16


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


@pytest.fixture(scope="module")
def many_panels(sqlite_server: LiveServer) -> str:
    """A project with two runs of 16 metrics each (`m00`..`m15`, no prefix: one section)."""
    project = unique_project()
    rows = [{"_step": s, **{f"m{m:02d}": m + s / 10 for m in range(METRICS)}} for s in range(20)]
    with sqlite_server.api() as api:
        for run in ("ra", "rb"):
            stream_run(api, project, run, history=rows)
    return project


def _wait_for(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Poll `condition()` until it holds, letting the page's events in meanwhile (a generous
    deadline: the machine may be busy)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        page.wait_for_timeout(50)


def _hold_reads(page: Page) -> list[Route]:
    """Hold every panel read the page makes, until the test lets it continue."""
    held: list[Route] = []
    page.route(re.compile(r"/ui/api/projects/[^/]+/[^/]+/metric\?"), lambda r: held.append(r))
    page.set_viewport_size({"width": 1280, "height": 3000})  # every panel is near the viewport
    return held


def test_the_workspace_reads_three_panels_at_a_time(
    page: Page, sqlite_server: LiveServer, many_panels: str
) -> None:
    held = _hold_reads(page)
    page.goto(f"{sqlite_server.url}/admin/{many_panels}")
    expect(page.locator("figure.panel-line")).to_have_count(METRICS)
    _wait_for(page, lambda: len(held) >= 3, "the first reads")
    page.wait_for_timeout(500)  # room for any further read the page would (wrongly) start
    assert len(held) == 3
    for answered in range(METRICS):
        held[answered].continue_()
        if answered + 3 < METRICS:
            # An answer makes room for the next panel's read, and only for that one.
            _wait_for(page, lambda n=answered: len(held) == n + 4, "the next read")
    expect(page.locator("figure.panel-line canvas")).to_have_count(METRICS)
    assert len(held) == METRICS


def test_leaving_the_workspace_cancels_its_reads_and_a_stay_reads_again(
    page: Page, sqlite_server: LiveServer, many_panels: str
) -> None:
    held = _hold_reads(page)
    page.goto(f"{sqlite_server.url}/admin/{many_panels}")
    _wait_for(page, lambda: len(held) >= 3, "the first reads")
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    # What the browser does as a link is followed, before it asks for the next page.
    page.evaluate("() => window.dispatchEvent(new Event('beforeunload'))")
    first = {r.request.url for r in held}
    _wait_for(page, lambda: first <= set(failed), "the reads in flight to be cancelled")
    assert any("/changes?" in url for url in failed), "the long poll is cancelled too"
    # The page stayed (a link that turned out to be a download): it reads its panels again.
    _wait_for(page, lambda: len(held) >= 6, "the reads made again")
    released = 3
    while released < METRICS + 3:  # every panel read again, the cancelled three included
        _wait_for(page, lambda n=released: len(held) > n, "the next read")
        held[released].continue_()
        released += 1
    expect(page.locator("figure.panel-line canvas")).to_have_count(METRICS)


def test_a_run_page_opens_while_the_workspace_still_reads(
    page: Page, sqlite_server: LiveServer, many_panels: str
) -> None:
    held = _hold_reads(page)
    page.goto(f"{sqlite_server.url}/admin/{many_panels}")
    _wait_for(page, lambda: len(held) >= 3, "the first reads")
    page.get_by_role("link", name=re.compile(r"^ra \(")).click()
    expect(page.get_by_role("heading", name=re.compile("^ra"))).to_be_visible()
    page.get_by_role("navigation", name="Run").get_by_role("link", name="Charts").click()
    page.unroute_all(behavior="ignoreErrors")
    expect(page.locator('figure[data-metric="m00"] canvas')).to_have_count(1)


def _changes_answered(server: LiveServer) -> float:
    """How many long polls of workspace changes the server has finished (its /metrics)."""
    return _answered(server, "/ui/api/projects/{entity}/{project}/changes", "200")


def test_the_server_lets_go_of_a_long_poll_whose_client_left(
    sqlite_server: LiveServer, many_panels: str
) -> None:
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        assert client.post("/login", data={"api_key": sqlite_server.admin_key}).status_code == 303
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        since = datetime.now(UTC).isoformat()
        # A poll that nothing answers early: it waits 30 s unless its client leaves.
        quick = client.get(
            f"/ui/api/projects/admin/{many_panels}/changes", params={"since": since, "wait": 0}
        )
        assert quick.json()["runs"] == []
    before = _changes_answered(sqlite_server)
    query = httpx.QueryParams({"since": since, "wait": 30})
    with socket.create_connection(("127.0.0.1", sqlite_server.port)) as sock:
        sock.sendall(
            f"GET /ui/api/projects/admin/{many_panels}/changes?{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
        )
        time.sleep(0.5)  # the server is holding the poll now
    left = time.monotonic()
    # The server ends the poll once it sees the client gone, not when the 30 s are up.
    while _changes_answered(sqlite_server) == before and time.monotonic() - left < 25:
        time.sleep(0.2)
    assert _changes_answered(sqlite_server) == before + 1


@pytest.fixture(scope="module")
def seven_runs(sqlite_server: LiveServer) -> tuple[str, list[str]]:
    """A project of seven runs: more than the server reads in one step of a panel read."""
    project = unique_project()
    names = [f"r{n}" for n in range(7)]
    with sqlite_server.api() as api:
        for n, run in enumerate(names):
            rows = [{"_step": s, "loss": n + 1 / (s + 1), "acc": s / 10} for s in range(30)]
            stream_run(api, project, run, history=rows)
    return project, names


def test_a_panel_read_gives_the_rest_apis_buckets(
    sqlite_server: LiveServer, seven_runs: tuple[str, list[str]]
) -> None:
    project, names = seven_runs
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        assert client.post("/login", data={"api_key": sqlite_server.admin_key}).status_code == 303
        panel = client.get(
            f"/ui/api/projects/admin/{project}/metric",
            params={"runs": ",".join([*names, "nosuchrun"]), "key": ["loss", "acc"], "buckets": 8},
        )
        missing = client.get(
            "/ui/api/projects/admin/nosuchproject/metric", params={"runs": "", "key": "loss"}
        )
    assert panel.status_code == 200
    assert sorted(panel.json()) == names  # a run that does not exist is left out
    with sqlite_server.api() as api:
        for n, run in enumerate(names):
            rest = api.get(
                f"/api/v1/runs/admin/{project}/{run}/history/sampled",
                params={"keys": ["loss", "acc"], "buckets": 8},
            ).json()["series"]
            assert panel.json()[run] == rest
            assert rest["loss"][-1]["last"] == n + 1 / 30
    assert missing.status_code == 404


def _answered(server: LiveServer, route: str, status: str) -> float:
    """How many requests of `route` the server finished with `status` (its /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    wanted = ("runyard_http_request_duration_seconds_count", f'route="{route}"', f'"{status}"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if all(part in line for part in wanted)
    )


def test_a_panel_read_whose_page_was_left_stops_early(
    sqlite_server: LiveServer, seven_runs: tuple[str, list[str]]
) -> None:
    project, names = seven_runs
    route = "/ui/api/projects/{entity}/{project}/metric"
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        assert client.post("/login", data={"api_key": sqlite_server.admin_key}).status_code == 303
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    before = _answered(sqlite_server, route, "499")
    query = httpx.QueryParams({"runs": ",".join(names), "key": "loss"})
    with socket.create_connection(("127.0.0.1", sqlite_server.port)) as sock:
        sock.sendall(
            f"GET /ui/api/projects/admin/{project}/metric?{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
        )
    # Closed at once: the server stops after the first few runs, answering nobody (499).
    deadline = time.monotonic() + 30
    while _answered(sqlite_server, route, "499") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _answered(sqlite_server, route, "499") == before + 1
