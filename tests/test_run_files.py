"""A run's files come back through the official client: media, console, config, restore, pull."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from conftest import CLIENT_PYTHON, ScriptResult, WandbClient, unique_project

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
            "run_files.py", "read", "--project", project, "--run-id", run_id, "--into", str(into)
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


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_unknown_file_name_is_a_clear_error(wandb_client: WandbClient, tmp_path: Path) -> None:
    project = unique_project()
    run_id, _ = _log_run(wandb_client, project)
    before = _ok(
        wandb_client.run(
            "run_files.py",
            "read",
            "--project",
            project,
            "--run-id",
            run_id,
            "--into",
            str(tmp_path / "a"),
        )
    )
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
    after = _ok(
        wandb_client.run(
            "run_files.py",
            "read",
            "--project",
            project,
            "--run-id",
            run_id,
            "--into",
            str(tmp_path / "b"),
        )
    )
    assert after["files"] == before["files"] or [f["name"] for f in after["files"]] == [  # type: ignore[index]
        f["name"]
        for f in before["files"]  # type: ignore[index]
    ]
