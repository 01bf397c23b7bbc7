"""What replicas tell each other, and which bus carries it: pure decisions, no I/O.

Two messages exist: `work` (an item became claimable: every waiting claim tries again) and
`capacity` (an agent's free capacity changed: its waiting claim, wherever it waits, claims
with the new figures). Both are hints: a claim that misses one still polls once a second.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

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

    kind: Literal["work", "capacity"]
    origin: str = ""  # the sending process; it has applied the message already
    agent_id: str | None = None
    capacity: Requirements | None = None


def work(origin: str = "") -> BusMessage:
    """An item became claimable."""
    return BusMessage(kind="work", origin=origin)


def capacity(agent_id: str, free: Requirements, origin: str = "") -> BusMessage:
    """The agent advertised new free capacity."""
    return BusMessage(kind="capacity", agent_id=agent_id, capacity=free, origin=origin)


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
