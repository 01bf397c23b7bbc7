"""The unit of work: lazy sessions of the right kind, commit or rollback at the end, one clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from runyard.server.db.models import Entity
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state
from runyard.server.unit_of_work import UnitOfWork


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServerState]:
    opened = open_state(ServerSettings(data_dir=tmp_path))
    yield opened
    opened.engine.dispose()


def _entity_names(state: ServerState) -> set[str]:
    with UnitOfWork(state) as uow:
        return set(uow.session.scalars(select(Entity.name)))


def test_a_unit_that_runs_no_statement_opens_no_session(state: ServerState) -> None:
    with UnitOfWork(state, write=True) as uow:
        assert uow._session is None  # no session, so no SQLite write lock taken
    assert uow._session is None


def test_the_write_flag_picks_the_write_sessions(state: ServerState) -> None:
    with UnitOfWork(state, write=True) as writer, UnitOfWork(state) as reader:
        assert writer.session.bind is state.write_sessions.kw["bind"]
        assert reader.session.bind is state.sessions.kw["bind"]


def test_a_block_that_ends_normally_commits(state: ServerState) -> None:
    with UnitOfWork(state, write=True) as uow:
        uow.session.add(Entity(name="committed-team"))
    assert "committed-team" in _entity_names(state)


def test_a_block_that_raises_rolls_back(state: ServerState) -> None:
    with pytest.raises(RuntimeError), UnitOfWork(state, write=True) as uow:
        uow.session.add(Entity(name="dropped-team"))
        uow.session.flush()
        raise RuntimeError("refused")
    assert "dropped-team" not in _entity_names(state)


def test_a_write_transaction_commits_on_its_own(state: ServerState) -> None:
    with pytest.raises(RuntimeError), UnitOfWork(state, write=True) as uow:
        with uow.write_transaction() as session:
            session.add(Entity(name="kept-team"))
        raise RuntimeError("the request fails after its short write")
    assert "kept-team" in _entity_names(state)


def test_a_write_transaction_refuses_to_wait_on_its_own_units_lock(state: ServerState) -> None:
    with UnitOfWork(state, write=True) as uow:
        uow.session.add(Entity(name="locking-team"))
        uow.session.flush()  # BEGIN IMMEDIATE: this unit now holds SQLite's write lock
        assert uow.holds_write_lock()
        with pytest.raises(RuntimeError, match="wait on itself"), uow.write_transaction():
            pass
        uow.commit()
        assert not uow.holds_write_lock()
        with uow.write_transaction() as session:
            session.add(Entity(name="after-commit-team"))
    assert {"locking-team", "after-commit-team"} <= _entity_names(state)


def test_services_read_the_units_clock(state: ServerState) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert UnitOfWork(state, clock=lambda: moment).now() == moment
    assert UnitOfWork(state).now().tzinfo is not None
