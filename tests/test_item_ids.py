"""Queue items by a unique prefix of their id: exact, unique, ambiguous, unknown, hidden."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from runyard.launch.models import EnqueueRequest, QueueSpec, Requirements
from runyard.launch.queue.sql import SqlQueueStore
from runyard.server.db.engine import make_engine
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues.item_ids import resolve_item_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> SqlQueueStore:  # type: ignore[no-untyped-def]
    from runyard.launch.queue.sql import METADATA

    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    METADATA.create_all(engine)
    return SqlQueueStore(engine)


def _push(store: SqlQueueStore, entity: str, count: int) -> list[str]:
    queue = store.get_queue(entity, "q") or store.create_queue(
        QueueSpec(name="q", entity=entity), T0
    )
    return [
        store.enqueue(queue, EnqueueRequest(run_spec={}), {}, {}, Requirements(gpus=0), T0)[0].id
        for _ in range(count)
    ]


def test_a_unique_prefix_finds_its_item(store: SqlQueueStore) -> None:
    (item_id,) = _push(store, "alice", 1)
    assert resolve_item_id(store, item_id[:6]) == item_id
    assert resolve_item_id(store, item_id.upper()) == item_id


def test_an_ambiguous_prefix_lists_the_matches(
    store: SqlQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids that share their first 8 characters, as random ids eventually do.
    chosen = iter(uuid.UUID(f"abcd1234{n:02x}" + "0" * 22) for n in range(1, 100))
    monkeypatch.setattr(uuid, "uuid4", lambda: next(chosen))
    first, second = _push(store, "alice", 2)
    with pytest.raises(ServiceError) as caught:
        resolve_item_id(store, "abcd1234")
    assert caught.value.code is ErrorCode.CONFLICT
    assert first in str(caught.value) and second in str(caught.value)
    assert "give more characters" in str(caught.value)
    assert resolve_item_id(store, second[:10]) == second  # more digits settle it


def test_too_short_and_unknown_prefixes_are_refused(store: SqlQueueStore) -> None:
    (item_id,) = _push(store, "alice", 1)
    with pytest.raises(ServiceError) as short:
        resolve_item_id(store, item_id[:3])
    assert short.value.code is ErrorCode.INVALID and "at least 4" in str(short.value)
    unknown = "0000" if not item_id.startswith("0000") else "1111"
    with pytest.raises(ServiceError) as missing:
        resolve_item_id(store, unknown)
    assert missing.value.code is ErrorCode.NOT_FOUND


def test_other_peoples_items_neither_match_nor_are_listed(store: SqlQueueStore) -> None:
    (mine,) = _push(store, "alice", 1)
    with pytest.raises(ServiceError) as caught:
        resolve_item_id(store, mine[:8], lambda entity: entity == "bob")
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert mine not in str(caught.value)
