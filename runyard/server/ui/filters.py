"""The runs table's filter form → the API's MongoDB-style filter document (same operators)."""

from __future__ import annotations

import json
from typing import Any

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$regex", "$in", "$nin")


def parse_value(text: str) -> Any:
    """`0.01` → 0.01, `true` → True, `["a"]` → list; anything else stays the string typed."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def filter_document(field: str, op: str, value: str) -> dict[str, Any] | None:
    """One condition as a filter document, or None when the form is empty.

    Raises ValueError naming the problem for an unknown operator.
    """
    field = field.strip()
    if not field:
        return None
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    parsed = value if op == "$regex" else parse_value(value.strip())
    if op in ("$in", "$nin") and not isinstance(parsed, list):
        parsed = [parsed]
    if op == "$eq":
        return {field: parsed}
    return {field: {op: parsed}}
