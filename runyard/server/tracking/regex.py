"""`$regex` patterns on a linear-time engine (RE2), so no pattern can stall the server.

Python's `re` backtracks: `(a+)+$` over 26 characters takes seconds. RE2 matches in time
linear in the text, and refuses what it cannot do that way (backreferences, lookarounds).
SQLite's REGEXP runs here; PostgreSQL's own engine is not backtracking for what RE2 accepts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN_LENGTH = 1_000


class UnsupportedRegex(ValueError):
    """A pattern the linear-time engine cannot run; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, not a server log line
    return options


_OPTIONS = _options()


@lru_cache(maxsize=256)
def compile_linear(pattern: str) -> Any:
    """The compiled RE2 pattern, or UnsupportedRegex with RE2's reason."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else str(exc)
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise UnsupportedRegex(str(reason)) from None


def regexp(pattern: str | None, value: Any) -> bool | None:
    """SQL `value REGEXP pattern` (NULL when either is NULL), on RE2."""
    if pattern is None or value is None:
        return None
    return compile_linear(pattern).search(str(value)) is not None
