"""Chart rollups give the same buckets as a brute-force pass over every point."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Base, Entity, Project, Run
from runyard.server.tracking.metric_chunks import chunk_rows, gaps, store_chunks
from runyard.server.tracking.rollup_writes import rollup_rows, store_rollups
from runyard.server.tracking.rollups import (
    LEVELS,
    Bucket,
    Point,
    choose_level,
    level_width,
    sampled_series,
)


def store_points(session: Session, points: list[Point], post: int = 100) -> None:
    """Store points of run 1 as ingest does: one chunk per metric and post of `post` lines."""
    lines = sorted({p.line_no for p in points})
    post_of = {line: i // post for i, line in enumerate(lines)}
    posts: dict[int, dict[str, tuple[list[int], list[int], list[float]]]] = {}
    for p in sorted(points, key=lambda p: p.line_no):
        column = posts.setdefault(post_of[p.line_no], {}).setdefault(p.key, ([], [], []))
        column[0].append(p.line_no)
        column[1].append(p.step)
        column[2].append(p.value)
    for index, columns in posts.items():
        in_post = lines[index * post : (index + 1) * post]
        store_chunks(session, 1, chunk_rows(columns, gaps(in_post)))


def brute_force(points: list[Point], buckets: int, coarse: bool = False) -> list[Bucket]:
    """What a chart should show: every point, grouped on the grid choose_level picks."""
    lo, hi = min(p.step for p in points), max(p.step for p in points)
    level, width = choose_level(lo, hi, buckets, coarse)
    origin = (lo // level_width(level)) * level_width(level)
    groups: dict[int, list[Point]] = {}
    for p in points:
        groups.setdefault((p.step - origin) // width, []).append(p)
    out = []
    for _, group in sorted(groups.items()):
        last = max(group, key=lambda p: (p.step, p.line_no))
        out.append(
            Bucket(
                x_min=min(p.step for p in group),
                x_max=last.step,
                count=len(group),
                min=min(p.value for p in group),
                max=max(p.value for p in group),
                last=last.value,
            )
        )
    return out


@pytest.fixture
def session(tmp_path: Path) -> Session:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        entity = Entity(name="e")
        s.add(entity)
        s.flush()
        project = Project(entity_id=entity.id, name="p")
        s.add(project)
        s.flush()
        s.add(Run(project_id=project.id, name="r"))
    return sessions()


@pytest.mark.parametrize(
    ("steps", "buckets", "stride"),
    [(50, 1000, 1), (5_000, 100, 1), (70_000, 1000, 3), (300_000, 7, 1), (20, 1, 1)],
)
def test_rollups_match_brute_force(session: Session, steps: int, buckets: int, stride: int) -> None:
    rng = random.Random(steps)
    points = [Point("m", n, n * stride + 5, rng.uniform(-1, 1)) for n in range(steps)]
    # Ingest arrives in posts of varying size, and out of order.
    chunks = [points[i : i + 997] for i in range(0, steps, 997)]
    rng.shuffle(chunks)
    for chunk in chunks:
        store_points(session, chunk)
        store_rollups(session, 1, chunk)
    got = sampled_series(session, 1, "m", buckets)
    assert got == brute_force(points, buckets)
    assert len(got) <= max(buckets, 1)
    coarse = sampled_series(session, 1, "m", buckets, coarse=True)
    assert coarse == brute_force(points, buckets, coarse=True)
    assert max(buckets, 1) // 2 <= len(coarse) <= max(buckets, 1) or len(coarse) == steps


def test_repeated_steps_keep_the_latest_line_as_last(session: Session) -> None:
    # A resumed run can log the same step again: the later line wins.
    points = [Point("m", 0, 10, 1.0), Point("m", 1, 10, 2.0), Point("m", 2, 9, 5.0)]
    store_points(session, points)
    store_rollups(session, 1, points[:1])
    store_rollups(session, 1, points[1:])
    assert sampled_series(session, 1, "m", 1) == [
        Bucket(x_min=9, x_max=10, count=3, min=1.0, max=5.0, last=2.0)
    ]


def test_choose_level_reads_at_most_sixteen_rows_per_bucket() -> None:
    for span in (1, 15, 16, 1000, 65_536, 1_000_000, 10**9):
        for buckets in (1, 10, 1000):
            level, width = choose_level(0, span - 1, buckets)
            assert width % level_width(level) == 0
            assert -(-span // width) <= buckets  # never more buckets than asked for
            assert span // level_width(level) <= 16 * buckets or level == 5


def test_coarse_charts_read_the_coarsest_level_that_still_fills_half_the_buckets() -> None:
    # 100,000 steps in 500 buckets: 391 buckets of 256 steps (391 rows read, not 6,250).
    assert choose_level(0, 99_999, 500) == (1, 208)  # exact: 481 buckets from 6,250 rows
    assert choose_level(0, 99_999, 500, coarse=True) == (2, 256)
    assert choose_level(0, 999_999, 500, coarse=True) == (2, 2048)
    assert choose_level(0, 1_999, 500, coarse=True) == (0, 4)  # short runs: the raw points
    for span in (100, 3_000, 65_536, 100_000, 777_777, 10**7):
        for buckets in (10, 500, 1000):
            level, width = choose_level(0, span - 1, buckets, coarse=True)
            exact_level, _ = choose_level(0, span - 1, buckets)
            assert level >= exact_level and width % level_width(level) == 0
            assert -(-span // width) <= buckets
            if span >= buckets:
                assert -(-span // width) >= buckets // 2, (span, buckets)


@pytest.mark.parametrize(
    ("step_min", "step_max", "finer"),
    [
        (1_000, 3_000, True),
        (17, 18, False),  # one point
        (-50, 40_000, False),  # the whole run
        (12_345, None, False),
        (None, 999, True),
        (30_000, 31_000, True),
    ],
)
def test_a_window_reads_finer_buckets_of_just_those_steps(
    session: Session, step_min: int | None, step_max: int | None, finer: bool
) -> None:
    # A zoomed chart asks for the same number of buckets over a narrower range of steps.
    rng = random.Random(7)
    points = [Point("m", n, n * 2, rng.uniform(-1, 1)) for n in range(20_000)]
    store_points(session, points)
    store_rollups(session, 1, points)
    lo = -(10**9) if step_min is None else step_min
    hi = 10**9 if step_max is None else step_max
    inside = [p for p in points if lo <= p.step <= hi]
    got = sampled_series(session, 1, "m", 100, step_min, step_max)
    assert got == brute_force(inside, 100)
    assert sum(b.count for b in got) == len(inside)
    assert len(got) <= 100
    whole = sampled_series(session, 1, "m", 100)
    in_window = [b for b in whole if b.x_max >= lo and b.x_min <= hi]
    # A narrow window gets more buckets than the whole-run read had there.
    assert (len(got) > 2 * len(in_window)) is finer


def test_a_window_outside_the_data_is_empty(session: Session) -> None:
    points = [Point("m", n, n, float(n)) for n in range(100)]
    store_points(session, points)
    store_rollups(session, 1, points)
    assert sampled_series(session, 1, "m", 10, 500, 600) == []


def _naive_rollups(points: list[Point]) -> dict[tuple[str, int, int], tuple[object, ...]]:
    """Every level straight from the points: what the level-by-level aggregation must equal."""
    out: dict[tuple[str, int, int], tuple[object, ...]] = {}
    for level in LEVELS:
        groups: dict[tuple[str, int], list[Point]] = {}
        for p in points:
            groups.setdefault((p.key, p.step // level_width(level)), []).append(p)
        for (key, bucket), group in groups.items():
            last = max(group, key=lambda p: (p.step, p.line_no))
            out[(key, level, bucket)] = (
                min(p.step for p in group),
                last.step,
                len(group),
                min(p.value for p in group),
                max(p.value for p in group),
                last.value,
                last.line_no,
            )
    return out


def test_rollup_rows_built_level_by_level_equal_each_level_from_the_points() -> None:
    # Negative steps, steps repeated by later lines (a resume) and several keys at once.
    rng = random.Random(3)
    points = [
        Point(rng.choice(["a", "b.c"]), n, rng.randrange(-5_000, 300_000), rng.uniform(-9, 9))
        for n in range(20_000)
    ]
    points += [Point("a", 20_000 + n, p.step, 42.0) for n, p in enumerate(points[:50])]
    got = {
        (r["key"], r["level"], r["bucket"]): (
            r["x_min"],
            r["x_max"],
            r["count"],
            r["min"],
            r["max"],
            r["last"],
            r["last_line"],
        )
        for r in rollup_rows(7, points)
    }
    assert got == _naive_rollups(points)
