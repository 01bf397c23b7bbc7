"""GPU-hours accounting: items' GPUs times the time from launch to end, by user and more.

Time is the unit of work's clock (`UnitOfWork(clock=...)`), moved by the test: no sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from runyard.cli import main
from runyard.launch.models import (
    EnqueueRequest,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
    TemplateVariable,
)
from runyard.server.auth import Principal, Role
from runyard.server.errors import ServiceError
from runyard.server.queues import queue_service
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.usage.accounting import (
    UsageKey,
    gpu_seconds,
    parse_since,
    released_gpu_seconds,
)
from runyard.server.usage.service import gpu_usage
from support.server import LiveServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServerState]:
    opened = open_state(ServerSettings(data_dir=tmp_path))
    yield opened
    opened.engine.dispose()


def _member(name: str, team: str) -> Principal:
    return Principal(
        user_id=hash(name) % 1000,
        username=name,
        email=f"{name}@example.com",
        is_admin=False,
        entity_id=1,
        entity_name=name,
        roles={team: Role.MEMBER},
    )


ALICE, BOB = _member("alice", "lab"), _member("bob", "lab")
OUTSIDER = _member("eve", "elsewhere")


def _queue(state: ServerState, clock: Clock) -> Queue:
    spec = QueueSpec(
        name="gpu",
        entity="lab",
        config={"gpus": "{{gpus}}"},
        variables=[TemplateVariable(name="gpus", type="integer", minimum=0)],
    )
    with UnitOfWork(state, write=True, clock=clock) as uow:
        return uow.queue_store.create_queue(spec, uow.now())


def _run(
    state: ServerState, clock: Clock, queue: Queue, who: Principal, gpus: int, seconds: float
) -> str:
    """Enqueue, claim, launch at the clock's time, and finish `seconds` later."""
    with UnitOfWork(state, write=True, clock=clock) as uow:
        body = EnqueueRequest(
            run_spec={"entry_point": ["python", "t.py"], "project": "vision"},
            template_values={"gpus": gpus},
        )
        item, _ = queue_service.enqueue_on(uow, who, queue, body)
        claimed = uow.queue_store.claim([queue], "agent-1", None, True, uow.now())
        assert claimed is not None and claimed.id == item.id
        queue_service.report_held(uow, claimed, ItemState.LAUNCHING)
    clock.now += timedelta(seconds=seconds)
    with UnitOfWork(state, write=True, clock=clock) as uow:
        held = uow.queue_store.get_item(item.id)
        assert held is not None
        queue_service.report_held(uow, held, ItemState.FINISHED)
    return item.id


def test_three_two_gpu_items_of_30_s_are_0_05_gpu_hours_of_their_user(
    state: ServerState,
) -> None:
    clock = Clock()
    queue = _queue(state, clock)
    for _ in range(3):
        _run(state, clock, queue, ALICE, gpus=2, seconds=30)
        clock.now += timedelta(seconds=5)  # between items nothing is counted
    _run(state, clock, queue, BOB, gpus=0, seconds=600)  # holds no GPU: no GPU-hours
    clock.now += timedelta(hours=1)
    with UnitOfWork(state, clock=clock) as uow:
        report = gpu_usage(uow, ALICE, "user", "7d")
        by_queue = gpu_usage(uow, BOB, "queue", "1d", entity="lab")
        outsider = gpu_usage(uow, OUTSIDER, "user", "7d")
    assert [row.key for row in report.rows] == ["alice"]
    assert report.rows[0].gpu_hours == pytest.approx(0.05, rel=0.01)
    assert report.rows[0].items == 3
    assert by_queue.rows[0].key == "lab/gpu"
    assert by_queue.total_gpu_hours == pytest.approx(0.05, rel=0.01)
    assert outsider.rows == []  # a queue one cannot read is not counted for them


def test_a_running_item_counts_until_now_and_the_window_clips(state: ServerState) -> None:
    clock = Clock()
    queue = _queue(state, clock)
    with UnitOfWork(state, write=True, clock=clock) as uow:
        body = EnqueueRequest(
            run_spec={"entry_point": ["python", "t.py"]}, template_values={"gpus": 4}
        )
        item, _ = queue_service.enqueue_on(uow, ALICE, queue, body)
        claimed = uow.queue_store.claim([queue], "agent-1", None, True, uow.now())
        assert claimed is not None and claimed.id == item.id
        queue_service.report_held(uow, claimed, ItemState.RUNNING)
    clock.now += timedelta(hours=3)
    with UnitOfWork(state, clock=clock) as uow:
        so_far = gpu_usage(uow, ALICE, "user", "7d")
        last_hour = gpu_usage(uow, ALICE, "project", "1h")
    assert so_far.total_gpu_hours == pytest.approx(12.0)  # 4 GPUs x 3 h, still running
    assert last_hour.total_gpu_hours == pytest.approx(4.0)  # only the last hour
    assert last_hour.rows[0].key == "-"  # no project in its run spec


def test_an_item_never_launched_holds_no_gpu_hours() -> None:
    item = QueueItem(
        id="x",
        queue="q",
        entity="lab",
        priority=Priority.MEDIUM,
        run_spec={},
        template_values={},
        rendered_config={},
        requirements=Requirements(gpus=8),
        state=ItemState.CANCELED,
        state_times={"pending": T0, "canceled": T0 + timedelta(hours=5)},
        created_at=T0,
    )
    assert gpu_seconds(item, T0, T0 + timedelta(days=1)) == 0.0
    assert released_gpu_seconds(item) == 0.0


