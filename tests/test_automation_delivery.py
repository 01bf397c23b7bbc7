"""The dispatcher's guarantees: delivery after a hard crash, one replica per delivery, and
the pure deciding parts (backoff, filters, payload templates)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from test_automations import add_webhook, deliveries, settled

from conftest import WandbClient, unique_project
from runyard.server.automations import filters, payloads
from runyard.server.clock import utcnow
from runyard.server.db.automation_models import Delivery, DeliveryAttempt
from runyard.server.events.backoff import RetryPolicy, backoff_s, verdict
from runyard.server.events.deliveries import claim_due
from runyard.server.events.outbox import Target, write_event
from runyard.server.settings import ServerSettings
from runyard.server.state import open_state
from support.postgres import throwaway_database
from support.receiver import Receiver
from support.server import free_port

ADMIN_KEY = "runyard-" + "e" * 40


class Server:
    """`runyard server` as a child process, killed the hard way."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.extra = data_dir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = ADMIN_KEY
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        full = {
            **os.environ,
            "RUNYARD_DATA_DIR": str(self.data_dir),
            "RUNYARD_PORT": str(self.port),
            "RUNYARD_ADMIN_API_KEY": ADMIN_KEY,
            "RUNYARD_LOG_LEVEL": "warning",
            "RUNYARD_EVENTS_BACKOFF_BASE_S": "0.05",
            "RUNYARD_EVENTS_POLL_INTERVAL_S": "0.2",
            **self.extra,
            **env,
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "runyard.cli", "server"], env=full)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            assert self.proc.poll() is None, "the server exited while starting"
            time.sleep(0.1)
        raise RuntimeError("the server did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crashable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server the test may SIGKILL and restart on the same database."""
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if request.param == "postgres":
            admin_dsn = request.getfixturevalue("postgres_admin_dsn")
            env["RUNYARD_DATABASE_URL"] = stack.enter_context(throwaway_database(admin_dsn))
        server = Server(tmp_path / "server", env)
        yield server
        server.stop()


def test_a_server_killed_before_delivering_delivers_after_restart(
    crashable: Server, tmp_path: Path
) -> None:
    receiver = Receiver()
    client = WandbClient(
        tmp_path / "client", SimpleNamespace(url=crashable.url, admin_key=ADMIN_KEY)
    )  # type: ignore[arg-type]
    try:
        # This replica writes events but does not deliver them: the change commits, then the
        # server dies before any delivery.
        crashable.start(RUNYARD_EVENTS_DISPATCH="false")
        project = unique_project()
        with crashable.api() as api:
            add_webhook(api, "crash-hook", receiver.url)
        result = client.run(
            "automations.py", "--project", project, "--mode", "alias", "--hook", "crash-hook"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with crashable.api() as api:
            [pending] = deliveries(api, project)
        assert (pending["state"], pending["attempts"]) == ("pending", [])
        crashable.kill()
        assert receiver.requests == []

        crashable.start()
        [got] = receiver.wait_for(1)
        with crashable.api() as api:
            [delivery] = settled(api, project, 1)
        assert got.body["artifact_version_string"] == f"admin/{project}/model:production"
        assert delivery["state"] == "succeeded"
        assert len(delivery["attempts"]) == 1
        assert len(receiver.requests) == 1
    finally:
        client.kill_leftovers()
        receiver.close()


# ---- one replica per delivery ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An opened server state (no HTTP) on a fresh database."""
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = stack.enter_context(
                throwaway_database(request.getfixturevalue("postgres_admin_dsn"))
            )
        state = open_state(ServerSettings(data_dir=tmp_path / "data", database_url=url))
        yield state
        state.engine.dispose()


def test_concurrent_replicas_claim_each_delivery_once(database_state: Any) -> None:
    state = database_state
    with state.write_sessions.begin() as session:
        for i in range(20):
            targets = [Target("webhook", f"http://127.0.0.1:9/{i}/{j}", {"i": i}) for j in range(5)]
            write_event(
                session, "RUN_STATE", entity_id=None, project_id=None, variables={}, targets=targets
            )
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def replica(name: str) -> None:
        start.wait()
        mine: list[int] = []
        while True:
            jobs, _ = claim_due(state, name, 7, utcnow())
            if not jobs:
                break
            mine += [j.delivery_id for j in jobs]
        claimed[name] = mine

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [d for ids in claimed.values() for d in ids]
    assert len(every) == 100
    assert len(set(every)) == 100, "a delivery was claimed by two replicas"
    with state.sessions() as session:
        owners = {d.lease_owner for d in session.query(Delivery)}
    assert owners <= set(claimed)


def test_an_expired_lease_is_claimed_again(database_state: Any) -> None:
    state = database_state
    with state.write_sessions.begin() as session:
        write_event(
            session,
            "RUN_STATE",
            entity_id=None,
            project_id=None,
            variables={},
            targets=[Target("webhook", "http://127.0.0.1:9/", {})],
        )
    now = utcnow()
    [job], _ = claim_due(state, "dead", 10, now)
    assert claim_due(state, "alive", 10, now + timedelta(seconds=1))[0] == []
    lease = state.settings.events_delivery_timeout_s + 31
    [again], _ = claim_due(state, "alive", 10, now + timedelta(seconds=lease))
    assert (again.delivery_id, again.attempt) == (job.delivery_id, 2)


# ---- pure parts -----------------------------------------------------------------------------

POLICY = RetryPolicy(base_s=2, max_s=30, max_attempts=5)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n, POLICY) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("status", "attempts", "expected"),
    [
        (200, 1, "succeeded"),
        (204, 5, "succeeded"),
        (500, 1, "retry"),
        (None, 4, "retry"),
        (429, 2, "retry"),
        (500, 5, "failed"),
        (404, 1, "failed"),
        (401, 1, "failed"),
    ],
)
def test_verdict_of_a_try(status: int | None, attempts: int, expected: str) -> None:
    assert verdict(status, attempts, POLICY) == expected


