"""The bus: wake-ups and capacity changes reach every replica and worker process.

`publish` applies a message in this process at once, then sends it to the others, which
apply it when it arrives (their own copies are recognised by origin and skipped). Backends:
in-process only (SQLite: one process), PostgreSQL LISTEN/NOTIFY, Redis pub/sub. Messages are
hints: a lost one delays a claim or a webhook until its poll, and leaves GPU figures stale
until the next heartbeat, so sends never block requests and a broken connection is re-opened
in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from runyard.server.cluster.messages import BusKind, BusMessage, decode, encode, events, work

logger = logging.getLogger(__name__)

CHANNEL = "runyard_bus"
RETRY_S = 1.0


class Bus:
    """In-process delivery; subclasses add a transport to the other processes."""

    kind = BusKind.LOCAL

    def __init__(self, on_message: Callable[[BusMessage], None]) -> None:
        self.origin = uuid.uuid4().hex
        self._on_message = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.received = 0  # messages from other processes applied here (for tests, metrics)

    async def start(self) -> None:
        """Start the transport's tasks on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._outbox = asyncio.Queue()

    async def close(self) -> None:
        """Stop the transport."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def publish(self, message: BusMessage) -> None:
        """Apply `message` here and send it to every other process; safe from any thread."""
        message = message.model_copy(update={"origin": self.origin})
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._publish_on_loop(message)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                loop.call_soon_threadsafe(self._publish_on_loop, message)

    def _publish_on_loop(self, message: BusMessage) -> None:
        self._on_message(message)
        if self._outbox is not None and self.kind is not BusKind.LOCAL:
            self._outbox.put_nowait(encode(message))

    def _received(self, payload: str | bytes) -> None:
        message = decode(payload)
        if message is None:
            logger.warning("ignored a malformed bus message", extra={"payload": str(payload)[:200]})
            return
        if message.origin == self.origin:
            return
        self.received += 1
        self._on_message(message)

    def _reconnected(self) -> None:
        # Messages sent while this process was not listening are lost: every waiting claim
        # and the event dispatcher try again, which is what any of them would have caused.
        self._on_message(work(self.origin))
        self._on_message(events(self.origin))

    async def _next_batch(self) -> list[str]:
        """The next payloads to send, identical ones merged (a burst of enqueues is one wake)."""
        assert self._outbox is not None
        first = await self._outbox.get()
        batch = [first]
        while not self._outbox.empty():
            payload = self._outbox.get_nowait()
            if payload not in batch:
                batch.append(payload)
        return batch

    def _run(self, coroutine: Any) -> None:
        self._tasks.append(asyncio.create_task(coroutine))


class PostgresBus(Bus):
    """LISTEN/NOTIFY on the server's own PostgreSQL database."""

    kind = BusKind.POSTGRES

    def __init__(self, on_message: Callable[[BusMessage], None], conninfo: str) -> None:
        super().__init__(on_message)
        self._conninfo = conninfo
        self.listening = asyncio.Event()

    async def start(self) -> None:
        """Open the listening and the sending connection."""
        await super().start()
        self._run(self._listen())
        self._run(self._send())

    async def _listen(self) -> None:
        import psycopg

        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if not first:
                        self._reconnected()
                    first = False
                    async for notice in conn.notifies():
                        self._received(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("bus listener lost its PostgreSQL connection; reconnecting")
                self.listening.clear()
                await asyncio.sleep(RETRY_S)

    async def _send(self) -> None:
        import psycopg

        conn: Any = None
        while True:
            batch = await self._next_batch()
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                for payload in batch:
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("bus could not notify other replicas; messages dropped")
                conn = None
                await asyncio.sleep(RETRY_S)

    async def close(self) -> None:
        """Stop listening."""
        await super().close()


class RedisBus(Bus):
    """Pub/sub on the configured Redis."""

    kind = BusKind.REDIS

    def __init__(self, on_message: Callable[[BusMessage], None], url: str, prefix: str) -> None:
        super().__init__(on_message)
        self._url = url
        self._channel = f"{prefix}bus"
        self.listening = asyncio.Event()

    async def start(self) -> None:
        """Subscribe and start sending."""
        await super().start()
        self._run(self._listen())
        self._run(self._send())

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        first = True
        while True:
            client = aioredis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self.listening.set()
                    if not first:
                        self._reconnected()
                    first = False
                    async for item in pubsub.listen():
                        if item.get("type") == "message":
                            self._received(item["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("bus listener lost its Redis connection; reconnecting")
                self.listening.clear()
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _send(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(self._url)
        try:
            while True:
                batch = await self._next_batch()
                try:
                    for payload in batch:
                        await client.publish(self._channel, payload)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("bus could not publish to Redis; messages dropped")
                    await asyncio.sleep(RETRY_S)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()


def libpq_url(sqlalchemy_url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (psycopg connects with it)."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_bus(
    kind: BusKind,
    on_message: Callable[[BusMessage], None],
    database_url: str,
    redis_url: str | None,
    redis_prefix: str,
) -> Bus:
    """The bus of `kind` (see `messages.choose_bus`)."""
    if kind is BusKind.POSTGRES:
        return PostgresBus(on_message, libpq_url(database_url))
    if kind is BusKind.REDIS:
        assert redis_url is not None
        return RedisBus(on_message, redis_url, redis_prefix)
    return Bus(on_message)
