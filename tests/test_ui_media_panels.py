"""Workspace media panels in headless Chromium (issue 19): a panel of many runs draws them page
by page ("Show N more runs"), the image step slider keeps the step the user picked when a live
update adds steps (and follows the newest step when that is where it was), and a video logged
with the official client plays with its duration shown."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from conftest import WandbClient, unique_project
from support.browser import chromium, shot, signed_in, stream_run
from support.server import LiveServer

RUNS = 11  # more than one page of run blocks (8)
RUN_FILES = """
mutation($project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: "admin", projectName: $project, runName: $run,
                         files: $files}) { files { name uploadUrl } }
}
"""
LOADED_16PX = "img => img.complete && img.naturalWidth === 16"
LIVE_MS = 30_000  # a live update reaches the page well within this, even on a loaded machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def _webm(path: Path, seconds: int = 2, fps: int = 10) -> Path:
    """A small VP8 WebM of a square moving across (PyAV; Chromium plays WebM natively)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * fps):
            pixels = np.zeros((48, 64, 3), np.uint8)
            pixels[16:32, i * 2 : i * 2 + 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def video_project(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[str]:
    """A project whose one run logged `wandb.Video` at steps 0 and 1 (official client)."""
    tmp = tmp_path_factory.mktemp("video")
    client = WandbClient(tmp, sqlite_server)
    project = unique_project()
    clip = _webm(tmp / "square.webm")
    result = client.run("video_log.py", "--project", project, "--video", str(clip))
    assert result.returncode == 0, result.stderr
    yield project
    client.kill_leftovers()


def _image(run: str, step: int) -> dict[str, Any]:
    """What `wandb.Image` puts in a history row for a 16x16 PNG."""
    return {
        "_type": "image-file",
        "path": f"media/images/samples_{step}_{run}.png",
        "caption": f"{run} at step {step}",
        "width": 16,
        "height": 16,
        "format": "png",
    }


def _upload_images(api: httpx.Client, project: str, run: str, steps: range) -> None:
    """Upload the PNGs those rows name, the way the client does (createRunFiles, then PUT)."""
    names = [_image(run, s)["path"] for s in steps]
    made = api.post(
        "/graphql",
        json={"query": RUN_FILES, "variables": {"project": project, "run": run, "files": names}},
    )
    made.raise_for_status()
    for step, file in zip(steps, made.json()["data"]["createRunFiles"]["files"], strict=True):
        png = io.BytesIO()
        Image.new("RGB", (16, 16), (40 * step % 256, 80, 160)).save(png, format="PNG")
        httpx.put(file["uploadUrl"], content=png.getvalue()).raise_for_status()


def _post_steps(api: httpx.Client, project: str, run: str, steps: range) -> None:
    """More history lines for a running run, at file_stream offset = their step."""
    lines = [
        json.dumps({"_step": s, "samples": _image(run, s), "loss": 1.0 / (s + 1)}) for s in steps
    ]
    files = {"wandb-history.jsonl": {"offset": steps.start, "content": lines}}
    posted = api.post(f"/files/admin/{project}/{run}/file_stream", json={"files": files})
    posted.raise_for_status()


def _workspace(page: Page, server: LiveServer, project: str) -> None:
    page.goto(f"{server.url}/admin/{project}")
    expect(page.locator("body[data-charts-ready]")).to_have_count(1)


def _slider(panel: Locator) -> Locator:
    return panel.get_by_label("Step of samples")


def test_a_media_panel_shows_every_run_page_by_page_and_keeps_the_chosen_step_live(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    names = [f"m{i:02d}" for i in range(RUNS)]
    with sqlite_server.api() as api:
        for name in names:
            rows: list[dict[str, object]] = [
                {"_step": s, "samples": _image(name, s), "loss": 1.0 / (s + 1)} for s in range(3)
            ]
            stream_run(api, project, name, history=rows, summary={"samples": _image(name, 2)})
            _upload_images(api, project, name, range(3))
    _workspace(page, sqlite_server, project)
    panel = page.locator('figure[data-kind="image"][data-metric="samples"]')
    panel.scroll_into_view_if_needed()

    # The first page of runs, then a button for the rest (no run silently left out).
    blocks = panel.locator(".media-block")
    expect(blocks).to_have_count(8)
    more = panel.get_by_role("button", name=re.compile(r"^Show \d+ more runs?"))
    expect(more).to_have_text(f"Show {RUNS - 8} more runs ({RUNS - 8} not shown)")
    more.click()
    expect(blocks).to_have_count(RUNS)
    expect(more).to_be_hidden()
    # The runs drawn later show the same step as the rest, their pictures loaded.
    expect(panel.locator(".media-cell[data-step='2']")).to_have_count(RUNS)
    last_img = panel.locator(f'.media-cell[data-run="{names[-1]}"] img')
    page.wait_for_function(LOADED_16PX, arg=last_img.element_handle())

    # The user picks step 1; a live update adds steps 3 and 4: the slider stays on step 1.
    slider = _slider(panel)
    expect(slider).to_have_attribute("max", "2")
    slider.fill("1")
    expect(panel.locator("output.step-value")).to_have_text("step 1")
    first = panel.locator(f'.media-cell[data-run="{names[0]}"] figcaption')
    expect(first).to_have_text(f"{names[0]} at step 1")
    with sqlite_server.api() as api:
        _upload_images(api, project, names[0], range(3, 5))
        _post_steps(api, project, names[0], range(3, 5))
    # Redrawn with the new steps (the long poll answers at once; generous for busy machines).
    expect(slider).to_have_attribute("max", "4", timeout=LIVE_MS)
    expect(slider).to_have_value("1")
    expect(panel.locator("output.step-value")).to_have_text("step 1")
    expect(first).to_have_text(f"{names[0]} at step 1")
    expect(blocks).to_have_count(RUNS)  # and every run still shown
    shot(page, "workspace-media-many-runs")

    # At the newest step, the slider follows new steps as they come.
    slider.fill("4")
    expect(first).to_have_text(f"{names[0]} at step 4")
    with sqlite_server.api() as api:
        _upload_images(api, project, names[0], range(5, 6))
        _post_steps(api, project, names[0], range(5, 6))
    expect(slider).to_have_attribute("max", "5", timeout=LIVE_MS)
    expect(panel.locator("output.step-value")).to_have_text("step 5")
    expect(first).to_have_text(f"{names[0]} at step 5")


def test_a_logged_video_plays_in_the_workspace_with_its_duration(
    page: Page, sqlite_server: LiveServer, video_project: str
) -> None:
    _workspace(page, sqlite_server, video_project)
    panel = page.locator('figure[data-kind="video"][data-metric="clip"]')
    panel.scroll_into_view_if_needed()
    video = panel.locator("video")
    expect(video).to_have_count(1)
    expect(panel.locator("figcaption").last).to_contain_text("moving square at step 1")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle())
    duration = video.evaluate("v => v.duration")
    assert 1.8 <= duration <= 2.2
    expect(video).to_have_attribute("data-duration", str(duration).removesuffix(".0"))
    expect(panel.locator(".media-duration")).to_have_text(re.compile(r"^0:0[12]\.\d$"))
    shot(page, "workspace-media-video")

    # The file comes with the content type the browser needs to play it.
    src = video.get_attribute("src") or ""
    assert page.request.get(f"{sqlite_server.url}{src}").headers["content-type"] == "video/webm"
