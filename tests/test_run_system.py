"""System metrics, paged history, run state and deletes as the official client reads them.

Also the GraphQL answers behind them that the client's own test suite trips on:
`sampledHistory` step ranges, `historyKeys.previousValue`, `updateRunState`, deleting a
run twice, `serverInfo.cliVersionInfo`, and CORS on signed URLs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from conftest import WandbClient, unique_project
from runyard.server.errors import ServiceError
from runyard.server.settings import ServerSettings
from runyard.server.tracking.run_state import check_transition
from runyard.server.tracking.system_metrics import latest_values
from runyard.server.tracking.uploads import cors_headers
from support.run_http import file_stream, graphql, history_lines, new_run
from support.server import LiveServer

# --- with the official client ----------------------------------------------------------------


def test_system_metrics_paged_history_state_and_delete(wandb_client: WandbClient) -> None:
    result = wandb_client.run("run_system.py", "--project", unique_project(), "--steps", "23")
    assert result.returncode == 0, result.stderr
    phases = {r["phase"]: r for r in result.results}

    history = phases["history"]
    # Pages of 5 steps (and 4, for keys) read every step once, in order: not 0, 5, 10, ...
    assert history["scan_all"] == list(range(24))
    assert history["scan_loss"] == list(range(23))
    assert history["scan_loss_values"] == [pytest.approx(1 / (s + 1)) for s in range(23)]
    assert history["last_step"] == 23
    assert history["previous"]["loss"] == pytest.approx(1 / 23)
    assert history["previous"]["acc"] == pytest.approx(0.22)
    assert history["previous"]["only_other"] == 1

    system = phases["system"]
    assert system["rows"] >= 1
    assert "system.cpu" in system["row_keys"]
    assert "system.memory_percent" in system["latest"]

    if "state" in phases:  # run.update_state exists from wandb 0.23 on
        failed, state, repeat, pending, reread = phases["state"]["states"]
        assert (failed, state) == (True, "failed")
        assert "invalid state transition from failed to failed" in repeat
        assert (pending, reread) == (True, "pending")

    assert "not found" in phases["delete"]["gone"]


# --- sampledHistory step ranges ---------------------------------------------------------------

SAMPLED = """
query($project: String!, $run: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: "admin") { run(name: $run) { sampledHistory(specs: $specs) } }
}
"""


def _sampled(server: LiveServer, project: str, run: str, *specs: dict[str, object]) -> list[list]:
    response = graphql(
        server, SAMPLED, project=project, run=run, specs=[json.dumps(s) for s in specs]
    )
    body = response.json()
    assert "errors" not in body, body
    return list(body["data"]["project"]["run"]["sampledHistory"])


def _steps(rows: list[dict[str, object]]) -> list[object]:
    return [row["_step"] for row in rows]


@pytest.fixture
def run_with_history(sqlite_server: LiveServer) -> tuple[str, str]:
    project, run = new_run(sqlite_server)
    lines = history_lines(0, 40)
    response = file_stream(
        sqlite_server,
        project,
        run,
        {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}},
    )
    assert response.status_code == 200, response.text
    return project, run


def test_sampled_history_pages_by_step_range_on_both_client_conventions(
    sqlite_server: LiveServer, run_with_history: tuple[str, str]
) -> None:
    project, run = run_with_history
    keys = ["_step", "loss"]
    # wandb-core: an inclusive maxStep of page end - 1 and samples = page size.
    core = _sampled(
        sqlite_server, project, run, {"keys": keys, "minStep": 5, "maxStep": 9, "samples": 5}
    )
    # wandb 0.22's Python scan: maxStep = page end, still with samples = page size.
    legacy = [
        _steps(
            _sampled(
                sqlite_server,
                project,
                run,
                {"keys": keys, "minStep": m, "maxStep": m + 5, "samples": 5},
            )[0]
        )
        for m in range(0, 40, 5)
    ]
    assert _steps(core[0]) == [5, 6, 7, 8, 9]
    assert [s for page in legacy for s in page] == list(range(40))
    # No range: an even sample over the whole run, first row included.
    (whole,) = _sampled(sqlite_server, project, run, {"keys": keys, "samples": 10})
    assert _steps(whole) == list(range(0, 40, 4))
    # Rows must hold every key asked for.
    (missing,) = _sampled(sqlite_server, project, run, {"keys": ["nope"], "samples": 10})
    assert missing == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("not json", "sampledHistory specs: spec"),
        (json.dumps({"keys": "loss"}), "sampledHistory specs: keys"),
        (json.dumps({"keys": ["loss"], "samples": 0}), "samples is 0, outside the allowed range"),
        (json.dumps({"keys": ["loss"], "minStep": "x"}), "sampledHistory specs: minStep"),
        (json.dumps({"maxStep": 2**64}), "maxStep is 18446744073709551616, outside"),
    ],
)
def test_a_malformed_sampled_history_spec_is_refused_by_field(
    sqlite_server: LiveServer, run_with_history: tuple[str, str], spec: str, expected: str
) -> None:
    project, run = run_with_history
    response = graphql(sqlite_server, SAMPLED, project=project, run=run, specs=[spec])
    body = response.json()
    assert response.status_code == 200 and body["errors"], body
    message = body["errors"][0]["message"]
    assert expected in message, message


def test_history_keys_previous_value_and_events(
    sqlite_server: LiveServer, run_with_history: tuple[str, str]
) -> None:
    project, run = run_with_history
    events = [json.dumps({"system.cpu": c, "_runtime": c}) for c in range(12)]
    events.append(json.dumps({"system.gpu.0.gpu": 50, "_runtime": 12}))
    response = file_stream(
        sqlite_server,
        project,
        run,
        {"files": {"wandb-events.jsonl": {"offset": 0, "content": events}}},
    )
    assert response.status_code == 200, response.text
    query = """
    query($project: String!, $run: String!) {
      project(name: $project, entityName: "admin") {
        run(name: $run, desc: "ignored") {
          historyKeys systemMetrics all: events few: events(samples: 4)
        }
      }
    }
    """
    body = graphql(sqlite_server, query, project=project, run=run).json()
    assert "errors" not in body, body
    found = body["data"]["project"]["run"]
    assert found["historyKeys"]["lastStep"] == 39
    assert found["historyKeys"]["keys"]["loss"]["previousValue"] == pytest.approx(3.9)
    assert [json.loads(line)["_runtime"] for line in found["all"]] == list(range(13))
    assert [json.loads(line)["_runtime"] for line in found["few"]] == [0, 3, 6, 9]
    # The latest value of each metric, also of one missing from the last line.
    latest = json.loads(found["systemMetrics"])
    assert latest["system.cpu"] == 11 and latest["system.gpu.0.gpu"] == 50


# --- updateRunState and deleteRun -------------------------------------------------------------

UPDATE_STATE = """
mutation($id: ID!, $state: String!) { updateRunState(input: {id: $id, state: $state}) { success } }
"""
DELETE = "mutation($id: ID!) { deleteRun(input: {id: $id}) { clientMutationId } }"
RUN_ID = (
    'query($p: String!) { project(name: $p, entityName: "admin") { run(name: "r1") { id state } } }'
)


def _run_node(server: LiveServer, project: str) -> dict[str, str] | None:
    body = graphql(server, RUN_ID, p=project).json()
    run: dict[str, str] | None = body["data"]["project"]["run"]
    return run


def test_update_run_state_moves_and_refuses_by_the_rules(sqlite_server: LiveServer) -> None:
    project, _ = new_run(sqlite_server)
    node = _run_node(sqlite_server, project)
    assert node is not None
    moves = [
        ("failed", None),
        ("failed", "invalid state transition from failed to failed"),
        ("pending", None),
        ("finished", "'finished' cannot be set by hand"),
    ]
    for state, error in moves:
        body = graphql(sqlite_server, UPDATE_STATE, id=node["id"], state=state).json()
        if error is None:
            assert body["data"]["updateRunState"] == {"success": True}, body
        else:
            assert error in body["errors"][0]["message"], body
    assert (_run_node(sqlite_server, project) or {})["state"] == "pending"


@pytest.mark.parametrize(
    ("node_id", "message"),
    [("bm90IGEgcnVu", "is not a Run id"), ("UnVuOjk5OTk5OTk=", "does not exist")],
)
def test_update_run_state_names_a_bad_or_unknown_id(
    sqlite_server: LiveServer, node_id: str, message: str
) -> None:
    body = graphql(sqlite_server, UPDATE_STATE, id=node_id, state="failed").json()
    assert message in body["errors"][0]["message"], body


def test_check_transition_follows_wandb_rules() -> None:
    for current in ("running", "failed", "crashed", "preempted"):
        check_transition(current, "pending", in_sweep=False)
    for current in ("pending", "running"):
        check_transition(current, "failed", in_sweep=False)
    for current, target in [
        ("finished", "pending"),
        ("finished", "failed"),
        ("pending", "pending"),
    ]:
        with pytest.raises(ServiceError, match="invalid state transition"):
            check_transition(current, target, in_sweep=False)
    with pytest.raises(ServiceError, match="sweep"):
        check_transition("running", "failed", in_sweep=True)


def test_deleting_a_run_twice_answers_alike(sqlite_server: LiveServer) -> None:
    project, _ = new_run(sqlite_server)
    node = _run_node(sqlite_server, project)
    assert node is not None
    for _ in range(2):
        body = graphql(sqlite_server, DELETE, id=node["id"]).json()
        assert body == {"data": {"deleteRun": {"clientMutationId": None}}}, body
    assert _run_node(sqlite_server, project) is None
    # To a user without a role in the run's entity, the deleted id still reads as no run.
    created = graphql(
        sqlite_server,
        "mutation($e: String!) { createUser(input: {email: $e}) { apiKey } }",
        e=f"{project}@example.com",
    ).json()
    with sqlite_server.api(created["data"]["createUser"]["apiKey"]) as stranger:
        body = stranger.post(
            "/graphql", json={"query": DELETE, "variables": {"id": node["id"]}}
        ).json()
    assert "does not exist" in body["errors"][0]["message"], body
    bad = graphql(sqlite_server, DELETE, id="bm90IGEgcnVu").json()
    assert "id:" in bad["errors"][0]["message"] and "is not a Run id" in bad["errors"][0]["message"]


# --- server info and signed-URL CORS ----------------------------------------------------------


def test_server_info_names_the_supported_client_versions(sqlite_server: LiveServer) -> None:
    query = "{ serverInfo { cliVersionInfo features { name isEnabled } } }"
    info = graphql(sqlite_server, query).json()["data"]["serverInfo"]
    settings = ServerSettings()
    assert info["cliVersionInfo"] == {
        "min_cli_version": settings.cli_min_version,
        "max_cli_version": settings.cli_max_version,
    }
    assert {"name": "UPDATE_RUN_STATE", "isEnabled": True} in info["features"]


def test_a_client_version_setting_must_be_a_release_number(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cli_max_version"):
        ServerSettings(data_dir=tmp_path, cli_max_version="latest")


def test_signed_urls_answer_cors_for_the_servers_own_origin(sqlite_server: LiveServer) -> None:
    with sqlite_server.api() as api:
        own = api.options(
            "/storage/anything",
            headers={"Origin": sqlite_server.url, "Access-Control-Request-Method": "PUT"},
        )
        other = api.options(
            "/storage/anything",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
        )
    assert own.status_code == 204
    assert own.headers["access-control-allow-origin"] == sqlite_server.url
    assert "PUT" in own.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in own.headers
    assert "access-control-allow-origin" not in other.headers


def test_cors_headers_match_the_origin_of_the_public_url() -> None:
    assert cors_headers("https://runs.example", "https://runs.example/runyard")
    assert cors_headers("https://RUNS.example", "https://runs.example")
    assert not cors_headers("https://runs.example:8443", "https://runs.example")
    assert not cors_headers(None, "https://runs.example")


def test_latest_values_merge_recent_lines_in_order() -> None:
    lines = [json.dumps({"a": 1, "b": 1}), "oops", json.dumps({"a": 2}), json.dumps([1])]
    assert latest_values(lines) == {"a": 2, "b": 1}
