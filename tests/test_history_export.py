"""History exported to Parquet: the official client's scan_history reads the same rows.

wandb 0.31 asks `parquetHistory` first, downloads the exported file and reads the steps
below the live rows from it; older clients page through HistoryPage. Either way the rows
are the ones logged, once each, before and after an export, after a resume that appends
to an exported run, and for history the exporter leaves live. The longer round trips are
marked e2e (`make test-e2e`).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from conftest import WandbClient, unique_project
from runyard.server.db.history_segment_models import HistorySegment
from runyard.server.db.models import Project, Run
from runyard.server.history_export import parquet_rows
from runyard.server.history_export.export import export_pass
from runyard.server.history_export.parquet_rows import NotExportable, build_parquet
from support.postgres import throwaway_database
from support.server import LiveServer

PARQUET_QUERY = """
query RunParquetHistory($entity: String!, $project: String!, $run: String!, $keys: [String!]!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) { parquetHistory(liveKeys: $keys) { parquetUrls liveData } }
  }
}
"""


@pytest.fixture(scope="module")
def export_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that exports any run with history, only when a test asks (no timer)."""
    server = LiveServer(
        tmp_path_factory.mktemp("export-server"),
        history_export_interval_s=3600,
        history_export_min_lines=1,
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pg_export_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str
) -> Iterator[LiveServer]:
    """The same on PostgreSQL."""
    with throwaway_database(postgres_admin_dsn) as url:
        server = LiveServer(
            tmp_path_factory.mktemp("pg-export-server"),
            url,
            history_export_interval_s=3600,
            history_export_min_lines=1,
        ).start()
        yield server
        server.stop()


@pytest.fixture
def client(tmp_path: Path, export_server: LiveServer) -> Iterator[WandbClient]:
    wandb_client = WandbClient(tmp_path, export_server)
    yield wandb_client
    wandb_client.kill_leftovers()


def _log(client: WandbClient, project: str, steps: int, *extra: str) -> str:
    result = client.run(
        "history_export.py", "log", "--project", project, "--steps", str(steps), *extra
    )
    assert result.returncode == 0, result.stderr
    info = result.results[0]
    return f"{info['entity']}/{project}/{info['id']}"


def _read(client: WandbClient, path: str, key: str = "loss") -> dict[str, Any]:
    # A fresh cache each read: the client keeps downloaded exports by run and index.
    for cached in Path(client.env["WANDB_CACHE_DIR"]).rglob("*.parquet"):
        cached.unlink()
    result = client.run("history_export.py", "read", "--path", path, "--key", key)
    assert result.returncode == 0, result.stderr
    return result.results[0]


def _parquet_history(server: LiveServer, path: str) -> dict[str, Any]:
    entity, project, run = path.split("/")
    variables = {"entity": entity, "project": project, "run": run, "keys": ["_step"]}
    with server.api() as api:
        response = api.post("/graphql", json={"query": PARQUET_QUERY, "variables": variables})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()["data"]["project"]["run"]["parquetHistory"]
    return answer


def _expected(steps: range) -> list[dict[str, Any]]:
    return [
        {
            "_step": s,
            "loss": 1.0 / (s + 1),
            "acc": s / 100,
            "epoch": s // 10,
            "phase": "train" if s % 2 else "eval",
            "nested": {"x": s, "y": 0.5},
        }
        for s in steps
    ]


def test_scan_history_reads_the_export_and_returns_the_same_rows(
    client: WandbClient, export_server: LiveServer
) -> None:
    _scan_before_and_after_an_export(client, export_server)


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_scan_history_reads_the_export_on_postgresql(
    tmp_path: Path, pg_export_server: LiveServer
) -> None:
    client = WandbClient(tmp_path, pg_export_server)
    try:
        _scan_before_and_after_an_export(client, pg_export_server)
    finally:
        client.kill_leftovers()


