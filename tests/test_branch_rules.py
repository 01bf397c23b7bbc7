"""The pure rules behind forks, rewinds and alerts: branch points, steps, throttling, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runyard.server.db.models import RunAlert
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.alerts import AlertInput, check_alert, is_throttled
from runyard.server.tracking.filestream import history_shift
from runyard.server.tracking.forks import (
    BranchPoint,
    branch_point_of,
    parse_step,
    summary_of_prefix,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_branch_point_comes_from_the_wandb_config() -> None:
    assert branch_point_of({}) is None
    assert branch_point_of({"branch_point": {"run_id": "abc", "step": 5.0}}) == BranchPoint(
        "abc", 5
    )
    with pytest.raises(ServiceError, match="run id must be a non-empty string"):
        branch_point_of({"branch_point": {"run_id": "", "step": 1}})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "_step must be a whole number"),
        (-1, "_step must be 0 or more"),
        ("3", "_step must be a number"),
        (True, "_step must be a number"),
        (float("nan"), "_step must be a whole number"),
    ],
)
def test_bad_steps_are_refused(value: object, message: str) -> None:
    with pytest.raises(ServiceError, match=message) as caught:
        parse_step(value, "fork_from")
    assert caught.value.code is ErrorCode.INVALID
    assert str(caught.value).startswith("fork_from: ")


def test_summary_of_a_prefix_keeps_each_keys_last_value() -> None:
    lines = ['{"_step": 0, "a": 1}', '{"_step": 1, "b": 2}', '{"_step": 2, "a": 3}']
    assert summary_of_prefix(lines) == {"_step": 2, "a": 3, "b": 2}


def test_an_alert_is_throttled_only_within_the_earlier_alerts_wait() -> None:
    last = RunAlert(title="t", text="", level="INFO", wait_duration_ms=60_000, created_at=T0)
    assert is_throttled(None, T0) is False
    assert is_throttled(last, T0 + timedelta(seconds=59)) is True
    assert is_throttled(last, T0 + timedelta(seconds=60)) is False


def _alert(**fields: object) -> AlertInput:
    base: dict[str, object] = {"projectName": "p", "runName": "r", "title": "t", "text": "x"}
    return AlertInput.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"title": "t" * 65}, ErrorCode.TOO_LARGE, "over the 64-character limit"),
        ({"text": "x" * 10_001}, ErrorCode.TOO_LARGE, "over the 10000-character limit"),
        ({"title": "  "}, ErrorCode.INVALID, "non-empty title"),
        ({"severity": "LOUD"}, ErrorCode.INVALID, "is not one of INFO, WARN, ERROR"),
        ({"waitDuration": -1}, ErrorCode.INVALID, "waitDuration: -1 ms is outside"),
    ],
)
def test_bad_alerts_are_refused(fields: dict[str, object], code: ErrorCode, message: str) -> None:
    with pytest.raises(ServiceError, match=message) as caught:
        check_alert(_alert(**fields))
    assert caught.value.code is code


def test_an_alert_at_the_limits_passes() -> None:
    check_alert(_alert(title="t" * 64, text="x" * 10_000, severity="ERROR", waitDuration=0))


def test_a_fresh_fork_shifts_only_clients_that_count_from_zero() -> None:
    assert history_shift(6, 0) == 6  # an older client: its line 0 follows the parent's 6
    assert history_shift(6, 6) == 0  # a newer client continues at historyLineCount
    assert history_shift(0, 0) == 0
