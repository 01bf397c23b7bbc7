"""Automations end to end with the official client: webhooks on alias and metric events,
retries with backoff, delivery across a server crash, team secrets, and refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wandb.automations._generated import CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL

from conftest import WandbClient, unique_project
from runyard.server.tracking.ids import encode_id
from support.receiver import Receiver
from support.server import LiveServer

FAST = {"events_backoff_base_s": 0.05, "events_poll_interval_s": 0.2}


# The one param names the backend in test ids, so `make test-compat` (`-k sqlite`) runs them.
@pytest.fixture(scope="module", params=["sqlite"])
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A SQLite server whose failed deliveries are retried after 50 ms, 100 ms, ..."""
    server = LiveServer(tmp_path_factory.mktemp("automations"), None, **FAST).start()  # type: ignore[arg-type]
    yield server
    server.stop()


@pytest.fixture
def client(tmp_path: Path, fast_server: LiveServer) -> Iterator[WandbClient]:
    """The official client pointed at the fast server."""
    wandb_client = WandbClient(tmp_path, fast_server)
    yield wandb_client
    wandb_client.kill_leftovers()


@pytest.fixture(autouse=True)
def every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    """Run the server's logging at DEBUG, as an operator may: a bad log call fails here."""
    caplog.set_level("DEBUG")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver answering 200."""
    hook = Receiver()
    yield hook
    hook.close()


def gql(api: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a GraphQL operation; return the whole answer."""
    answer = api.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def add_webhook(api: httpx.Client, name: str, url: str, **refs: str) -> str:
    """Add a webhook integration to `admin` with the client's own operation; its node id."""
    result = gql(
        api,
        CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL,
        {"input": {"entityName": "admin", "name": name, "urlEndpoint": url, **refs}},
    )
    assert "errors" not in result, result
    integration = result["data"]["result"]["integration"]
    assert integration["__typename"] == "GenericWebhookIntegration"
    return str(integration["id"])


def deliveries(api: httpx.Client, project: str) -> list[dict[str, Any]]:
    """The project's delivery log, oldest first."""
    answer = api.get(f"/api/v1/projects/admin/{project}/automations")
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["deliveries"]))


