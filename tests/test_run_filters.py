"""W&B's MongoDB-style run filters and orderings, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Base, Entity, Project, Run
from runyard.server.tracking.filters import FilterError, compile_filter, compile_order
from support.postgres import throwaway_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)

RUNS: list[dict[str, Any]] = [
    {
        "name": "a",
        "display_name": "Baseline-A",
        "state": "finished",
        "group_name": "g1",
        "job_type": "train",
        "tags": ["baseline", "a100"],
        "config": {"lr": 0.01, "opt": "adam", "amp": True, "model": {"layers": 4}},
        "summary": {"loss": 0.5},
        "created_at": T0.replace(hour=1),
    },
    {
        "name": "b",
        "display_name": "wide-b",
        "state": "failed",
        "group_name": "g1",
        "job_type": "eval",
        "tags": ["h100"],
        "config": {"lr": 0.1, "opt": "sgd", "amp": False, "model": {"layers": 8}},
        "summary": {"loss": 2.0},
        "created_at": T0.replace(hour=2),
    },
    {
        "name": "c",
        "display_name": "baseline-c",
        "state": "running",
        "group_name": "g2",
        "job_type": "train",
        "tags": ["baseline"],
        "config": {"lr": "auto", "opt": "adam"},  # a string where others have numbers
        "summary": {},
        "created_at": T0.replace(hour=3),
    },
    {
        "name": "d",
        "display_name": None,
        "state": "crashed",
        "group_name": None,
        "job_type": None,
        "tags": [],
        "config": {"lr": 0.001},
        "summary": {"loss": 0.1},
        "created_at": T0.replace(hour=4),
    },
]


def _seed(engine: Engine) -> int:
    Base.metadata.create_all(engine)
    with make_session_factory(engine).begin() as session:
        entity = Entity(name="e")
        session.add(entity)
        session.flush()
        project = Project(entity_id=entity.id, name="p")
        session.add(project)
        session.flush()
        for spec in RUNS:
            session.add(Run(project_id=project.id, **spec))
        return project.id


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, int]]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('filters') / 'f.db'}")
        yield engine, _seed(engine)
        engine.dispose()
        return
    admin_dsn: str = request.getfixturevalue("postgres_admin_dsn")
    with throwaway_database(admin_dsn) as url:
        engine = make_engine(url)
        yield engine, _seed(engine)
        engine.dispose()


def names(db: tuple[Engine, int], document: Any, order: str | None = "+name") -> list[str]:
    """Names of the seeded runs matching `document`, in `order`."""
    engine, project_id = db
    dialect = engine.dialect.name
    with Session(engine) as session:
        stmt = (
            select(Run.name)
            .where(Run.project_id == project_id, compile_filter(document, dialect))
            .order_by(*compile_order(order, dialect))
        )
        return list(session.scalars(stmt))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, ["a", "b", "c", "d"]),
        ({}, ["a", "b", "c", "d"]),
        ({"state": "finished"}, ["a"]),
        ({"group": "g1", "jobType": "train"}, ["a"]),
        ({"displayName": "wide-b"}, ["b"]),
        ({"state": {"$ne": "finished"}}, ["b", "c", "d"]),
        ({"state": {"$in": ["failed", "crashed"]}}, ["b", "d"]),
        ({"state": {"$nin": ["failed", "crashed"]}}, ["a", "c"]),
        ({"config.lr": {"$gt": 0.005}}, ["a", "b"]),  # "auto" is not a number: no match
        ({"config.lr": {"$lte": 0.01}}, ["a", "d"]),
        ({"config.lr.value": {"$lt": 0.01}}, ["d"]),  # W&B's wrapped spelling
        ({"config.lr": {"$gte": 0.001, "$lt": 0.1}}, ["a", "d"]),
        ({"config.lr": "auto"}, ["c"]),
        ({"config.lr": {"$ne": 0.01}}, ["b", "c", "d"]),
        ({"config.opt": {"$ne": "adam"}}, ["b", "d"]),  # missing counts as "not adam"
        ({"config.amp": True}, ["a"]),
        ({"config.amp": False}, ["b"]),
        ({"config.model.layers": {"$gte": 8}}, ["b"]),
        ({"config.opt": None}, ["d"]),
        ({"config.amp": {"$exists": True}}, ["a", "b"]),
        ({"config.amp": {"$exists": False}}, ["c", "d"]),
        ({"summary_metrics.loss": {"$lt": 1}}, ["a", "d"]),
        ({"summaryMetrics.loss": {"$gte": 1}}, ["b"]),
        ({"tags": "baseline"}, ["a", "c"]),
        ({"tags": {"$in": ["a100", "h100"]}}, ["a", "b"]),
        ({"tags": {"$nin": ["baseline"]}}, ["b", "d"]),
        ({"displayName": {"$regex": "^baseline"}}, ["c"]),
        ({"displayName": {"$regex": "^baseline", "$options": "i"}}, ["a", "c"]),
        ({"config.opt": {"$regex": "^sg"}}, ["b"]),
        ({"createdAt": {"$gt": "2026-01-01T02:30:00Z"}}, ["c", "d"]),
        ({"createdAt": {"$lte": "2026-01-01T03:00:00+01:00"}}, ["a", "b"]),  # 02:00 UTC
        ({"config.lr": {"$not": {"$gt": 0.005}}}, ["c", "d"]),
        ({"$or": [{"state": "failed"}, {"summary_metrics.loss": {"$lt": 0.2}}]}, ["b", "d"]),
        ({"$and": [{"tags": "baseline"}, {"state": "running"}]}, ["c"]),
        ({"$nor": [{"state": "finished"}, {"tags": "h100"}]}, ["c", "d"]),
    ],
)
def test_filter_selects_the_expected_runs(
    db: tuple[Engine, int], document: Any, expected: list[str]
) -> None:
    assert names(db, document) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["d", "c", "b", "a"]),  # newest first
        ("createdAt", ["a", "b", "c", "d"]),
        ("-summary_metrics.loss", ["b", "a", "d", "c"]),  # c has no loss: last
        ("+summary_metrics.loss", ["d", "a", "b", "c"]),
        ("+config.lr", ["d", "a", "b", "c"]),  # numbers first, then the string
        ("+displayName", ["a", "c", "b", "d"]),
    ],
)
def test_order_sorts_and_puts_missing_values_last(
    db: tuple[Engine, int], order: str | None, expected: list[str]
) -> None:
    assert names(db, None, order) == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"bogus": 1}, r"unknown field 'bogus'.*config\.<key>"),
        ({"state": {"$foo": 1}}, r"\$foo.*unknown operator; use one of"),
        ({"$foo": []}, r"unknown operator '\$foo' at the top level"),
        ({"state": {"$in": "finished"}}, r"\$in.*must be a list"),
        ({"$and": []}, r"\$and.*non-empty list"),
        ({"$or": {"state": "x"}}, r"\$or.*non-empty list"),
        ({"config.lr": {"$exists": "yes"}}, r"\$exists.*true or false"),
        ({"displayName": {"$regex": "(unclosed"}}, r"invalid regular expression"),
        ({"displayName": {"$regex": "a", "$options": "x"}}, r"\$options may only be 'i'"),
        ({"createdAt": {"$gt": "yesterday"}}, r"createdAt is a time; give an ISO 8601"),
        ({"state": 3}, r"state holds text; compare it with a string"),
        ({"config.layers": [1, 2]}, r"list or object is not supported"),
        ({"config.": 1}, r"needs a key after 'config\.'"),
        ([1, 2], r"filters must be an object"),
        ({"state": {"$gt": 1, "x": 2}}, r"mixes operators with plain keys"),
    ],
)
def test_bad_filters_name_the_place_and_the_fix(document: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(document, "sqlite")


@pytest.mark.parametrize(
    ("order", "message"), [("-", "names no field"), ("-bogus", "unknown field 'bogus'")]
)
def test_bad_orders_are_refused(order: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_order(order, "postgresql")
