"""Run sets of a report's panel grid: which runs a filter picks (pure, over loaded runs).

A run set is a project plus a filter in W&B's report format: either the older tree
(`{"op": "OR", "filters": [{"op": "AND", "filters": [leaf...]}]}`) or `filterV2` (a flat
list of leaves joined by `connector`, AND binding tighter than OR, groups one level deep).
A leaf is `{"key": {"section": "config"|"summary"|"run"|"tags", "name": ...}, "op", "value"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Run fields a `run`-section key may name (W&B's names on the left).
RUN_FIELDS = {
    "name": "name",
    "displayName": "display_name",
    "state": "state",
    "group": "group",
    "jobType": "job_type",
    "createdAt": "created_at",
    "username": "username",
}


def _lookup(run: Mapping[str, Any], section: str, name: str) -> Any:
    if section == "config":
        return run.get("config", {}).get(name)
    if section == "summary":
        return run.get("summary", {}).get(name)
    if section == "tags":
        return name in run.get("tags", [])
    return run.get(RUN_FIELDS.get(name, name))


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op in ("IN", "NIN"):
        found = actual in (expected if isinstance(expected, list) else [expected])
        return found if op == "IN" else not found
    if op == "=":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    try:
        if op == "<":
            return bool(actual < expected)
        if op == "<=":
            return bool(actual <= expected)
        if op == ">":
            return bool(actual > expected)
        if op == ">=":
            return bool(actual >= expected)
    except TypeError:
        return False
    return False


def _leaf(run: Mapping[str, Any], item: Mapping[str, Any]) -> bool | None:
    key = item.get("key") or {}
    if item.get("disabled") or not key.get("name"):
        return None  # an empty or disabled leaf does not filter
    return _compare(
        _lookup(run, key.get("section", "run"), key["name"]), item["op"], item.get("value")
    )


def _tree(run: Mapping[str, Any], node: Mapping[str, Any]) -> bool | None:
    if node.get("key") is not None:
        return _leaf(run, node)
    results = [
        r for r in (_tree(run, child) for child in node.get("filters") or []) if r is not None
    ]
    if not results:
        return None
    return any(results) if node.get("op") == "OR" else all(results)


def _v2(run: Mapping[str, Any], items: list[Mapping[str, Any]]) -> bool | None:
    # AND binds tighter than OR: split at OR connectors, AND each chunk, OR the chunks.
    chunks: list[list[bool]] = []
    for i, item in enumerate(items):
        value = _v2(run, item["filters"]) if "filters" in item else _leaf(run, item)
        if i == 0 or item.get("connector") == "OR" or not chunks:
            chunks.append([])
        if value is not None:
            chunks[-1].append(value)
    decided = [all(chunk) for chunk in chunks if chunk]
    return any(decided) if decided else None


def matches(run: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """Whether a run (a dict of its fields, `config`, `summary`, `tags`) passes a filter."""
    if not filters:
        return True
    if filters.get("filterFormat") == "filterV2":
        result = _v2(run, list(filters.get("filters") or []))
    else:
        result = _tree(run, filters)
    return True if result is None else result
