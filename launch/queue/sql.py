"""The SQL queue store: the embedded default (SQLite) and PostgreSQL.

Claims on PostgreSQL lock candidate rows with `FOR UPDATE SKIP LOCKED`, so racing
claimers never wait on (or take) the same item; SQLite serialises writers.
The tables live in `METADATA`; the server's Alembic migrations create them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

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
    Candidate,
    TransitionError,
    adoption,
    after_expired_lease,
    apply_report,
    pick_claim,
)
from .store import Conflict, NotFound, PendingSummary

METADATA = MetaData()
# The execution option the server's SQLite engine reads to BEGIN IMMEDIATE (server/db/engine.py).
WRITE_OPTION = "runyard_write"

queues_table = Table(
    "launch_queues",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("entity", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("entity", "name"),
)

items_table = Table(
    "launch_items",
    METADATA,
    # `seq` is the FIFO order within a priority level.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("queue_id", String(32), ForeignKey("launch_queues.id", ondelete="CASCADE")),
    Column("priority", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("gpus", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("agent_id", String(128), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("document", JSON, nullable=False),
    UniqueConstraint("queue_id", "request_id"),
    Index("ix_launch_items_claim", "queue_id", "state", "priority", "seq"),
    Index("ix_launch_items_lease", "state", "lease_expires_at"),
)


class SqlQueueStore:
    """QueueStore on SQLAlchemy Core; pass the server's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        # The claim path runs thousands of times a second: its statements are built once,
        # with bound parameters, instead of per call.
        head = (
            select(
                items_table.c.id, items_table.c.gpus, items_table.c.queue_id, items_table.c.document
            )
            .where(
                items_table.c.queue_id.in_(bindparam("queue_ids", expanding=True)),
                items_table.c.state == ItemState.PENDING.value,
            )
            .order_by(items_table.c.priority, items_table.c.seq)
            .limit(bindparam("window"))
        )
        self._head = head.with_for_update(skip_locked=True) if self._postgres else head
        self._save_stmt = (
            update(items_table)
            .where(items_table.c.id == bindparam("item_id"))
            .values(
                state=bindparam("state"),
                attempts=bindparam("attempts"),
                agent_id=bindparam("agent_id"),
                lease_expires_at=bindparam("lease_expires_at"),
                document=bindparam("document"),
            )
        )

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at BEGIN (reads don't)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    # --- queues ----------------------------------------------------------------------------

    def create_queue(self, spec: QueueSpec, now: datetime) -> Queue:
        """Create a queue; Conflict if one with that entity and name exists."""
        spec = _spec_only(spec)
        with self._tx() as conn:
            if self._queue_row(conn, spec.entity, spec.name) is not None:
                raise Conflict(
                    f"queue {spec.entity}/{spec.name} exists: pick another name or update it"
                )
            queue = Queue(id=uuid.uuid4().hex, created_at=now, **spec.model_dump())
            conn.execute(
                queues_table.insert().values(
                    id=queue.id,
                    entity=spec.entity,
                    name=spec.name,
                    spec=spec.model_dump(mode="json"),
                    created_at=now,
                )
            )
            return queue

    def update_queue(self, spec: QueueSpec) -> Queue:
        """Replace a queue's settings; its items stay."""
        spec = _spec_only(spec)
        with self._tx() as conn:
            row = self._queue_row(conn, spec.entity, spec.name)
            if row is None:
                raise NotFound(f"queue {spec.entity}/{spec.name} does not exist")
            conn.execute(
                update(queues_table)
                .where(queues_table.c.id == row.id)
                .values(spec=spec.model_dump(mode="json"))
            )
            return Queue(id=row.id, created_at=row.created_at, **spec.model_dump())

    def get_queue(self, entity: str, name: str) -> Queue | None:
        """A queue by entity and name."""
        with self.engine.connect() as conn:
            row = self._queue_row(conn, entity, name)
        return _queue(row) if row is not None else None

    def list_queues(self, entity: str | None = None) -> list[Queue]:
        """All queues, or one entity's, by name."""
        stmt = select(queues_table).order_by(queues_table.c.entity, queues_table.c.name)
        if entity is not None:
            stmt = stmt.where(queues_table.c.entity == entity)
        with self.engine.connect() as conn:
            return [_queue(row) for row in conn.execute(stmt)]

    def delete_queue(self, entity: str, name: str) -> None:
        """Delete a queue and its items."""
        with self._tx() as conn:
            row = self._queue_row(conn, entity, name)
            if row is None:
                raise NotFound(f"queue {entity}/{name} does not exist")
            conn.execute(delete(items_table).where(items_table.c.queue_id == row.id))
            conn.execute(delete(queues_table).where(queues_table.c.id == row.id))

    def _queue_row(self, conn: Connection, entity: str, name: str) -> Row[Any] | None:
        return conn.execute(
            select(queues_table).where(queues_table.c.entity == entity, queues_table.c.name == name)
        ).first()

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
        try:
            return self._enqueue(queue, request, values, rendered, requirements, now, enqueued_by)
        except IntegrityError:
            # A retry of the same request raced us and won (PostgreSQL); return its item.
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(items_table).where(
                        items_table.c.queue_id == queue.id,
                        items_table.c.request_id == request.request_id,
                    )
                ).first()
            if row is None:
                raise
            return _item(row), False

    def _enqueue(
        self,
        queue: Queue,
        request: EnqueueRequest,
        values: dict[str, object],
        rendered: dict[str, object],
        requirements: Requirements,
        now: datetime,
        enqueued_by: str | None,
    ) -> tuple[QueueItem, bool]:
        with self._tx() as conn:
            if request.request_id is not None:
                existing = conn.execute(
                    select(items_table).where(
                        items_table.c.queue_id == queue.id,
                        items_table.c.request_id == request.request_id,
                    )
                ).first()
                if existing is not None:
                    return _item(existing), False
            item = QueueItem(
                id=uuid.uuid4().hex,
                queue=queue.name,
                entity=queue.entity,
                priority=request.priority if queue.prioritization else Priority.MEDIUM,
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
            conn.execute(
                items_table.insert().values(
                    id=item.id,
                    queue_id=queue.id,
                    priority=int(item.priority),
                    state=item.state.value,
                    gpus=requirements.gpus,
                    attempts=0,
                    request_id=request.request_id,
                    document=item.model_dump(mode="json"),
                )
            )
            return item, True

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
        leases = {q.id: q.lease_seconds for q in queues}
        with self._tx() as conn:
            # Most claims take the head: look at a few rows first (on PostgreSQL each one
            # looked at is locked), and at a wider window only if none of those fits.
            first = 1 if capacity is None or not backfill else 16
            for window in (first, CLAIM_WINDOW):
                params = {"queue_ids": list(leases), "window": window}
                rows = conn.execute(self._head, params).all()
                candidates = [Candidate(r.id, r.gpus, _pods(r.document)) for r in rows]
                chosen = pick_claim(candidates, capacity, backfill)
                if chosen is not None or len(rows) < window or not backfill:
                    break
            if chosen is None:
                return None
            row = next(r for r in rows if r.id == chosen)
            # The row is ours: locked (PostgreSQL) or under the write lock (SQLite).
            item = QueueItem.model_validate(row.document)
            item.state = ItemState.CLAIMED
            item.state_times[ItemState.CLAIMED.value] = now
            item.agent_id = agent_id
            item.attempts += 1
            item.lease_expires_at = now + timedelta(seconds=leases[row.queue_id])
            self._save(conn, item)
            return item

    def renew(self, agent_id: str, item_ids: list[str], now: datetime) -> list[QueueItem]:
        """Extend the agent's leases on these items."""
        out = []
        with self._tx() as conn:
            for item_id in item_ids:
                row = conn.execute(select(items_table).where(items_table.c.id == item_id)).first()
                if row is None:
                    continue
                item = _item(row)
                if item.state.holds_lease and item.agent_id == agent_id:
                    item.lease_expires_at = now + timedelta(seconds=self._lease_of(conn, row))
                    self._save(conn, item)
                out.append(item)
        return out

    def expire_leases(self, now: datetime) -> list[QueueItem]:
        """Requeue or fail items whose lease ran out."""
        changed = []
        with self._tx() as conn:
            stmt = select(items_table).where(
                items_table.c.state.in_([s.value for s in ItemState if s.holds_lease]),
                items_table.c.lease_expires_at < now,
            )
            if self._postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            for row in conn.execute(stmt).all():
                item = _item(row)
                queue = conn.execute(
                    select(queues_table.c.spec).where(queues_table.c.id == row.queue_id)
                ).scalar_one()
                state, error = after_expired_lease(item.attempts, int(queue["max_attempts"]))
                item.state = state
                item.state_times[state.value] = now
                item.agent_id = None
                item.lease_expires_at = None
                item.error = error
                self._save(conn, item)
                changed.append(item)
        return changed

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
        with self._tx() as conn:
            item = self._load(conn, item_id, lock=True)
            try:
                apply_report(item, agent_id, state, now, run_id, error, warning, requeue)
            except TransitionError as exc:
                raise Conflict(str(exc)) from exc
            self._save(conn, item)
            return item

    def adopt(
        self, agent_id: str, item_ids: list[str], alive_agents: set[str], now: datetime
    ) -> list[QueueItem]:
        """Lease found workloads' items to a restarted agent."""
        out = []
        with self._tx() as conn:
            for item_id in item_ids:
                stmt = select(items_table).where(items_table.c.id == item_id)
                if self._postgres:
                    stmt = stmt.with_for_update()
                row = conn.execute(stmt).first()
                if row is None:
                    continue
                item = _item(row)
                holder_alive = item.agent_id in alive_agents and item.agent_id != agent_id
                state = adoption(item, agent_id, holder_alive)
                if state is not None:
                    if state is ItemState.CLAIMED and item.state is ItemState.PENDING:
                        item.attempts += 1
                        item.state_times[state.value] = now
                    item.state = state
                    item.agent_id = agent_id
                    item.lease_expires_at = now + timedelta(seconds=self._lease_of(conn, row))
                    self._save(conn, item)
                out.append(item)
        return out

    def cancel(self, item_id: str, now: datetime) -> QueueItem:
        """Cancel an item (its agent learns it at the next heartbeat)."""
        with self._tx() as conn:
            item = self._load(conn, item_id, lock=True)
            if item.state.is_final:
                raise Conflict(f"item {item_id} is already {item.state.value}")
            item.state = ItemState.CANCELED
            item.state_times[ItemState.CANCELED.value] = now
            item.lease_expires_at = None
            self._save(conn, item)
            return item

    def set_priority(self, item_id: str, priority: Priority) -> QueueItem:
        """Move a pending item to another priority level (FIFO by enqueue order within it)."""
        with self._tx() as conn:
            item = self._load(conn, item_id, lock=True)
            if item.state is not ItemState.PENDING:
                raise Conflict(_not_pending(item))
            item.priority = priority
            conn.execute(
                update(items_table)
                .where(items_table.c.id == item_id)
                .values(priority=int(priority), document=item.model_dump(mode="json"))
            )
            return item

    def get_item(self, item_id: str) -> QueueItem | None:
        """One item."""
        with self.engine.connect() as conn:
            row = conn.execute(select(items_table).where(items_table.c.id == item_id)).first()
        return _item(row) if row is not None else None

    def find_item_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of items that start with `prefix` (lowercase hex), at most `limit`, sorted."""
        # Ids are hex, so a range on the primary key finds a prefix without LIKE escaping.
        stmt = (
            select(items_table.c.id)
            .where(items_table.c.id >= prefix, items_table.c.id < prefix + "g")
            .order_by(items_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(stmt)]

    def list_items(
        self, queue: Queue, states: list[ItemState] | None = None, limit: int = 1000
    ) -> list[QueueItem]:
        """A queue's items in claim order."""
        stmt = (
            select(items_table)
            .where(items_table.c.queue_id == queue.id)
            .order_by(items_table.c.priority, items_table.c.seq)
            .limit(limit)
        )
        if states:
            stmt = stmt.where(items_table.c.state.in_([s.value for s in states]))
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(stmt)]

    def count_by_state(self, queue: Queue) -> dict[str, int]:
        """Items by state, counted in the database."""
        stmt = (
            select(items_table.c.state, func.count())
            .where(items_table.c.queue_id == queue.id)
            .group_by(items_table.c.state)
        )
        with self.engine.connect() as conn:
            return {str(state): int(n) for state, n in conn.execute(stmt).all()}

    def pending_summary(self, queue: Queue) -> PendingSummary:
        """Pending counts by priority and the oldest pending item's enqueue time."""
        pending = (items_table.c.queue_id == queue.id, items_table.c.state == "pending")
        with self.engine.connect() as conn:
            counts: dict[int, int] = dict(
                conn.execute(
                    select(items_table.c.priority, func.count())
                    .where(*pending)
                    .group_by(items_table.c.priority)
                ).all()
            )
            oldest = conn.execute(
                select(items_table.c.document).where(*pending).order_by(items_table.c.seq).limit(1)
            ).scalar()
        return PendingSummary(
            by_priority={int(p): counts.get(p, 0) for p in range(4)},
            oldest_created_at=_utc(oldest["created_at"]) if oldest else None,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _load(self, conn: Connection, item_id: str, lock: bool = False) -> QueueItem:
        stmt = select(items_table).where(items_table.c.id == item_id)
        if lock and self._postgres:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            raise NotFound(f"queue item {item_id} does not exist")
        return _item(row)

    def _lease_of(self, conn: Connection, row: Row[Any]) -> float:
        spec = conn.execute(
            select(queues_table.c.spec).where(queues_table.c.id == row.queue_id)
        ).scalar_one()
        return float(spec["lease_seconds"])

    def _save(self, conn: Connection, item: QueueItem) -> None:
        conn.execute(
            self._save_stmt,
            {
                "item_id": item.id,
                "state": item.state.value,
                "attempts": item.attempts,
                "agent_id": item.agent_id,
                "lease_expires_at": item.lease_expires_at,
                "document": item.model_dump(mode="json"),
            },
        )


def _not_pending(item: QueueItem) -> str:
    return (
        f"item {item.id} is {item.state.value}: priority only orders pending items "
        "(cancel and enqueue it again to rerun it)"
    )


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _spec_only(spec: QueueSpec) -> QueueSpec:
    """The settings of a spec or of a stored Queue (dropping its id and creation time)."""
    return QueueSpec.model_validate(spec.model_dump(include=set(QueueSpec.model_fields)))


def _queue(row: Row[Any]) -> Queue:
    created = row.created_at
    if created.tzinfo is None:  # SQLite keeps no zone; every stored time is UTC
        created = created.replace(tzinfo=UTC)
    return Queue(id=row.id, created_at=created, **row.spec)


def _pods(document: Any) -> int:
    """A stored item's gang size (items stored before gangs were counted have 1)."""
    pods = ((document or {}).get("requirements") or {}).get("pods", 1)
    return pods if isinstance(pods, int) and pods >= 1 else 1


def _item(row: Row[Any]) -> QueueItem:
    return QueueItem.model_validate(row.document)
