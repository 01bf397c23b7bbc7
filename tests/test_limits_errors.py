"""Inputs past a limit get a clear 4xx naming the limit and the fix, never a 500.

Each case here used to answer 500: chunked bodies over the size limit, integers past their
column's range, JSON nested 5,000 deep and 5,000-character file names. (A full disk:
test_disk_full.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from conftest import unique_project
from support.run_http import (
    RUN_FILES,
    file_stream,
    graphql,
    history,
    history_lines,
    new_run,
)
from support.server import LiveServer

CONFIG_UPSERT = """
mutation($name: String, $project: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, config: $config}) { bucket { id } }
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
                        "content": [*history_lines(0, 1), BEYOND_64_BIT_STEP],
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
    project, run = new_run(server)
    response = file_stream(server, project, run, body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert history(server, project, run) == []
    with server.api() as api:
        stored = api.get(f"/api/v1/runs/admin/{project}/{run}").json()
    assert (stored["state"], stored["exit_code"], stored["history_line_count"]) == (
        "running",
        None,
        0,
    )


def test_largest_step_and_huge_metric_values_are_stored(server: LiveServer) -> None:
    project, run = new_run(server)
    lines = [
        json.dumps({"_step": 2**63 - 1, "loss": 1.5}),
        json.dumps({"_step": -(2**63), "loss": 0.5}),
        json.dumps({"_step": 1, "huge": 10**400}),  # past a float: kept, not charted
    ]
    response = file_stream(
        server, project, run, {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}}
    )
    assert response.status_code == 200, response.text
    steps = [row["_step"] for row in history(server, project, run)]
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
    project, run = new_run(server)
    for samples in (BEYOND_64_BITS, -5):
        spec = json.dumps({"keys": ["loss"], "samples": samples})
        body = graphql(server, SAMPLED, project=project, run=run, specs=[spec]).json()
        error = body["errors"][0]
        assert error["message"] == f"samples is {samples}, outside the allowed range 1..{INT32_MAX}"
        assert error["extensions"] == {"status": 422, "code": "unprocessable"}
    response = graphql(server, HISTORY % (project, run, f"minStep: {BEYOND_64_BITS}"))
    assert response.status_code == 400
    assert f"Int64 must lie within {INT64_RANGE}" in response.json()["errors"][0]["message"]
    # In range, the same fields answer.
    ok = graphql(server, HISTORY % (project, run, "minStep: 0, maxStep: 10"))
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
    project, run = new_run(server)
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
    body = graphql(server, CONFIG_UPSERT, name="r1", project=project, config='{"a": ' + DEEP + "}")
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
    project, run = new_run(server)
    with server.api() as api:
        response = api.post(
            f"/files/admin/{project}/{run}/file_stream",
            content=content,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{where}: {NESTING}"
    assert history(server, project, run) == []


def test_history_line_nested_just_past_the_limit_is_refused(server: LiveServer) -> None:
    project, run = new_run(server)
    at_limit = '{"a": ' + "[" * 99 + "]" * 99 + "}"  # 100 levels
    past_limit = '{"a": ' + "[" * 100 + "]" * 100 + "}"
    ok = file_stream(
        server,
        project,
        run,
        {"files": {"wandb-history.jsonl": {"offset": 0, "content": [at_limit]}}},
    )
    assert ok.status_code == 200, ok.text
    refused = file_stream(
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
    project, run = new_run(server)
    error = graphql(server, RUN_FILES, project=project, run=run, files=[LONG_NAME]).json()[
        "errors"
    ][0]
    assert f"files: {NAME_LIMIT}" in error["message"]
    assert error["extensions"]["status"] == 422
    # One path segment longer than the filesystem allows is refused the same way.
    segment = graphql(server, RUN_FILES, project=project, run=run, files=["d/" + "b" * 300])
    message = segment.json()["errors"][0]["message"]
    assert "is 300 bytes, over the 255-byte limit for one file or folder name" in message
    with server.api() as api:
        assert api.get(f"/api/v1/runs/admin/{project}/{run}/files").json() == []


def test_file_stream_file_name_of_5000_characters_is_a_422(server: LiveServer) -> None:
    project, run = new_run(server)
    response = file_stream(
        server, project, run, {"files": {LONG_NAME: {"offset": 0, "content": ["x"]}}}
    )
    assert response.status_code == 422
    assert NAME_LIMIT in response.json()["detail"]


def test_artifact_file_name_of_5000_characters_is_refused(server: LiveServer) -> None:
    project, _ = new_run(server)
    spec = {
        "entityName": "admin",
        "projectName": project,
        "artifactTypeName": "dataset",
        "artifactCollectionName": "ds",
        "digest": "0" * 32,
    }
    created = graphql(server, CREATE_ARTIFACT, i=spec).json()
    artifact_id = created["data"]["createArtifact"]["artifact"]["id"]
    files = [{"artifactID": artifact_id, "name": LONG_NAME, "md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}]
    error = graphql(server, ARTIFACT_FILES, f=files).json()["errors"][0]
    assert f"artifactFiles.name: {NAME_LIMIT}" in error["message"]
    assert error["extensions"]["status"] == 422


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
