"""Limits on values from requests: integer ranges, JSON nesting and file names.

Each check is a pure function that raises `ServiceError(UNPROCESSABLE)` naming the field,
the limit and the fix, so a value the database or filesystem cannot hold is refused with a
422 before any write, instead of failing deep in a driver with a 500.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json

from runyard.server.errors import ErrorCode, ServiceError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Deeper JSON than any config, summary or history row needs; the parsers' own limits
# (Python's recursion limit, jiter's 200) would otherwise fail with unclear errors or 500s.
MAX_JSON_DEPTH = 100
# Run and artifact file names are stored in 512-character columns and become paths in
# the object store, where one path segment may hold at most 255 bytes (NAME_MAX).
MAX_FILE_NAME_CHARS = 512
# Python refuses to parse longer integers (sys.get_int_max_str_digits()).
MAX_INT_DIGITS = 4300
MAX_FILE_NAME_PART_BYTES = 255


def unprocessable(message: str) -> ServiceError:
    """The 422 error every limit here raises."""
    return ServiceError(ErrorCode.UNPROCESSABLE, message)


def check_int_range(value: int, field: str, low: int, high: int) -> int:
    """Return `value` if `low <= value <= high`; else raise naming `field` and the range."""
    if not low <= value <= high:
        raise unprocessable(f"{field} is {value}, outside the allowed range {low}..{high}")
    return value


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a parsed JSON value nests arrays/objects deeper than `limit` levels."""
    # Iterative, so a deep value cannot exhaust the Python stack while being measured.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def depth_error(where: str, limit: int = MAX_JSON_DEPTH) -> ServiceError:
    """The 422 for JSON nested deeper than the limit."""
    return unprocessable(
        f"{where}: JSON is nested deeper than the {limit}-level limit; flatten the value"
    )


def check_json_depth(value: Any, where: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """Return the parsed `value` unless it nests deeper than `limit` levels."""
    if json_depth_exceeds(value, limit):
        raise depth_error(where, limit)
    return value


def loads_limited(text: str | bytes, where: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing nesting deeper than `limit` and integers too long to convert.

    Raises `json.JSONDecodeError` (or `UnicodeDecodeError` for bytes) for text that is not
    JSON at all, which callers word their own way, and `ServiceError` for the limits.
    """
    # Ingest parses every history line: pydantic-core's parser is about 4x faster than the
    # json module and gives the same value wherever both accept the text. Whatever it
    # refuses (bad JSON, a lone surrogate, a UTF-16 body, too deep, too long an integer)
    # goes through the json module, so errors read as before.
    try:
        value = from_json(text)
    except ValueError:
        return _loads_json_module(text, where, limit)
    # Nesting cannot be deeper than the count of brackets: measure only when it could be.
    if _openers(text) > limit:
        check_json_depth(value, where, limit)
    return value


def _openers(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("{") + text.count("[")
    return text.count(b"{") + text.count(b"[")


def _loads_json_module(text: str | bytes, where: str, limit: int) -> Any:
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise depth_error(where, limit) from exc
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        raise unprocessable(
            f"{where}: an integer has more than {MAX_INT_DIGITS} digits, over the limit; "
            "send such numbers as strings"
        ) from exc
    return check_json_depth(value, where, limit)


def check_file_name(name: str, field: str) -> str:
    """Return a run or artifact file name if it fits the column and the filesystem."""
    if len(name) > MAX_FILE_NAME_CHARS:
        raise unprocessable(
            f"{field}: file name is {len(name)} characters, over the {MAX_FILE_NAME_CHARS}-"
            f"character limit ({name[:40]!r}...); use a shorter name"
        )
    for part in name.split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_FILE_NAME_PART_BYTES:
            raise unprocessable(
                f"{field}: the path segment {part[:40]!r}... is {size} bytes, over the "
                f"{MAX_FILE_NAME_PART_BYTES}-byte limit for one file or folder name; "
                "shorten it or split it into folders"
            )
    return name
