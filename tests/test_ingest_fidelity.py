"""What the driver-level ingest path stores reads back exactly, on SQLite and PostgreSQL.

History lines, metric points and rollups are written as plain driver statements (tuples on
SQLite, array literals over `unnest` on PostgreSQL) and history lines are parsed by a fast
parser with the json module as fallback: awkward text and numbers must survive all of it.
"""

from __future__ import annotations

import json
import random

import httpx
from sqlalchemy import insert, select

from conftest import WandbClient, unique_project
from runyard.server.db.models import MetricChunk, Project, Run
from runyard.server.tracking.metric_chunks import pack
from runyard.server.tracking.rollups import choose_level, level_width
from support.server import LiveServer

HISTORY = "wandb-history.jsonl"


def _new_run(api: httpx.Client) -> str:
    project = unique_project()
    query = 'mutation($p: String) { upsertBucket(input: {name: "r1", modelName: $p}) { inserted } }'
    response = api.post("/graphql", json={"query": query, "variables": {"p": project}})
    assert response.status_code == 200, response.text
    return f"admin/{project}/r1"


def _post(api: httpx.Client, path: str, offset: int, lines: list[str]) -> None:
    body = {"files": {HISTORY: {"offset": offset, "content": lines}}}
    response = api.post(f"/files/{path}/file_stream", json=body)
    assert response.status_code == 200, response.text


def _raw(api: httpx.Client, path: str, key: str) -> list[float]:
    """A metric's values, point by point (a thousand buckets over few steps: raw points)."""
    response = api.get(
        f"/api/v1/runs/{path}/history/sampled", params={"keys": [key], "buckets": 1000}
    )
    assert response.status_code == 200, response.text
    buckets = response.json()["series"][key]
    assert all(b["count"] == 1 for b in buckets)
    return [b["last"] for b in buckets]


AWKWARD_TEXT = 'quote " backslash \\ tab-escape \\t brace { bracket [ é 😀 \\u0000-escaped'
AWKWARD_NUMBERS = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 2.5, -7.0]


def test_lines_and_values_read_back_exactly(server: LiveServer) -> None:
    lines = [
        json.dumps(
            {
                "_step": step,
                "x": value,
                "big": 2**53 + 1,  # an integer is charted as the nearest float
                "flag": True,  # not a number: no point
                "note": AWKWARD_TEXT,
                "nested": {"a": step, "b": {"c": -step}},
                "bad": float("nan") if step == 3 else step,
            },
            ensure_ascii=False,  # raw UTF-8 in the stored text
        )
        for step, value in enumerate(AWKWARD_NUMBERS)
    ]
    with server.api() as api:
        path = _new_run(api)
        _post(api, path, 0, lines)
        page = api.get(f"/api/v1/runs/{path}/history")
        assert page.status_code == 200, page.text
        # Verbatim: the stored text is the posted text, byte for byte.
        assert page.text == '{"rows":[' + ",".join(lines) + '],"next_after":null}'
        assert _raw(api, path, "x") == AWKWARD_NUMBERS
        assert _raw(api, path, "big") == [float(2**53 + 1)] * len(lines)
        assert _raw(api, path, "nested.b.c") == [-float(s) for s in range(len(lines))]
        # NaN is not charted; the other steps are.
        assert _raw(api, path, "bad") == [0.0, 1.0, 2.0, 4.0, 5.0, 6.0]
        series = api.get(f"/api/v1/runs/{path}/history/sampled").json()["series"]
        assert "flag" not in series
        assert "note" not in series


def test_lines_only_the_json_module_reads_are_stored_as_before(server: LiveServer) -> None:
    # A lone surrogate escape is valid JSON to Python's json module; the fast parser refuses
    # it, and the fallback must accept it as before.
    surrogate = '{"_step": 0, "s": "\\ud800", "x": 1.5}'
    # 150 levels: within the fast parser's own limit, over Runyard's 100.
    deep = '{"_step": 1, "a": ' + "[" * 150 + "]" * 150 + "}"
    # Many brackets, but inside a string: only 2 levels deep, so it is accepted.
    brackets = json.dumps({"_step": 1, "s": "[" * 300, "x": 2.5})
    with server.api() as api:
        path = _new_run(api)
        _post(api, path, 0, [surrogate])
        refused = api.post(
            f"/files/{path}/file_stream",
            json={"files": {HISTORY: {"offset": 1, "content": [deep]}}},
        )
        assert refused.status_code == 422, refused.text
        assert "wandb-history.jsonl line 1: JSON is nested deeper than the 100-level limit" in (
            refused.text
        )
        _post(api, path, 1, [brackets])
        page = api.get(f"/api/v1/runs/{path}/history").text
        assert page == '{"rows":[' + surrogate + "," + brackets + '],"next_after":null}'
        assert _raw(api, path, "x") == [1.5, 2.5]


