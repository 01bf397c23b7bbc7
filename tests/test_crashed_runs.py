"""Crash detection: a silent run becomes crashed and ends at its last heartbeat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runyard.server.db.models import Entity, Run
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state
from runyard.server.tracking.runs import get_or_create_project, mark_crashed_runs
from runyard.server.unit_of_work import UnitOfWork
from support.postgres import throwaway_database

BEAT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerState]:
    """An opened server state on each database backend."""
    if request.param == "sqlite":
        opened = open_state(ServerSettings(data_dir=tmp_path))
        yield opened
        opened.engine.dispose()
        return
    dsn: str = request.getfixturevalue("postgres_admin_dsn")
    with throwaway_database(dsn) as url:
        opened = open_state(ServerSettings(data_dir=tmp_path, database_url=url))
        yield opened
        opened.engine.dispose()


def _as_utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def test_a_crashed_run_ends_at_its_last_heartbeat_not_at_the_sweep(state: ServerState) -> None:
    with UnitOfWork(state, write=True) as uow:
        admin = uow.session.scalars(select(Entity).where(Entity.name == "admin")).one()
        project = get_or_create_project(uow.session, admin, "crashes")
        for name, beat in (("silent", BEAT), ("alive", BEAT + timedelta(minutes=10))):
            uow.session.add(
                Run(
                    project_id=project.id,
                    name=name,
                    state="running",
                    created_at=BEAT - timedelta(hours=1),
                    updated_at=beat,
                    heartbeat_at=beat,
                )
            )
    sweep_at = BEAT + timedelta(minutes=11)
    with UnitOfWork(state, write=True) as uow:
        assert mark_crashed_runs(uow.session, timedelta(minutes=5), sweep_at) == 1
    with UnitOfWork(state) as uow:
        runs = {r.name: r for r in uow.session.scalars(select(Run))}
        silent, alive = runs["silent"], runs["alive"]
        assert silent.state == "crashed"
        # Its duration is the hour it ran, not the hour plus the 11 minutes until the sweep.
        assert _as_utc(silent.finished_at) == BEAT
        assert alive.state == "running" and alive.finished_at is None
