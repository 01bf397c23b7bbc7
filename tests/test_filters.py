"""Run filters and orderings (tracking/filters.py), executed on SQLite and PostgreSQL alike.

Each behavioural test compiles a W&B/MongoDB-style filter with `compile_filter`, runs it
against a small seeded project and compares the names of the matching runs. The seeded
runs deliberately disagree about types (``config.lr`` is the string ``"auto"`` in one run)
and about which keys exist, so that missing or mistyped values are exercised too.
Malformed filters and orders must raise `FilterError` naming the place and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runyard.server.db.engine import make_engine
from runyard.server.db.models import Base, Entity, Project, Run
from runyard.server.tracking.filters import FilterError, compile_filter, compile_order
from support.postgres import throwaway_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Display names sort the same way under byte-wise and linguistic collations: the names that
# start with a capital letter also come first alphabetically.
RUNS: list[dict[str, Any]] = [
    {
        "name": "r1",
        "display_name": "Baseline-one",
        "state": "finished",
        "group_name": "g1",
        "job_type": "train",
        "tags": ["a", "baseline"],
        "config": {
            "lr": 0.01,
            "opt": "adam",
            "use_amp": True,
            "model": {"layers": 4},
            "batch": 32,
            "x": 3,
        },
        "summary": {"loss": 0.5, "acc": 0.8},
        "created_at": T0 + timedelta(hours=1),
    },
    {
        "name": "r2",
        "display_name": "wide-two",
        "state": "failed",
        "group_name": "g1",
        "job_type": "eval",
        "tags": ["b"],
        "config": {
            "lr": 0.1,
            "opt": "sgd",
            "use_amp": False,
            "model": {"layers": 8},
            "batch": 64,
        },
        "summary": {"loss": 2.0},
        "created_at": T0 + timedelta(hours=2),
    },
    {
        "name": "r3",
        "display_name": "run-baseline-three",
        "state": "running",
        "group_name": "g2",
        "job_type": "train",
        "tags": ["a", "b"],
        # A string where the other runs have numbers: numeric comparisons must skip it.
        "config": {"lr": "auto", "opt": "adamw", "use_amp": True, "model": {"layers": 4}},
        "summary": {"loss": 1.0},
        "created_at": T0 + timedelta(hours=3),
    },
    {
        # Lacks most keys: no display name, group, job type, tags, opt, model or loss.
        "name": "r4",
        "display_name": None,
        "state": "crashed",
        "group_name": None,
        "job_type": None,
        "tags": [],
        "config": {"lr": 0.001},
        "summary": {},
        "created_at": T0 + timedelta(hours=4),
    },
    {
        "name": "r5",
        "display_name": "Five",
        "state": "finished",
        "group_name": "g2",
        "job_type": "eval",
        "tags": ["c"],
        "config": {
            "lr": 0.05,
            "opt": "adam",
            "use_amp": False,
            "model": {"layers": 12},
            "x": None,
        },
        "summary": {"loss": 0.25},
        "created_at": T0 + timedelta(hours=5),
    },
    {
        "name": "r6",
        "display_name": "six",
        "state": "running",
        "group_name": "g1",
        "job_type": "train",
        "tags": ["a"],
        "config": {"lr": 1, "opt": "lion", "model": {"layers": 2}},
        "summary": {"loss": 0.75},
        "created_at": T0 + timedelta(hours=6),
    },
]
ALL = [spec["name"] for spec in RUNS]
NEWEST_FIRST = list(reversed(ALL))


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine with the Runyard tables, once per database backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("filters") / "f.db"
        sqlite_engine = make_engine("sqlite:///" + str(path))
        Base.metadata.create_all(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    admin_dsn: str = request.getfixturevalue("postgres_admin_dsn")
    with throwaway_database(admin_dsn) as url:
        pg_engine = make_engine(url)
        Base.metadata.create_all(pg_engine)
        yield pg_engine
        pg_engine.dispose()


@pytest.fixture(scope="module")
def project_id(engine: Engine) -> int:
    """The id of a project seeded with RUNS (plus a run in another project, never matched)."""
    with Session(engine) as session, session.begin():
        entity = Entity(name="filters")
        session.add(entity)
        session.flush()
        project = Project(entity_id=entity.id, name="runs")
        other = Project(entity_id=entity.id, name="other")
        session.add_all([project, other])
        session.flush()
        for spec in RUNS:
            session.add(Run(project_id=project.id, **spec))
        session.add(Run(project_id=other.id, name="elsewhere", state="finished", tags=["a"]))
        session.flush()
        return project.id


@pytest.fixture
def session(engine: Engine, project_id: int) -> Iterator[Session]:
    """A session on the seeded database; `info["project_id"]` is the seeded project."""
    with Session(engine) as db:
        db.info["project_id"] = project_id
        yield db


def names(session: Session, doc: Any, order: str | None = None) -> list[str]:
    """Names of the seeded project's runs that match `doc`, in the order `order` gives."""
    bind = session.get_bind()
    dialect = bind.dialect.name
    query = (
        select(Run.name)
        .where(Run.project_id == session.info["project_id"], compile_filter(doc, dialect))
        .order_by(*compile_order(order, dialect))
    )
    return list(session.scalars(query))