def test_rollups_merged_over_many_posts_match_every_point(server: LiveServer) -> None:
    # Posts of 37 lines: rollup ranges (16, 256 steps) straddle posts and are merged by the
    # upsert; a retried post in the middle adds nothing.
    rng = random.Random(5)
    values = [rng.uniform(-100, 100) for _ in range(600)]
    lines = [json.dumps({"_step": s, "v": v}) for s, v in enumerate(values)]
    with server.api() as api:
        path = _new_run(api)
        for start in range(0, len(lines), 37):
            _post(api, path, start, lines[start : start + 37])
            if start == 222:
                _post(api, path, 200, lines[200:260])
        response = api.get(
            f"/api/v1/runs/{path}/history/sampled", params={"keys": ["v"], "buckets": 3}
        )
    assert response.status_code == 200, response.text
    got = response.json()["series"]["v"]
    level, width = choose_level(0, len(values) - 1, 3)
    assert level >= 1, "the read must come from the rollups"
    origin = 0 // level_width(level) * level_width(level)
    expected = []
    for first in range(origin, len(values), width):
        chunk = values[first : first + width]
        expected.append(
            {
                "x_min": first,
                "x_max": first + len(chunk) - 1,
                "count": len(chunk),
                "min": min(chunk),
                "max": max(chunk),
                "last": chunk[-1],
            }
        )
    assert got == expected


def test_a_value_stored_without_its_line_does_not_break_the_post(server: LiveServer) -> None:
    # Values are written only with their new lines; should one be stored already (a line
    # deleted by hand, say), the post must still store everything, that value once.
    with server.api() as api:
        path = _new_run(api)
        _post(api, path, 0, [json.dumps({"_step": 0, "v": 1.0})])
        project = path.split("/")[1]
        with server.state.engine.begin() as conn:
            run_id = conn.scalar(
                select(Run.id).join(Project).where(Project.name == project, Run.name == "r1")
            )
            stray = {"key": "v", "first_line": 1, "last_line": 1, "min_step": 1, "max_step": 1}
            conn.execute(
                insert(MetricChunk),
                [{"run_id": run_id, **stray, "count": 1, "data": pack([1], [1], [9.0])}],
            )
        lines = [json.dumps({"_step": s, "v": float(s), "w": -float(s)}) for s in (1, 2)]
        _post(api, path, 1, lines)
        assert _raw(api, path, "w") == [-1.0, -2.0]
        # The stray point stays as it was; the line's own value for it is not added twice.
        assert _raw(api, path, "v") == [1.0, 9.0, 2.0]


def test_a_metric_name_with_a_nul_character_is_refused_by_name(server: LiveServer) -> None:
    # PostgreSQL text cannot hold NUL: such a key is refused the same way on both databases,
    # while a NUL inside a string value is kept (the line is stored verbatim, escaped).
    bad = '{"_step": 0, "ok": 1.0, "nested": {"a\\u0000b": 2.0}}'
    fine = '{"_step": 0, "note": "x\\u0000y", "ok": 1.0}'
    with server.api() as api:
        path = _new_run(api)
        refused = api.post(
            f"/files/{path}/file_stream",
            json={"files": {HISTORY: {"offset": 0, "content": [bad]}}},
        )
        assert refused.status_code == 422, refused.text
        assert (
            "wandb-history.jsonl line 0: the key 'a\\x00b' holds a NUL character (\\u0000), "
            "which metric names cannot: rename it"
        ) in refused.json()["detail"]
        _post(api, path, 0, [fine])
        assert api.get(f"/api/v1/runs/{path}/history").text == (
            '{"rows":[' + fine + '],"next_after":null}'
        )
        assert _raw(api, path, "ok") == [1.0]


def test_nan_and_infinities_read_back_through_the_public_api(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    # A diverging loss logs NaN and infinities: every history read must still answer. The
    # stored lines keep them as the client wrote them; rows cut to keys (sampledHistory)
    # are JSON values, where W&B spells them as strings.
    values = [1.5, float("nan"), float("inf"), float("-inf"), 0.5]
    lines = [json.dumps({"_step": s, "v": v, "deep": {"w": v}}) for s, v in enumerate(values)]
    with server.api() as api:
        path = _new_run(api)
        _post(api, path, 0, lines)
    read = wandb_client.run("read_history.py", "--path", path)
    assert read.returncode == 0, read.stderr
    seen = read.results[0]
    spelled = [1.5, "NaN", "Infinity", "-Infinity", 0.5]
    assert [repr(v) for _, v in seen["scanned"]] == [repr(v) for v in values]
    assert [repr(v) for _, v in seen["sampled"]] == [repr(v) for v in values]
    assert [v for _, v in seen["keyed"]] == spelled
