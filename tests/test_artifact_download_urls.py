"""The download URLs the official client builds itself for one artifact file
(`artifact.get_entry(name).download()`): W&B storage layout V2, `/artifactsV2/...`.

- before 0.23 (no collection handler announced): `/artifactsV2/<region>/<entity>/<birth id>/<md5>`;
- newer, with ARTIFACT_V2_DOWNLOAD_HANDLER_SUPPORTS_ARTIFACT_ID announced:
  `/artifactsV2/<region>/<entity>/<project>/<collection>/<version id>/<birth id>/<md5>/<name>`;
- in between: the same without the version id.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from conftest import WandbClient, unique_project
from support.server import LiveServer

FILES = {"a.txt": "first file\n", "sub/b.txt": "second file, in a folder\n"}


def _log(client: WandbClient, tmp_path: Path, project: str) -> dict[str, str]:
    src = tmp_path / "src"
    for name, text in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    common = ("--project", project, "--name", "ds")
    logged = client.run("artifact_entries.py", "log", *common, "--src", str(src))
    assert logged.returncode == 0, logged.stderr[-3000:]
    # A cache of its own: the client would serve the files it uploaded from its cache.
    client.env["WANDB_CACHE_DIR"] = str(tmp_path / "empty-cache")
    result = client.run("artifact_entries.py", "get", *common, "--dest", str(tmp_path / "dl"))
    assert result.returncode == 0, result.stderr[-3000:]
    (found,) = result.results
    files: dict[str, str] = found["files"]  # type: ignore[assignment]
    return files


def test_single_entries_download_through_the_urls_the_client_builds_sqlite(
    sqlite_client: WandbClient, tmp_path: Path
) -> None:
    assert _log(sqlite_client, tmp_path, unique_project()) == FILES


def test_every_artifacts_v2_url_shape_serves_the_file_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    _log(sqlite_client, tmp_path, project)
    with sqlite_server.api() as api:
        version = api.get(f"/api/v1/artifacts/admin/{project}/ds:v0").json()
        node = version["id"]
        (entry,) = [f for f in version["files"] if f["name"] == "sub/b.txt"]
        md5 = base64.b64decode(entry["md5"]).hex()
        urls = [
            f"/artifactsV2/default/admin/{node}/{md5}",
            f"/artifactsV2/default/admin/{project}/ds/{node}/{md5}/b.txt",
            f"/artifactsV2/default/admin/{project}/ds/{node}/{node}/{md5}/b.txt",
        ]
        for url in urls:
            answer = api.get(url)
            assert answer.status_code == 200, (url, answer.text)
            assert answer.text == FILES["sub/b.txt"], url
        # Another digest, or a version the file was not first logged in: not found.
        assert api.get(f"/artifactsV2/default/admin/{node}/{'0' * 32}").status_code == 404
        other = base64.b64encode(b"Artifact:999999").decode()
        assert api.get(f"/artifactsV2/default/admin/{other}/{md5}").status_code == 404
    # The URLs need the caller's credentials, like every other read.
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as anonymous:
        assert anonymous.get(urls[0]).status_code == 401
