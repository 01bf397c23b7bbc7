"""W&B's URLs served by the web app: every link the official client prints or returns opens
its page in Chromium; logged-out visitors come back to the link after signing in; the
catch-all-looking pages shadow none of the server's own paths."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from conftest import CLIENT_PYTHON, WandbClient, unique_project
from runyard.server.app import create_app
from runyard.server.errors import ServiceError
from runyard.server.people.names import RESERVED_NAMES, check_name
from runyard.server.settings import ServerSettings
from runyard.server.state import open_state
from runyard.server.ui.next_path import login_url, safe_next
from support.browser import chromium, signed_in
from support.server import LiveServer

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRAIN = "import wandb\n\nrun = wandb.init()\nrun.log({'loss': 1.0})\nrun.finish()\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright."""
    with chromium() as launched:
        yield launched


def printed_urls(output: str, marker: str) -> list[str]:
    """The URLs on the client's output lines that contain `marker` (colors removed)."""
    plain = ANSI.sub("", output)
    return [
        url
        for line in plain.splitlines()
        if marker in line
        for url in re.findall(r"https?://\S+", line)
    ]


# --- the login page's `next` --------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_refuses_anything_but_a_local_path(target: str) -> None:
    assert safe_next(target) == "/"


def test_next_keeps_a_local_path_and_its_query() -> None:
    assert safe_next("/admin/p/runs/abc") == "/admin/p/runs/abc"
    assert safe_next("/admin/p/table?order=-created_at") == "/admin/p/table?order=-created_at"
    assert login_url("/launch") == "/login?next=/launch"
    # The query travels encoded, so it stays part of `next` rather than the login page's own.
    assert login_url("/a/b/table", "order=x&group=y") == (
        "/login?next=/a/b/table%3Forder%3Dx%26group%3Dy"
    )


def test_login_redirects_only_to_local_paths(sqlite_server: LiveServer) -> None:
    key = sqlite_server.admin_key
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as client:
        gone = client.get("/admin/some-project/runs/abc123?console_limit=5")
        assert gone.status_code == 303
        assert gone.headers["location"] == (
            "/login?next=/admin/some-project/runs/abc123%3Fconsole_limit%3D5"
        )
        form = client.get(gone.headers["location"]).text
        assert 'name="next" value="/admin/some-project/runs/abc123?console_limit=5"' in form
        for evil in ("https://evil.example/", "//evil.example", "/\\evil.example"):
            assert f'value="{evil}"' not in client.get("/login", params={"next": evil}).text
    cases = [(evil, "/") for evil in ("https://evil.example/", "//evil.example", "/\\evil.example")]
    cases.append(("/admin/p/table?order=x", "/admin/p/table?order=x"))
    for target, landing in cases:
        # A fresh visitor each time: a signed-in one would need the form's CSRF token.
        with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as visitor:
            answer = visitor.post("/login", data={"api_key": key, "next": target})
            assert (answer.status_code, answer.headers.get("location")) == (303, landing), target


# --- the server's own paths stay its own ---------------------------------------------------


