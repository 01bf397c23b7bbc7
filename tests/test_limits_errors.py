"""Inputs past a limit get a clear 4xx naming the limit; a full disk a 507, then recovery.

Each case here used to answer 500: chunked bodies over the size limit, integers past their
column's range, JSON nested 5,000 deep, 5,000-character file names, and a full or
read-only data dir (which also left /readyz saying ready).
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
from support.server import LiveServer

UPSERT = """
mutation($name: String, $project: String) {
  upsertBucket(input: {name: $name, modelName: $project}) { bucket { id name } }
}
"""
CONFIG_UPSERT = """
mutation($name: String, $project: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, config: $config}) { bucket { id } }
}
"""
RUN_FILES = """
mutation($project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: "admin", projectName: $project, runName: $run,
                         files: $files}) { files { name uploadUrl } }
}
"""
CREATE_ARTIFACT = (
    "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }"
)
ARTIFACT_FILES = """mutation($f: [CreateArtifactFileSpecInput!]!) {
  createArtifactFiles(input: {artifactFiles: $f}) { files { edges { node { uploadUrl } } } } }"""
SAMPLED = """query($project: String!, $run: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: "admin") { run(name: $run) { sampledHistory(specs: $specs) } }
}"""
HISTORY = 'query { project(name: "%s", entityName: "admin") { run(name: "%s") { history(%s) } } }'
BEYOND_64_BITS = 2**64
INT32_MAX = 2**31 - 1
INT64_RANGE = f"{-(2**63)}..{2**63 - 1}"
BEYOND_64_BIT_STEP = json.dumps({"_step": BEYOND_64_BITS, "a": 1})
DEEP = "[" * 5000 + "]" * 5000
LONG_NAME = "a" * 5000


def _graphql(server: LiveServer, query: str, **variables: object) -> httpx.Response:
    # A fresh connection per request: an answer that ends a connection cannot spoil the next.
    with server.api() as api:
        return api.post("/graphql", json={"query": query, "variables": variables})


def _new_run(server: LiveServer) -> tuple[str, str]:
    project = unique_project()
    response = _graphql(server, UPSERT, name="r1", project=project)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return project, "r1"


def _file_stream(server: LiveServer, project: str, run: str, body: object) -> httpx.Response:
    with server.api() as api:
        return api.post(f"/files/admin/{project}/{run}/file_stream", json=body)


def _history_lines(start: int, stop: int, pad: int = 0) -> list[str]:
    return [json.dumps({"_step": i, "loss": i / 10, "pad": "x" * pad}) for i in range(start, stop)]


def _history(server: LiveServer, project: str, run: str) -> list[dict[str, object]]:
    with server.api() as api:
        response = api.get(f"/api/v1/runs/admin/{project}/{run}/history", params={"limit": 10000})
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["rows"]
    return rows


# --- 1. chunked bodies over the size limit ------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose request bodies may hold at most 100 kB."""
    server = LiveServer(tmp_path_factory.mktemp("small-limit"), None, max_request_bytes=100_000)
    yield server.start()
    server.stop()


def _chunks() -> Iterator[bytes]:
    # No Content-Length: httpx sends a generator with Transfer-Encoding: chunked.
    for _ in range(15):
        yield b"x" * 10_000