def settled(
    api: httpx.Client, project: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """The delivery log once `count` deliveries exist and none is pending or sending."""
    deadline = time.monotonic() + timeout
    while True:
        log = deliveries(api, project)
        if len(log) >= count and all(d["state"] in ("succeeded", "failed") for d in log):
            return log
        assert time.monotonic() < deadline, f"deliveries never settled: {log}"
        time.sleep(0.1)


def test_alias_production_fires_the_webhook_exactly_once(
    fast_server: LiveServer,
    client: WandbClient,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = unique_project()
    hook = f"deploy-{uuid.uuid4().hex[:6]}"
    token, signing = "tok-" + uuid.uuid4().hex, "sig-" + uuid.uuid4().hex
    with fast_server.api() as api:
        for name, value in (("DEPLOY_TOKEN", token), ("DEPLOY_SIGNING", signing)):
            stored = gql(
                api,
                "mutation($i: InsertSecretInput!) { insertSecret(input: $i) { success } }",
                {"i": {"entityName": "admin", "secretName": name, "secretValue": value}},
            )
            assert stored.get("data", {}).get("insertSecret") == {"success": True} or (
                "already exists" in stored["errors"][0]["message"]
            ), stored
        add_webhook(
            api,
            hook,
            receiver.url,
            accessTokenRef="DEPLOY_TOKEN",
            secretRef="DEPLOY_SIGNING",
        )
        # Secret values are never shown again: only names come back.
        names = gql(api, '{ entity(name: "admin") { secrets { name } } }', {})
        assert {"name": "DEPLOY_TOKEN"} in names["data"]["entity"]["secrets"]
        assert token not in str(names)

    with caplog.at_level("DEBUG"):
        result = client.run(
            "automations.py",
            "--project",
            project,
            "--mode",
            "alias",
            "--hook",
            hook,
            "--name",
            f"prod-{project}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.results[0]["created"] == f"prod-{project}"
        assert f"prod-{project}" in result.results[0]["listed"]

        [got] = receiver.wait_for(1)
        with fast_server.api() as api:
            [delivery] = settled(api, project, 1)
    assert token not in caplog.text and signing not in caplog.text

    assert got.body == {
        "event_type": "ADD_ARTIFACT_ALIAS",
        "event_author": "admin",
        "artifact_version": got.body["artifact_version"],
        "artifact_version_string": f"admin/{project}/model:production",
        "artifact_collection_name": "model",
        "project_name": project,
        "entity_name": "admin",
    }
    assert got.body["artifact_version"].startswith("wandb-artifact://_id/")
    assert got.headers["Authorization"] == f"Bearer {token}"
    expected = hmac.new(signing.encode(), got.raw, hashlib.sha256).digest()
    assert got.headers["X-Wandb-Signature"] == base64.b64encode(expected).decode()
    # Exactly once: one delivery (v0's aliases matched nothing), succeeded at its first try,
    # and a succeeded delivery is never claimed again.
    assert (delivery["event_type"], delivery["state"]) == ("ADD_ARTIFACT_ALIAS", "succeeded")
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    assert len(receiver.requests) == 1


def test_receiver_failing_twice_gets_the_event_on_the_third_try(
    fast_server: LiveServer, client: WandbClient
) -> None:
    flaky = Receiver(statuses=[500, 500])
    try:
        project, hook = unique_project(), f"flaky-{uuid.uuid4().hex[:6]}"
        with fast_server.api() as api:
            add_webhook(api, hook, flaky.url)
        result = client.run(
            "automations.py",
            "--project",
            project,
            "--mode",
            "alias",
            "--hook",
            hook,
            "--name",
            f"flaky-{project}",
            "--scope",
            "project",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        first, second, third = flaky.wait_for(3)
        with fast_server.api() as api:
            [delivery] = settled(api, project, 1)
        with httpx.Client(base_url=fast_server.url, timeout=30) as browser:
            signed_in = browser.post("/login", data={"api_key": fast_server.admin_key})
            assert signed_in.status_code == 303, signed_in.text
            page = browser.get(f"/admin/{project}/automations")
    finally:
        flaky.close()
    assert [r.status for r in (first, second, third)] == [500, 500, 200]
    assert first.raw == second.raw == third.raw
    assert first.headers["X-Runyard-Delivery"] == third.headers["X-Runyard-Delivery"]
    assert delivery["state"] == "succeeded"
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert delivery["attempts"][0]["response"] == "try later"
    metrics = httpx.get(f"{fast_server.url}/metrics").text
    assert 'runyard_event_deliveries_total{result="retry"}' in metrics
    # The project's automations page shows the automation and each try with its answer.
    assert page.status_code == 200, page.text
    assert f"flaky-{project}" in page.text
    assert page.text.count("500 · ") == 2 and "200 · " in page.text
    assert 'data-state="succeeded"' in page.text


def test_metric_threshold_fires_when_loss_drops_below_and_not_before(
    fast_server: LiveServer, client: WandbClient, receiver: Receiver
) -> None:
    project, hook = unique_project(), f"metric-{uuid.uuid4().hex[:6]}"
    with fast_server.api() as api:
        add_webhook(api, hook, receiver.url)
    setup = client.run(
        "automations.py",
        "--project",
        project,
        "--mode",
        "metric-setup",
        "--hook",
        hook,
        "--name",
        f"loss-{project}",
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr

    above = client.run(
        "automations.py",
        "--project",
        project,
        "--mode",
        "metric-log",
        "--losses",
        "1.0,0.5,0.2,0.12",
    )
    assert above.returncode == 0, above.stdout + above.stderr
    with fast_server.api() as api:
        # Deliveries are written with the history that causes them: none so far.
        assert deliveries(api, project) == []

    below = client.run(
        "automations.py",
        "--project",
        project,
        "--mode",
        "metric-log",
        "--losses",
        "0.09,0.05,0.2,0.08",
    )
    assert below.returncode == 0, below.stdout + below.stderr
    with fast_server.api() as api:
        log = settled(api, project, 2)
    got = receiver.wait_for(2)
    # Fires as the loss crosses below 0.1 (0.09), not again while it stays below (0.05),
    # and again after it went back above (0.2 -> 0.08).
    assert sorted(r.body["loss"] for r in got) == ["0.08", "0.09"]
    assert {r.body["run"] for r in got} == {"falling"}
    assert [d["event_type"] for d in log] == ["RUN_METRIC", "RUN_METRIC"]


def test_run_alert_reaches_slack_once_per_wait_duration(
    fast_server: LiveServer, client: WandbClient
) -> None:
    slack = Receiver()
    try:
        project = unique_project()
        with fast_server.api() as api:
            added = api.post(
                "/api/v1/entities/admin/integrations",
                json={
                    "kind": "slack",
                    "name": f"alerts-{uuid.uuid4().hex[:6]}",
                    "url": slack.url,
                    "channel_name": "#alerts",
                },
            )
            assert added.status_code == 201, added.text
        result = client.run(
            "automations.py", "--project", project, "--mode", "alert", "--repeat", "3"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with fast_server.api() as api:
            log = settled(api, project, 1)
            stored = api.get(f"/api/v1/runs/admin/{project}/alerting/alerts").json()
        got = slack.wait_for(1)
    finally:
        slack.close()
    # Three alerts with one title inside its wait_duration: one stored, one message.
    assert len(stored) == 1
    assert [(d["event_type"], d["kind"], d["state"]) for d in log] == [
        ("RUN_ALERT", "slack", "succeeded")
    ]
    [message] = [r for r in got if project in str(r.body)]
    assert message.body["text"].startswith("*Loss spike*\nstep 0")
    assert message.body["attachments"][0]["color"]


def _create_trigger(api: httpx.Client, scope_type: str, scope_id: str, **extra: Any) -> Any:
    action = extra.pop("action", {"noOpActionInput": {"noOp": True}})
    return gql(
        api,
        "mutation($i: CreateFilterTriggerInput!) { createFilterTrigger(input: $i) "
        "{ trigger { id name } } }",
        {
            "i": {
                "name": extra.pop("name", f"bad-{uuid.uuid4().hex[:6]}"),
                "enabled": True,
                "scopeType": scope_type,
                "scopeID": scope_id,
                "triggeringEventType": extra.pop("event", "ADD_ARTIFACT_ALIAS"),
                "eventFilter": extra.pop("filter", '{"$or": [{"$and": []}]}'),
                "triggeredActionType": extra.pop("action_type", "NO_OP"),
                "triggeredActionConfig": action,
            }
        },
    )


def _project_id(api: httpx.Client, project: str) -> str:
    api.post(
        "/graphql",
        json={
            "query": "mutation($n: String!) { upsertModel(input: {name: $n, entityName: "
            '"admin"}) { model { id } } }',
            "variables": {"n": project},
        },
    )
    found = gql(
        api, 'query($p: String) { project(name: $p, entityName: "admin") { id } }', {"p": project}
    )
    return str(found["data"]["project"]["id"])


def test_bad_input_gets_a_clear_error_and_writes_nothing(
    fast_server: LiveServer, receiver: Receiver
) -> None:
    project = unique_project()
    with fast_server.api() as api:
        project_id = _project_id(api, project)
        missing = _create_trigger(
            api, "ARTIFACT_COLLECTION", encode_id("ArtifactCollection", 999999)
        )
        assert "scopeID: artifact collection" in missing["errors"][0]["message"]
        assert "does not exist" in missing["errors"][0]["message"]

        ftp = gql(
            api,
            CREATE_GENERIC_WEBHOOK_INTEGRATION_GQL,
            {"input": {"entityName": "admin", "name": "ftp-hook", "urlEndpoint": "ftp://x/y"}},
        )
        assert "urlEndpoint: 'ftp://x/y' is not an http(s) URL" in ftp["errors"][0]["message"]

        hook = add_webhook(api, f"vars-{uuid.uuid4().hex[:6]}", receiver.url)
        unknown = _create_trigger(
            api,
            "PROJECT",
            project_id,
            event="RUN_STATE",
            filter='{"run_filter": "{\\"$and\\": []}", "run_state_filter": {"states": ["FAILED"]}}',
            action_type="GENERIC_WEBHOOK",
            action={
                "genericWebhookActionInput": {
                    "integrationID": hook,
                    "requestPayload": '{"who": "${event_author}", "x": "${artifact_nope}"}',
                }
            },
        )
        message = unknown["errors"][0]["message"]
        assert "requestPayload: unknown payload variable ${artifact_nope}" in message
        assert "${run_name}" in message  # names what a RUN_STATE event provides

        name = f"DUP_{uuid.uuid4().hex[:6]}"
        secret = "mutation($i: InsertSecretInput!) { insertSecret(input: $i) { success } }"
        first = gql(
            api, secret, {"i": {"entityName": "admin", "secretName": name, "secretValue": "a"}}
        )
        assert first["data"]["insertSecret"]["success"] is True
        again = gql(
            api, secret, {"i": {"entityName": "admin", "secretName": name, "secretValue": "b"}}
        )
        assert (
            f"secretName: a secret named {name!r} already exists" in again["errors"][0]["message"]
        )

        listed = api.get(f"/api/v1/projects/admin/{project}/automations").json()
        integrations = api.get("/api/v1/entities/admin/integrations").json()
    assert listed == {"automations": [], "deliveries": []}
    assert "ftp-hook" not in [i["name"] for i in integrations]


def test_new_version_in_a_collection_notifies_slack_and_reads_back(
    fast_server: LiveServer, client: WandbClient
) -> None:
    slack = Receiver()
    try:
        project = unique_project()
        first = client.run("automations.py", "--project", project, "--mode", "log-production")
        assert first.returncode == 0, first.stdout + first.stderr
        with fast_server.api() as api:
            added = api.post(
                "/api/v1/entities/admin/integrations",
                json={"kind": "slack", "name": f"models-{project}", "url": slack.url},
            ).json()
            found = gql(
                api,
                'query($p: String) { project(name: $p, entityName: "admin") { artifactType('
                'name: "model") { artifactCollections { edges { node { id name } } } } } }',
                {"p": project},
            )
            [edge] = found["data"]["project"]["artifactType"]["artifactCollections"]["edges"]
            created = _create_trigger(
                api,
                "ARTIFACT_COLLECTION",
                edge["node"]["id"],
                name=f"new-model-{project}",
                event="CREATE_ARTIFACT",
                action_type="NOTIFICATION",
                action={
                    "notificationActionInput": {
                        "integrationID": added["id"],
                        "title": "New model ${artifact_version_string}",
                        "message": "by ${event_author}",
                        "severity": "WARN",
                    }
                },
            )
            assert "errors" not in created, created
        second = client.run(
            "automations.py", "--project", project, "--mode", "log-production", "--name", "v1"
        )
        assert second.returncode == 0, second.stdout + second.stderr
        [message] = slack.wait_for(1)
        listed = client.run("read_automations.py", f"new-model-{project}", "--edit")
    finally:
        slack.close()
    assert message.body["text"] == f"*New model admin/{project}/model:v1*\nby admin"
    assert listed.returncode == 0, listed.stdout + listed.stderr
    seen, edited, deleted = listed.results
    assert edited == {"enabled": False, "description": "paused"}
    assert deleted == {"deleted": True}
    assert seen == {
        "name": f"new-model-{project}",
        "scope": ["ARTIFACT_COLLECTION", "model"],
        "event": "CREATE_ARTIFACT",
        "action": "NOTIFICATION",
        "enabled": True,
    }


def test_secret_and_integration_cli(
    fast_server: LiveServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from rich.console import Console

    from runyard import automation_cli
    from runyard.cli import main

    monkeypatch.setenv("RUNYARD_URL", fast_server.url)
    monkeypatch.setattr(automation_cli, "console", Console(width=200))
    env = {"RUNYARD_API_KEY": fast_server.admin_key}
    runner = CliRunner()
    name, value = f"CLI_{uuid.uuid4().hex[:6]}", "value-" + uuid.uuid4().hex

    stored = runner.invoke(main, ["secret", "set", "admin", name, "--stdin"], input=value, env=env)
    assert stored.exit_code == 0, stored.output
    again = runner.invoke(main, ["secret", "set", "admin", name, "--stdin"], input="x", env=env)
    assert again.exit_code == 1
    assert f"a secret named '{name}' already exists" in again.output
    listed = runner.invoke(main, ["secret", "list", "admin"], env=env)
    assert name in listed.output and value not in listed.output

    hook = f"cli-{uuid.uuid4().hex[:6]}"
    added = runner.invoke(
        main, ["integration", "add", "admin", hook, receiver.url, "--token", name], env=env
    )
    assert added.exit_code == 0, added.output
    bad = runner.invoke(main, ["integration", "add", "admin", "bad", "file:///etc"], env=env)
    assert bad.exit_code == 1 and "is not an http(s) URL" in bad.output
    shown = runner.invoke(main, ["integration", "list", "admin"], env=env)
    assert hook in shown.output and name in shown.output and value not in shown.output
    deleted = runner.invoke(main, ["secret", "delete", "admin", name], env=env)
    assert deleted.exit_code == 0, deleted.output


def test_run_finishing_fires_a_run_state_automation(
    fast_server: LiveServer, client: WandbClient, receiver: Receiver
) -> None:
    project = unique_project()
    with fast_server.api() as api:
        hook = add_webhook(api, f"state-{uuid.uuid4().hex[:6]}", receiver.url)
        created = _create_trigger(
            api,
            "PROJECT",
            _project_id(api, project),
            event="RUN_STATE",
            filter='{"run_filter": "{\\"$and\\": []}", "run_state_filter": '
            '{"states": ["FINISHED"]}}',
            action_type="GENERIC_WEBHOOK",
            action={
                "genericWebhookActionInput": {
                    "integrationID": hook,
                    "requestPayload": '{"run": "${run_id}", "state": "${run_state}"}',
                }
            },
        )
        assert "errors" not in created, created
    result = client.run(
        "automations.py", "--project", project, "--mode", "metric-log", "--losses", "1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [got] = receiver.wait_for(1)
    with fast_server.api() as api:
        [delivery] = settled(api, project, 1)
    assert got.body == {"run": "falling", "state": "finished"}
    assert delivery["event_type"] == "RUN_STATE"


def test_summary_only_metric_fires_on_crossing(fast_server: LiveServer, receiver: Receiver) -> None:
    project = unique_project()
    with fast_server.api() as api:
        hook = add_webhook(api, f"summary-{uuid.uuid4().hex[:6]}", receiver.url)
        threshold = {"threshold_filter": {"name": "val_acc", "cmp_op": "$gte", "threshold": 0.9}}
        created = _create_trigger(
            api,
            "PROJECT",
            _project_id(api, project),
            event="RUN_METRIC",
            filter=json.dumps({"run_filter": '{"$and": []}', "run_metric_filter": threshold}),
            action_type="GENERIC_WEBHOOK",
            action={
                "genericWebhookActionInput": {
                    "integrationID": hook,
                    "requestPayload": '{"acc": "${metric_value}"}',
                }
            },
        )
        assert "errors" not in created, created
        gql(
            api,
            'mutation($p: String) { upsertBucket(input: {name: "s", modelName: $p, '
            'entityName: "admin"}) { bucket { id } } }',
            {"p": project},
        )
        for value in (0.5, 0.95, 0.97):  # run.summary["val_acc"] = value, no history line
            line = json.dumps({"val_acc": value})
            summary = {"wandb-summary.json": {"offset": 0, "content": [line]}}
            posted = api.post(f"/files/admin/{project}/s/file_stream", json={"files": summary})
            assert posted.status_code == 200, posted.text
        [delivery] = settled(api, project, 1)
    [got] = receiver.wait_for(1)
    assert got.body == {"acc": "0.95"}
    assert delivery["event_type"] == "RUN_METRIC"
