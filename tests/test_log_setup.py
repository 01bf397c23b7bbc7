"""Log lines of the runyard processes: extras shown, agents' routine traffic at debug."""

from __future__ import annotations

import asyncio
import logging

from runyard.log_setup import ExtraFormatter, is_routine_access, is_shutdown_cancel


def _access(path: str, status: int) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", path, "1.1", status),
        None,
    )


def test_extra_fields_are_written_after_the_message() -> None:
    record = logging.LogRecord("agent", logging.WARNING, __file__, 1, "launch failed", None, None)
    record.item = "0193abcd"
    record.error = "needs run_spec.entry_point"
    line = ExtraFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING launch failed item='0193abcd' error='needs run_spec.entry_point'"


def test_claims_and_heartbeats_that_succeed_are_routine() -> None:
    assert is_routine_access(_access("/api/v1/agents/claim", 200))
    assert is_routine_access(_access("/api/v1/agents/heartbeat", 200))


def test_failed_agent_requests_and_other_routes_are_not_routine() -> None:
    assert not is_routine_access(_access("/api/v1/agents/claim", 401))
    assert not is_routine_access(_access("/api/v1/queues/admin/default/items", 201))


def test_a_long_poll_cancelled_at_shutdown_is_recognised() -> None:
    cancelled = asyncio.CancelledError()
    record = logging.LogRecord(
        "uvicorn.error",
        logging.ERROR,
        __file__,
        1,
        "Exception in ASGI application",
        None,
        (type(cancelled), cancelled, None),
    )
    assert is_shutdown_cancel(record)
    other = ValueError("boom")
    record.exc_info = (type(other), other, None)
    assert not is_shutdown_cancel(record)