ALIAS_FILTER = '{"$or": [{"$and": [{"alias": {"$eq": "production"}}]}]}'


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [(["production"], True), (["staging"], False), (["latest", "production"], True)],
)
def test_alias_filter(aliases: list[str], expected: bool) -> None:
    spec = filters.parse_filter("ADD_ARTIFACT_ALIAS", ALIAS_FILTER)
    assert filters.mongo_matches(spec.mutation, {"alias": aliases}) is expected


def test_empty_artifact_filter_matches_everything() -> None:
    spec = filters.parse_filter("CREATE_ARTIFACT", '{"$or": [{"$and": []}]}')
    assert filters.mongo_matches(spec.mutation, {"alias": ["v0"]})


def _metric(threshold: dict[str, Any]) -> filters.ParsedFilter:
    import json

    text = json.dumps({"run_filter": '{"$and": []}', "run_metric_filter": threshold})
    kind = "RUN_METRIC" if "threshold_filter" in threshold else "RUN_METRIC_CHANGE"
    return filters.parse_filter(kind, text)


def test_threshold_fires_on_crossing_only() -> None:
    spec = _metric({"threshold_filter": {"name": "loss", "cmp_op": "$lt", "threshold": 0.1}})
    assert filters.metric_fires(spec, [], [1.0, 0.5, 0.12]) == []
    assert filters.metric_fires(spec, [1.0, 0.12], [0.09, 0.05, 0.2, 0.08]) == [0, 3]
    # Already below before this batch: no new crossing.
    assert filters.metric_fires(spec, [0.05], [0.04]) == []


def test_threshold_over_an_average_window() -> None:
    spec = _metric(
        {
            "threshold_filter": {
                "name": "acc",
                "agg_op": "AVERAGE",
                "window_size": 3,
                "cmp_op": "$gte",
                "threshold": 0.9,
            }
        }
    )
    assert filters.metric_fires(spec, [], [1.0, 1.0]) == []  # window not full yet
    assert filters.metric_fires(spec, [1.0, 1.0], [0.4, 1.0, 1.0, 1.0]) == [3]


def test_relative_change() -> None:
    spec = _metric(
        {
            "change_filter": {
                "name": "loss",
                "change_amount": 0.5,
                "change_type": "RELATIVE",
                "change_dir": "DECREASE",
            }
        }
    )
    assert filters.metric_fires(spec, [1.0], [0.8, 0.3]) == [1]
    assert filters.metric_fires(spec, [], [1.0, 1.6]) == []


