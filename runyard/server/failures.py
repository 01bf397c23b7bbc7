"""Turn low-level failures into the service error they mean, once for every adapter.

A full disk or a read-only data dir surfaces as a SQLite or PostgreSQL error or an
`OSError`; a value past its column's range as a driver overflow. Each adapter (REST
handlers, the GraphQL route) asks `service_error_for` and answers with the error's status,
so these become a 507 or 422 naming the cause instead of a 500.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.input_limits import MAX_JSON_DEPTH, depth_error, unprocessable

# SQLite's words for SQLITE_FULL and SQLITE_READONLY.
SQLITE_STORAGE_MESSAGES = ("database or disk is full", "attempt to write a readonly database")
# PostgreSQL: disk_full (53100); the server itself ran out of space.
PG_STORAGE_SQLSTATES = frozenset({"53100"})
# PostgreSQL: numeric_value_out_of_range, string_data_right_truncation, and a negative
# LIMIT or OFFSET (invalid_row_count_in_limit_clause / ..._result_offset_clause).
PG_RANGE_SQLSTATES = frozenset({"22003", "22001", "2201W", "2201X"})
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
STORAGE_FIX = (
    "free space on the server's data volume (RUNYARD_DATA_DIR or the database's disk) "
    "or make it writable, then retry; nothing of this request was stored"
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (`orig`, cause, context) and the members of a group."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, BaseExceptionGroup):
            todo.extend(item.exceptions)
        for nxt in (getattr(item, "orig", None), item.__cause__, item.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def storage_reason(exc: BaseException) -> str | None:
    """Why storage refused a write (full or read-only), or None for any other failure."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in STORAGE_ERRNOS:
            return item.strerror or str(item)
        if getattr(item, "sqlstate", None) in PG_STORAGE_SQLSTATES:
            return str(item).strip().splitlines()[0]
        text = str(item)
        for message in SQLITE_STORAGE_MESSAGES:
            if message in text:
                return message
    return None


def storage_error(reason: str) -> ServiceError:
    """The 507 for a full or read-only storage."""
    return ServiceError(
        ErrorCode.INSUFFICIENT_STORAGE, f"storage is full or read-only ({reason}): {STORAGE_FIX}"
    )


def _range_reason(exc: BaseException) -> str | None:
    """A driver's complaint that a value does not fit its column, or None."""
    for item in _chain(exc):
        text = str(item)
        if isinstance(item, OverflowError) and "SQLite INTEGER" in text:
            return "an integer is outside the 64-bit range SQLite stores"
        if getattr(item, "sqlstate", None) in PG_RANGE_SQLSTATES:
            return text.strip().splitlines()[0]
    return None


def service_error_for(exc: BaseException) -> ServiceError | None:
    """The service error `exc` stands for, or None when it is a genuine internal failure."""
    if isinstance(exc, ServiceError):
        return exc
    reason = storage_reason(exc)
    if reason is not None:
        return storage_error(reason)
    if isinstance(exc, RecursionError) and "JSON" in str(exc):
        # A JSON parser ran out of stack: the value is nested far past the limit.
        return depth_error("request", MAX_JSON_DEPTH)
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return unprocessable(f"file name too long ({exc.strerror}): use a shorter file name")
    range_reason = _range_reason(exc)
    if range_reason is not None:
        return unprocessable(
            f"a value in the request is out of range for the database ({range_reason}); "
            "send a smaller number or shorter text"
        )
    return None