def matches(session: Session, doc: Any) -> list[str]:
    """Names of the matching runs, sorted (for tests where the order does not matter)."""
    return sorted(names(session, doc))


# --- Behaviour, on both backends -------------------------------------------------------


@pytest.mark.parametrize("doc", [None, {}, {"$and": [{}]}], ids=["none", "empty", "and-empty"])
def test_empty_filter_matches_every_run(session: Session, doc: Any) -> None:
    assert names(session, doc) == NEWEST_FIRST


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": "running"}, ["r3", "r6"]),
        ({"state": {"$eq": "finished"}}, ["r1", "r5"]),
        ({"group": "g2"}, ["r3", "r5"]),
        ({"group": None}, ["r4"]),
        ({"jobType": "eval"}, ["r2", "r5"]),
        ({"job_type": "train"}, ["r1", "r3", "r6"]),
        ({"displayName": "Five"}, ["r5"]),
        ({"display_name": None}, ["r4"]),
        ({"name": "r2"}, ["r2"]),
        ({"id": "r2"}, ["r2"]),
        ({"state": "finished", "group": "g1"}, ["r1"]),
        ({"state": "nonexistent"}, []),
    ],
    ids=repr,
)
def test_equality_on_columns(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": {"$ne": "finished"}}, ["r2", "r3", "r4", "r6"]),
        # A run without a group is "not in g1", as in MongoDB.
        ({"group": {"$ne": "g1"}}, ["r3", "r4", "r5"]),
        ({"displayName": {"$ne": "Five"}}, ["r1", "r2", "r3", "r4", "r6"]),
        # JSON keys: runs lacking the key match $ne.
        ({"config.opt": {"$ne": "adam"}}, ["r2", "r3", "r4", "r6"]),
        ({"summary_metrics.loss": {"$ne": 0.5}}, ["r2", "r3", "r4", "r5", "r6"]),
        ({"config.batch": {"$ne": 32}}, ["r2", "r3", "r4", "r5", "r6"]),
        ({"config.model.layers": {"$ne": 4}}, ["r2", "r4", "r5", "r6"]),
        # The string "auto" is not the number 0.01.
        ({"config.lr": {"$ne": 0.01}}, ["r2", "r3", "r4", "r5", "r6"]),
        ({"config.use_amp": {"$ne": True}}, ["r2", "r4", "r5", "r6"]),
    ],
    ids=repr,
)
def test_ne_includes_runs_lacking_the_field(
    session: Session, doc: Any, expected: list[str]
) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"config.lr": {"$gt": 0.01}}, ["r2", "r5", "r6"]),
        ({"config.lr": {"$gte": 0.01}}, ["r1", "r2", "r5", "r6"]),
        ({"config.lr": {"$lt": 0.05}}, ["r1", "r4"]),
        ({"config.lr": {"$lte": 0.05}}, ["r1", "r4", "r5"]),
        ({"config.lr": {"$gt": 0.001, "$lt": 0.1}}, ["r1", "r5"]),
        # Integers and floats compare as numbers.
        ({"config.lr": {"$gte": 1}}, ["r6"]),
        ({"config.lr": {"$gte": 1.0}}, ["r6"]),
        ({"config.lr": 1}, ["r6"]),
        ({"config.lr": 0.01}, ["r1"]),
        ({"summary_metrics.loss": {"$gt": 0.5}}, ["r2", "r3", "r6"]),
        ({"summary_metrics.loss": {"$gte": 0.5}}, ["r1", "r2", "r3", "r6"]),
        ({"summary_metrics.loss": {"$lt": 0.5}}, ["r5"]),
        ({"summary_metrics.loss": {"$lte": 0.5}}, ["r1", "r5"]),
        ({"summaryMetrics.loss": {"$lt": 1}}, ["r1", "r5", "r6"]),
        ({"summaryMetrics.loss": {"$gte": 1}}, ["r2", "r3"]),
        ({"summaryMetrics.acc": {"$gt": 0}}, ["r1"]),
    ],
    ids=repr,
)
def test_numeric_comparisons(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("plain", "wrapped"),
    [
        ({"config.lr": {"$gt": 0.01}}, {"config.lr.value": {"$gt": 0.01}}),
        ({"config.lr": 0.05}, {"config.lr.value": 0.05}),
        ({"config.lr": "auto"}, {"config.lr.value": "auto"}),
        ({"config.lr": {"$exists": True}}, {"config.lr.value": {"$exists": True}}),
        ({"config.model.layers": 4}, {"config.model.value.layers": 4}),
    ],
    ids=repr,
)
def test_config_value_suffix_means_the_key_itself(
    session: Session, plain: Any, wrapped: Any
) -> None:
    assert matches(session, wrapped) == matches(session, plain)
    assert matches(session, wrapped) != []


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"config.model.layers": 4}, ["r1", "r3"]),
        ({"config.model.layers": {"$gt": 4}}, ["r2", "r5"]),
        ({"config.model.layers": {"$lte": 4}}, ["r1", "r3", "r6"]),
        ({"config.model.layers": {"$exists": False}}, ["r4"]),
        ({"config.model.depth": {"$exists": True}}, []),
    ],
    ids=repr,
)
def test_nested_config_keys(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"config.opt": "adam"}, ["r1", "r5"]),
        ({"config.opt": {"$gt": "adam"}}, ["r2", "r3", "r6"]),
        ({"config.opt": {"$gte": "adam"}}, ["r1", "r2", "r3", "r5", "r6"]),
        ({"config.opt": {"$lt": "lion"}}, ["r1", "r3", "r5"]),
        ({"config.opt": {"$lte": "lion"}}, ["r1", "r3", "r5", "r6"]),
        # A string comparison only sees strings: "auto" is the only string lr.
        ({"config.lr": {"$gt": "a"}}, ["r3"]),
        ({"config.lr": "auto"}, ["r3"]),
        # A number never equals a string that looks like it.
        ({"config.batch": "32"}, []),
    ],
    ids=repr,
)
def test_string_comparisons_on_config(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"config.use_amp": True}, ["r1", "r3"]),
        ({"config.use_amp": False}, ["r2", "r5"]),
        ({"config.use_amp": {"$eq": True}}, ["r1", "r3"]),
        ({"config.use_amp": {"$in": [True, False]}}, ["r1", "r2", "r3", "r5"]),
        # Booleans are not numbers, and numbers are not booleans.
        ({"config.use_amp": 1}, []),
        ({"config.use_amp": 0}, []),
        ({"config.batch": True}, []),
    ],
    ids=repr,
)
def test_booleans(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": {"$in": ["finished", "crashed"]}}, ["r1", "r4", "r5"]),
        ({"state": {"$nin": ["finished", "crashed"]}}, ["r2", "r3", "r6"]),
        ({"state": {"$in": []}}, []),
        ({"state": {"$nin": []}}, ALL),
        ({"group": {"$in": ["g2", None]}}, ["r3", "r4", "r5"]),
        ({"group": {"$nin": ["g1"]}}, ["r3", "r4", "r5"]),
        ({"config.lr": {"$in": [0.01, 1, "auto"]}}, ["r1", "r3", "r6"]),
        ({"config.opt": {"$nin": ["adam", "sgd"]}}, ["r3", "r4", "r6"]),
        ({"tags": {"$in": ["a"]}}, ["r1", "r3", "r6"]),
        ({"tags": {"$in": ["b", "c"]}}, ["r2", "r3", "r5"]),
        ({"tags": {"$in": ["nope"]}}, []),
        ({"tags": {"$nin": ["a"]}}, ["r2", "r4", "r5"]),
        ({"tags": "a"}, ["r1", "r3", "r6"]),
        ({"tags": {"$eq": "baseline"}}, ["r1"]),
        ({"tags": {"$ne": "a"}}, ["r2", "r4", "r5"]),
        ({"tags": "a", "state": "running"}, ["r3", "r6"]),
    ],
    ids=repr,
)
def test_in_and_nin(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"config.batch": {"$exists": True}}, ["r1", "r2"]),
        ({"config.batch": {"$exists": False}}, ["r3", "r4", "r5", "r6"]),
        # A key holding JSON null exists.
        ({"config.x": {"$exists": True}}, ["r1", "r5"]),
        ({"config.x": {"$exists": False}}, ["r2", "r3", "r4", "r6"]),
        ({"summary_metrics.loss": {"$exists": False}}, ["r4"]),
        ({"group": {"$exists": True}}, ["r1", "r2", "r3", "r5", "r6"]),
        ({"displayName": {"$exists": False}}, ["r4"]),
    ],
    ids=repr,
)
def test_exists(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Missing keys and JSON null both count as null.
        ({"config.x": None}, ["r2", "r3", "r4", "r5", "r6"]),
        ({"config.x": {"$eq": None}}, ["r2", "r3", "r4", "r5", "r6"]),
        ({"config.x": {"$ne": None}}, ["r1"]),
        ({"summary_metrics.loss": None}, ["r4"]),
        ({"config.model.layers": None}, ["r4"]),
    ],
    ids=repr,
)
def test_null_matches_missing_keys(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"displayName": {"$regex": "baseline"}}, ["r3"]),
        ({"displayName": {"$regex": "baseline", "$options": "i"}}, ["r1", "r3"]),
        ({"displayName": {"$regex": "^baseline", "$options": "i"}}, ["r1"]),
        ({"displayName": {"$regex": "^(six|Five)$"}}, ["r5", "r6"]),
        ({"displayName": {"$regex": "e$", "$options": ""}}, ["r1", "r3", "r5"]),
        # Run r4 has no display name: no match, and no error.
        ({"displayName": {"$regex": "."}}, ["r1", "r2", "r3", "r5", "r6"]),
        ({"config.opt": {"$regex": "^adam"}}, ["r1", "r3", "r5"]),
        ({"config.opt": {"$regex": "^ADAM"}}, []),
        ({"config.opt": {"$regex": "^ADAM$", "$options": "i"}}, ["r1", "r5"]),
        # Only strings match: numbers are not turned into text.
        ({"config.lr": {"$regex": "^0"}}, []),
        ({"config.lr": {"$regex": "^au"}}, ["r3"]),
        ({"config.opt": {"$not": {"$regex": "^adam"}}}, ["r2", "r4", "r6"]),
    ],
    ids=repr,
)
def test_regex(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"$and": [{"state": "finished"}, {"config.lr": {"$lt": 0.03}}]}, ["r1"]),
        ({"$and": [{"tags": "a"}, {"tags": "b"}]}, ["r3"]),
        ({"$or": [{"state": "crashed"}, {"summary_metrics.loss": {"$gt": 1}}]}, ["r2", "r4"]),
        ({"$or": [{"group": "g2"}, {"jobType": "eval"}]}, ["r2", "r3", "r5"]),
        ({"$nor": [{"state": "running"}, {"tags": "b"}]}, ["r1", "r4", "r5"]),
        # $nor keeps runs lacking the key, like $ne.
        ({"$nor": [{"summary_metrics.loss": {"$gt": 0.5}}]}, ["r1", "r4", "r5"]),
        (
            {
                "$and": [
                    {"$or": [{"tags": "a"}, {"tags": "c"}]},
                    {"$nor": [{"state": "running"}]},
                ]
            },
            ["r1", "r5"],
        ),
        (
            {
                "$or": [
                    {"$and": [{"group": "g1"}, {"config.lr": {"$gte": 0.1}}]},
                    {"config.opt": "adamw"},
                ]
            },
            ["r2", "r3", "r6"],
        ),
        # Logical operators combine with sibling fields by AND.
        ({"state": "finished", "$or": [{"tags": "a"}, {"group": "g1"}]}, ["r1"]),
    ],
    ids=repr,
)
def test_logical_operators(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Mongo's $not also matches runs whose value is missing or not a number.
        ({"config.lr": {"$not": {"$gt": 0.01}}}, ["r1", "r3", "r4"]),
        ({"summary_metrics.loss": {"$not": {"$lt": 1}}}, ["r2", "r3", "r4"]),
        ({"state": {"$not": {"$in": ["running", "failed"]}}}, ["r1", "r4", "r5"]),
        ({"config.lr": {"$not": {"$gte": 0.01, "$lte": 0.1}}}, ["r3", "r4", "r6"]),
    ],
    ids=repr,
)
def test_not(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"createdAt": {"$gt": "2026-01-01T03:00:00Z"}}, ["r4", "r5", "r6"]),
        ({"createdAt": {"$gte": "2026-01-01T03:00:00Z"}}, ["r3", "r4", "r5", "r6"]),
        ({"createdAt": {"$lt": "2026-01-01T03:00:00Z"}}, ["r1", "r2"]),
        ({"createdAt": {"$lte": "2026-01-01T03:00:00Z"}}, ["r1", "r2", "r3"]),
        ({"createdAt": "2026-01-01T02:00:00Z"}, ["r2"]),
        ({"createdAt": "2026-01-01T02:00:00.000Z"}, ["r2"]),
        # 05:00 at +02:00 is 03:00 UTC; 01:30 at -01:00 is 02:30 UTC.
        ({"createdAt": {"$gte": "2026-01-01T05:00:00+02:00"}}, ["r3", "r4", "r5", "r6"]),
        ({"createdAt": {"$lt": "2026-01-01T01:30:00-01:00"}}, ["r1", "r2"]),
        ({"createdAt": "2026-01-01T09:30:00+05:30"}, ["r4"]),
        # A time without an offset is UTC.
        ({"created_at": {"$gt": "2026-01-01T05:00:00"}}, ["r6"]),
        (
            {"createdAt": {"$gt": "2026-01-01T01:00:00Z", "$lt": "2026-01-01T04:00:00Z"}},
            ["r2", "r3"],
        ),
        ({"createdAt": {"$ne": "2026-01-01T06:00:00Z"}}, ["r1", "r2", "r3", "r4", "r5"]),
        ({"createdAt": {"$lt": "2025-12-31T23:59:59Z"}}, []),
    ],
    ids=repr,
)
def test_created_at(session: Session, doc: Any, expected: list[str]) -> None:
    assert matches(session, doc) == expected