@pytest.mark.parametrize(
    "path", ["/graphql", "/files/admin/p/r1/file_stream", "/api/v1/queues"], ids=str
)
def test_chunked_body_over_the_limit_is_a_413_naming_it(
    small_limit_server: LiveServer, path: str
) -> None:
    with small_limit_server.api() as api:
        response = api.post(path, content=_chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert "0.1 MB limit (RUNYARD_MAX_REQUEST_BYTES)" in response.json()["detail"]
    with small_limit_server.api() as api:  # the server is fine afterwards
        assert api.get("/readyz").status_code == 200


def test_chunked_body_under_the_limit_still_works(small_limit_server: LiveServer) -> None:
    body = json.dumps({"query": "{ viewer { username } }"}).encode()
    with small_limit_server.api() as api:
        response = api.post(
            "/graphql",
            content=iter([body[:5], body[5:]]),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["username"] == "admin"


# --- 2. integers past their column's range -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"files": {"wandb-history.jsonl": {"offset": BEYOND_64_BITS, "content": ['{"a":1}']}}},
            422,
            "files.wandb-history.jsonl.offset: Input should be less than or equal to 2147483647",
        ),
        (  # fits 64 bits, but line numbers are 32-bit columns
            {"files": {"wandb-events.jsonl": {"offset": 2**31, "content": ['{"a":1}']}}},
            422,
            "files.wandb-events.jsonl.offset: Input should be less than or equal to 2147483647",
        ),
        (  # the offset fits, the lines after it do not
            {"files": {"output.log": {"offset": INT32_MAX - 1, "content": ["a", "b"]}}},
            422,
            f"line numbers must stay within 0..{INT32_MAX - 1}",
        ),
        (
            {
                "files": {
                    "wandb-history.jsonl": {
                        "offset": 0,
                        "content": [*_history_lines(0, 1), BEYOND_64_BIT_STEP],
                    }
                }
            },
            422,
            f"wandb-history.jsonl line 1: _step is {BEYOND_64_BITS}, outside the allowed range "
            f"{INT64_RANGE}",
        ),
        (
            {"files": {}, "complete": True, "exitcode": BEYOND_64_BITS},
            422,
            "exitcode: Input should be less than or equal to 2147483647",
        ),
        (  # Python refuses to parse integers of more than 4,300 digits
            {
                "files": {
                    "wandb-history.jsonl": {"offset": 0, "content": ['{"a": ' + "9" * 5000 + "}"]}
                }
            },
            422,
            "wandb-history.jsonl line 0: an integer has more than 4300 digits, over the limit",
        ),
    ],
    ids=["history-offset", "events-offset-32bit", "console-lines", "step", "exitcode", "digits"],
)
def test_file_stream_integers_past_their_columns_are_422s_and_store_nothing(
    server: LiveServer, body: dict[str, object], status: int, message: str
) -> None:
    project, run = _new_run(server)
    response = _file_stream(server, project, run, body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert _history(server, project, run) == []
    with server.api() as api:
        stored = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
    assert (stored["state"], stored["exit_code"], stored["history_line_count"]) == (
        "running",
        None,
        0,
    )


def test_largest_step_and_huge_metric_values_are_stored(server: LiveServer) -> None:
    project, run = _new_run(server)
    lines = [
        json.dumps({"_step": 2**63 - 1, "loss": 1.5}),
        json.dumps({"_step": -(2**63), "loss": 0.5}),
        json.dumps({"_step": 1, "huge": 10**400}),  # past a float: kept, not charted
    ]
    response = _file_stream(
        server, project, run, {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}}
    )
    assert response.status_code == 200, response.text
    steps = [row["_step"] for row in _history(server, project, run)]
    assert steps == [2**63 - 1, -(2**63), 1]
    # Charts over the whole 64-bit span read without overflowing either.
    with server.api() as api:
        sampled = api.get(f"/api/v1/runs/admin/{project}/{run}/history/sampled")
    assert sampled.status_code == 200, sampled.text
    assert sorted(sampled.json()["series"]) == ["_step", "loss"]  # "huge" is not charted
    assert sum(bucket["count"] for bucket in sampled.json()["series"]["loss"]) == 2


def test_graphql_samples_and_steps_past_64_bits_are_refused_naming_the_range(
    server: LiveServer,
) -> None:
    project, run = _new_run(server)
    for samples in (BEYOND_64_BITS, -5):
        spec = json.dumps({"keys": ["loss"], "samples": samples})
        body = _graphql(server, SAMPLED, project=project, run=run, specs=[spec]).json()
        error = body["errors"][0]
        assert error["message"] == f"samples is {samples}, outside the allowed range 1..{INT32_MAX}"
        assert error["extensions"] == {"status": 422, "code": "unprocessable"}
    response = _graphql(server, HISTORY % (project, run, f"minStep: {BEYOND_64_BITS}"))
    assert response.status_code == 400
    assert f"Int64 must lie within {INT64_RANGE}" in response.json()["errors"][0]["message"]
    # In range, the same fields answer.
    ok = _graphql(server, HISTORY % (project, run, "minStep: 0, maxStep: 10"))
    assert ok.status_code == 200 and ok.json()["data"]["project"]["run"]["history"] == []


@pytest.mark.parametrize(
    ("route", "param", "limit"),
    [
        ("/history", "after", INT32_MAX),
        ("/console", "after", INT32_MAX),
        ("/history/sampled", "step_min", 2**63 - 1),
        ("/history/sampled", "step_max", 2**63 - 1),
        ("", "offset", 2**63 - 1),
    ],
)
def test_rest_integers_past_their_range_are_422s_naming_the_field(
    server: LiveServer, route: str, param: str, limit: int
) -> None:
    project, run = _new_run(server)
    path = f"/api/v1/runs/admin/{project}/{run}{route}" if route else "/api/v1/runs"
    params = {param: str(BEYOND_64_BITS)}
    if not route:
        params["project"] = f"admin/{project}"
    with server.api() as api:
        response = api.get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", param]
    assert detail["msg"] == f"Input should be less than or equal to {limit}"


# --- 3. JSON nested 5,000 deep -----------------------------------------------------------

NESTING = "JSON is nested deeper than the 100-level limit; flatten the value"


