"""W&B's MongoDB-style run filters and orderings, compiled to SQLAlchemy expressions.

The public API and the W&B client send filters such as
``{"$and": [{"config.lr": {"$gt": 0.01}}, {"tags": {"$in": ["baseline"]}}]}``.
`compile_filter` turns one into a WHERE clause for the `runs` table; every
mistake raises `FilterError` naming where in the document it is and how to fix it.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from runyard.server.db.models import Run
from runyard.server.tracking.json_sql import JsonPath, json_array_contains
from runyard.server.tracking.regex import MAX_PATTERN_LENGTH, UnsupportedRegex, compile_linear

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
LIST_OPERATORS = ("$in", "$nin", "$and", "$or", "$nor")
FIELD_OPERATORS = (*COMPARISONS, "$in", "$nin", "$exists", "$regex", "$options", "$not")
LOGICAL_OPERATORS = ("$and", "$or", "$nor")

# Plain columns, by every name W&B clients and users spell them with.
STRING_COLUMNS: dict[str, Any] = {
    "state": Run.state,
    "name": Run.name,
    "id": Run.name,
    "displayName": Run.display_name,
    "display_name": Run.display_name,
    "group": Run.group_name,
    "jobType": Run.job_type,
    "job_type": Run.job_type,
    "notes": Run.notes,
    "host": Run.host,
    "sweep": Run.sweep_name,
}
TIME_COLUMNS: dict[str, Any] = {
    "createdAt": Run.created_at,
    "created_at": Run.created_at,
    "heartbeatAt": Run.heartbeat_at,
    "heartbeat_at": Run.heartbeat_at,
    "updatedAt": Run.updated_at,
    "updated_at": Run.updated_at,
}
JSON_PREFIXES: dict[str, Any] = {
    "config": Run.config,
    "summary_metrics": Run.summary,
    "summaryMetrics": Run.summary,
}
KNOWN_FIELDS = "config.<key>, summary_metrics.<key>, tags, " + ", ".join(
    sorted({*STRING_COLUMNS, *TIME_COLUMNS})
)


NON_PORTABLE_REGEX = {
    "(?": "inline flags, named groups and lookarounds",
    "\\b": "word boundaries",
    "\\B": "word boundaries",
}
# JSON numbers are compared as doubles; a larger integer cannot be represented anyway.
MAX_EXACT_INT = 2**53
# Each value becomes SQL: bound the work (and the SQL's bound parameters) one filter can ask for.
MAX_LIST_ITEMS = 1_000
MAX_FILTER_VALUES = 2_000
MAX_FILTER_DEPTH = 32
_GROUP = 32
# PostgreSQL's regex engine allows repetition counts up to 255.
MAX_REPEAT = 255
_REPEAT = re.compile(r"(?<!\\)\{(\d+)(?:,(\d*))?\}")


class FilterError(ValueError):
    """A filter or order the server cannot use; the message says where and why."""


def compile_filter(document: Any, dialect: str) -> ColumnElement[bool]:
    """Compile a W&B run filter (parsed JSON, or None for "all runs") into a WHERE clause."""
    if document is None:
        return true()
    check_filter_size(document)
    return _document(document, "filters", lambda field, where: _target(field, where, dialect))


Resolver = Callable[[str, str], "Target"]
"""Maps a field name (and where it is in the document, for errors) to what it compares."""


def compile_filter_on(document: Any, resolve: Resolver) -> ColumnElement[bool]:
    """Compile a Mongo-style filter over other tables: `resolve` names the fields it knows."""
    if document is None:
        return true()
    check_filter_size(document)
    return _document(document, "filters", resolve)


def parse_filter(text: str | None) -> Any:
    """A filter's JSON text, parsed and checked for size (FilterError; None for no filter).

    `json.loads` recurses: JSON nested thousands deep would fail with a RecursionError.
    """
    if not text:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(f"filters is not valid JSON: {exc}") from exc
    except RecursionError:
        raise FilterError(
            f"filters: the filter nests deeper than {MAX_FILTER_DEPTH} levels; flatten it"
        ) from None
    check_filter_size(document)
    return document


def check_filter_size(document: Any) -> None:
    """Refuse a filter whose lists, values or nesting are over the limits (FilterError).

    Walks the parsed JSON without recursion, before anything is compiled.
    """
    values = 0
    stack: list[tuple[Any, str, int]] = [(document, "filters", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(
                f"{where}: the filter nests deeper than {MAX_FILTER_DEPTH} levels; "
                "flatten it (one $and or $or can hold many conditions)"
            )
        if isinstance(node, dict):
            stack.extend((value, f"{where}[{key!r}]", depth + 1) for key, value in node.items())
        elif isinstance(node, list):
            if len(node) > MAX_LIST_ITEMS:
                operator = where.rsplit("[", 1)[-1].strip("[]'\"")
                named = f"{operator} " if operator in LIST_OPERATORS else "the list "
                raise FilterError(
                    f"{where}: {named}has {len(node):,} items, over the limit of "
                    f"{MAX_LIST_ITEMS:,} per list; split the query into several, or mark the "
                    "runs you want with a tag or group and filter on that"
                )
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
        else:
            values += 1
            if values > MAX_FILTER_VALUES:
                raise FilterError(
                    f"filters: the filter holds over {MAX_FILTER_VALUES:,} values, the limit; "
                    "split the query into several, or filter on a tag or group"
                )


def compile_order(order: str | None, dialect: str) -> list[Any]:
    """Compile an order such as ``-created_at`` or ``+summary_metrics.loss`` into ORDER BY terms.

    Several keys, comma-separated (``+config.lr,-summary_metrics.loss``), sort by the first,
    then the next among ties; runs still tied come in id order, following the first key.
    """
    if not order or not order.strip():
        return [Run.created_at.desc(), Run.id.desc()]
    terms: list[Any] = []
    parts = order.split(",")
    for part in parts:
        terms += _order_terms(part if len(parts) > 1 else order, dialect)
    first = parts[0].strip()
    return [*terms, Run.id.desc() if first.startswith("-") else Run.id.asc()]


def _order_terms(order: str, dialect: str) -> list[Any]:
    text = order.strip()
    descending = text.startswith("-")
    field = text[1:] if text[:1] in "+-" else text
    if not field:
        raise FilterError(f"order {order!r} names no field; use e.g. '-created_at'")
    where = f"order {order!r}"

    def direct(expr: Any) -> Any:
        return (expr.desc() if descending else expr.asc()).nulls_last()

    if field in TIME_COLUMNS:
        return [direct(TIME_COLUMNS[field])]
    if field in STRING_COLUMNS:
        return [direct(STRING_COLUMNS[field])]
    path = _json_path(field, where, dialect)
    if path is None:
        raise FilterError(
            f"{where}: unknown field {field!r}; fields you can order by: {KNOWN_FIELDS}"
        )
    # Numbers sort before strings, each in their own order; runs without the key come last.
    return [direct(path.number()), direct(path.string())]


def _document(document: Any, where: str, resolve: Resolver) -> ColumnElement[bool]:
    if not isinstance(document, dict):
        raise FilterError(
            f'{where} must be an object like {{"state": "finished"}}, got {document!r}'
        )
    clauses: list[ColumnElement[bool]] = []
    for key, value in document.items():
        here = f"{where}[{key!r}]"
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{here} must be a non-empty list of filters")
            parts = [_document(item, f"{here}[{i}]", resolve) for i, item in enumerate(value)]
            if key == "$and":
                clauses.append(_combine(and_, parts))
            elif key == "$or":
                clauses.append(_combine(or_, parts))
            else:
                clauses.append(_combine(and_, [_negate(p) for p in parts]))
        elif key.startswith("$"):
            raise FilterError(
                f"{here}: unknown operator {key!r} at the top level; use one of "
                f"{', '.join(LOGICAL_OPERATORS)} or a field name"
            )
        else:
            clauses.append(_field(key, value, here, resolve))
    if not clauses:
        return true()
    return _combine(and_, clauses)


def _combine(
    op: Callable[..., ColumnElement[bool]], clauses: list[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """`op` (and_/or_) over many clauses as a shallow tree.

    SQL reads `a OR b OR c ...` as a chain as deep as it is long, and SQLite refuses
    expressions over 1,000 deep. SQLAlchemy flattens nested and_/or_, so each group is
    wrapped in COALESCE(group, false): the same wherever a filter's result is used (WHERE
    and `_negate` both read NULL as false).
    """
    while len(clauses) > _GROUP:
        clauses = [
            func.coalesce(op(*clauses[i : i + _GROUP]), false())
            for i in range(0, len(clauses), _GROUP)
        ]
    return op(*clauses)


def _field(field: str, condition: Any, where: str, resolve: Resolver) -> ColumnElement[bool]:
    target = resolve(field, where)
    if isinstance(condition, dict) and any(k.startswith("$") for k in condition):
        stray = [k for k in condition if not k.startswith("$")]
        if stray:
            raise FilterError(
                f"{where}: mixes operators with plain keys {stray}; use only operators"
            )
        return _operators(target, condition, where)
    return target.equals(condition, where)


def _operators(target: Target, ops: dict[str, Any], where: str) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for op, operand in ops.items():
        here = f"{where}[{op!r}]"
        if op not in FIELD_OPERATORS:
            raise FilterError(f"{here}: unknown operator; use one of {', '.join(FIELD_OPERATORS)}")
        if op == "$eq":
            clauses.append(target.equals(operand, here))
        elif op == "$ne":
            clauses.append(_negate(target.equals(operand, here)))
        elif op in COMPARISONS:
            clauses.append(target.compare(op, operand, here))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise FilterError(f"{here} must be a list of values, got {operand!r}")
            any_of = _combine(
                or_, [false(), *(target.equals(v, f"{here}[{i}]") for i, v in enumerate(operand))]
            )
            clauses.append(any_of if op == "$in" else _negate(any_of))
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"{here} must be true or false, got {operand!r}")
            clauses.append(target.exists() if operand else _negate(target.exists()))
        elif op == "$regex":
            clauses.append(target.regex(operand, ops.get("$options"), here))
        elif op == "$options":
            if "$regex" not in ops:
                raise FilterError(f"{here} only goes with $regex")
        else:  # $not
            if not isinstance(operand, dict) or not operand:
                raise FilterError(f'{here} must be an object of operators, e.g. {{"$gt": 1}}')
            clauses.append(_negate(_operators(target, operand, here)))
    return _combine(and_, clauses) if clauses else true()


def _negate(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    # SQL's NOT(NULL) is NULL; Mongo's negations match runs that lack the field.
    return not_(func.coalesce(clause, false()))


class Target:
    """Something a field name points at, which knows how to compare itself."""

    def __init__(self, field: str) -> None:
        self.field = field

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def compare(self, op: str, value: Any, where: str) -> ColumnElement[bool]:
        raise FilterError(f"{where}: {self.field} cannot be compared with {op}")

    def exists(self) -> ColumnElement[bool]:
        raise NotImplementedError

    def regex(self, pattern: Any, options: Any, where: str) -> ColumnElement[bool]:
        raise FilterError(f"{where}: {self.field} does not support $regex")


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _pattern(pattern: Any, options: Any, where: str) -> str:
    if not isinstance(pattern, str):
        raise FilterError(f"{where} must be a regular expression string, got {pattern!r}")
    _text(pattern, where)
    if options not in (None, "", "i"):
        raise FilterError(f"{where}: $options may only be 'i' (case-insensitive), got {options!r}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterError(
            f"{where}: the pattern is {len(pattern):,} characters, over the "
            f"{MAX_PATTERN_LENGTH:,}-character limit of $regex; use a shorter pattern"
        )
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: not ours to log
            warnings.simplefilter("ignore")
            re.compile(pattern)  # only for its syntax errors; matching runs on RE2 or PostgreSQL
    except re.error as exc:
        raise FilterError(f"{where}: invalid regular expression {pattern!r}: {exc}") from exc
    # SQLite runs RE2, PostgreSQL its own engine: refuse what the two read differently.
    for construct, meaning in NON_PORTABLE_REGEX.items():
        if construct in pattern:
            raise FilterError(
                f"{where}: {meaning} ({construct!r}) is not supported in $regex; "
                "use plain classes, anchors and $options: 'i'"
            )
    for repeat in _REPEAT.finditer(pattern):
        if any(count and int(count) > MAX_REPEAT for count in repeat.groups()):
            raise FilterError(
                f"{where}: repetition counts over {MAX_REPEAT} ({repeat.group()}) are not "
                "supported in $regex; use a smaller count or '+'"
            )
    full = f"(?i){pattern}" if options == "i" else pattern
    try:
        compile_linear(full)
    except UnsupportedRegex as exc:
        raise FilterError(
            f"{where}: $regex {pattern!r} is not supported: {exc}. $regex runs on a "
            "linear-time engine (RE2), which has no backreferences (\\1) or lookarounds; "
            "match the text itself instead"
        ) from None
    return full


class StringColumn(Target):
    def __init__(self, field: str, column: Any) -> None:
        super().__init__(field)
        self.column = column

    def _string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise FilterError(
                f"{where}: {self.field} holds text; compare it with a string, not {value!r}"
            )
        return value

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        if value is None:
            return self.column.is_(None)
        return self.column == _text(self._string(value, where), where)

    def compare(self, op: str, value: Any, where: str) -> ColumnElement[bool]:
        return _OPS[op](self.column, _text(self._string(value, where), where))

    def exists(self) -> ColumnElement[bool]:
        return self.column.is_not(None)

    def regex(self, pattern: Any, options: Any, where: str) -> ColumnElement[bool]:
        return self.column.regexp_match(_pattern(pattern, options, where))


class TimeColumn(Target):
    def __init__(self, field: str, column: Any) -> None:
        super().__init__(field)
        self.column = column

    def _time(self, value: Any, where: str) -> datetime:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                return parsed.astimezone(UTC)
        raise FilterError(
            f"{where}: {self.field} is a time; give an ISO 8601 string such as "
            f"'2026-01-31T12:00:00Z', not {value!r}"
        )

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        if value is None:
            return self.column.is_(None)
        return self.column == self._time(value, where)

    def compare(self, op: str, value: Any, where: str) -> ColumnElement[bool]:
        return _OPS[op](self.column, self._time(value, where))

    def exists(self) -> ColumnElement[bool]:
        return self.column.is_not(None)


class _Tags(Target):
    def __init__(self, dialect: str) -> None:
        super().__init__("tags")
        self.dialect = dialect

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        # Mongo semantics for arrays: {"tags": "a"} means "has the tag a".
        if not isinstance(value, str):
            raise FilterError(f'{where}: tags are strings; use {{"tags": {{"$in": ["name"]}}}}')
        return json_array_contains(Run.tags, value, self.dialect)

    def exists(self) -> ColumnElement[bool]:
        return Run.tags.is_not(None)


class JsonValue(Target):
    def __init__(self, field: str, path: JsonPath) -> None:
        super().__init__(field)
        self.path = path

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        if value is None:
            kind = self.path.json_type()
            return or_(kind.is_(None), kind == "null")
        if isinstance(value, bool):
            return self.path.boolean() == int(value)
        if isinstance(value, int | float):
            return self.path.number() == _number(value, where)
        if isinstance(value, str):
            return self.path.string() == _text(value, where)
        raise FilterError(
            f"{where}: comparing {self.field} with a list or object is not supported; "
            "compare a nested key instead, e.g. config.model.layers"
        )

    def compare(self, op: str, value: Any, where: str) -> ColumnElement[bool]:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise FilterError(f"{where}: {op} needs a number or a string, got {value!r}")
        if isinstance(value, str):
            return _OPS[op](self.path.string(), _text(value, where))
        return _OPS[op](self.path.number(), _number(value, where))

    def exists(self) -> ColumnElement[bool]:
        return self.path.json_type().is_not(None)

    def regex(self, pattern: Any, options: Any, where: str) -> ColumnElement[bool]:
        return self.path.string().regexp_match(_pattern(pattern, options, where))


def _number(value: int | float, where: str) -> float:
    if isinstance(value, int) and abs(value) > MAX_EXACT_INT:
        raise FilterError(f"{where}: {value} is too large; JSON numbers compare as doubles")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise FilterError(f"{where}: compare with a finite number, not {value!r}")
    return number


def _text(value: str, where: str) -> str:
    if "\x00" in value:
        raise FilterError(f"{where}: strings may not contain NUL characters")
    return value


def _json_path(field: str, where: str, dialect: str) -> JsonPath | None:
    prefix, _, rest = field.partition(".")
    column = JSON_PREFIXES.get(prefix)
    if column is None:
        return None
    keys = rest.split(".") if rest else []
    if not keys or any(not k for k in keys):
        raise FilterError(f"{where}: {field!r} needs a key after '{prefix}.', e.g. '{prefix}.lr'")
    if any('"' in k for k in keys):
        raise FilterError(f"{where}: keys with double quotes are not supported in {field!r}")
    # W&B stores config as {"lr": {"value": 0.1}}, so users also write config.lr.value.
    if column is Run.config and len(keys) > 1 and keys[1] == "value":
        keys = [keys[0], *keys[2:]]
    return JsonPath(column, tuple(keys), dialect)


def _target(field: str, where: str, dialect: str) -> Target:
    if field in STRING_COLUMNS:
        return StringColumn(field, STRING_COLUMNS[field])
    if field in TIME_COLUMNS:
        return TimeColumn(field, TIME_COLUMNS[field])
    if field == "tags":
        return _Tags(dialect)
    path = _json_path(field, where, dialect)
    if path is None:
        raise FilterError(
            f"{where}: unknown field {field!r}; fields you can filter on: {KNOWN_FIELDS}"
        )
    return JsonValue(field, path)
