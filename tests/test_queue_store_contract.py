"""One contract for every QueueStore: ordering, capacity-aware claims, leases, races, restarts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from runyard.launch.models import (
    EnqueueRequest,
    ItemError,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
    TemplateVariable,
)
from runyard.launch.queue.redis_store import RedisQueueStore
from runyard.launch.queue.sql import METADATA, SqlQueueStore
from runyard.launch.queue.store import Conflict, NotFound, QueueStore
from runyard.server.db.engine import make_engine
from support.postgres import throwaway_database

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# A store factory: calling it again gives a new store object on the same data (a restart).
StoreFactory = Callable[[], QueueStore]


def _sql_engine(url: str) -> Engine:
    engine = make_engine(url)
    METADATA.create_all(engine)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of stores over one fresh backend."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"runyard-test:{uuid.uuid4().hex}:"
        yield lambda: RedisQueueStore.from_url(url, prefix)
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        return
    if request.param == "sqlite":
        engine = _sql_engine(f"sqlite:///{tmp_path / 'queue.db'}")
        yield lambda: SqlQueueStore(engine)
        engine.dispose()
        return
    with throwaway_database(request.getfixturevalue("postgres_admin_dsn")) as url:
        engine = _sql_engine(url)
        yield lambda: SqlQueueStore(engine)
        engine.dispose()


@pytest.fixture
def store(reopen: StoreFactory) -> QueueStore:
    return reopen()


def _queue(store: QueueStore, name: str = "a100", **settings: object) -> Queue:
    spec = QueueSpec(
        name=name,
        entity="team",
        variables=[TemplateVariable(name="gpus", type="integer", minimum=0, default=1)],
        **settings,  # type: ignore[arg-type]
    )
    return store.create_queue(spec, T0)


def _push(
    store: QueueStore,
    queue: Queue,
    label: str,
    priority: Priority = Priority.MEDIUM,
    gpus: int = 0,
    request_id: str | None = None,
    at: datetime = T0,
) -> QueueItem:
    request = EnqueueRequest(run_spec={"label": label}, priority=priority, request_id=request_id)
    item, _ = store.enqueue(queue, request, {"gpus": gpus}, {}, Requirements(gpus=gpus), at)
    return item


def _claim_labels(store: QueueStore, queue: Queue, n: int) -> list[str]:
    labels = []
    for _ in range(n):
        item = store.claim([queue], "agent-1", None, True, T0)
        assert item is not None
        labels.append(item.run_spec["label"])
    return labels


def test_claims_follow_priority_then_fifo(store: QueueStore) -> None:
    queue = _queue(store)
    for label, priority in [
        ("low-1", Priority.LOW),
        ("med-1", Priority.MEDIUM),
        ("crit-1", Priority.CRITICAL),
        ("med-2", Priority.MEDIUM),
        ("high-1", Priority.HIGH),
        ("crit-2", Priority.CRITICAL),
    ]:
        _push(store, queue, label, priority)
    assert [i.run_spec["label"] for i in store.list_items(queue)] == [
        "crit-1",
        "crit-2",
        "high-1",
        "med-1",
        "med-2",
        "low-1",
    ]
    assert _claim_labels(store, queue, 6) == [
        "crit-1",
        "crit-2",
        "high-1",
        "med-1",
        "med-2",
        "low-1",
    ]
    assert store.claim([queue], "agent-1", None, True, T0) is None


def test_queue_without_prioritization_is_plain_fifo(store: QueueStore) -> None:
    queue = _queue(store, prioritization=False)
    _push(store, queue, "first", Priority.LOW)
    _push(store, queue, "second", Priority.CRITICAL)
    assert _claim_labels(store, queue, 2) == ["first", "second"]


def test_claim_takes_the_best_item_across_queues(store: QueueStore) -> None:
    a, b = _queue(store, "a"), _queue(store, "b")
    _push(store, a, "a-low", Priority.LOW)
    _push(store, b, "b-high", Priority.HIGH)
    item = store.claim([a, b], "agent-1", None, True, T0)
    assert item is not None and item.run_spec["label"] == "b-high"
    assert item.queue == "b"


def test_capacity_aware_claim_backfills_or_blocks(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "big", Priority.HIGH, gpus=8)
    _push(store, queue, "small", Priority.LOW, gpus=2)
    four_free = Requirements(gpus=4)
    # Without backfill the 8-GPU head blocks the queue for an agent with 4 free GPUs.
    assert store.claim([queue], "agent-1", four_free, False, T0) is None
    # With backfill the small item goes around it.
    small = store.claim([queue], "agent-1", four_free, True, T0)
    assert small is not None and small.run_spec["label"] == "small"
    big = store.claim([queue], "agent-2", Requirements(gpus=8), False, T0)
    assert big is not None and big.run_spec["label"] == "big"


def test_a_gang_is_claimed_only_when_every_pod_finds_a_node(store: QueueStore) -> None:
    queue = _queue(store)
    request = EnqueueRequest(run_spec={"label": "gang"}, priority=Priority.HIGH)
    gang, _ = store.enqueue(queue, request, {"gpus": 8}, {}, Requirements(gpus=8, pods=4), T0)
    _push(store, queue, "single", Priority.LOW, gpus=8)
    three_nodes = Requirements(gpus=8, pods=16, node_free=[8, 8, 8])
    assert store.claim([queue], "agent-1", three_nodes, False, T0) is None  # the head waits
    single = store.claim([queue], "agent-1", three_nodes, True, T0)  # backfill goes around
    assert single is not None and single.run_spec["label"] == "single"
    three_slots = Requirements(gpus=8, pods=3, node_free=[8, 8, 8, 8])
    assert store.claim([queue], "agent-1", three_slots, True, T0) is None  # max_jobs: pods
    four_nodes = Requirements(gpus=8, pods=4, node_free=[8, 8, 8, 8])
    claimed = store.claim([queue], "agent-1", four_nodes, True, T0)
    assert claimed is not None and claimed.id == gang.id
    assert claimed.requirements == Requirements(gpus=8, pods=4)


def test_claim_leases_and_counts_attempts(store: QueueStore) -> None:
    queue = _queue(store, lease_seconds=30)
    _push(store, queue, "job")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    assert item.state is ItemState.CLAIMED
    assert item.agent_id == "agent-1"
    assert item.attempts == 1
    assert item.lease_expires_at == T0 + timedelta(seconds=30)
    assert store.get_item(item.id) == item


def test_expired_lease_requeues_then_fails_after_max_attempts(store: QueueStore) -> None:
    queue = _queue(store, lease_seconds=10, max_attempts=2)
    _push(store, queue, "job")
    first = store.claim([queue], "agent-1", None, True, T0)
    assert first is not None
    assert store.expire_leases(T0 + timedelta(seconds=5)) == []  # still leased
    [requeued] = store.expire_leases(T0 + timedelta(seconds=11))
    assert requeued.state is ItemState.PENDING and requeued.agent_id is None

    second = store.claim([queue], "agent-2", None, True, T0 + timedelta(seconds=12))
    assert second is not None and second.id == first.id and second.attempts == 2
    # Heartbeats keep the lease alive past its first deadline.
    store.renew("agent-2", [second.id], T0 + timedelta(seconds=20))
    assert store.expire_leases(T0 + timedelta(seconds=25)) == []
    [failed] = store.expire_leases(T0 + timedelta(seconds=31))
    assert failed.state is ItemState.FAILED
    assert failed.error is not None and "max_attempts=2" in failed.error.message
    assert store.claim([queue], "agent-3", None, True, T0 + timedelta(seconds=40)) is None


def test_agent_reports_move_the_item_through_its_lifecycle(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "job")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    store.report(item.id, "agent-1", ItemState.LAUNCHING, T0 + timedelta(seconds=1))
    running = store.report(
        item.id, "agent-1", ItemState.RUNNING, T0 + timedelta(seconds=2), run_id="run-7"
    )
    assert running.run_id == "run-7"
    done = store.report(item.id, "agent-1", ItemState.FINISHED, T0 + timedelta(seconds=3))
    assert done.state is ItemState.FINISHED
    assert list(done.state_times) == ["pending", "claimed", "launching", "running", "finished"]
    assert done.lease_expires_at is None
    with pytest.raises(Conflict, match="finished"):
        store.report(item.id, "agent-1", ItemState.RUNNING, T0)


def test_failure_keeps_stage_message_and_log(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "job")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    error = ItemError(stage="launch", message="image pull failed", log="ErrImagePull\n")
    failed = store.report(item.id, "agent-1", ItemState.FAILED, T0, error=error)
    assert failed.error == error


def test_reports_from_another_agent_are_refused(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "job")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    with pytest.raises(Conflict, match="not leased to agent 'agent-2'"):
        store.report(item.id, "agent-2", ItemState.RUNNING, T0)


def test_cancel_pending_and_running_items(store: QueueStore) -> None:
    queue = _queue(store)
    pending = _push(store, queue, "waiting")
    _push(store, queue, "busy")
    assert store.cancel(pending.id, T0).state is ItemState.CANCELED
    busy = store.claim([queue], "agent-1", None, True, T0)
    assert busy is not None and busy.run_spec["label"] == "busy"  # canceled one is skipped
    store.cancel(busy.id, T0)
    # The agent hears of it at its next heartbeat.
    [heard] = store.renew("agent-1", [busy.id], T0 + timedelta(seconds=1))
    assert heard.state is ItemState.CANCELED
    with pytest.raises(Conflict, match="already canceled"):
        store.cancel(busy.id, T0)


def test_reprioritised_item_moves_to_its_new_level_in_enqueue_order(store: QueueStore) -> None:
    queue = _queue(store)
    early_low = _push(store, queue, "early-low", Priority.LOW, at=T0)
    _push(store, queue, "high-1", Priority.HIGH, at=T0 + timedelta(seconds=1))
    _push(store, queue, "high-2", Priority.HIGH, at=T0 + timedelta(seconds=2))
    moved = store.set_priority(early_low.id, Priority.HIGH)
    assert moved.priority is Priority.HIGH
    assert store.get_item(early_low.id) == moved
    # Enqueued first, so first within its new level; the pending counts follow it.
    order = [i.run_spec["label"] for i in store.list_items(queue)]
    assert order == ["early-low", "high-1", "high-2"]
    assert store.pending_summary(queue).by_priority[int(Priority.HIGH)] == 3
    claimed = store.claim([queue], "agent-1", None, True, T0)
    assert claimed is not None and claimed.id == early_low.id
    with pytest.raises(Conflict, match="priority only orders pending items"):
        store.set_priority(claimed.id, Priority.CRITICAL)
    with pytest.raises(NotFound):
        store.set_priority("no-such-item", Priority.LOW)


def test_enqueue_with_a_request_id_is_idempotent(store: QueueStore) -> None:
    queue = _queue(store)
    first = _push(store, queue, "job", request_id="req-1")
    request = EnqueueRequest(run_spec={"label": "again"}, request_id="req-1")
    again, created = store.enqueue(queue, request, {}, {}, Requirements(gpus=0), T0)
    assert not created and again.id == first.id
    assert len(store.list_items(queue)) == 1


def test_queue_crud(store: QueueStore) -> None:
    queue = _queue(store)
    with pytest.raises(Conflict, match="exists"):
        _queue(store)
    assert store.get_queue("team", "a100") == queue
    assert [q.name for q in store.list_queues("team")] == ["a100"]
    updated = store.update_queue(queue.model_copy(update={"max_attempts": 7}))
    assert updated.max_attempts == 7 and updated.id == queue.id
    _push(store, queue, "job")
    store.delete_queue("team", "a100")
    assert store.get_queue("team", "a100") is None
    with pytest.raises(NotFound):
        store.delete_queue("team", "a100")


def test_racing_claimers_each_get_a_different_item(store: QueueStore) -> None:
    queue = _queue(store)
    for i in range(40):
        _push(store, queue, f"job-{i}")
    won: list[str] = []
    lock = threading.Lock()

    def claimer(agent: str) -> None:
        while (item := store.claim([queue], agent, None, True, T0)) is not None:
            with lock:
                won.append(item.id)

    threads = [threading.Thread(target=claimer, args=(f"agent-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 40 and len(set(won)) == 40


def test_nothing_is_lost_or_duplicated_across_a_restart(reopen: StoreFactory) -> None:
    store = reopen()
    queue = _queue(store)
    for i in range(5):
        _push(store, queue, f"job-{i}")
    claimed = store.claim([queue], "agent-1", None, True, T0)
    assert claimed is not None
    restarted = reopen()
    items = restarted.list_items(queue)
    assert [i.run_spec["label"] for i in items] == [f"job-{i}" for i in range(5)]
    assert restarted.get_item(claimed.id) == claimed
    assert _claim_labels(restarted, queue, 4) == ["job-1", "job-2", "job-3", "job-4"]


def test_pending_summary_counts_by_priority_and_finds_the_oldest(store: QueueStore) -> None:
    queue = _queue(store)
    assert store.pending_summary(queue).oldest_created_at is None
    _push(store, queue, "old-low", Priority.LOW, at=T0)
    _push(store, queue, "new-crit", Priority.CRITICAL, at=T0 + timedelta(minutes=5))
    _push(store, queue, "newer-crit", Priority.CRITICAL, at=T0 + timedelta(minutes=9))
    summary = store.pending_summary(queue)
    assert summary.by_priority == {0: 2, 1: 0, 2: 0, 3: 1}
    assert summary.oldest_created_at == T0
    store.claim([queue], "agent-1", None, True, T0)  # takes new-crit
    assert store.pending_summary(queue).by_priority == {0: 1, 1: 0, 2: 0, 3: 1}


def test_racing_retries_of_one_request_make_one_item(store: QueueStore) -> None:
    queue = _queue(store)
    ids: list[str] = []
    lock = threading.Lock()

    def retry() -> None:
        item = _push(store, queue, "job", request_id="same-request")
        with lock:
            ids.append(item.id)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert len(store.list_items(queue)) == 1


def test_preempted_item_is_requeued_with_its_run_id(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "job")
    _push(store, queue, "later")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    store.report(item.id, "agent-1", ItemState.RUNNING, T0, run_id="run-7")
    back = store.report(
        item.id,
        "agent-1",
        ItemState.PREEMPTED,
        T0 + timedelta(seconds=5),
        warning="evicted: node drained",
        requeue=True,
    )
    assert back.state is ItemState.PENDING and back.preemptions == 1
    assert back.agent_id is None and back.lease_expires_at is None
    assert "preempted" in back.state_times and back.warnings == ["evicted: node drained"]
    assert store.get_item(item.id) == back
    # Back at its place in line (ahead of the later item), the run id kept for resume.
    again = store.claim([queue], "agent-2", None, True, T0 + timedelta(seconds=6))
    assert again is not None and again.id == item.id and again.run_id == "run-7"
    assert store.expire_leases(T0 + timedelta(seconds=7)) == []


def test_preempted_without_requeue_is_final(store: QueueStore) -> None:
    queue = _queue(store)
    _push(store, queue, "job")
    item = store.claim([queue], "agent-1", None, True, T0)
    assert item is not None
    store.report(item.id, "agent-1", ItemState.RUNNING, T0)
    done = store.report(item.id, "agent-1", ItemState.PREEMPTED, T0)
    assert done.state is ItemState.PREEMPTED and done.preemptions == 0
    with pytest.raises(Conflict, match="only a preempted item can be requeued"):
        _push(store, queue, "other")
        other = store.claim([queue], "agent-1", None, True, T0)
        assert other is not None
        store.report(other.id, "agent-1", ItemState.FAILED, T0, requeue=True)


def test_restarted_agent_adopts_items_of_dead_agents_only(store: QueueStore) -> None:
    queue = _queue(store, lease_seconds=10)
    for label in ("dead-holder", "live-holder", "lapsed", "done"):
        _push(store, queue, label)
    dead = store.claim([queue], "dead", None, True, T0)
    live = store.claim([queue], "live", None, True, T0)
    lapsed = store.claim([queue], "dead", None, True, T0)
    done = store.claim([queue], "dead", None, True, T0)
    assert dead and live and lapsed and done
    store.report(dead.id, "dead", ItemState.RUNNING, T0, run_id="r1")
    store.report(done.id, "dead", ItemState.FAILED, T0)
    # The dead agent's lease on `lapsed` ran out: the item is pending again.
    store.renew("dead", [dead.id], T0 + timedelta(seconds=9))
    store.renew("live", [live.id], T0 + timedelta(seconds=9))
    assert [i.id for i in store.expire_leases(T0 + timedelta(seconds=11))] == [lapsed.id]

    now = T0 + timedelta(seconds=12)
    adopted = store.adopt("new", [dead.id, live.id, lapsed.id, done.id, "nope"], {"live"}, now)
    by_id = {i.id: i for i in adopted}
    assert set(by_id) == {dead.id, live.id, lapsed.id, done.id}
    assert by_id[dead.id].agent_id == "new" and by_id[dead.id].state is ItemState.RUNNING
    assert by_id[dead.id].lease_expires_at == now + timedelta(seconds=10)
    assert by_id[live.id].agent_id == "live"  # its holder still heartbeats: hands off
    assert by_id[lapsed.id].state is ItemState.CLAIMED and by_id[lapsed.id].agent_id == "new"
    assert by_id[lapsed.id].attempts == 2
    assert by_id[done.id].state is ItemState.FAILED
    assert store.get_item(lapsed.id) == by_id[lapsed.id]
    # Adopted items are leased: nobody else can claim the lapsed one.
    assert store.claim([queue], "other", None, True, now) is None
    assert store.report(dead.id, "new", ItemState.FINISHED, now).state is ItemState.FINISHED


def test_count_by_state_follows_the_lifecycle(store: QueueStore) -> None:
    queue = _queue(store)
    assert store.count_by_state(queue) == {}
    for label in ("a", "b", "c", "d"):
        _push(store, queue, label)
    first = store.claim([queue], "agent-1", None, True, T0)
    second = store.claim([queue], "agent-1", None, True, T0)
    assert first and second
    store.report(first.id, "agent-1", ItemState.RUNNING, T0)
    store.cancel(second.id, T0)
    assert store.count_by_state(queue) == {"pending": 2, "running": 1, "canceled": 1}


def test_items_are_found_by_a_prefix_of_their_id(store: QueueStore) -> None:
    queue = _queue(store)
    items = [_push(store, queue, f"job{i}") for i in range(3)]
    for item in items:
        assert item.id in store.find_item_ids(item.id[:8])
        assert store.find_item_ids(item.id) == [item.id]
    everything = store.find_item_ids("", limit=100)
    assert sorted(i.id for i in items) == [i for i in everything if i in {x.id for x in items}]
    assert store.find_item_ids("zzzz") == []
    assert len(store.find_item_ids("", limit=2)) == 2
