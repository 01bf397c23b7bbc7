"""Registry search filters: W&B's MongoDB-style documents matched against registry records.

`api.registries(filter=...)`, `.collections(filter=...)` and `.versions(filter=...)` send
documents such as `{"name": {"$regex": "model"}}` or
`{"$or": [{"tag": "prod"}, {"alias": "best"}, {"metadata.accuracy": {"$gt": 0.9}}]}`.
The documents are parsed and size-checked by `tracking.filters.parse_filter` (the run
filters' limits) and matched here in Python: registries, their collections and linked
versions are few next to runs, and their fields (aliases per collection, tags, metadata)
live in several tables. A field holding a list (tags, aliases) matches like MongoDB's
arrays: when any element does. `matches` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runyard.server.tracking.filters import FilterError, parse_filter
from runyard.server.tracking.regex import MAX_PATTERN_LENGTH, UnsupportedRegex, compile_linear

_MISSING = object()
_COMPARE = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}

__all__ = ["FilterError", "matches", "parse"]


def parse(text: str | None, argument: str) -> Any:
    """A filter argument's JSON text, parsed and size-checked; errors name the argument."""
    try:
        return parse_filter(text)
    except FilterError as exc:
        raise FilterError(f"{argument}: {exc}") from None


def matches(document: Any, record: Mapping[str, Any], fields: frozenset[str]) -> bool:
    """Whether `record` satisfies the filter `document` (None matches everything).

    `fields` are the names the document may use; `metadata.<key>` walks into metadata.
    """
    if document is None:
        return True
    return _document(document, record, fields, "filter")


def _document(doc: Any, record: Mapping[str, Any], fields: frozenset[str], where: str) -> bool:
    if not isinstance(doc, dict):
        raise FilterError(f"{where}: a filter must be a JSON object, not {doc!r}")
    for key, value in doc.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                raise FilterError(f"{where}[{key!r}]: {key} takes a list of filters")
            results = [
                _document(item, record, fields, f"{where}[{key!r}][{i}]")
                for i, item in enumerate(value)
            ]
            ok = all(results) if key == "$and" else any(results)
            if (key == "$nor" and ok) or (key != "$nor" and not ok):
                return False
        elif key.startswith("$"):
            raise FilterError(
                f"{where}: unknown operator {key!r} at the top level; use $and, $or or $nor"
            )
        elif not _field(key, value, record, fields, f"{where}[{key!r}]"):
            return False
    return True


def _lookup(field: str, record: Mapping[str, Any], fields: frozenset[str], where: str) -> Any:
    root, _, rest = field.partition(".")
    if root not in fields:
        raise FilterError(
            f"{where}: unknown field {root!r}; search by one of {', '.join(sorted(fields))}"
        )
    value = record.get(root, _MISSING)
    for part in rest.split(".") if rest else []:
        value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
    return value


def _field(
    field: str, condition: Any, record: Mapping[str, Any], fields: frozenset[str], where: str
) -> bool:
    value = _lookup(field, record, fields, where)
    if isinstance(condition, dict) and any(k.startswith("$") for k in condition):
        return _operators(value, condition, where)
    return _equals(value, condition)


def _operators(value: Any, ops: dict[str, Any], where: str) -> bool:
    options = ops.get("$options", "")
    for op, operand in ops.items():
        at = f"{where}[{op!r}]"
        if op == "$options":
            continue
        if op == "$eq":
            ok = _equals(value, operand)
        elif op == "$ne":
            ok = not _equals(value, operand)
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise FilterError(f"{at}: {op} takes a list of values")
            found = any(_equals(value, item) for item in operand)
            ok = found if op == "$in" else not found
        elif op == "$exists":
            ok = (value is not _MISSING and value is not None) == bool(operand)
        elif op == "$regex":
            ok = _regex(value, operand, options, at)
        elif op == "$not":
            if not isinstance(operand, dict):
                raise FilterError(f"{at}: $not takes operators, e.g. {{'$not': {{'$eq': 1}}}}")
            ok = not _operators(value, operand, at)
        elif op in _COMPARE:
            ok = _compare(value, operand, op)
        else:
            raise FilterError(
                f"{at}: unknown operator {op!r}; use $eq, $ne, $gt, $gte, $lt, $lte, $in, "
                "$nin, $exists, $regex or $not"
            )
        if not ok:
            return False
    return True


def _items(value: Any) -> list[Any]:
    """A field's values: a list's elements (MongoDB array semantics), else the value."""
    if value is _MISSING:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _equals(value: Any, operand: Any) -> bool:
    if value is _MISSING:
        return operand is None
    return value == operand or any(item == operand for item in _items(value))


def _compare(value: Any, operand: Any, op: str) -> bool:
    for item in _items(value):
        same_kind = (
            isinstance(item, int | float)
            and isinstance(operand, int | float)
            and not isinstance(item, bool)
        ) or (isinstance(item, str) and isinstance(operand, str))
        if same_kind and _COMPARE[op](item, operand):
            return True
    return False


def _regex(value: Any, pattern: Any, options: Any, where: str) -> bool:
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterError(
            f"{where}: $regex takes a pattern string of at most {MAX_PATTERN_LENGTH} characters"
        )
    if options and not (isinstance(options, str) and set(options) <= {"i"}):
        raise FilterError(f"{where}: $options may only be 'i' (ignore case)")
    try:
        compiled = compile_linear(f"(?i){pattern}" if options else pattern)
    except UnsupportedRegex as exc:
        raise FilterError(f"{where}: unsupported pattern {pattern!r}: {exc}") from None
    return any(isinstance(item, str) and compiled.search(item) for item in _items(value))
