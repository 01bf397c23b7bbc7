"""Running as one of several server processes: bad configuration refused at start, the bus
between processes (PostgreSQL LISTEN/NOTIFY, Redis pub/sub), and sweeper locks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from runyard.launch.idle import GpuSample
from runyard.launch.models import Requirements
from runyard.server.cluster import messages
from runyard.server.cluster.bus import Bus, PostgresBus, RedisBus, libpq_url
from runyard.server.cluster.locks import try_exclusive
from runyard.server.cluster.messages import BusKind, BusMessage
from runyard.server.db.engine import make_engine
from runyard.server.events.wakeup import WAKEUP
from runyard.server.settings import ServerSettings
from runyard.server.signing import UrlSigner
from runyard.server.state import open_state
from support.postgres import throwaway_database

RUNYARD = [sys.executable, "-m", "runyard.cli"]
SECRET = "s" * 40


@pytest.fixture(scope="module")
def pg_url(postgres_admin_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this module."""
    with throwaway_database(postgres_admin_dsn) as url:
        yield url


def _start(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    clean |= {"RUNYARD_DATA_DIR": str(tmp), "RUNYARD_PORT": "0", **env}
    return subprocess.run(
        [*RUNYARD, "server"], capture_output=True, text=True, env=clean, timeout=60
    )


# --- bad configuration: the server does not start and names the setting --------------------


def test_replicas_on_sqlite_refuse_to_start(tmp_path: Path) -> None:
    result = _start(
        tmp_path,
        RUNYARD_REPLICAS="3",
        RUNYARD_SIGNING_SECRET=SECRET,
        RUNYARD_SECRETS_KEY=Fernet.generate_key().decode(),
    )
    assert result.returncode == 2
    assert "RUNYARD_REPLICAS=3 needs PostgreSQL" in result.stderr
    assert "RUNYARD_DATABASE_URL" in result.stderr
    assert not (tmp_path / "runyard.db").exists()  # refused before touching anything


def test_workers_on_sqlite_refuse_to_start(tmp_path: Path) -> None:
    result = _start(tmp_path, RUNYARD_WORKERS="4")
    assert result.returncode == 2
    assert "RUNYARD_WORKERS=4 needs PostgreSQL" in result.stderr


def test_replicas_without_a_signing_secret_refuse_to_start(tmp_path: Path, pg_url: str) -> None:
    key = Fernet.generate_key().decode()
    result = _start(
        tmp_path, RUNYARD_REPLICAS="2", RUNYARD_DATABASE_URL=pg_url, RUNYARD_SECRETS_KEY=key
    )
    assert result.returncode == 2
    assert "RUNYARD_SIGNING_SECRET is required with RUNYARD_REPLICAS=2" in result.stderr
    assert "RUNYARD_SECRETS_KEY" not in result.stderr


def test_replicas_without_a_secrets_key_refuse_to_start(tmp_path: Path, pg_url: str) -> None:
    result = _start(
        tmp_path,
        RUNYARD_REPLICAS="2",
        RUNYARD_DATABASE_URL=pg_url,
        RUNYARD_SIGNING_SECRET=SECRET,
    )
    assert result.returncode == 2
    assert "RUNYARD_SECRETS_KEY is required with RUNYARD_REPLICAS=2" in result.stderr


def test_a_short_signing_secret_is_refused(tmp_path: Path) -> None:
    result = _start(tmp_path, RUNYARD_SIGNING_SECRET="short")
    assert result.returncode == 2
    assert "RUNYARD_SIGNING_SECRET" in result.stderr and "at least 32" in result.stderr


def test_a_redis_bus_without_redis_is_refused(tmp_path: Path) -> None:
    result = _start(tmp_path, RUNYARD_BUS="redis")
    assert result.returncode == 2
    assert "RUNYARD_BUS=redis needs RUNYARD_QUEUE_REDIS_URL" in result.stderr


def test_a_local_bus_with_several_processes_is_refused(tmp_path: Path, pg_url: str) -> None:
    result = _start(tmp_path, RUNYARD_BUS="local", RUNYARD_DATABASE_URL=pg_url, RUNYARD_WORKERS="2")
    assert result.returncode == 2
    assert "RUNYARD_BUS=local cannot reach the other server processes" in result.stderr


# --- secrets come from settings ---------------------------------------------------------------


def test_the_configured_signing_secret_signs_urls_on_every_replica(
    tmp_path: Path, pg_url: str
) -> None:
    settings = ServerSettings(data_dir=tmp_path, database_url=pg_url, signing_secret=SECRET)
    state = open_state(settings)
    try:
        # A URL signed by another replica holding the same secret is valid here.
        other = UrlSigner(SECRET.encode(), 60)
        query = dict(p.split("=") for p in other.sign("GET", "files/x").split("&"))
        state.signer.verify("GET", "files/x", query["expires"], query["sig"])
    finally:
        state.engine.dispose()


# --- the bus ----------------------------------------------------------------------------------


def test_messages_round_trip_and_oversized_capacity_becomes_a_wake_up() -> None:
    sent = messages.capacity("agent-1", Requirements(gpus=4), origin="me")
    assert messages.decode(messages.encode(sent)) == sent
    huge = messages.capacity("a", Requirements(gpus=1, node_free=[1] * 5000))
    degraded = messages.decode(messages.encode(huge))
    assert degraded is not None and degraded.kind == "work"
    assert messages.decode("not json") is None
    assert messages.decode('{"kind": "unknown"}') is None


def _gpus(count: int) -> list[GpuSample]:
    at = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    return [
        GpuSample(at=at, gpu=g, utilization_percent=97.5, memory_used_mib=81_000, power_w=699.9)
        for g in range(count)
    ]


def test_telemetry_of_many_jobs_is_split_into_messages_notify_accepts() -> None:
    board = {f"item-{i:05d}-{uuid.uuid4().hex}": _gpus(8) for i in range(300)}
    sent = messages.telemetry(board, origin=uuid.uuid4().hex)
    assert len(sent) > 1
    assert all(len(messages.encode(m).encode()) <= messages.MAX_PAYLOAD_BYTES for m in sent)
    got: dict[str, list[GpuSample]] = {}
    for message in sent:
        decoded = messages.decode(messages.encode(message))
        assert decoded is not None and decoded.kind == "telemetry" and decoded.samples
        got |= decoded.samples
    assert got == board  # every job, every GPU, each once


def test_telemetry_too_large_for_one_message_is_left_to_the_receiving_process() -> None:
    sent = messages.telemetry({"huge": _gpus(100), "small": _gpus(2), "idle": []})
    assert [m.samples for m in sent] == [{"small": _gpus(2)}]
    assert messages.telemetry({}) == []


def test_a_commit_that_wrote_deliveries_calls_each_forwarder_until_it_stops() -> None:
    calls: list[str] = []
    stop = WAKEUP.forward_commits(lambda: calls.append("bus"))
    WAKEUP.committed()
    stop()
    WAKEUP.committed()
    assert calls == ["bus"]


@pytest.mark.parametrize(
    ("requested", "database", "redis_url", "expected"),
    [
        ("auto", "sqlite:///x.db", None, BusKind.LOCAL),
        ("auto", "postgresql+psycopg://h/db", None, BusKind.POSTGRES),
        ("auto", "postgresql+psycopg://h/db", "redis://h", BusKind.REDIS),
        ("postgres", "postgresql+psycopg://h/db", "redis://h", BusKind.POSTGRES),
        ("local", "sqlite:///x.db", "redis://h", BusKind.LOCAL),
    ],
)
def test_the_bus_is_chosen_from_the_settings(
    requested: str, database: str, redis_url: str | None, expected: BusKind
) -> None:
    assert messages.choose_bus(requested, database, redis_url) == (expected, None)


async def _exchange(make: type[Bus], *args: str) -> tuple[list[BusMessage], list[BusMessage]]:
    """Two buses (two processes); each publishes once; what each one applied."""
    got_a: list[BusMessage] = []
    got_b: list[BusMessage] = []
    a = make(got_a.append, *args)  # type: ignore[call-arg]
    b = make(got_b.append, *args)  # type: ignore[call-arg]
    await a.start()
    await b.start()
    try:
        for bus in (a, b):
            await asyncio.wait_for(bus.listening.wait(), 10)  # type: ignore[attr-defined]
        a.publish(messages.work())
        b.publish(messages.capacity("agent-7", Requirements(gpus=8)))
        a.publish(messages.events())
        [telemetry] = messages.telemetry({"item-1": _gpus(2)})
        b.publish(telemetry)
        for _ in range(100):
            if len(got_a) >= 4 and len(got_b) >= 4:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # anything extra (an echo of its own message) shows up too
    finally:
        await a.close()
        await b.close()
    return got_a, got_b


def _kinds(got: list[BusMessage]) -> list[tuple[str, str | None]]:
    return sorted((m.kind, m.agent_id) for m in got)


@pytest.mark.postgres
def test_postgres_listen_notify_carries_messages_between_processes(pg_url: str) -> None:
    got_a, got_b = asyncio.run(_exchange(PostgresBus, libpq_url(pg_url)))
    both = [("capacity", "agent-7"), ("events", None), ("telemetry", None), ("work", None)]
    assert _kinds(got_a) == both and _kinds(got_b) == both  # each applied once, echo skipped
    assert next(m for m in got_a if m.kind == "capacity").capacity == Requirements(gpus=8)
    assert next(m for m in got_a if m.kind == "telemetry").samples == {"item-1": _gpus(2)}


def test_redis_pub_sub_carries_messages_between_processes(redis_url: str) -> None:
    prefix = f"runyard-test:{uuid.uuid4().hex}:"
    got_a, got_b = asyncio.run(_exchange(RedisBus, redis_url, prefix))
    both = [("capacity", "agent-7"), ("events", None), ("telemetry", None), ("work", None)]
    assert _kinds(got_a) == both and _kinds(got_b) == both


# --- sweeper locks ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_one_replica_at_a_time_holds_a_sweeper_lock(pg_url: str) -> None:
    first, second = make_engine(pg_url), make_engine(pg_url)
    try:
        with try_exclusive(first, "sweep-scheduler") as mine:
            assert mine
            with try_exclusive(second, "sweep-scheduler") as theirs:
                assert not theirs  # the other replica skips this pass
            with try_exclusive(second, "another-sweeper") as other:
                assert other
        with try_exclusive(second, "sweep-scheduler") as after:
            assert after  # released at the end of the pass
    finally:
        first.dispose()
        second.dispose()


def test_sqlite_is_one_process_so_the_lock_is_always_granted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with (
        try_exclusive(engine, "sweep-scheduler") as a,
        try_exclusive(engine, "sweep-scheduler") as b,
    ):
        assert a and b
    engine.dispose()