@pytest.mark.parametrize(
    "doc",
    [
        {"config.lr": {"$gt": 0}},
        {"config.lr": {"$gte": 0}},
        {"config.lr": {"$lt": 100}},
        {"config.lr": {"$lte": 100}},
        {"config.lr": {"$gt": -1, "$lt": 1e9}},
        {"config.lr": {"$in": [0.001, 0.01, 0.05, 0.1, 1]}},
        {"$or": [{"config.lr": {"$lt": 0.5}}, {"config.lr": {"$gte": 0.5}}]},
    ],
    ids=repr,
)
def test_string_lr_never_matches_numeric_comparisons(session: Session, doc: Any) -> None:
    # Every numeric lr matches; "auto" (run r3) is skipped, without a cast error.
    assert matches(session, doc) == ["r1", "r2", "r4", "r5", "r6"]


def test_filter_results_come_newest_first(session: Session) -> None:
    assert names(session, {"tags": "a"}) == ["r6", "r3", "r1"]


def test_filter_does_not_reach_other_projects(session: Session) -> None:
    assert "elsewhere" not in names(session, {"tags": "a"})


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["r6", "r5", "r4", "r3", "r2", "r1"]),
        ("", ["r6", "r5", "r4", "r3", "r2", "r1"]),
        ("createdAt", ["r1", "r2", "r3", "r4", "r5", "r6"]),
        ("+createdAt", ["r1", "r2", "r3", "r4", "r5", "r6"]),
        ("-created_at", ["r6", "r5", "r4", "r3", "r2", "r1"]),
        # Runs without the key (r4 has no loss) come last in both directions.
        ("-summary_metrics.loss", ["r2", "r3", "r6", "r1", "r5", "r4"]),
        ("+summary_metrics.loss", ["r5", "r1", "r6", "r3", "r2", "r4"]),
        ("summaryMetrics.loss", ["r5", "r1", "r6", "r3", "r2", "r4"]),
        # Numbers first, in order; the string "auto" after them, in both directions.
        ("+config.lr", ["r4", "r1", "r5", "r2", "r6", "r3"]),
        ("-config.lr", ["r6", "r2", "r5", "r1", "r4", "r3"]),
        ("config.lr.value", ["r4", "r1", "r5", "r2", "r6", "r3"]),
        # Ties among runs without the key are broken by id, following the direction.
        ("+config.batch", ["r1", "r2", "r3", "r4", "r5", "r6"]),
        ("-config.batch", ["r2", "r1", "r6", "r5", "r4", "r3"]),
        ("+config.model.layers", ["r6", "r1", "r3", "r2", "r5", "r4"]),
        ("-config.model.layers", ["r5", "r2", "r3", "r1", "r6", "r4"]),
        ("+config.opt", ["r1", "r5", "r3", "r6", "r2", "r4"]),
        ("+displayName", ["r1", "r5", "r3", "r6", "r2", "r4"]),
        ("-displayName", ["r2", "r6", "r3", "r5", "r1", "r4"]),
        ("+group", ["r1", "r2", "r6", "r3", "r5", "r4"]),
        ("-state", ["r6", "r3", "r5", "r1", "r2", "r4"]),
        ("  -summary_metrics.loss  ", ["r2", "r3", "r6", "r1", "r5", "r4"]),
        # Several keys: the second orders runs the first leaves tied.
        ("+state,-config.lr", ["r4", "r2", "r5", "r1", "r6", "r3"]),
        ("+state,+config.lr", ["r4", "r2", "r1", "r5", "r6", "r3"]),
    ],
    ids=repr,
)
def test_order(session: Session, order: str | None, expected: list[str]) -> None:
    assert names(session, None, order) == expected