def _scan_before_and_after_an_export(client: WandbClient, export_server: LiveServer) -> None:
    path = _log(client, unique_project(), 30)
    live = _read(client, path)
    assert live["parquet_files"] == []
    assert _parquet_history(export_server, path)["parquetUrls"] == []

    assert export_pass(export_server.state).exported >= 1
    answer = _parquet_history(export_server, path)
    assert len(answer["parquetUrls"]) == 1 and answer["liveData"] == []
    exported = _read(client, path)

    assert exported["all"] == _expected(range(30))
    assert exported["loss"] == [[s, 1.0 / (s + 1)] for s in range(30)]
    assert exported["window"] == list(range(3, 9))
    assert exported["last_step"] == 29
    for key in ("all", "loss", "window", "sampled", "last_step"):
        assert exported[key] == live[key], key
    # The newest client read the rows from the exported file, not page by page.
    assert exported["parquet_files"] or not _client_reads_parquet(client)


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_a_resumed_run_appends_after_its_export(
    client: WandbClient, export_server: LiveServer
) -> None:
    project = unique_project()
    path = _log(client, project, 12)
    export_pass(export_server.state)
    run_id = path.split("/")[-1]
    assert _log(client, project, 8, "--run-id", run_id) == path

    # Lines past the export: all of it is served live until the exporter catches up
    # (the client would repeat rows where a file and live rows meet).
    answer = _parquet_history(export_server, path)
    assert answer["parquetUrls"] == []
    assert [row["_step"] for row in answer["liveData"]] == list(range(20))
    assert _read(client, path)["all"] == _expected(range(20))

    # The next pass re-exports the whole run: one file, nothing left live, same rows.
    export_pass(export_server.state)
    answer = _parquet_history(export_server, path)
    assert len(answer["parquetUrls"]) == 1 and answer["liveData"] == []
    assert _read(client, path)["all"] == _expected(range(20))


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_history_that_would_not_read_back_the_same_stays_live(
    client: WandbClient, export_server: LiveServer
) -> None:
    # A list value: Parquet would need a list column the client reads differently.
    path = _log(client, unique_project(), 10, "--extra")
    export_pass(export_server.state)
    answer = _parquet_history(export_server, path)
    assert answer["parquetUrls"] == []
    assert [row["_step"] for row in answer["liveData"]] == list(range(10))
    rows = _read(client, path)["all"]
    expected = _expected(range(10))
    expected[-1]["extra"] = [1, 2]
    assert rows == expected


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_retried_posts_after_an_export_add_nothing(
    client: WandbClient, export_server: LiveServer
) -> None:
    path = _log(client, unique_project(), 6)
    export_pass(export_server.state)
    # The client's retry of its first post, after the export: stored lines stay as they were.
    retry = [json.dumps({"_step": 0, "loss": 99.0})]
    with export_server.api() as api:
        response = api.post(
            f"/files/{path}/file_stream",
            json={"files": {"wandb-history.jsonl": {"offset": 0, "content": retry}}},
        )
    assert response.status_code == 200, response.text
    export_pass(export_server.state)
    assert _parquet_history(export_server, path)["liveData"] == []
    assert _read(client, path)["all"] == _expected(range(6))


def _client_reads_parquet(client: WandbClient) -> bool:
    """Whether the client under test asks for parquetHistory (wandb 0.31 and later)."""
    result = client.run("client_version.py")
    version = tuple(int(part) for part in result.stdout.strip().split(".")[:2])
    return version >= (0, 31)


def test_an_export_url_answers_its_size_and_byte_ranges_only_when_signed(
    client: WandbClient, export_server: LiveServer
) -> None:
    path = _log(client, unique_project(), 5)
    export_pass(export_server.state)
    url = _parquet_history(export_server, path)["parquetUrls"][0]
    with httpx.Client(timeout=30) as http:
        whole = http.get(url)
        assert whole.status_code == 200 and whole.content[:4] == b"PAR1"
        size = len(whole.content)
        head = http.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(size)
        footer = http.get(url, headers={"Range": "bytes=-8"})
        assert footer.status_code == 206
        assert footer.headers["content-range"] == f"bytes {size - 8}-{size - 1}/{size}"
        assert footer.content == whole.content[-8:]
        middle = http.get(url, headers={"Range": "bytes=4-9"})
        assert middle.status_code == 206 and middle.content == whole.content[4:10]

        bad = http.get(url, headers={"Range": "lines=1-2"})
        assert bad.status_code == 400 and "Range" in bad.text and "bytes=0-1023" in bad.text
        past = http.get(url, headers={"Range": f"bytes={size}-"})
        assert past.status_code == 400 and f"{size} bytes" in past.text
        forged = url.replace("sig=", "sig=0")
        assert http.head(forged).status_code == 403
        assert http.get(forged, headers={"Range": "bytes=0-3"}).status_code == 403


def _scan(client: WandbClient, path: str) -> list[tuple[int, float]]:
    read = _read(client, path, key="v")
    scanned = [(row["_step"], row["v"]) for row in read["all"]]
    assert [tuple(pair) for pair in read["loss"]] == scanned
    return scanned


