"""A metric's values packed per post (`metric_chunks`): layout, chunking, reads, migration."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from runyard.server.db import migrate
from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Base, Entity, MetricChunk, Project, Run
from runyard.server.tracking import metric_chunks
from runyard.server.tracking.metric_chunks import Column, chunk_rows, gaps, pack, unpack
from support.postgres import throwaway_database

INT32_MAX = 2**31 - 1


def test_packed_values_come_back_exactly() -> None:
    lines = [0, 1, INT32_MAX]
    xs = [-(2**62), 0, 2**62]
    values = [-0.0, 5e-324, 1.7976931348623157e308]
    data = pack(lines, xs, values)
    assert len(data) == 3 * 20
    got = unpack(3, data)
    assert [list(column) for column in got] == [lines, xs, values]
    assert math.copysign(1.0, got[2][0]) == -1.0  # the sign of -0.0 survives


def test_a_chunk_of_the_wrong_size_is_refused_with_its_sizes() -> None:
    with pytest.raises(ValueError, match="chunk of 2 values holds 20 bytes, not 40"):
        unpack(2, pack([1], [1], [1.0]))


def test_gaps_are_the_lines_that_do_not_follow_the_one_before() -> None:
    assert gaps([]) == []
    assert gaps([4]) == []
    assert gaps([0, 1, 2, 5, 6, 9]) == [5, 9]


def test_a_post_with_holes_makes_one_chunk_per_metric_and_run_of_lines() -> None:
    # A retry overlapped lines 3 and 4: the post's new lines are 0-2 and 5-6. Metric b
    # is on two lines only; each chunk covers just the lines its values are on.
    columns: dict[str, Column] = {
        "a": ([0, 1, 2, 5, 6], [10, 11, 12, 15, 16], [0.0, 1.0, 2.0, 5.0, 6.0]),
        "b": ([1, 5], [11, 15], [-1.0, -5.0]),
    }
    rows = chunk_rows(columns, gaps([0, 1, 2, 5, 6]))
    assert [(key, first, last, lo, hi, n) for key, first, last, lo, hi, n, _ in rows] == [
        ("a", 0, 2, 10, 12, 3),
        ("a", 5, 6, 15, 16, 2),
        ("b", 1, 1, 11, 11, 1),
        ("b", 5, 5, 15, 15, 1),
    ]
    assert list(unpack(2, rows[1][6])[2]) == [5.0, 6.0]


def _add_runs(engine: sa.Engine) -> None:
    """Runs 1 and 2 of project e/p."""
    with make_session_factory(engine).begin() as s:
        entity = Entity(name="e")
        s.add(entity)
        s.flush()
        project = Project(entity_id=entity.id, name="p")
        s.add(project)
        s.flush()
        s.add_all([Run(id=run, project_id=project.id, name=f"r{run}") for run in (1, 2)])


@pytest.fixture
def session(tmp_path: Path) -> Session:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    Base.metadata.create_all(engine)
    _add_runs(engine)
    return make_session_factory(engine)()


def _store(session: Session, run_id: int, posts: list[list[tuple[int, int, float]]]) -> None:
    """Store metric "m" of a run: each post is `(line, x, value)` on consecutive lines."""
    for post in posts:
        lines, xs, values = (list(column) for column in zip(*post, strict=True))
        metric_chunks.store_chunks(session, run_id, chunk_rows({"m": (lines, xs, values)}))


def test_a_step_window_reads_values_in_step_then_line_order(session: Session) -> None:
    # A resumed run logs steps 3 and 4 again on later lines; steps also run backwards.
    _store(session, 1, [[(0, 1, 1.0), (1, 3, 3.0), (2, 4, 4.0)], [(3, 3, 30.0), (4, 2, 20.0)]])
    assert metric_chunks.points_in_steps(session, 1, "m", 2, 3) == [
        (2, 4, 20.0),
        (3, 1, 3.0),
        (3, 3, 30.0),
    ]
    assert metric_chunks.points_in_steps(session, 1, "m", 5, 9) == []
    assert metric_chunks.points_in_steps(session, 1, "other", 0, 9) == []


def test_earlier_values_walk_back_across_chunks(session: Session) -> None:
    _store(session, 1, [[(n, n, float(n)) for n in range(s, s + 10)] for s in range(0, 50, 10)])
    assert metric_chunks.values_before_line(session, 1, "m", 25, 7) == [
        float(n) for n in range(18, 25)
    ]
    assert metric_chunks.values_before_line(session, 1, "m", 3, 10) == [0.0, 1.0, 2.0]
    assert metric_chunks.values_before_line(session, 1, "m", 0, 5) == []
    assert metric_chunks.has_values(session, 1, "m")
    assert not metric_chunks.has_values(session, 1, "other")


def test_a_copied_prefix_keeps_exactly_the_values_before_the_cut(session: Session) -> None:
    posts = [[(n, 100 - n, n / 2) for n in range(s, s + 10)] for s in range(0, 30, 10)]
    _store(session, 1, posts)
    metric_chunks.copy_prefix(session, 1, 2, 15)  # the cut falls inside the second chunk
    copied = [p for batch in metric_chunks.run_points(session, 2) for p in batch]
    assert copied == [("m", n, 100 - n, n / 2) for n in range(15)]
    chunks = session.scalars(
        sa.select(MetricChunk).where(MetricChunk.run_id == 2).order_by(MetricChunk.first_line)
    ).all()
    assert [(c.first_line, c.last_line, c.min_step, c.max_step) for c in chunks] == [
        (0, 9, 91, 100),
        (10, 14, 86, 90),
    ]
    assert metric_chunks.values_by_step(session, [1, 2], "m")[2] == [
        n / 2 for n in reversed(range(15))
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with throwaway_database(request.getfixturevalue("postgres_admin_dsn")) as url:
        yield url


def test_the_migration_packs_stored_points_and_unpacks_them_back(database_url: str) -> None:
    engine = make_engine(database_url)
    config = migrate.alembic_config(engine)
    migrate.upgrade(engine)
    _add_runs(engine)
    command.downgrade(config, "0022")
    rng = random.Random(3)
    # 2,500 points of "loss" (more than one converted chunk) and a sparse "acc" on two runs.
    points = [(1, "loss", n, n * 2, rng.uniform(-1, 1)) for n in range(2500)]
    points += [(run, "acc", n, n, float(n)) for run in (1, 2) for n in range(0, 300, 7)]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO metric_points VALUES (:r, :k, :n, :s, :v)"),
            [{"r": r, "k": k, "n": n, "s": s, "v": v} for r, k, n, s, v in points],
        )
    command.upgrade(config, "0023")
    session = make_session_factory(engine)()
    stored = sorted(
        (run, key, n, x, v)
        for run in (1, 2)
        for batch in metric_chunks.run_points(session, run)
        for key, n, x, v in batch
    )
    assert stored == sorted(points)
    assert session.scalar(sa.select(sa.func.max(MetricChunk.count))) == 1000
    assert session.scalar(sa.select(sa.func.count()).select_from(MetricChunk)) == 3 + 2
    assert [v for _, _, v in metric_chunks.points_in_steps(session, 1, "loss", 10, 13)] == [
        points[5][4],
        points[6][4],
    ]
    session.close()
    command.downgrade(config, "0022")
    with engine.connect() as conn:
        back = conn.exec_driver_sql("SELECT run_id, key, line_no, step, value FROM metric_points")
        assert sorted(map(tuple, back)) == sorted(points)
        assert "metric_chunks" not in sa.inspect(conn).get_table_names()
    engine.dispose()
