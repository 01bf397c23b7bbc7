"""Logging for the `runyard` processes: structured extras shown, routine traffic kept quiet.

Library code logs `logger.info("claimed", extra={"item": ...})`; the plain `%(message)s`
format would drop those fields, so every line here ends with them as `key=value`. Agents
heartbeat and long-poll claims all the time: those requests log at debug, not info.
"""

from __future__ import annotations

import asyncio
import logging

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Requests an idle agent makes every few seconds (uvicorn's access log args: path is [2]).
_ROUTINE_PATHS = ("/api/v1/agents/claim", "/api/v1/agents/heartbeat")


def extras_of(record: logging.LogRecord) -> dict[str, object]:
    """The fields a log call passed through `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class ExtraFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as `key=value` after the message."""

    def format(self, record: logging.LogRecord) -> str:
        """The usual line, then the extras."""
        line = super().format(record)
        fields = extras_of(record)
        if not fields:
            return line
        tail = " ".join(
            f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in fields.items()
        )
        return f"{line} {tail}"


def is_routine_access(record: logging.LogRecord) -> bool:
    """Whether a uvicorn access line is an agent's claim or heartbeat that went fine."""
    args = record.args
    if not isinstance(args, tuple) or len(args) < 5:
        return False
    path, status = str(args[2]), args[4]
    return path.startswith(_ROUTINE_PATHS) and isinstance(status, int) and status < 400


def is_shutdown_cancel(record: logging.LogRecord) -> bool:
    """Whether a record is uvicorn reporting a long poll it cancelled while shutting down."""
    exc = record.exc_info[1] if record.exc_info else None
    return isinstance(exc, asyncio.CancelledError)


class _DemoteRoutine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if is_routine_access(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class _DropShutdownCancel(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_shutdown_cancel(record)


def configure(level: str | int) -> None:
    """Set up the root logger for a `runyard` process."""
    handler = logging.StreamHandler()
    handler.setFormatter(ExtraFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request at info: an agent's heartbeats would flood the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_DemoteRoutine())
    logging.getLogger("uvicorn.error").addFilter(_DropShutdownCancel())
