"""A run's files come back through the official client: media, console, config, restore, pull."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import CLIENT_PYTHON, ScriptResult, WandbClient, unique_project
from support.server import LiveServer

MEDIA_PREFIXES = {
    "image": "media/images/",
    "table": "media/table/",
    "histogram": None,  # histograms travel inside history rows, not as files
    "html": "media/html/",
    "audio": "media/audio/",
    "video": "media/videos/",
}


def _ok(result: ScriptResult) -> dict[str, object]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.results[-1]


def _local_files(files_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(files_dir)): p.read_bytes() for p in files_dir.rglob("*") if p.is_file()
    }


def _log_run(client: WandbClient, project: str) -> tuple[str, Path]:
    logged = _ok(client.run("run_files.py", "log", "--project", project))
    return str(logged["run_id"]), Path(str(logged["files_dir"]))


def _wandb_cli(client: WandbClient, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    wandb_bin = Path(CLIENT_PYTHON).parent / "wandb"
    return subprocess.run(
        [str(wandb_bin), *args],
        cwd=cwd,
        env=client.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_media_and_console_read_back_byte_identical(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    run_id, files_dir = _log_run(wandb_client, project)
    local = _local_files(files_dir)

    into = tmp_path / "downloaded"
    listing = _ok(
        wandb_client.run(
            "run_files.py",
            "read",
            "--project",
            project,
            "--run-id",
            run_id,
            "--into",
            str(into),
            "--per-page",
            "3",  # several pages: the client follows the name cursor
        )
    )
    files = {f["name"]: f for f in listing["files"]}  # type: ignore[attr-defined]
    assert listing["count"] == len(files)

    # Every media type that is a file, plus the console and the client's own files.
    for kind, prefix in MEDIA_PREFIXES.items():
        if prefix is not None:
            assert any(name.startswith(prefix) for name in files), (kind, sorted(files))
    for name in ("output.log", "wandb-metadata.json", "requirements.txt", "config.yaml"):
        assert name in files, (name, sorted(files))
    assert "wandb-summary.json" in files

    # Byte-identical to what the run wrote locally, and the API's size and md5 agree.
    for name, info in files.items():
        body = (into / name).read_bytes()
        assert name in local, f"{name} was served but the run never wrote it"
        assert body == local[name], name
        assert info["size"] == len(body), name
        assert info["md5"] == _md5_b64(body), name
        assert info["updated_at"], name
    console = (into / "output.log").read_text()
    assert "hello from the training script" in console
    assert "second line" in console

    assert files["output.log"]["mimetype"] == "text/plain"
    assert files["wandb-metadata.json"]["mimetype"] == "application/json"
    image = next(n for n in files if n.startswith("media/images/"))
    assert files[image]["mimetype"] == "image/png"
    audio = next(n for n in files if n.startswith("media/audio/"))
    assert files[audio]["mimetype"] == "audio/x-wav"
    video = next(n for n in files if n.startswith("media/videos/"))
    assert files[video]["mimetype"] == "image/gif"


def _md5_b64(body: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _read(client: WandbClient, project: str, run_id: str, into: Path) -> dict[str, object]:
    args = ["read", "--project", project, "--run-id", run_id, "--into", str(into)]
    return _ok(client.run("run_files.py", *args))


def _stable(listing: dict[str, object]) -> list[dict[str, object]]:
    """The listing without the signed URLs, whose expiry moves with the clock."""
    return [
        {k: v for k, v in f.items() if k != "direct_url"}
        for f in listing["files"]  # type: ignore[attr-defined]
    ]


def _names(listing: dict[str, object]) -> list[str]:
    return [f["name"] for f in listing["files"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_unknown_file_name_is_a_clear_error(
    wandb_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    run_id, _ = _log_run(wandb_client, project)
    before = _read(wandb_client, project, run_id, tmp_path / "a")

    # The client asks by name and finds no such file (W&B answers an empty list too, which
    # `wandb restore` relies on for optional files).
    missing = _ok(
        wandb_client.run(
            "run_files.py",
            "missing",
            "--project",
            project,
            "--run-id",
            run_id,
            "--name",
            "no-such-file.txt",
        )
    )
    assert missing["error"], "asking for a file the run lacks must fail"

    # The native API answers 404 naming the file and the run.
    with sqlite_server.api() as api:
        answer = api.get(f"/api/v1/runs/admin/{project}/{run_id}/files/no-such-file.txt")
        assert answer.status_code == 404, answer.text
        assert "no-such-file.txt" in answer.text and run_id in answer.text
        found = api.get(f"/api/v1/runs/admin/{project}/{run_id}/files/config.yaml")
        assert found.status_code == 200, found.text
        assert found.json()["mimetype"] == "application/x-yaml"

    # Nothing changed.
    after = _read(wandb_client, project, run_id, tmp_path / "b")
    assert _stable(after) == _stable(before)


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_upload_file_pull_and_restore(wandb_client: WandbClient, tmp_path: Path) -> None:
    project = unique_project()
    run_id, files_dir = _log_run(wandb_client, project)

    # run.upload_file: a new file on a finished run, read back byte-identical.
    extra = tmp_path / "notes" / "results.csv"
    extra.parent.mkdir()
    extra.write_bytes(b"epoch,loss\n0,0.5\n1,0.25\n")
    uploaded = _ok(
        wandb_client.run(
            "run_files.py",
            "upload",
            "--project",
            project,
            "--run-id",
            run_id,
            "--path",
            str(extra),
        )
    )
    assert uploaded["name"] == "results.csv"
    assert uploaded["size"] == len(extra.read_bytes())
    listing = _read(wandb_client, project, run_id, tmp_path / "read")
    assert "results.csv" in _names(listing)
    assert (tmp_path / "read" / "results.csv").read_bytes() == extra.read_bytes()

    # wandb pull: every file into the working directory, as the run wrote it.
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    result = _wandb_cli(wandb_client, pulled, "pull", "-p", project, "-e", "admin", run_id)
    assert result.returncode == 0, result.stdout + result.stderr
    local = _local_files(files_dir)
    for name in _names(listing):
        if name != "results.csv":
            assert (pulled / name).read_bytes() == local[name], name
    assert (pulled / "results.csv").read_bytes() == extra.read_bytes()
    # A second pull finds everything up to date (the md5s the API reports match the bytes).
    again = _wandb_cli(wandb_client, pulled, "pull", "-p", project, "-e", "admin", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "File config.yaml is up to date" in again.stdout

    # wandb restore: the run's config comes back as wandb/config.yaml.
    restored = tmp_path / "restored"
    restored.mkdir()
    result = _wandb_cli(wandb_client, restored, "restore", "--no-git", f"admin/{project}/{run_id}")
    assert result.returncode == 0, result.stdout + result.stderr
    candidates = list(Path(wandb_client.env["WANDB_DIR"]).rglob("config.yaml"))
    candidates += list(restored.rglob("config.yaml"))
    restored_config = [p for p in candidates if p.parent.name == "wandb"]
    assert restored_config, result.stdout + result.stderr
    text = restored_config[0].read_text()
    assert "lr:" in text and "0.01" in text and "layers:" in text


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_live_run_serves_its_console_as_output_log(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    release = tmp_path / "release"
    proc = wandb_client.popen("run_files.py", "live", "--project", project, "--path", str(release))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("RESULT "):
            line = proc.stdout.readline()
        started = json.loads(line[len("RESULT ") :])
        run_id = started["run_id"]
        # The console reaches the server over file_stream a little later: read until it has.
        into = tmp_path / "live"
        for attempt in range(200):
            listing = _read(wandb_client, project, run_id, into / str(attempt))
            if "output.log" in _names(listing):
                body = (into / str(attempt) / "output.log").read_bytes()
                if b"live line two" in body:
                    break
        else:
            raise AssertionError("output.log never listed for the live run")
        info = next(f for f in listing["files"] if f["name"] == "output.log")  # type: ignore[attr-defined]
        assert body.startswith(b"live line one\nlive line two\n")
        # The same bytes the client has written to its own output.log so far.
        local = (Path(started["files_dir"]) / "output.log").read_bytes()
        assert local.startswith(body)
        assert info["size"] == len(body)
        assert info["md5"] == _md5_b64(body)
        assert info["mimetype"] == "text/plain"
    finally:
        release.touch()
        proc.communicate(timeout=120)
    assert proc.returncode == 0


FILES_QUERY = """
query($e: String, $p: String, $r: String!, $pattern: String, $upload: Boolean) {
  project(name: $p, entityName: $e) {
    run(name: $r) {
      fileCount
      files(pattern: $pattern, first: 2) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { name mimetype sizeBytes updatedAt url(upload: $upload) } }
      }
    }
  }
}
"""


def _files_query(
    server: LiveServer, key: str, project: str, run_id: str, **variables: object
) -> dict[str, object]:
    with server.api(key) as api:
        answer = api.post(
            "/graphql",
            json={
                "query": FILES_QUERY,
                "variables": {"e": "rf", "p": project, "r": run_id, **variables},
            },
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_only_writers_get_upload_urls_and_patterns_filter(
    server: LiveServer, tmp_path: Path
) -> None:
    with server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": "rf-viewer"})
        assert created.status_code == 201, created.text
        viewer_key = created.json()["api_key"]
        assert admin.post("/api/v1/teams", json={"name": "rf"}).status_code == 201
        added = admin.post(
            "/api/v1/teams/rf/members", json={"username": "rf-viewer", "role": "viewer"}
        )
        assert added.status_code == 201, added.text
    client = WandbClient(tmp_path / "admin", server)
    client.env["WANDB_ENTITY"] = "rf"
    try:
        project = unique_project()
        run_id, _ = _log_run(client, project)
    finally:
        client.kill_leftovers()

    # A viewer reads the files (a LIKE pattern, pages of two) and download URLs.
    seen = _files_query(server, viewer_key, project, run_id, pattern="%.json")
    assert "errors" not in seen, seen
    run = seen["data"]["project"]["run"]  # type: ignore[index]
    names = [e["node"]["name"] for e in run["files"]["edges"]]
    assert names and all(n.endswith(".json") for n in names)
    assert run["files"]["totalCount"] >= 3  # metadata, summary, the table
    assert run["files"]["pageInfo"]["hasNextPage"] is True
    assert run["fileCount"] > run["files"]["totalCount"]
    assert all("/storage/" in e["node"]["url"] for e in run["files"]["edges"])

    # Asking for upload URLs needs write access: refused, naming the role; nothing stored.
    refused = _files_query(server, viewer_key, project, run_id, upload=True)
    assert refused.get("errors"), refused
    assert "viewer" in json.dumps(refused["errors"]), refused["errors"]
    allowed = _files_query(server, server.admin_key, project, run_id, upload=True)
    assert "errors" not in allowed, allowed
    edges = allowed["data"]["project"]["run"]["files"]["edges"]  # type: ignore[index]
    put_url = edges[0]["node"]["url"]
    with httpx.Client() as anonymous:
        # The URL is signed for PUT only: a GET with it is refused.
        assert anonymous.get(put_url).status_code == 403
