"""file_stream decisions without a server: validation, console re-basing, metric extraction."""

import pytest

from runyard.server.db.models import Run
from runyard.server.tracking.filestream import (
    FileStreamRequest,
    console_shift,
    parse_post,
)
from runyard.server.tracking.metric_points import numeric_items
from runyard.server.tracking.runs import TrackingError, start_attempt


def _post(files: dict[str, tuple[int, list[str]]]) -> FileStreamRequest:
    return FileStreamRequest.model_validate(
        {"files": {k: {"offset": o, "content": c} for k, (o, c) in files.items()}}
    )


def test_history_lines_are_numbered_from_the_offset() -> None:
    parsed = parse_post(_post({"wandb-history.jsonl": (5, ['{"a":1}', '{"a":2}'])}), 1000)
    assert [(n, row) for n, row, _ in parsed.history] == [(5, {"a": 1}), (6, {"a": 2})]


@pytest.mark.parametrize(
    ("line", "status", "message"),
    [
        ("not json", 400, "wandb-history.jsonl line 3 is not valid JSON"),
        ("[1, 2]", 400, "must be a JSON object"),
        ('{"big": "' + "x" * 2000 + '"}', 413, "over the 1000-byte limit"),
    ],
)
def test_bad_history_line_is_named_and_rejected(line: str, status: int, message: str) -> None:
    post = _post({"wandb-history.jsonl": (2, ['{"ok": 1}', line])})
    with pytest.raises(TrackingError, match=message) as info:
        parse_post(post, 1000)
    assert info.value.status == status


def test_summary_takes_the_last_line() -> None:
    parsed = parse_post(_post({"wandb-summary.json": (0, ['{"a":1}', '{"a":2}'])}), 1000)
    assert parsed.summary == {"a": 2}


def test_numeric_items_flatten_nested_and_skip_non_numbers() -> None:
    row = {"loss": 0.5, "n": {"x": 1, "y": "s"}, "flag": True, "nan": float("nan"), "img": {}}
    assert dict(numeric_items(row)) == {"loss": 0.5, "n.x": 1.0}


def test_console_of_a_resumed_attempt_is_rebased_only_when_offsets_restart() -> None:
    run = Run(log_line_count=21)
    start_attempt(run)
    # wandb 0.22 restarts console offsets at 0 after a resume: shift past the old lines.
    assert console_shift(run, 0) == 21
    assert console_shift(run, 3) == 21
    other = Run(log_line_count=21)
    start_attempt(other)
    # wandb 0.19 and 0.31 continue at the stored count: no shift.
    assert console_shift(other, 21) == 0
    fresh = Run(log_line_count=0)
    assert console_shift(fresh, 0) == 0
