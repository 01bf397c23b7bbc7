"""`runyard server` as `make run` starts it: prints URL and admin key, keeps data, mints keys."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

RUNYARD = [sys.executable, "-m", "runyard.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["COLUMNS"] = "60"  # a narrow terminal must not break the export lines
    return env


@contextmanager
def _server(data_dir: Path) -> Iterator[tuple[str, list[str]]]:
    port = _free_port()
    proc = subprocess.Popen(
        [*RUNYARD, "server", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("server exited early:\n" + "".join(output))
            output.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        yield url, output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _exports(output: list[str]) -> dict[str, str]:
    found = re.findall(r"^export (WANDB_\w+)=(\S+)$", "".join(output), flags=re.M)
    return dict(found)


def test_first_start_prints_a_working_key_and_later_starts_keep_the_data(tmp_path: Path) -> None:
    with _server(tmp_path / "data") as (url, output):
        exports = _exports(output)
        assert exports["WANDB_BASE_URL"] == url
        key = exports["WANDB_API_KEY"]
        viewer = httpx.get(url + "/api/v1/viewer", headers={"Authorization": f"Bearer {key}"})
        assert viewer.status_code == 200
        assert viewer.json()["username"] == "admin"
    assert (tmp_path / "data" / "runyard.db").exists()

    with _server(tmp_path / "data") as (url, output):
        assert "WANDB_API_KEY" not in _exports(output)  # shown once only
        viewer = httpx.get(url + "/api/v1/viewer", headers={"Authorization": f"Bearer {key}"})
        assert viewer.status_code == 200


def test_create_key_mints_another_working_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.run(
        [*RUNYARD, "server", "--data-dir", str(data), "create-key"],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    second = subprocess.run(
        [*RUNYARD, "server", "--data-dir", str(data), "create-key", "--description", "ci"],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    keys = [_exports([r.stdout])["WANDB_API_KEY"] for r in (first, second)]
    assert keys[0] != keys[1]
    with _server(data) as (url, _):
        for key in keys:
            response = httpx.get(url + "/api/v1/viewer", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200


def test_bad_settings_name_the_variable(tmp_path: Path) -> None:
    env = _env() | {"RUNYARD_RUN_HEARTBEAT_TIMEOUT_S": "-5"}
    result = subprocess.run(
        [*RUNYARD, "server", "--data-dir", str(tmp_path), "migrate"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "RUNYARD_RUN_HEARTBEAT_TIMEOUT_S" in result.stderr
    assert "greater than 0" in result.stderr
    unknown_user = subprocess.run(
        [*RUNYARD, "server", "--data-dir", str(tmp_path / "d2"), "create-key", "--user", "nobody"],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert unknown_user.returncode == 2
    assert "no user named 'nobody'" in unknown_user.stderr
