"""A full disk or a read-only data dir: a 507 with the reason, /readyz not ready while it
lasts, no half-written data, and recovery without a restart once space is freed.

The data dir is a small tmpfs mounted for each test, which needs root (as in CI).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import IN_CI, WandbClient, unique_project
from support.run_http import (
    RUN_FILES,
    UPSERT,
    file_stream,
    graphql,
    history,
    history_lines,
    loss_count,
    new_run,
)
from support.server import LiveServer


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test (needs root, as in CI)."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {result.stderr.strip()}"
        if IN_CI:
            pytest.fail(f"the disk-full test must run in CI: {reason}")
        pytest.skip(f"!!! disk-full test SKIPPED: {reason}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> None:
    """Write `path` until the filesystem has no block left."""
    with path.open("wb", buffering=0) as handle:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc


def _readyz(server: LiveServer) -> httpx.Response:
    with httpx.Client(base_url=server.url) as anonymous:
        return anonymous.get("/readyz")


def test_disk_full_is_a_507_not_ready_nothing_half_written_and_recovers(
    small_filesystem: Path,
) -> None:
    server = LiveServer(small_filesystem / "data").start()
    filler = small_filesystem / "filler"
    try:
        project, run = new_run(server)
        first = {
            "files": {
                "wandb-history.jsonl": {"offset": 0, "content": history_lines(0, 10, pad=500)},
                "output.log": {"offset": 0, "content": ["epoch 0"]},
            }
        }
        assert file_stream(server, project, run, first).status_code == 200
        upload = graphql(server, RUN_FILES, project=project, run=run, files=["model.bin"])
        upload_url = upload.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]

        _fill(filler)
        # One batch: history, console and summary; it must land whole or not at all.
        batch = {
            "files": {
                "wandb-history.jsonl": {"offset": 10, "content": history_lines(10, 300, pad=500)},
                "output.log": {"offset": 1, "content": [f"epoch {i}" for i in range(1, 300)]},
                "wandb-summary.json": {"offset": 0, "content": [json.dumps({"loss": 29.9})]},
            }
        }
        refused = file_stream(server, project, run, batch)
        assert refused.status_code == 507, refused.text
        assert refused.json()["detail"].startswith(
            "storage is full or read-only (database or disk is full): free space"
        )
        not_ready = _readyz(server)
        assert not_ready.status_code == 503
        assert "storage is full or read-only" in not_ready.json()["error"]
        stored = httpx.put(upload_url, content=os.urandom(200_000))
        assert stored.status_code == 507, stored.text
        assert "No space left on device" in stored.json()["detail"]
        upsert = graphql(server, UPSERT, name="r2", project=project)
        assert upsert.status_code == 507
        assert upsert.json()["errors"][0]["extensions"]["code"] == "insufficient_storage"

        # Nothing of the refused batch was stored, and reads still work.
        assert [row["_step"] for row in history(server, project, run)] == list(range(10))
        with server.api() as api:
            run_row = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
            console = api.get(f"/api/v1/runs/admin/{project}/{run}/console").json()["lines"]
            files = api.get(f"/api/v1/runs/admin/{project}/{run}/files").json()
        assert (run_row["history_line_count"], run_row["summary"]) == (10, {})
        assert [line["text"] for line in console] == ["epoch 0"]
        assert [(f["name"], f["uploaded"]) for f in files] == [("model.bin", False)]
        assert loss_count(server, project, run) == 10
        leftovers = [p.name for p in (small_filesystem / "data").rglob(".upload-*")]
        assert leftovers == []

        # Space is freed: ready again without a restart, and the client's retry lands once.
        filler.unlink()
        assert _readyz(server).status_code == 200
        retried = file_stream(server, project, run, batch)
        assert retried.status_code == 200, retried.text
        assert file_stream(server, project, run, batch).status_code == 200  # a second retry
        assert [row["_step"] for row in history(server, project, run)] == list(range(300))
        assert loss_count(server, project, run) == 300
        with server.api() as api:
            run_row = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
            console = api.get(f"/api/v1/runs/admin/{project}/{run}/console").json()["lines"]
        assert (run_row["history_line_count"], run_row["summary"]) == (300, {"loss": 29.9})
        assert [line["text"] for line in console] == [f"epoch {i}" for i in range(300)]
        assert httpx.put(upload_url, content=b"weights").status_code == 200
        assert graphql(server, UPSERT, name="r2", project=project).status_code == 200
    finally:
        server.stop()
        filler.unlink(missing_ok=True)


FILE_STREAM_ROUTE = "/files/{entity}/{project}/{run_name}/file_stream"


def _file_stream_507s(server: LiveServer) -> float:
    """How many file_stream posts the server has answered with a 507."""
    with server.api() as api:
        text = api.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "runyard_http_request_duration_seconds_count"
        and sample.labels.get("route") == FILE_STREAM_ROUTE
        and sample.labels.get("status") == "507"
    )


def _drain(stream: IO[str], sink: list[str]) -> threading.Thread:
    """Read `stream` into `sink` in a thread until it closes."""
    thread = threading.Thread(target=lambda: sink.extend(stream), daemon=True)
    thread.start()
    return thread


def _wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    """Poll `condition` while the client runs; fail naming `what` if the client exits first."""
    for _ in range(1200):  # 120 s: a generous bound for a slow CI machine, not a timing test
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the client exited (code {proc.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_disk_full_under_the_official_client_loses_nothing_and_duplicates_nothing(
    small_filesystem: Path, tmp_path: Path
) -> None:
    server = LiveServer(small_filesystem / "data").start()
    client = WandbClient(tmp_path / "client", server)
    signals = tmp_path / "signals"
    signals.mkdir()
    filler = small_filesystem / "filler"
    project = unique_project()
    proc = client.popen("log_through_full_disk.py", "--project", project, "--signals", str(signals))
    out: list[str] = []
    err: list[str] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        init = json.loads(proc.stdout.readline().removeprefix("RESULT "))
        run = str(init["id"])
        # Drain both pipes meanwhile: a client retrying for long must never block on a full one.
        drains = [_drain(proc.stdout, out), _drain(proc.stderr, err)]

        def history_count() -> int:
            with server.api() as api:
                response = api.get(f"/api/v1/runs/admin/{project}/{run}")
            return int(response.json()["history_line_count"]) if response.is_success else -1

        _wait_until(lambda: history_count() == 10, "the first 10 steps to arrive", proc)
        _fill(filler)
        (signals / "go").touch()
        _wait_until(lambda: _file_stream_507s(server) > 0, "a 507 to the client", proc)
        assert _readyz(server).status_code == 503
        assert history_count() == 10  # nothing of the refused posts was stored

        filler.unlink()
        assert _readyz(server).status_code == 200
        (signals / "finish").touch()
        proc.wait(timeout=300)
        for drain in drains:
            drain.join()
        assert proc.returncode == 0, "".join(out + err)
        assert '"phase": "finished"' in "".join(out)
        # The client's retries after recovery stored every step exactly once, in order.
        assert [row["_step"] for row in history(server, project, run)] == list(range(210))
        assert loss_count(server, project, run) == 210
        with server.api() as api:
            stored = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
        assert (stored["state"], stored["summary"]["done"]) == ("finished", True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client.kill_leftovers()
        server.stop()
        filler.unlink(missing_ok=True)


def test_read_only_object_store_is_a_507_and_recovers(small_filesystem: Path) -> None:
    server = LiveServer(small_filesystem / "data").start()
    objects = small_filesystem / "data" / "objects"
    try:
        project, run = new_run(server)
        upload = graphql(server, RUN_FILES, project=project, run=run, files=["model.bin"])
        upload_url = upload.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        # A read-only view of the object store over the writable one.
        subprocess.run(["mount", "--bind", str(objects), str(objects)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(objects)], check=True)
            refused = httpx.put(upload_url, content=b"weights")
            assert refused.status_code == 507, refused.text
            assert "Read-only file system" in refused.json()["detail"]
            not_ready = _readyz(server)
            assert not_ready.status_code == 503
            assert "Read-only file system" in not_ready.json()["error"]
        finally:
            subprocess.run(["umount", str(objects)], check=True)
        assert _readyz(server).status_code == 200
        assert httpx.put(upload_url, content=b"weights").status_code == 200
    finally:
        server.stop()


def test_sqlite_read_only_and_full_errors_map_to_507(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from runyard.server.errors import ErrorCode
    from runyard.server.failures import service_error_for

    path = tmp_path / "ro.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(OperationalError) as info, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    error = service_error_for(info.value)
    assert error is not None and error.code is ErrorCode.INSUFFICIENT_STORAGE
    assert "(attempt to write a readonly database)" in error.message
    unrelated = service_error_for(OSError(errno.EACCES, "Permission denied"))
    assert unrelated is None


def test_storage_failures_are_recognised_through_wrappers_and_nothing_else_is() -> None:
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    from runyard.server.failures import service_error_for, storage_reason

    assert storage_reason(OSError(errno.ENOSPC, "No space left on device")) == (
        "No space left on device"
    )
    assert storage_reason(OSError(errno.EROFS, "Read-only file system")) == "Read-only file system"
    disk_full = psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device')
    wrapped = OperationalError("INSERT ...", {}, disk_full)
    assert storage_reason(wrapped) == 'could not extend file "base/1/2": No space left on device'
    group = ExceptionGroup("task group", [OSError(errno.ENOSPC, "No space left on device")])
    assert storage_reason(group) == "No space left on device"
    assert storage_reason(OSError(errno.EACCES, "Permission denied")) is None
    assert storage_reason(ValueError("bad value")) is None
    # A recursion bug is an internal error, not a client's too-deep JSON.
    assert service_error_for(RecursionError("maximum recursion depth exceeded")) is None
    out_of_range = psycopg.errors.NumericValueOutOfRange("integer out of range")
    error = service_error_for(OperationalError("UPDATE ...", {}, out_of_range))
    assert error is not None and error.status == 422 and "integer out of range" in error.message