def test_order_combines_with_filter(session: Session) -> None:
    doc = {"state": {"$in": ["finished", "running"]}}
    assert names(session, doc, "-summary_metrics.loss") == ["r3", "r6", "r1", "r5"]


# --- Bad input: no database needed ---------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"bogus": 1}, r"filters\['bogus'\]: unknown field 'bogus'; fields you can filter on: "),
        ({"config": 1}, r"'config' needs a key after 'config\.', e\.g\. 'config\.lr'"),
        ({"config.lr..x": 1}, r"needs a key after 'config\.'"),
        (
            {"state": {"$foo": 1}},
            r"filters\['state'\]\['\$foo'\]: unknown operator; use one of \$eq, \$ne",
        ),
        (
            {"$foo": [{"state": "finished"}]},
            r"unknown operator '\$foo' at the top level; use one of \$and, \$or, \$nor",
        ),
        ({"state": {"$in": "finished"}}, r"\['\$in'\] must be a list of values, got 'finished'"),
        ({"tags": {"$nin": "a"}}, r"\['\$nin'\] must be a list of values"),
        ({"$and": []}, r"filters\['\$and'\] must be a non-empty list of filters"),
        ({"$and": {"state": "finished"}}, r"filters\['\$and'\] must be a non-empty list"),
        ({"$or": "x"}, r"filters\['\$or'\] must be a non-empty list"),
        ({"$nor": []}, r"filters\['\$nor'\] must be a non-empty list"),
        ({"$and": [1]}, r"filters\['\$and'\]\[0\] must be an object like"),
        ({"config.lr": {"$exists": 1}}, r"\['\$exists'\] must be true or false, got 1"),
        ({"state": {"$exists": "yes"}}, r"\['\$exists'\] must be true or false, got 'yes'"),
        (
            {"displayName": {"$regex": "(unclosed"}},
            r"\['\$regex'\]: invalid regular expression '\(unclosed'",
        ),
        ({"config.opt": {"$regex": "(unclosed"}}, r"invalid regular expression '\(unclosed'"),
        ({"displayName": {"$regex": 5}}, r"must be a regular expression string, got 5"),
        (
            {"displayName": {"$regex": "a", "$options": "x"}},
            r"\$options may only be 'i' \(case-insensitive\), got 'x'",
        ),
        ({"displayName": {"$options": "i"}}, r"\['\$options'\] only goes with \$regex"),
        (
            {"createdAt": "yesterday"},
            r"createdAt is a time; give an ISO 8601 string such as .*, not 'yesterday'",
        ),
        ({"createdAt": {"$gt": 5}}, r"createdAt is a time; give an ISO 8601 string"),
        ({"createdAt": {"$regex": "2026"}}, r"createdAt does not support \$regex"),
        ({"state": 5}, r"state holds text; compare it with a string, not 5"),
        ({"state": {"$gt": 1}}, r"state holds text; compare it with a string, not 1"),
        ({"state": {"$in": ["finished", 2]}}, r"\['\$in'\]\[1\]: state holds text"),
        (
            {"config.x": [1, 2]},
            r"comparing config\.x with a list or object is not supported; "
            r"compare a nested key instead",
        ),
        ({"config.model": {"layers": 4}}, r"comparing config\.model with a list or object"),
        ({"config.lr": {"$gt": [1]}}, r"\$gt needs a number or a string, got \[1\]"),
        ({"config.lr": {"$lt": True}}, r"\$lt needs a number or a string, got True"),
        ({"config.lr": {"$not": 0.1}}, r"\['\$not'\] must be an object of operators"),
        ({"config.lr": {"$not": {}}}, r"\['\$not'\] must be an object of operators"),
        ({"config.lr": {"$gt": 1, "lr": 2}}, r"mixes operators with plain keys \['lr'\]"),
        ({"tags": 1}, r"tags are strings; use \{\"tags\": \{\"\$in\": \[\"name\"\]\}\}"),
        ({"tags": {"$gt": "a"}}, r"tags cannot be compared with \$gt"),
        ({"tags": {"$regex": "a"}}, r"tags does not support \$regex"),
        ({'config.a"b': 1}, r"keys with double quotes are not supported"),
        ([1, 2], r"filters must be an object like \{\"state\": \"finished\"\}, got \[1, 2\]"),
        ("state", r"filters must be an object like"),
    ],
    ids=repr,
)
def test_bad_filter_raises_filter_error(doc: Any, match: str, dialect: str) -> None:
    with pytest.raises(FilterError, match=match):
        compile_filter(doc, dialect)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("order", "match"),
    [
        ("-", r"order '-' names no field; use e\.g\. '-created_at'"),
        ("+", r"order '\+' names no field"),
        (
            "-bogus",
            r"order '-bogus': unknown field 'bogus'; fields you can order by: config\.<key>",
        ),
        ("+config", r"order '\+config': 'config' needs a key after 'config\.'"),
        ("summary_metrics.", r"needs a key after 'summary_metrics\.'"),
        ("+state,,-config.lr", r"order '' names no field"),
    ],
    ids=repr,
)
def test_bad_order_raises_filter_error(order: str, match: str, dialect: str) -> None:
    with pytest.raises(FilterError, match=match):
        compile_order(order, dialect)


def test_filter_error_is_a_value_error() -> None:
    assert issubclass(FilterError, ValueError)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"config.batch": {"$gt": 2**63}}, "too large; JSON numbers compare as doubles"),
        ({"config.batch": 2**70}, "too large"),
        ({"displayName": {"$regex": "(?P<n>six)"}}, r"inline flags, named groups.*not supported"),
        ({"displayName": {"$regex": "\\bsix"}}, r"word boundaries .* not supported"),
        ({"config.opt": "a\u0000b"}, "may not contain NUL"),
        ({"state": {"$regex": "a\u0000"}}, "may not contain NUL"),
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_inputs_the_databases_would_treat_differently_are_refused(
    doc: Any, match: str, dialect: str
) -> None:
    # Each of these used to reach the database and fail there (or match differently).
    with pytest.raises(FilterError, match=match):
        compile_filter(doc, dialect)
