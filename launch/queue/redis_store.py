"""The Redis queue store, for clusters (the operator runs Redis with AOF `appendfsync always`).

Layout, all under one key prefix:

- `queue:<entity>/<name>`: the queue as JSON; `queues`: the set of `entity/name`;
  `queue_ids`: hash queue id -> `entity/name`.
- `item:<id>`: a hash per item. `doc` holds what never changes after enqueue (JSON);
  `state`, `agent`, `attempts`, `lease`, `run_id`, `error`, `warnings` and one `t:<state>`
  per state entered hold the rest, so a Lua script can change them without JSON.
- `pending:<queue id>`: sorted set of pending items, score = priority then FIFO.
- `all:<queue id>`: sorted set of every item of the queue, same score.
- `gpus`: hash item -> GPUs needed (read by the claim script).
- `leases`: sorted set item -> lease expiry (epoch ms).
- `requests:<queue id>`: hash request id -> item id (idempotent enqueue).

The claim is one Lua script: pick, remove from pending, mark claimed and lease, atomically.
The other updates are optimistic transactions (WATCH the item, retry on conflict).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis

from ..models import (
    EnqueueRequest,
    ItemError,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
)
from .rules import (
    CLAIM_WINDOW,
    SEQ_LIMIT,
    TransitionError,
    adoption,
    after_expired_lease,
    apply_report,
    order_key,
)
from .store import Conflict, NotFound, PendingSummary

T = TypeVar("T")

# KEYS: gpus hash, leases zset, pods hash (gangs only), then one pending zset per queue.
# ARGV: capacity (-1 = unlimited), backfill (1/0), window, agent, now (iso), now_ms, item
# key prefix, pod slots, per-node free GPUs ("8,8,8"; "" = unknown), then the lease ms per
# queue (same order as the pending keys). Fitting is `rules.fits`, in Lua.
CLAIM_SCRIPT = """
local gpus_key, leases_key, pods_key = KEYS[1], KEYS[2], KEYS[3]
local capacity, backfill, window = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local agent, now_iso, now_ms, prefix = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local slots, nodes = tonumber(ARGV[8]), {}
for free in string.gmatch(ARGV[9], '%d+') do table.insert(nodes, tonumber(free)) end
local function fits(need, pods)
  if capacity < 0 then return true end
  if pods > slots then return false end
  if pods > 1 and ARGV[9] ~= '' then
    if need <= 0 then return true end
    local room = 0
    for _, free in ipairs(nodes) do
      room = room + math.floor(free / need)
      if room >= pods then return true end
    end
    return false
  end
  return need * pods <= capacity
end
local candidates = {}
for i = 4, #KEYS do
  local rows = redis.call('ZRANGE', KEYS[i], 0, window - 1, 'WITHSCORES')
  for j = 1, #rows, 2 do
    table.insert(candidates, {id = rows[j], score = tonumber(rows[j + 1]), key = i})
  end
end
table.sort(candidates, function(a, b) return a.score < b.score end)
for _, c in ipairs(candidates) do
  local need = tonumber(redis.call('HGET', gpus_key, c.id) or '0')
  local pods = tonumber(redis.call('HGET', pods_key, c.id) or '1')
  if fits(need, pods) then
    local lease_ms = tonumber(ARGV[9 + c.key - 3])
    redis.call('ZREM', KEYS[c.key], c.id)
    local item = prefix .. c.id
    redis.call('HSET', item, 'state', 'claimed', 'agent', agent, 't:claimed', now_iso,
      'lease', tostring(now_ms + lease_ms))
    redis.call('HINCRBY', item, 'attempts', 1)
    redis.call('ZADD', leases_key, now_ms + lease_ms, c.id)
    return c.id
  end
  if not backfill then return false end
end
return false
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ms: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC) if ms else None