def test_graphql_body_nested_5000_deep_is_a_422(server: LiveServer) -> None:
    body = '{"query": "{ viewer { username } }", "variables": {"x": ' + DEEP + "}}"
    with server.api() as api:
        response = api.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["message"] == f"graphql request body: {NESTING}"


def test_graphql_config_nested_5000_deep_is_refused(server: LiveServer) -> None:
    project = unique_project()
    body = _graphql(server, CONFIG_UPSERT, name="r1", project=project, config='{"a": ' + DEEP + "}")
    error = body.json()["errors"][0]
    assert error["message"] == f"config: {NESTING}"
    assert error["extensions"]["status"] == 422
    with server.api() as api:
        assert api.get(f"/api/v1/runs/admin/{project}/r1").status_code == 404


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"files": {}, "x": ' + DEEP + "}", "file_stream body"),
        (
            json.dumps(
                {
                    "files": {
                        "wandb-history.jsonl": {"offset": 0, "content": ['{"a": ' + DEEP + "}"]}
                    }
                }
            ),
            "wandb-history.jsonl line 0",
        ),
        (
            json.dumps(
                {"files": {"wandb-summary.json": {"offset": 0, "content": ['{"a": ' + DEEP + "}"]}}}
            ),
            "wandb-summary.json line 0",
        ),
    ],
    ids=["body", "history-line", "summary"],
)
def test_file_stream_json_nested_5000_deep_is_a_422(
    server: LiveServer, content: str, where: str
) -> None:
    project, run = _new_run(server)
    with server.api() as api:
        response = api.post(
            f"/files/admin/{project}/{run}/file_stream",
            content=content,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{where}: {NESTING}"
    assert _history(server, project, run) == []


def test_history_line_nested_just_past_the_limit_is_refused(server: LiveServer) -> None:
    project, run = _new_run(server)
    at_limit = '{"a": ' + "[" * 99 + "]" * 99 + "}"  # 100 levels
    past_limit = '{"a": ' + "[" * 100 + "]" * 100 + "}"
    ok = _file_stream(
        server,
        project,
        run,
        {"files": {"wandb-history.jsonl": {"offset": 0, "content": [at_limit]}}},
    )
    assert ok.status_code == 200, ok.text
    refused = _file_stream(
        server,
        project,
        run,
        {"files": {"wandb-history.jsonl": {"offset": 1, "content": [past_limit]}}},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == f"wandb-history.jsonl line 1: {NESTING}"


def test_rest_body_nested_5000_deep_is_a_422(server: LiveServer) -> None:
    with server.api() as api:
        response = api.post(
            "/api/v1/queues",
            content='{"name": ' + DEEP + "}",
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422, response.text
    assert NESTING in response.json()["detail"]


# --- 4. a 5,000-character file name ------------------------------------------------------

NAME_LIMIT = "file name is 5000 characters, over the 512-character limit"


def test_run_file_name_of_5000_characters_is_refused(server: LiveServer) -> None:
    project, run = _new_run(server)
    error = _graphql(server, RUN_FILES, project=project, run=run, files=[LONG_NAME]).json()[
        "errors"
    ][0]
    assert f"files: {NAME_LIMIT}" in error["message"]
    assert error["extensions"]["status"] == 422
    # One path segment longer than the filesystem allows is refused the same way.
    segment = _graphql(server, RUN_FILES, project=project, run=run, files=["d/" + "b" * 300])
    message = segment.json()["errors"][0]["message"]
    assert "is 300 bytes, over the 255-byte limit for one file or folder name" in message
    with server.api() as api:
        assert api.get(f"/api/v1/runs/admin/{project}/{run}/files").json() == []


def test_file_stream_file_name_of_5000_characters_is_a_422(server: LiveServer) -> None:
    project, run = _new_run(server)
    response = _file_stream(
        server, project, run, {"files": {LONG_NAME: {"offset": 0, "content": ["x"]}}}
    )
    assert response.status_code == 422
    assert NAME_LIMIT in response.json()["detail"]


def test_artifact_file_name_of_5000_characters_is_refused(server: LiveServer) -> None:
    project, _ = _new_run(server)
    spec = {
        "entityName": "admin",
        "projectName": project,
        "artifactTypeName": "dataset",
        "artifactCollectionName": "ds",
        "digest": "0" * 32,
    }
    created = _graphql(server, CREATE_ARTIFACT, i=spec).json()
    artifact_id = created["data"]["createArtifact"]["artifact"]["id"]
    files = [{"artifactID": artifact_id, "name": LONG_NAME, "md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}]
    error = _graphql(server, ARTIFACT_FILES, f=files).json()["errors"][0]
    assert f"artifactFiles.name: {NAME_LIMIT}" in error["message"]
    assert error["extensions"]["status"] == 422


# --- 5. a full disk or a read-only data dir ------------------------------------------------


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


def _loss_count(server: LiveServer, project: str, run: str) -> int:
    with server.api() as api:
        series = api.get(
            f"/api/v1/runs/admin/{project}/{run}/history/sampled", params={"keys": "loss"}
        ).json()["series"]["loss"]
    return sum(bucket["count"] for bucket in series)


def test_disk_full_is_a_507_not_ready_nothing_half_written_and_recovers(
    small_filesystem: Path,
) -> None:
    server = LiveServer(small_filesystem / "data").start()
    filler = small_filesystem / "filler"
    try:
        project, run = _new_run(server)
        first = {
            "files": {
                "wandb-history.jsonl": {"offset": 0, "content": _history_lines(0, 10, pad=500)},
                "output.log": {"offset": 0, "content": ["epoch 0"]},
            }
        }
        assert _file_stream(server, project, run, first).status_code == 200
        upload = _graphql(server, RUN_FILES, project=project, run=run, files=["model.bin"])
        upload_url = upload.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]

        _fill(filler)
        # One batch: history, console and summary; it must land whole or not at all.
        batch = {
            "files": {
                "wandb-history.jsonl": {"offset": 10, "content": _history_lines(10, 300, pad=500)},
                "output.log": {"offset": 1, "content": [f"epoch {i}" for i in range(1, 300)]},
                "wandb-summary.json": {"offset": 0, "content": [json.dumps({"loss": 29.9})]},
            }
        }
        refused = _file_stream(server, project, run, batch)
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
        graphql = _graphql(server, UPSERT, name="r2", project=project)
        assert graphql.status_code == 507
        assert graphql.json()["errors"][0]["extensions"]["code"] == "insufficient_storage"

        # Nothing of the refused batch was stored, and reads still work.
        assert [row["_step"] for row in _history(server, project, run)] == list(range(10))
        with server.api() as api:
            run_row = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
            console = api.get(f"/api/v1/runs/admin/{project}/{run}/console").json()["lines"]
            files = api.get(f"/api/v1/runs/admin/{project}/{run}/files").json()
        assert (run_row["history_line_count"], run_row["summary"]) == (10, {})
        assert [line["text"] for line in console] == ["epoch 0"]
        assert [(f["name"], f["uploaded"]) for f in files] == [("model.bin", False)]
        assert _loss_count(server, project, run) == 10
        leftovers = [p.name for p in (small_filesystem / "data").rglob(".upload-*")]
        assert leftovers == []

        # Space is freed: ready again without a restart, and the client's retry lands once.
        filler.unlink()
        assert _readyz(server).status_code == 200
        retried = _file_stream(server, project, run, batch)
        assert retried.status_code == 200, retried.text
        assert _file_stream(server, project, run, batch).status_code == 200  # a second retry
        assert [row["_step"] for row in _history(server, project, run)] == list(range(300))
        assert _loss_count(server, project, run) == 300
        with server.api() as api:
            run_row = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
            console = api.get(f"/api/v1/runs/admin/{project}/{run}/console").json()["lines"]
        assert (run_row["history_line_count"], run_row["summary"]) == (300, {"loss": 29.9})
        assert [line["text"] for line in console] == [f"epoch {i}" for i in range(300)]
        assert httpx.put(upload_url, content=b"weights").status_code == 200
        assert _graphql(server, UPSERT, name="r2", project=project).status_code == 200
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
        assert [row["_step"] for row in _history(server, project, run)] == list(range(210))
        assert _loss_count(server, project, run) == 210
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
        project, run = _new_run(server)
        upload = _graphql(server, RUN_FILES, project=project, run=run, files=["model.bin"])
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


# --- the pure decisions behind the answers -----------------------------------------------


def test_json_depth_limit_counts_levels_exactly() -> None:
    from runyard.server.input_limits import json_depth_exceeds

    def nested(levels: int) -> object:
        value: object = 1
        for i in range(levels):
            value = [value] if i % 2 else {"k": value}
        return value

    assert not json_depth_exceeds(nested(100))
    assert json_depth_exceeds(nested(101))
    assert not json_depth_exceeds("text") and not json_depth_exceeds([1, {"a": 2}], limit=2)


def test_file_name_limits_count_characters_and_segment_bytes() -> None:
    from runyard.server.errors import ServiceError
    from runyard.server.input_limits import check_file_name

    fits = "/".join(["d" * 255, "f" * 255])  # 511 characters, each segment at the limit
    assert check_file_name(fits, "files") == fits
    with pytest.raises(ServiceError, match="513 characters, over the 512-character limit"):
        check_file_name("d/" * 256 + "f", "files")
    # 128 two-byte characters: 256 bytes in one segment, over what a filesystem allows.
    with pytest.raises(ServiceError, match="is 256 bytes, over the 255-byte limit") as info:
        check_file_name("é" * 128, "artifactFiles.name")
    assert info.value.status == 422


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
