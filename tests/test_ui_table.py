"""Runs-table decisions: what a click or shift-click on a header sorts by, and grouping."""

from __future__ import annotations

from typing import Any

import pytest

from runyard.server.ui.table import (
    aria_sort,
    group_rows,
    next_order,
    parse_order,
    sort_mark,
    table_query,
)


@pytest.mark.parametrize(
    ("order", "field", "add", "expected"),
    [
        ("-created_at", "config.lr", False, "+config.lr"),
        ("+config.lr", "config.lr", False, "-config.lr"),  # a second click flips it
        ("-config.lr", "config.lr", False, "+config.lr"),
        ("+config.lr,-state", "config.lr", False, "+config.lr"),  # a plain click: one key
        ("+config.lr", "state", True, "+config.lr,+state"),  # shift-click adds a key
        ("+config.lr,+state", "state", True, "+config.lr,-state"),  # ...flips it
        ("+config.lr,-state", "state", True, "+config.lr"),  # ...and drops it
        ("+config.lr,-state", "config.lr", True, "-config.lr,-state"),  # keeps its place
        ("", "state", True, "+state"),
    ],
)
def test_header_clicks(order: str, field: str, add: bool, expected: str) -> None:
    assert next_order(order, field, add) == expected


def test_marks_number_the_keys_only_when_there_are_several() -> None:
    assert sort_mark("-summary_metrics.loss", "summary_metrics.loss") == "▼"
    assert sort_mark("+config.lr,-state", "state") == "▼2"
    assert sort_mark("+config.lr,-state", "config.lr") == "▲1"
    assert sort_mark("+config.lr", "state") == ""
    assert aria_sort("+config.lr,-state", "config.lr") == "ascending"
    assert aria_sort("+config.lr,-state", "state") is None
    assert parse_order(" +a, ,-b ") == [("a", False), ("b", True)]


def test_query_keeps_filter_order_and_group() -> None:
    assert table_query('{"state": "x"}', "+a,-b", "lr") == (
        "filters=%7B%22state%22%3A+%22x%22%7D&order=%2Ba%2C-b&group=lr"
    )
    assert table_query("", "-created_at", "") == "order=-created_at"


def test_groups_by_config_value_with_runs_in_table_order() -> None:
    rows: list[dict[str, Any]] = [
        {"name": "a", "config": {"lr": 0.1}},
        {"name": "b", "config": {"lr": 0.01}},
        {"name": "c", "config": {}},
        {"name": "d", "config": {"lr": 0.1}},
        {"name": "e", "config": {"lr": "auto"}},
    ]
    groups = group_rows(rows, "lr")
    assert [(g.label, [r["name"] for r in g.rows]) for g in groups] == [
        ("0.01", ["b"]),
        ("0.1", ["a", "d"]),
        ("auto", ["e"]),
        ("(none)", ["c"]),
    ]
