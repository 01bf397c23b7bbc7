"""Run alerts with the official client (`run.alert`): throttled, stored, shown, delivered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import WandbClient, unique_project
from runyard.server.notifications import AlertMessage, Notifier, WebhookChannel
from support.server import LiveServer


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POSTed JSON body."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *_: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    hook = Receiver()
    yield hook
    hook.close()


def test_repeated_alert_is_stored_and_delivered_once(
    sqlite_server: LiveServer,
    sqlite_client: WandbClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_server.settings, "alert_webhook_url", receiver.url)
    project = unique_project()
    result = sqlite_client.run("alerts.py", "--project", project, "--run-id", "al", "--big")
    assert result.returncode == 0, result.stdout + result.stderr

    with sqlite_server.api() as api:
        stored = api.get(f"/api/v1/runs/admin/{project}/al/alerts").json()
    # Sent twice within its 60 s wait: stored once. The over-size one is refused.
    assert [(a["title"], a["level"], a["wait_duration_ms"]) for a in stored] == [
        ("Loss is NaN", "WARN", 60_000)
    ]
    assert stored[0]["text"] == "loss went to NaN at step 0"

    assert receiver.arrived.wait(30), "the webhook never received the alert"
    # Delivery runs on the notifier's pool: wait for it to drain before counting.
    from runyard.server.notifications import notifier_for

    notifier = notifier_for(receiver.url, sqlite_server.settings.alert_webhook_timeout_s)
    notifier.notify(
        AlertMessage(
            entity="-",
            project="-",
            run="drain",
            run_display_name="-",
            title="drain",
            text="",
            level="INFO",
            created_at="",
        )
    )[0].result(timeout=30)
    titles = [b["title"] for b in receiver.bodies]
    assert titles == ["Loss is NaN", "drain"]
    body = receiver.bodies[0]
    assert body["type"] == "run_alert"
    assert (body["entity"], body["project"], body["run"], body["level"]) == (
        "admin",
        project,
        "al",
        "WARN",
    )


def test_alert_shows_on_graphql(sqlite_server: LiveServer, sqlite_client: WandbClient) -> None:
    project = unique_project()
    result = sqlite_client.run("alerts.py", "--project", project, "--run-id", "ag", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite_server.api() as api:
        answer = api.post(
            "/graphql",
            json={
                "query": 'query($p: String) { project(name: $p, entityName: "admin") '
                '{ run(name: "ag") { alerts { title text severity waitDuration } } } }',
                "variables": {"p": project},
            },
        )
        assert answer.json()["data"]["project"]["run"]["alerts"] == [
            {
                "title": "Loss is NaN",
                "text": "loss went to NaN at step 0",
                "severity": "WARN",
                "waitDuration": 60_000,
            }
        ]


@pytest.mark.parametrize(
    ("title", "text", "message"),
    [
        ("t" * 65, "x", "title: 65 characters, over the 64-character limit"),
        ("big", "x" * 10_001, "text: 10001 characters, over the 10000-character limit"),
        ("", "x", "title: an alert needs a non-empty title"),
    ],
)
def test_alert_over_the_limits_is_refused(
    sqlite_server: LiveServer, sqlite_client: WandbClient, title: str, text: str, message: str
) -> None:
    project = unique_project()
    result = sqlite_client.run(
        "alerts.py", "--project", project, "--run-id", "lim", "--repeat", "0"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite_server.api() as api:
        answer = api.post(
            "/graphql",
            json={
                "query": "mutation($p: String!, $t: String!, $x: String!) { "
                'notifyScriptableRunAlert(input: {projectName: $p, runName: "lim", '
                "title: $t, text: $x, waitDuration: 1000}) { success } }",
                "variables": {"p": project, "t": title, "x": text},
            },
        )
        errors = answer.json()["errors"]
        assert message in errors[0]["message"], errors
        assert api.get(f"/api/v1/runs/admin/{project}/lim/alerts").json() == []


def test_failed_webhook_delivery_is_logged_not_raised(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    dead = Receiver(status=500)
    try:
        notifier = Notifier([WebhookChannel(dead.url, timeout_s=5)])
        message = AlertMessage(
            entity="e",
            project="p",
            run="r",
            run_display_name="r",
            title="t",
            text="x",
            level="ERROR",
            created_at="",
        )
        with caplog.at_level("WARNING", logger="runyard.server.notifications"):
            notifier.notify(message)[0].result(timeout=30)
        assert any(r.message == "alert delivery failed" for r in caplog.records)
        assert [b["title"] for b in dead.bodies] == ["t"]
    finally:
        dead.close()
