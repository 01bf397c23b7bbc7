"""What replicas tell each other, and which bus carries it: pure decisions, no I/O.

Four messages exist: `work` (an item became claimable: every waiting claim tries again),
`capacity` (an agent's free capacity changed: its waiting claim, wherever it waits, claims
with the new figures), `events` (a transaction wrote automation deliveries: every
dispatcher looks for due ones) and `telemetry` (a heartbeat's GPU samples, or an item whose
samples are history: every process keeps the same live board). All are hints: a claim or
a dispatcher that misses one still polls, and the next heartbeat brings telemetry again.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runyard.launch.idle import GpuSample
from runyard.launch.models import Requirements

# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below.
MAX_PAYLOAD_BYTES = 7000


class BusKind(enum.StrEnum):
    """The transport of the bus."""

    LOCAL = "local"  # one process: in-memory only
    POSTGRES = "postgres"  # LISTEN/NOTIFY on the server's database
    REDIS = "redis"  # pub/sub on the configured Redis


class BusMessage(BaseModel):
    """One message between replicas."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["work", "capacity", "events", "telemetry"]
    origin: str = ""  # the sending process; it has applied the message already
    agent_id: str | None = None
    capacity: Requirements | None = None
    # telemetry: item id -> its job's latest samples, and items whose samples are history
    samples: dict[str, list[GpuSample]] | None = None
    dropped: list[str] | None = None


def work(origin: str = "") -> BusMessage:
    """An item became claimable."""
    return BusMessage(kind="work", origin=origin)


def capacity(agent_id: str, free: Requirements, origin: str = "") -> BusMessage:
    """The agent advertised new free capacity."""
    return BusMessage(kind="capacity", agent_id=agent_id, capacity=free, origin=origin)


def events(origin: str = "") -> BusMessage:
    """A committed transaction wrote automation deliveries."""
    return BusMessage(kind="events", origin=origin)


def telemetry_dropped(item_id: str, origin: str = "") -> BusMessage:
    """The item's job ended or was requeued: its samples are history everywhere."""
    return BusMessage(kind="telemetry", dropped=[item_id], origin=origin)


def telemetry(samples: Mapping[str, Sequence[GpuSample]], origin: str = "") -> list[BusMessage]:
    """Messages carrying `samples` (item id -> latest samples), each small enough for NOTIFY.

    Items are packed greedily; an item whose samples alone are too large (some 60 GPUs, more
    than any node holds) is left out: its figures then show on the process that took the
    heartbeat only, rather than the message degrading to a wake-up.
    """
    # The envelope with the longest origin (a uuid4 hex), and each item's share of the body.
    envelope = len(encode(BusMessage(kind="telemetry", samples={}, origin="o" * 32)))
    found: list[BusMessage] = []
    packed: dict[str, list[GpuSample]] = {}
    size = envelope
    for item_id, item_samples in samples.items():
        if not item_samples:
            continue
        # Its key and list; the braces stand for the comma between two items.
        body = {item_id: [sample.model_dump(mode="json") for sample in item_samples]}
        share = len(json.dumps(body, separators=(",", ":")).encode())
        if envelope + share > MAX_PAYLOAD_BYTES:
            continue
        if size + share > MAX_PAYLOAD_BYTES:
            found.append(BusMessage(kind="telemetry", samples=packed, origin=origin))
            packed, size = {}, envelope
        packed[item_id] = list(item_samples)
        size += share
    if packed:
        found.append(BusMessage(kind="telemetry", samples=packed, origin=origin))
    return found


def encode(message: BusMessage) -> str:
    """The wire form (JSON); a capacity too large for NOTIFY degrades to its agent's wake-up."""
    text = message.model_dump_json(exclude_none=True)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        # The waiting claim then keeps its older capacity until its next poll: late, not wrong.
        text = BusMessage(kind="work", origin=message.origin).model_dump_json(exclude_none=True)
    return text


def decode(text: str | bytes) -> BusMessage | None:
    """The message in `text`, or None for anything that is not one (ignored, never fatal)."""
    try:
        return BusMessage.model_validate_json(text)
    except ValidationError:
        return None


def choose_bus(
    requested: str, database_url: str, redis_url: str | None
) -> tuple[BusKind | None, str | None]:
    """The bus to use for `requested` ("auto" or a kind), or (None, why not).

    auto: Redis when configured (one hop, no database connection held per replica), else
    PostgreSQL when that is the database, else in-process (SQLite is one process).
    """
    postgres = database_url.startswith("postgresql")
    if requested == "auto":
        if redis_url:
            return BusKind.REDIS, None
        return (BusKind.POSTGRES if postgres else BusKind.LOCAL), None
    kind = BusKind(requested)
    if kind is BusKind.REDIS and not redis_url:
        return None, "RUNYARD_BUS=redis needs RUNYARD_QUEUE_REDIS_URL (the Redis to publish on)"
    if kind is BusKind.POSTGRES and not postgres:
        return None, "RUNYARD_BUS=postgres needs a PostgreSQL RUNYARD_DATABASE_URL"
    return kind, None