def test_released_gpu_seconds_of_an_ended_and_a_requeued_item() -> None:
    ended = QueueItem(
        id="x",
        queue="q",
        entity="lab",
        priority=Priority.MEDIUM,
        run_spec={},
        template_values={},
        rendered_config={},
        requirements=Requirements(gpus=2),
        state=ItemState.FAILED,
        state_times={"launching": T0, "failed": T0 + timedelta(seconds=90)},
        created_at=T0,
    )
    assert released_gpu_seconds(ended) == 180.0
    requeued = ended.model_copy(
        update={
            "state": ItemState.PENDING,
            "state_times": {"launching": T0, "pending": T0 + timedelta(seconds=30)},
        }
    )
    assert released_gpu_seconds(requeued) == 60.0  # held until it went back in line
    running = ended.model_copy(update={"state": ItemState.RUNNING})
    assert released_gpu_seconds(running) == 0.0  # counted when it releases them


def test_bad_usage_requests_name_the_field(state: ServerState) -> None:
    with pytest.raises(ValueError, match=r"since: '7 days' is not a duration.*e\.g\. 7d"):
        parse_since("7 days")
    assert parse_since("12h") == timedelta(hours=12)
    with UnitOfWork(state) as uow:
        with pytest.raises(ServiceError, match=r"by: 'team' is not one of user, project"):
            gpu_usage(uow, ALICE, "team", "7d")
        with pytest.raises(ServiceError, match=r"since: '-3d' is not a duration"):
            gpu_usage(uow, ALICE, str(UsageKey.USER), "-3d")
        with pytest.raises(ServiceError, match=r"since: '99999d' is longer than 10 years"):
            gpu_usage(uow, ALICE, "user", "99999d")


def test_runyard_usage_prints_gpu_hours_by_user(
    sqlite_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite_server.api() as api:
        body = {
            "name": "usage-gpu",
            "entity": "admin",
            "resource": "local-process",
            "config": {"gpus": "{{gpus}}"},
            "variables": [{"name": "gpus", "type": "integer"}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
        item = {"run_spec": {"entry_point": ["python"]}, "template_values": {"gpus": 2}}
        item_id = api.post("/api/v1/queues/admin/usage-gpu/items", json=item).json()["id"]
        registration = {"name": "a", "queues": ["admin/usage-gpu"], "capacity": {"gpus": 2}}
        agent = api.post("/api/v1/agents", json=registration).json()["id"]
        claim = {"agent_id": agent, "queues": ["admin/usage-gpu"], "wait": 5}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item_id
        for state in ("launching", "finished"):
            report = {"agent_id": agent, "state": state}
            assert api.post(f"/api/v1/items/{item_id}/report", json=report).status_code == 200
        metrics = api.get("/metrics").text
        counted = next(
            line
            for line in metrics.splitlines()
            if line.startswith('runyard_gpu_seconds_total{queue="admin/usage-gpu",user="admin"}')
        )
        assert float(counted.split()[-1]) > 0  # 2 GPUs x the moment between the reports
        by_pool = api.get("/api/v1/usage/gpu-hours", params={"by": "pool", "entity": "admin"})
        pools = {row["key"]: row["items"] for row in by_pool.json()["rows"]}
        assert pools.get("local:a") == 1  # the agent that ran it has no pool: its machine
        bad = api.get("/api/v1/usage/gpu-hours", params={"by": "user", "since": "soon"})
        assert bad.status_code == 400 and "since: 'soon'" in bad.text
    monkeypatch.setenv("RUNYARD_URL", sqlite_server.url)
    monkeypatch.setenv("RUNYARD_API_KEY", sqlite_server.admin_key)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(main, ["usage", "--by", "user", "--since", "7d"])
    assert result.exit_code == 0, result.output
    assert "GPU-hours by user" in result.output
    row = next(line for line in result.output.splitlines() if "admin" in line)
    assert row.split("│")[-2].strip() == "1"  # one item held GPUs
    refused = CliRunner().invoke(main, ["usage", "--since", "soon"])
    assert refused.exit_code != 0 and "since: 'soon' is not a duration" in refused.output


def test_the_usage_page_shows_gpu_hours_by_the_chosen_key(sqlite_server: LiveServer) -> None:
    with sqlite_server.api() as api:
        body = {
            "name": "usage-page",
            "entity": "admin",
            "config": {"gpus": "{{gpus}}"},
            "variables": [{"name": "gpus", "type": "integer"}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
        item = {"run_spec": {"entry_point": ["python"]}, "template_values": {"gpus": 4}}
        item_id = api.post("/api/v1/queues/admin/usage-page/items", json=item).json()["id"]
        registration = {"name": "a", "queues": ["admin/usage-page"], "capacity": {"gpus": 4}}
        agent = api.post("/api/v1/agents", json=registration).json()["id"]
        claim = {"agent_id": agent, "queues": ["admin/usage-page"], "wait": 5}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item_id
        report = {"agent_id": agent, "state": "running"}
        assert api.post(f"/api/v1/items/{item_id}/report", json=report).status_code == 200
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as browser:
        login = browser.post("/login", data={"api_key": sqlite_server.admin_key, "next": "/"})
        assert login.status_code == 303
        assert 'href="/launch/usage"' in browser.get("/launch").text
        page = browser.get("/launch/usage", params={"by": "queue", "since": "1d"})
        assert page.status_code == 200
        assert "GPU-hours by queue" in page.text and "<td>admin/usage-page</td>" in page.text
        refused = browser.get("/launch/usage", params={"by": "color"})
        assert refused.status_code == 400 and "by: &#39;color&#39; is not one of" in refused.text
