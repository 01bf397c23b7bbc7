"""The run page as tabs (issue 19) in headless Chromium: the overview shows what the official
client said about the machine and code, the page fits narrow windows with media in the
summary, and the Files tab previews images and text inline."""

from __future__ import annotations

import json
import platform
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wandb
from playwright.sync_api import Browser, Locator, Page, expect

from conftest import WandbClient, unique_project
from support.browser import chromium, run_page, shot, signed_in, stream_run
from support.server import LiveServer

REMOTE = "https://example.com/acme/trainer.git"
CREATE_FILES = (
    "mutation($i: CreateRunFilesInput!) { createRunFiles(input: $i) { files { uploadUrl } } }"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def _git_repo(folder: Path) -> str:
    """A repository with one commit and an `origin` remote; returns the commit."""
    folder.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin"}
    for args in (
        ["init", "-q"],
        ["remote", "add", "origin", REMOTE],
        ["commit", "-q", "--allow-empty", "-m", "first"],
    ):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return head.stdout.strip()


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[dict[str, str]]:
    """One run logged by the official client from a git checkout: nested config, a 64-bin
    histogram and an image in its summary, a saved text file, console lines."""
    tmp = tmp_path_factory.mktemp("run-tabs")
    commit = _git_repo(tmp / "repo")
    client = WandbClient(tmp, sqlite_server)
    client.env["WANDB_DISABLE_GIT"] = "false"  # the helper turns git off; this test needs it
    project = unique_project()
    try:
        result = client.run("ui_run_page.py", "--project", project, "--repo", str(tmp / "repo"))
    finally:
        client.kill_leftovers()
    assert result.returncode == 0, result.stderr
    run = str(result.results[0]["id"])
    yield {"path": f"admin/{project}/{run}", "project": project, "run": run, "commit": commit}


def _field(page: Page, name: str) -> Locator:
    return page.locator(f'#run-overview dd[data-field="{name}"]')


def test_run_overview_shows_the_clients_metadata(
    page: Page, sqlite_server: LiveServer, logged: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}{run_page(logged['path'])}")
    tabs = page.get_by_role("navigation", name="Run")
    expect(tabs.get_by_role("link")).to_have_text(
        ["Overview", "Charts", "System", "Logs", "Files", "Artifacts"]
    )
    expect(tabs.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(_field(page, "state")).to_have_text("finished (exit code 0)")
    expect(_field(page, "user")).to_have_text("admin")
    expect(_field(page, "host")).to_have_text(socket.gethostname())
    # The command as typed: program and its arguments.
    expect(_field(page, "command")).to_contain_text("ui_run_page.py --project " + logged["project"])
    expect(_field(page, "python")).to_have_text(f"CPython {platform.python_version()}")
    expect(_field(page, "os")).to_contain_text(platform.system())
    expect(_field(page, "cpu")).to_have_text(
        re.compile(r"^[1-9]\d*$")  # this machine's core count, as the client saw it
    )
    expect(_field(page, "git-remote")).to_have_text(REMOTE)
    expect(_field(page, "git-commit")).to_have_text(logged["commit"])
    expect(_field(page, "wandb-version")).to_have_text(wandb.__version__)
    # No GPU on this machine: the field says so (GPU values: the next test).
    expect(_field(page, "gpu")).to_have_text("none reported")
    expect(_field(page, "tags")).to_have_text("tabs")
    expect(_field(page, "notes")).to_have_text("run page tabs")
    expect(page.locator("#launch-item")).to_have_text("not launched from a queue")

    # The config as a nested table: a group row for `optimizer`, its keys below it.
    config = page.get_by_role("table", name="Config")
    group = config.locator("tr.config-group", has_text="optimizer")
    expect(group).to_have_count(1)
    expect(config.locator("tr.depth-1", has_text="name")).to_contain_text("adam")
    expect(config.locator("tr.depth-1", has_text="betas")).to_contain_text("0.9, 0.999")
    # Media in the summary is one typed label, never its flattened payload.
    summary = page.get_by_role("table", name="Summary")
    expect(summary.locator("tr", has_text="weights")).to_contain_text("histogram (64 bins)")
    expect(summary.locator("tr", has_text="samples")).to_contain_text("image (48x32)")
    expect(summary.locator("tr", has_text="train/loss")).to_contain_text("0.333333")
    shot(page, "run-overview")


def _upload_run_file(api: httpx.Client, path: str, name: str, body: bytes) -> None:
    """Upload a run file as the client does: createRunFiles, then PUT to the signed URL."""
    entity, project, run = path.split("/")
    variables = {"i": {"entityName": entity, "projectName": project, "runName": run}}
    variables["i"]["files"] = [name]  # type: ignore[index]
    created = api.post("/graphql", json={"query": CREATE_FILES, "variables": variables})
    url = created.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    assert httpx.put(url, content=body).status_code == 200


def test_run_overview_shows_gpus_the_metadata_reports(
    page: Page, sqlite_server: LiveServer
) -> None:
    """This machine has no GPU, so no client run here reports one: the test uploads the
    `wandb-metadata.json` a client on a GPU machine writes (fields as 0.31 names them)."""
    metadata = {
        "os": "Linux-6.8.0-x86_64-with-glibc2.39",
        "python": "CPython 3.12.3",
        "program": "train.py",
        "args": ["--epochs", "3"],
        "host": "gpu-node-7",
        "gpu": "NVIDIA H100 80GB HBM3",
        "gpu_count": 8,
        "cudaVersion": "12.4",
        "gpu_nvidia": [{"name": "NVIDIA H100 80GB HBM3", "memoryTotal": "85520809984"}] * 8,
        "git": {"remote": REMOTE, "commit": "0123456789abcdef"},
        "unknownField": {"ignored": True},
    }
    with sqlite_server.api() as api:
        path = stream_run(api, unique_project(), "on-gpus", history=[{"_step": 0, "loss": 1.0}])
        _upload_run_file(api, path, "wandb-metadata.json", json.dumps(metadata).encode())
    page.goto(f"{sqlite_server.url}{run_page(path)}")
    expect(_field(page, "gpu")).to_have_text("8 x NVIDIA H100 80GB HBM3 (CUDA 12.4)")
    expect(_field(page, "command")).to_have_text("python train.py --epochs 3")
    expect(_field(page, "host")).to_have_text("gpu-node-7")
    expect(_field(page, "git-commit")).to_have_text("0123456789abcdef")

    # A damaged metadata file does not break the page: the fields are simply not shown.
    with sqlite_server.api() as api:
        broken = stream_run(api, unique_project(), "broken-meta")
        _upload_run_file(api, broken, "wandb-metadata.json", b"{not json")
    answer = page.goto(f"{sqlite_server.url}{run_page(broken)}")
    assert answer is not None and answer.status == 200
    expect(_field(page, "gpu")).to_have_text("none reported")
    expect(_field(page, "command")).to_have_text("not reported")


@pytest.mark.parametrize("width", [800, 1440])
def test_run_page_fits_the_window_with_a_histogram_in_the_summary(
    browser: Browser, sqlite_server: LiveServer, logged: dict[str, str], width: int
) -> None:
    with signed_in(browser, sqlite_server) as page:
        page.set_viewport_size({"width": width, "height": 900})
        for tab in ("", "/workspace", "/system", "/logs", "/files", "/artifacts"):
            page.goto(f"{sqlite_server.url}{run_page(logged['path'])}{tab}")
            expect(page.get_by_role("navigation", name="Run")).to_be_visible()
            if tab == "/workspace":
                expect(page.locator("#panels figure canvas").first).to_be_visible()
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{tab or 'overview'} is {wide} px wide in a {width} px window"
        page.goto(f"{sqlite_server.url}{run_page(logged['path'])}")
        shot(page, f"run-overview-{width}")


def test_files_tab_previews_an_image_and_text_inline(
    page: Page, sqlite_server: LiveServer, logged: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}{run_page(logged['path'])}/files")
    files = page.get_by_role("table", name="Files")
    image_row = files.locator("tr", has_text="media/images/samples_")
    expect(image_row).to_have_count(1)
    # Each file keeps a download link.
    expect(image_row.get_by_role("link", name="Download media/images/samples_")).to_have_attribute(
        "download", re.compile(r"^samples_.*\.png$")
    )
    # Clicking the image's name previews it in the page instead of downloading it.
    image_row.locator("td").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/files/media/images/samples_.*\.png$"))
    preview = page.locator("#file-preview")
    expect(preview).to_have_attribute("data-kind", "image")
    image = preview.locator("img.file-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('img.file-image').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [48, 32]
    expect(preview.get_by_role("link", name="Download")).to_have_attribute(
        "download", re.compile(r"\.png$")
    )
    shot(page, "run-file-image")

    page.get_by_role("table", name="Files").get_by_role(
        "link", name="notes.txt", exact=True
    ).click()
    expect(page.locator("#file-preview pre")).to_have_text("first line of the notes\nsecond line\n")


def test_logs_and_charts_tabs_show_the_clients_output(
    page: Page, sqlite_server: LiveServer, logged: dict[str, str]
) -> None:
    page.goto(f"{sqlite_server.url}{run_page(logged['path'])}/logs")
    expect(page.locator("#console .line", has_text="epoch 2 done")).to_have_count(1)
    page.get_by_label("Search console").fill("epoch 1")
    # The client stamps each line with its time: match the text after it.
    expect(page.locator("#console .line:visible")).to_have_text([re.compile(r"epoch 1 done$")])
    download = page.get_by_role("link", name="Download output.log")
    expect(download).to_have_attribute("download", f"{logged['run']}-output.log")
    page.get_by_role("navigation", name="Run").get_by_role("link", name="Charts").click()
    expect(page).to_have_url(f"{sqlite_server.url}{run_page(logged['path'])}/workspace")
    expect(page.locator('figure[data-metric="train/loss"] canvas')).to_have_count(1)


def test_an_unknown_run_tab_names_the_tabs(page: Page, sqlite_server: LiveServer) -> None:
    with sqlite_server.api() as api:
        path = stream_run(api, unique_project(), "tabless")
    answer = page.goto(f"{sqlite_server.url}{run_page(path)}/nope")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("no tab 'nope'; try overview, workspace")


def test_the_charts_tab_shows_one_runs_charts_without_workspace_edits(
    page: Page, sqlite_server: LiveServer
) -> None:
    rows = [{"_step": s, "train/loss": 1 / (s + 1), "val/acc": s / 10} for s in range(10)]
    with sqlite_server.api() as api:
        path = stream_run(api, unique_project(), "solo", history=rows)
    page.goto(f"{sqlite_server.url}{run_page(path)}/workspace")
    expect(page.locator("figure.panel-line canvas")).to_have_count(2)
    # One run's default layout, kept nowhere: nothing to add, remove, rename or save.
    for name in (re.compile("^Remove panel"), re.compile("^Add panel"), re.compile("^Rename")):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("combobox", name=re.compile("^Panel to add"))).to_have_count(0)
    expect(page.locator("#view-select, #view-save")).to_have_count(0)
    # Sections still fold away and open again.
    train = page.locator('section[data-section="train"]')
    train.get_by_role("button", name="train").click()
    expect(train.locator("figure")).to_have_count(0)
    train.get_by_role("button", name="train").click()
    expect(train.locator("figure.panel-line canvas")).to_have_count(1)