def test_state_filter_fires_on_entering_a_named_state() -> None:
    spec = filters.parse_filter(
        "RUN_STATE", '{"run_filter": "{}", "run_state_filter": {"states": ["FAILED"]}}'
    )
    assert filters.state_fires(spec, "running", "crashed")
    assert not filters.state_fires(spec, "running", "finished")
    assert not filters.state_fires(spec, "crashed", "failed")  # both coarse FAILED


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("RUN_METRIC", '{"run_metric_filter": {}}', "RUN_METRIC needs threshold_filter"),
        ("RUN_STATE", '{"run_state_filter": {"states": ["GONE"]}}', "['GONE'] unknown"),
        ("ADD_ARTIFACT_ALIAS", '{"alias": {"$where": "x"}}', "operator '$where'"),
        ("ADD_ARTIFACT_ALIAS", "{nope", "eventFilter: not valid JSON"),
        ("RUN_METRIC_ZSCORE", "{}", "'RUN_METRIC_ZSCORE' is not supported"),
    ],
)
def test_bad_filters_are_named(kind: str, text: str, message: str) -> None:
    with pytest.raises(filters.FilterError, match=None) as caught:
        filters.parse_filter(kind, text)
    assert message in str(caught.value)


def test_payload_rendering_and_unknown_variables() -> None:
    template = {
        "text": "New: ${artifact_version_string} by ${event_author}",
        "n": 1,
        "${entity_name}": [],
    }
    variables = {
        "artifact_version_string": "e/p/m:production",
        "event_author": "ann",
        "entity_name": "e",
    }
    assert payloads.render(template, variables) == {
        "text": "New: e/p/m:production by ann",
        "n": 1,
        "e": [],
    }
    assert payloads.unknown_variables(template, "ADD_ARTIFACT_ALIAS") == []
    assert payloads.unknown_variables({"x": "${run_name} ${nope}"}, "ADD_ARTIFACT_ALIAS") == [
        "run_name",
        "nope",
    ]
    assert "metric_value" in payloads.variables_for("RUN_METRIC")


def _run_dispatcher(state: Any, replica: str, stop: threading.Event) -> None:
    import asyncio

    from runyard.server.events.dispatcher import Dispatcher

    async def main() -> None:
        task = asyncio.create_task(Dispatcher(state, replica).run())
        while not stop.is_set():
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_two_replicas_deliver_each_event_exactly_once(database_state: Any, tmp_path: Path) -> None:
    # A second replica: its own state (engine, sessions) on the same database.
    first = database_state
    second = open_state(
        ServerSettings(
            data_dir=tmp_path / "second",
            database_url=first.settings.database_url,
            events_poll_interval_s=0.05,
        )
    )
    first.settings.events_poll_interval_s = 0.05
    receiver = Receiver()
    stop = threading.Event()
    replicas = [
        threading.Thread(target=_run_dispatcher, args=(state, name, stop))
        for state, name in ((first, "one"), (second, "two"))
    ]
    try:
        for thread in replicas:
            thread.start()
        for batch in range(10):
            with first.write_sessions.begin() as session:
                for i in range(5):
                    n = batch * 5 + i
                    write_event(
                        session,
                        "RUN_STATE",
                        entity_id=None,
                        project_id=None,
                        variables={},
                        targets=[Target("webhook", receiver.url, {"n": n})],
                    )
        got = receiver.wait_for(50)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with first.sessions() as session:
                left = session.query(Delivery).filter(Delivery.state != "succeeded").count()
            if not left:
                break
            time.sleep(0.1)
        stop.set()
        for thread in replicas:
            thread.join(30)
        with first.sessions() as session:
            states = [d.state for d in session.query(Delivery)]
            owners = {a.replica for a in session.query(DeliveryAttempt)}
    finally:
        stop.set()
        receiver.close()
        second.engine.dispose()
    assert sorted(r.body["n"] for r in got) == list(range(50))
    assert len({r.headers["X-Runyard-Delivery"] for r in got}) == 50
    assert states == ["succeeded"] * 50
    assert owners <= {"one", "two"}


def test_old_finished_events_are_pruned_with_their_deliveries(database_state: Any) -> None:
    from runyard.server.db.automation_models import Event
    from runyard.server.events.deliveries import prune

    state = database_state
    now = utcnow()
    old = now - timedelta(days=state.settings.events_retention_days + 1)
    with state.write_sessions.begin() as session:
        for when, delivery_state in ((old, "succeeded"), (old, "pending"), (now, "failed")):
            event = write_event(
                session,
                "RUN_STATE",
                entity_id=None,
                project_id=None,
                variables={"state": delivery_state},
                targets=[Target("webhook", "http://127.0.0.1:9/", {})],
                now=when,
            )
            session.query(Delivery).filter(Delivery.event_id == event.id).update(
                {"state": delivery_state}
            )
    assert prune(state, now) == 1
    with state.sessions() as session:
        kept = sorted(e.variables["state"] for e in session.query(Event))
        deliveries = session.query(Delivery).count()
    assert kept == ["failed", "pending"]
    assert deliveries == 2