def test_deleting_a_run_removes_its_export_from_the_store(
    client: WandbClient, export_server: LiveServer
) -> None:
    path = _log(client, unique_project(), 5)
    assert export_pass(export_server.state).exported >= 1
    with export_server.state.engine.connect() as conn:
        keys = conn.scalars(
            select(HistorySegment.object_key)
            .join(Run, Run.id == HistorySegment.run_id)
            .join(Project, Project.id == Run.project_id)
            .where(Project.name == path.split("/")[1])
        ).all()
    assert len(keys) == 1 and export_server.state.store.exists(keys[0])
    deleted = client.run("history_export.py", "delete", "--path", path)
    assert deleted.returncode == 0, deleted.stderr
    # No row names the file any more, and nobody could read it: it is gone from the store.
    assert not export_server.state.store.exists(keys[0])


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_a_rewind_after_an_export_serves_the_new_history(
    client: WandbClient, export_server: LiveServer
) -> None:
    project = unique_project()
    branch = ("branch.py", "--project", project, "--run-id", "rw")
    assert client.run(*branch, "--steps", "10").returncode == 0
    export_pass(export_server.state)
    rewound = client.run(*branch, "--resume-from", "rw?_step=3", "--steps", "3", "--offset", "2000")
    assert rewound.returncode == 0, rewound.stderr
    path = f"admin/{project}/rw"
    new = [(s, float(s)) for s in range(4)] + [(s, 2000.0 + s) for s in range(4, 7)]
    old = [(s, float(s)) for s in range(10)]
    # The export went with the old history to the archive; the run reads its new lines.
    assert _parquet_history(export_server, f"{path}-archive-1")["parquetUrls"]
    assert _scan(client, path) == new
    assert _scan(client, f"{path}-archive-1") == old
    export_pass(export_server.state)
    assert _parquet_history(export_server, path)["parquetUrls"]
    assert _scan(client, path) == new


# --- which history can be exported (no server) ------------------------------------------------


def _build(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    built = build_parquet(lambda: ((n, json.dumps(row)) for n, row in enumerate(rows)))
    table: list[dict[str, Any]] = pq.read_table(io.BytesIO(built.data)).to_pylist()
    return table


def test_dense_rows_of_scalars_and_objects_export_as_typed_columns() -> None:
    rows = [
        {"_step": 0, "loss": 1, "phase": "a", "ok": True, "img": {"w": 2, "path": "x"}, "n": None},
        {"_step": 5, "loss": 0.5, "phase": "b", "ok": False, "img": {"w": 3, "path": "y"}, "n": 1},
    ]
    assert _build(rows) == rows


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([{"_step": 0, "a": 1}, {"_step": 1}], "line 1 holds other keys than line 0"),
        ([{"_step": 0, "a": [1, 2]}], "a list or an empty object"),
        ([{"_step": 0, "a": {}}], "a list or an empty object"),
        ([{"_step": 0, "a": float("nan")}], "a NaN or infinite value"),
        ([{"_step": 0, "a": 2**70}], "an integer outside int64"),
        ([{"_step": 1, "a": 1}, {"_step": 1, "a": 2}], "line 1 does not step forward"),
        ([{"_step": 0, "a": "x"}, {"_step": 1, "a": 1}], "key 'a' holds values of different"),
        ([{"_step": 0, "a": {"b": 1}}, {"_step": 1, "a": {"c": 1}}], "objects with other keys"),
        ([{"a": 1}], "line 0 has no integer _step"),
        ([], "no lines"),
    ],
)
def test_history_that_would_read_back_differently_is_refused_with_the_reason(
    rows: list[dict[str, Any]], reason: str
) -> None:
    with pytest.raises(NotExportable, match=re.escape(reason)):
        _build(rows)


def test_a_run_too_big_for_one_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet_rows, "MAX_VALUES", 5)
    with pytest.raises(NotExportable, match="more than 5 values for one file"):
        _build([{"_step": s, "a": s} for s in range(3)])


# A longer official-client round trip: `make test-e2e`.
@pytest.mark.e2e
def test_the_server_exports_a_stopped_run_by_itself(tmp_path: Path) -> None:
    server = LiveServer(
        tmp_path / "server", history_export_interval_s=0.2, history_export_min_lines=1
    ).start()
    client = WandbClient(tmp_path / "client", server)
    try:
        path = _log(client, unique_project(), 8)
        deadline = time.monotonic() + 120  # generous: the test machine is shared
        while not _parquet_history(server, path)["parquetUrls"]:
            assert time.monotonic() < deadline, "the run was never exported"
            time.sleep(0.2)
        assert _read(client, path)["all"] == _expected(range(8))
    finally:
        client.kill_leftovers()
        server.stop()


def test_the_export_migration_goes_up_and_down(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from runyard.server.db import migrate
    from runyard.server.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'exports.db'}")

    def present() -> tuple[bool, bool]:
        inspector = inspect(engine)
        indexes = {i["name"] for i in inspector.get_indexes("history_lines")}
        return "history_segments" in inspector.get_table_names(), (
            "ix_history_lines_run_step" in indexes
        )

    migrate.upgrade(engine)
    assert present() == (True, True)
    command.downgrade(migrate.alembic_config(engine), "0022-1")
    assert present() == (False, False)
    migrate.upgrade(engine)
    assert present() == (True, True)
    engine.dispose()