class RedisQueueStore:
    """QueueStore on Redis; every key starts with `prefix`."""

    def __init__(self, client: redis.Redis, prefix: str = "runyard:") -> None:
        # A decode_responses=True client: redis-py's types (bytes | str) cannot say so.
        self.r: Any = client
        self.p = prefix
        self._claim = client.register_script(CLAIM_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str = "runyard:") -> RedisQueueStore:
        """Connect to Redis at `url` (redis://host:port/db)."""
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    # --- queues ----------------------------------------------------------------------------

    def create_queue(self, spec: QueueSpec, now: datetime) -> Queue:
        """Create a queue; Conflict if one with that entity and name exists."""
        spec = QueueSpec.model_validate(spec.model_dump(include=set(QueueSpec.model_fields)))
        queue = Queue(id=uuid.uuid4().hex, created_at=now, **spec.model_dump())
        if not self.r.set(
            self._queue_key(spec.entity, spec.name), queue.model_dump_json(), nx=True
        ):
            raise Conflict(
                f"queue {spec.entity}/{spec.name} exists: pick another name or update it"
            )
        self.r.sadd(self.p + "queues", f"{spec.entity}/{spec.name}")
        self.r.hset(self.p + "queue_ids", queue.id, f"{spec.entity}/{spec.name}")
        return queue

    def update_queue(self, spec: QueueSpec) -> Queue:
        """Replace a queue's settings; its items stay."""
        current = self.get_queue(spec.entity, spec.name)
        if current is None:
            raise NotFound(f"queue {spec.entity}/{spec.name} does not exist")
        fields = spec.model_dump(include=set(QueueSpec.model_fields))
        queue = Queue(id=current.id, created_at=current.created_at, **fields)
        self.r.set(self._queue_key(spec.entity, spec.name), queue.model_dump_json())
        return queue

    def get_queue(self, entity: str, name: str) -> Queue | None:
        """A queue by entity and name."""
        raw = self.r.get(self._queue_key(entity, name))
        return Queue.model_validate_json(raw) if raw else None

    def list_queues(self, entity: str | None = None) -> list[Queue]:
        """All queues, or one entity's, by name."""
        paths = sorted(self.r.smembers(self.p + "queues"))
        queues = [self.get_queue(*path.split("/", 1)) for path in paths]
        return [q for q in queues if q is not None and (entity is None or q.entity == entity)]

    def delete_queue(self, entity: str, name: str) -> None:
        """Delete a queue and its items."""
        queue = self.get_queue(entity, name)
        if queue is None:
            raise NotFound(f"queue {entity}/{name} does not exist")
        ids = self.r.zrange(self.p + f"all:{queue.id}", 0, -1)
        pipe = self.r.pipeline(transaction=True)
        for item_id in ids:
            pipe.delete(self._item_key(item_id))
            pipe.hdel(self.p + "gpus", item_id)
            pipe.hdel(self.p + "pods", item_id)
            pipe.zrem(self.p + "leases", item_id)
        pipe.delete(
            self.p + f"pending:{queue.id}",
            self.p + f"all:{queue.id}",
            self.p + f"requests:{queue.id}",
            self._queue_key(entity, name),
        )
        pipe.srem(self.p + "queues", f"{entity}/{name}")
        pipe.hdel(self.p + "queue_ids", queue.id)
        pipe.execute()

    # --- items -----------------------------------------------------------------------------

    def enqueue(
        self,
        queue: Queue,
        request: EnqueueRequest,
        values: dict[str, object],
        rendered: dict[str, object],
        requirements: Requirements,
        now: datetime,
        enqueued_by: str | None = None,
    ) -> tuple[QueueItem, bool]:
        """Add a validated item; a repeated request_id returns the first item."""
        item_id = uuid.uuid4().hex
        requests_key = self.p + f"requests:{queue.id}"
        priority = request.priority if queue.prioritization else Priority.MEDIUM
        item = QueueItem(
            id=item_id,
            queue=queue.name,
            entity=queue.entity,
            priority=priority,
            run_spec=request.run_spec,
            template_values=values,
            rendered_config=rendered,
            requirements=requirements,
            state=ItemState.PENDING,
            state_times={ItemState.PENDING.value: now},
            request_id=request.request_id,
            created_at=now,
            enqueued_by=enqueued_by,
        )
        static = item.model_dump(
            mode="json",
            exclude={"state", "state_times", "attempts", "agent_id", "lease_expires_at"},
        )
        score = order_key(int(priority), int(self.r.incr(self.p + "seq")))
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # Watching the request ids makes a racing retry of the same request
                    # either see our item or make us see its own: one item either way.
                    pipe.watch(requests_key)
                    if request.request_id is not None:
                        existing_id = pipe.hget(requests_key, request.request_id)
                        if existing_id:
                            pipe.unwatch()
                            existing = self.get_item(existing_id)
                            if existing is not None:
                                return existing, False
                    pipe.multi()
                    if request.request_id is not None:
                        pipe.hset(requests_key, request.request_id, item_id)
                    self._add_item(pipe, queue, item, static, score, requirements, now)
                    pipe.execute()
                    return item, True
                except redis.WatchError:
                    continue

    def _add_item(
        self,
        pipe: Any,
        queue: Queue,
        item: QueueItem,
        static: dict[str, Any],
        score: int,
        requirements: Requirements,
        now: datetime,
    ) -> None:
        item_id = item.id
        pipe.hset(
            self._item_key(item_id),
            mapping={
                "doc": json.dumps(static),
                "queue_id": queue.id,
                "score": score,
                "state": ItemState.PENDING.value,
                "attempts": 0,
                "t:pending": now.isoformat(),
            },
        )
        pipe.hset(self.p + "gpus", item_id, requirements.gpus)
        if requirements.pods > 1:
            pipe.hset(self.p + "pods", item_id, requirements.pods)
        pipe.zadd(self.p + f"all:{queue.id}", {item_id: score})
        pipe.zadd(self.p + f"pending:{queue.id}", {item_id: score})

    def claim(
        self,
        queues: list[Queue],
        agent_id: str,
        capacity: Requirements | None,
        backfill: bool,
        now: datetime,
    ) -> QueueItem | None:
        """Lease the best pending item of these queues that fits `capacity`."""
        if not queues:
            return None
        keys = [self.p + "gpus", self.p + "leases", self.p + "pods"]
        keys += [self.p + f"pending:{q.id}" for q in queues]
        nodes = capacity.node_free if capacity is not None else None
        args: list[Any] = [
            -1 if capacity is None else capacity.gpus,
            1 if backfill else 0,
            CLAIM_WINDOW,
            agent_id,
            now.isoformat(),
            _ms(now),
            self.p + "item:",
            capacity.pods if capacity is not None else 0,
            "" if nodes is None else ",".join(str(max(0, n)) for n in nodes),
            *[int(q.lease_seconds * 1000) for q in queues],
        ]
        item_id = self._claim(keys=keys, args=args)
        return self.get_item(item_id) if item_id else None

    def renew(self, agent_id: str, item_ids: list[str], now: datetime) -> list[QueueItem]:
        """Extend the agent's leases on these items."""
        out = []
        for item_id in item_ids:
            item = self._update(
                item_id, lambda item, pipe: self._renew_one(item, agent_id, now, pipe)
            )
            if item is not None:
                out.append(item)
        return out

    def _renew_one(self, item: QueueItem, agent_id: str, now: datetime, pipe: Any) -> QueueItem:
        if item.state.holds_lease and item.agent_id == agent_id:
            queue_id = self.r.hget(self._item_key(item.id), "queue_id")
            lease = self._lease_seconds(queue_id)
            item.lease_expires_at = now + timedelta(seconds=lease)
            pipe.hset(self._item_key(item.id), "lease", _ms(item.lease_expires_at))
            pipe.zadd(self.p + "leases", {item.id: _ms(item.lease_expires_at)})
        return item

    def expire_leases(self, now: datetime) -> list[QueueItem]:
        """Requeue or fail items whose lease ran out."""
        changed = []
        for item_id in self.r.zrangebyscore(self.p + "leases", "-inf", _ms(now) - 1):
            item = self._update(item_id, lambda item, pipe: self._expire_one(item, now, pipe))
            if item is not None and not item.state.holds_lease:
                changed.append(item)
        return changed

    def _expire_one(self, item: QueueItem, now: datetime, pipe: Any) -> QueueItem:
        key = self._item_key(item.id)
        if (
            not item.state.holds_lease
            or item.lease_expires_at is None
            or item.lease_expires_at > now
        ):
            pipe.zrem(self.p + "leases", item.id)  # a stale entry: nothing to do
            return item
        queue_id = self.r.hget(key, "queue_id") or ""
        queue = self._queue_by_id(queue_id)
        max_attempts = queue.max_attempts if queue else 1
        state, error = after_expired_lease(item.attempts, max_attempts)
        item.state, item.agent_id, item.lease_expires_at, item.error = state, None, None, error
        item.state_times[state.value] = now
        pipe.hset(key, mapping={"state": state.value, f"t:{state.value}": now.isoformat()})
        pipe.hdel(key, "agent", "lease")
        if error is not None:
            pipe.hset(key, "error", error.model_dump_json())
        pipe.zrem(self.p + "leases", item.id)
        if state is ItemState.PENDING:
            score = float(self.r.hget(key, "score") or 0)
            pipe.zadd(self.p + f"pending:{queue_id}", {item.id: score})
        return item

    def report(
        self,
        item_id: str,
        agent_id: str,
        state: ItemState,
        now: datetime,
        run_id: str | None = None,
        error: ItemError | None = None,
        warning: str | None = None,
        requeue: bool = False,
    ) -> QueueItem:
        """An agent's progress report."""

        def apply(item: QueueItem, pipe: Any) -> QueueItem:
            try:
                apply_report(item, agent_id, state, now, run_id, error, warning, requeue)
            except TransitionError as exc:
                raise Conflict(str(exc)) from exc
            key = self._item_key(item_id)
            fields = {"state": item.state.value, f"t:{item.state.value}": now.isoformat()}
            if item.state_times.get(item.state.value) != now:
                del fields[f"t:{item.state.value}"]  # no state change: keep when it was entered
            fields["warnings"] = json.dumps(item.warnings)
            if item.run_id:
                fields["run_id"] = item.run_id
            if item.error is not None:
                fields["error"] = item.error.model_dump_json()
            pipe.hset(key, mapping=fields)
            if item.state.is_final:
                pipe.hdel(key, "lease")
                pipe.zrem(self.p + "leases", item_id)
            if requeue:
                pipe.hset(
                    key, mapping={"t:preempted": now.isoformat(), "preemptions": item.preemptions}
                )
                pipe.hdel(key, "lease", "agent")
                pipe.zrem(self.p + "leases", item_id)
                queue_id = self.r.hget(key, "queue_id")
                score = float(self.r.hget(key, "score") or 0)
                pipe.zadd(self.p + f"pending:{queue_id}", {item_id: score})
            return item

        return self._require(self._update(item_id, apply), item_id)

    def adopt(
        self, agent_id: str, item_ids: list[str], alive_agents: set[str], now: datetime
    ) -> list[QueueItem]:
        """Lease found workloads' items to a restarted agent."""

        def apply(item: QueueItem, pipe: Any) -> QueueItem:
            holder_alive = item.agent_id in alive_agents and item.agent_id != agent_id
            state = adoption(item, agent_id, holder_alive)
            if state is None:
                return item
            key = self._item_key(item.id)
            queue_id = self.r.hget(key, "queue_id")
            fields: dict[str, Any] = {"state": state.value, "agent": agent_id}
            if state is ItemState.CLAIMED and item.state is ItemState.PENDING:
                item.attempts += 1
                item.state_times[state.value] = now
                fields["attempts"] = item.attempts
                fields[f"t:{state.value}"] = now.isoformat()
                pipe.zrem(self.p + f"pending:{queue_id}", item.id)
            item.state, item.agent_id = state, agent_id
            item.lease_expires_at = now + timedelta(seconds=self._lease_seconds(queue_id))
            fields["lease"] = _ms(item.lease_expires_at)
            pipe.hset(key, mapping=fields)
            pipe.zadd(self.p + "leases", {item.id: _ms(item.lease_expires_at)})
            return item

        out = []
        for item_id in item_ids:
            item = self._update(item_id, apply)
            if item is not None:
                out.append(item)
        return out

    def cancel(self, item_id: str, now: datetime) -> QueueItem:
        """Cancel an item (its agent learns it at the next heartbeat)."""

        def apply(item: QueueItem, pipe: Any) -> QueueItem:
            if item.state.is_final:
                raise Conflict(f"item {item_id} is already {item.state.value}")
            key = self._item_key(item_id)
            queue_id = self.r.hget(key, "queue_id")
            item.state, item.lease_expires_at = ItemState.CANCELED, None
            item.state_times[ItemState.CANCELED.value] = now
            pipe.hset(key, mapping={"state": "canceled", "t:canceled": now.isoformat()})
            pipe.hdel(key, "lease")
            pipe.zrem(self.p + "leases", item_id)
            pipe.zrem(self.p + f"pending:{queue_id}", item_id)
            return item

        return self._require(self._update(item_id, apply), item_id)

    def set_priority(self, item_id: str, priority: Priority) -> QueueItem:
        """Move a pending item to another priority level (FIFO by enqueue order within it)."""

        def apply(item: QueueItem, pipe: Any) -> QueueItem:
            if item.state is not ItemState.PENDING:
                raise Conflict(
                    f"item {item_id} is {item.state.value}: priority only orders pending items "
                    "(cancel and enqueue it again to rerun it)"
                )
            key = self._item_key(item_id)
            fields = self.r.hmget(key, "doc", "score", "queue_id")
            doc, old_score, queue_id = json.loads(fields[0]), int(float(fields[1])), fields[2]
            doc["priority"] = int(priority)
            score = order_key(int(priority), old_score % SEQ_LIMIT)  # same place in FIFO
            pipe.hset(key, mapping={"doc": json.dumps(doc), "score": score})
            pipe.zadd(self.p + f"all:{queue_id}", {item_id: score})
            pipe.zadd(self.p + f"pending:{queue_id}", {item_id: score})
            item.priority = priority
            return item

        return self._require(self._update(item_id, apply), item_id)

    def get_item(self, item_id: str) -> QueueItem | None:
        """One item."""
        fields = self.r.hgetall(self._item_key(item_id))
        return _item(fields) if fields else None

    def find_item_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of items that start with `prefix` (lowercase hex), at most `limit`, sorted."""
        # A scan, not an index: prefixes are typed by people, never on a hot path.
        if prefix and not prefix.isalnum():
            return []  # hex ids only; keeps glob characters out of MATCH
        start = len(self._item_key(""))
        found = {
            key[start:] for key in self.r.scan_iter(match=self._item_key(prefix) + "*", count=1000)
        }
        return sorted(found)[:limit]

    def list_items(
        self, queue: Queue, states: list[ItemState] | None = None, limit: int = 1000
    ) -> list[QueueItem]:
        """A queue's items in claim order."""
        out = []
        for item_id in self.r.zrange(self.p + f"all:{queue.id}", 0, -1):
            item = self.get_item(item_id)
            if item is not None and (not states or item.state in states):
                out.append(item)
                if len(out) >= limit:
                    break
        return out

    def count_by_state(self, queue: Queue) -> dict[str, int]:
        """Items by state: one pipelined HGET per item (no item is parsed)."""
        ids = self.r.zrange(self.p + f"all:{queue.id}", 0, -1)
        with self.r.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hget(self._item_key(item_id), "state")
            states = pipe.execute()
        counts: dict[str, int] = {}
        for state in states:
            if state:
                counts[state] = counts.get(state, 0) + 1
        return counts

    def pending_summary(self, queue: Queue) -> PendingSummary:
        """Pending counts by priority (score bands) and the oldest pending item's enqueue time."""
        key = self.p + f"pending:{queue.id}"
        by_priority, heads = {}, []
        for level in range(4):
            low, high = order_key(level, 0), order_key(level + 1, 0) if level < 3 else "+inf"
            by_priority[level] = int(self.r.zcount(key, low, f"({high}" if level < 3 else high))
            heads += self.r.zrangebyscore(key, low, f"({high}" if level < 3 else high, 0, 1)
        items = [self.get_item(item_id) for item_id in heads]
        created = [item.created_at for item in items if item is not None]
        return PendingSummary(by_priority=by_priority, oldest_created_at=min(created, default=None))

    # --- helpers ---------------------------------------------------------------------------

    def _update(self, item_id: str, change: Callable[[QueueItem, Any], T]) -> T | None:
        """Run `change` on the item inside a WATCH/MULTI transaction; retry on conflict."""
        key = self._item_key(item_id)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    fields = pipe.hgetall(key)
                    if not fields:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    result = change(_item(fields), pipe)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    def _require(self, item: QueueItem | None, item_id: str) -> QueueItem:
        if item is None:
            raise NotFound(f"queue item {item_id} does not exist")
        return item

    def _queue_by_id(self, queue_id: str) -> Queue | None:
        path = self.r.hget(self.p + "queue_ids", queue_id)
        return self.get_queue(*path.split("/", 1)) if path else None

    def _lease_seconds(self, queue_id: str | None) -> float:
        queue = self._queue_by_id(queue_id or "")
        return queue.lease_seconds if queue else 60.0

    def _queue_key(self, entity: str, name: str) -> str:
        return self.p + f"queue:{entity}/{name}"

    def _item_key(self, item_id: str) -> str:
        return self.p + f"item:{item_id}"


_LIFECYCLE = [s.value for s in ItemState]


def _item(fields: dict[str, str]) -> QueueItem:
    """Assemble a QueueItem from its hash."""
    doc = json.loads(fields["doc"])
    times = {k[2:]: v for k, v in fields.items() if k.startswith("t:")}
    ordered = sorted(times, key=lambda s: (datetime.fromisoformat(times[s]), _LIFECYCLE.index(s)))
    return QueueItem.model_validate(
        {
            **doc,
            "state": fields["state"],
            "state_times": {s: times[s] for s in ordered},
            "attempts": int(fields.get("attempts", 0)),
            "preemptions": int(fields.get("preemptions", 0)),
            "agent_id": fields.get("agent"),
            "lease_expires_at": _from_ms(fields.get("lease")),
            "run_id": fields.get("run_id", doc.get("run_id")),
            "error": json.loads(fields["error"]) if fields.get("error") else None,
            "warnings": json.loads(fields["warnings"]) if fields.get("warnings") else [],
        }
    )