def test_every_first_path_segment_of_the_server_is_reserved(tmp_path: Path) -> None:
    app = create_app(open_state(ServerSettings(data_dir=tmp_path)))

    def paths(routes: list[object]) -> Iterator[str]:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from paths(inner.routes)
            else:
                yield str(getattr(route, "path", ""))

    firsts = {p.strip("/").split("/")[0] for p in paths(list(app.routes))}
    segments = {f for f in firsts if f and not f.startswith("{")}
    # Names with other characters (`openapi.json`, `artifactsV2`) can never be entity names.
    nameable = {f for f in segments if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", f)}
    assert nameable <= RESERVED_NAMES, sorted(nameable - RESERVED_NAMES)
    assert {"api", "graphql", "files", "login", "static", "metrics"} <= RESERVED_NAMES


def test_catch_all_pages_shadow_no_server_path(sqlite_server: LiveServer) -> None:
    with sqlite_server.api() as api:
        assert api.get("/metrics").text.startswith("#")
        assert api.get("/healthz").status_code == 200
        assert api.get("/static/ui/build/app.css").status_code == 200
        viewer = api.post("/graphql", json={"query": "{ viewer { username } }"})
        assert viewer.json()["data"]["viewer"]["username"] == "admin"
        assert api.get("/api/v1/runs/admin/nope/missing").status_code == 404
        # Unknown paths under the server's own segments stay plain 404s, not pages or logins.
        for path in ("/api/nope", "/files/a/b", "/static/x/y", "/ui/a/table", "/graphql/x/jobs"):
            answer = api.get(path, follow_redirects=False)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("application/json"), path
        team = api.post("/api/v1/teams", json={"name": "api"})
        assert team.status_code == 400 and "reserved" in team.json()["detail"], team.text


# --- the official client's links, opened in Chromium ---------------------------------------


def test_links_printed_by_the_client_open_their_pages(
    server: LiveServer, wandb_client: WandbClient, browser: Browser, tmp_path: Path
) -> None:
    client = wandb_client
    project = unique_project()
    ran = client.run("run_urls.py", "--project", project)
    assert ran.returncode == 0, ran.stderr
    found = ran.results[0]
    output = ran.stdout + ran.stderr
    run_url = f"{server.url}/admin/{project}/runs/{found['id']}"
    project_url = f"{server.url}/admin/{project}"
    assert set(printed_urls(output, "View run")) == {run_url}
    assert set(printed_urls(output, "View project")) == {project_url}
    assert found["url"] == found["api_url"] == run_url
    assert found["project_url"] == project_url
    assert found["api_project_url"] == f"{project_url}/workspace"

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "requirements.txt").write_text("wandb\n")
    created = subprocess.run(
        [
            *(WANDB_CLI, "job", "create", "-p", project, "-e", "admin", "-n", "trainer"),
            *("-E", "python train.py", "code", str(code)),
        ],
        env=client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    jobs_url = f"{project_url}/jobs"
    assert printed_urls(created.stdout + created.stderr, "View all jobs") == [jobs_url]

    # Logged out, the run's link goes through the login page and back to the run.
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(run_url)
    expect(tab).to_have_url(re.compile(r"/login\?next="))
    tab.get_by_label("API key").fill(server.admin_key)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(run_url)
    expect(tab.get_by_role("heading", level=1)).to_contain_text(str(found["name"]))
    context.close()

    with signed_in(browser, server) as page:
        for url in (project_url, str(found["api_project_url"])):
            page.goto(url)
            expect(page.get_by_role("heading", level=1)).to_have_text(f"admin/{project}")
            expect(page.locator("#run-list")).to_contain_text(str(found["name"]))
        page.goto(jobs_url)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Jobs of admin/{project}")
        row = page.locator('tr[data-job="trainer"]')
        expect(row).to_contain_text("v0")
        expect(row).to_contain_text("latest")
        page.goto(f"{project_url}/table")
        expect(page.locator(f'tr[data-run="{found["id"]}"]')).to_contain_text(str(found["name"]))
        # A page Runyard does not have yet says so, with a 404.
        answer = page.goto(f"{project_url}/artifacts/abc123")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("Artifact pages are not available")
        # A sweep that does not exist is a 404 naming it.
        answer = page.goto(f"{project_url}/sweeps/abc123")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text(f"admin/{project}/abc123 does not exist")
        # The earlier URL of the run page still works.
        page.goto(f"{server.url}/runs/admin/{project}/{found['id']}")
        expect(page).to_have_url(run_url)


def test_a_team_cannot_take_a_reserved_name() -> None:
    for name in ("api", "login", "static", "graphql", "files"):
        with pytest.raises(ServiceError, match="reserved"):
            check_name(name, "name")
    assert check_name("admin", "name") == "admin"
    assert check_name("api-team", "name") == "api-team"
