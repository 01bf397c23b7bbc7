"""The pure parts of run files: MIME types, LIKE patterns, the console as output.log."""

from __future__ import annotations

import pytest

from runyard.server.tracking import run_files


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("output.log", "text/plain"),
        ("config.yaml", "application/x-yaml"),
        ("wandb-metadata.json", "application/json"),
        ("media/table/t_0_ab.table.json", "application/json"),
        ("requirements.txt", "text/plain"),
        ("media/images/i_0.png", "image/png"),
        ("media/audio/a_0.wav", "audio/x-wav"),
        ("media/videos/v_0.gif", "image/gif"),
        ("media/videos/v_0.mp4", "video/mp4"),
        ("media/html/p_0.html", "text/html"),
        ("diff.patch", "text/x-diff"),
        ("weights", "application/octet-stream"),
        ("dir.d/weights", "application/octet-stream"),
    ],
)
def test_mimetype_for(name: str, mimetype: str) -> None:
    assert run_files.mimetype_for(name) == mimetype


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("%.json", "wandb-metadata.json", True),
        ("%.json", "config.yaml", False),
        ("media/%", "media/images/a.png", True),
        ("output.lo_", "output.log", True),
        ("output.lo_", "output.logs", False),
        ("100\\%.txt", "100%.txt", True),
        ("100\\%.txt", "1000.txt", False),
        ("a.b", "axb", False),  # a dot is literal, not a regex wildcard
    ],
)
def test_like_matches(pattern: str, name: str, matches: bool) -> None:
    assert run_files.like_matches(pattern, name) is matches


def test_console_bytes_drop_the_file_stream_timestamps() -> None:
    lines = [
        "2026-12-04T21:58:04.527693 hello",
        "ERROR 2026-12-04T21:58:04.530498 Traceback (most recent call last):",
        "no timestamp here",
        "2026-12-04T21:58:04.527693 ",
    ]
    assert run_files.console_bytes(lines) == (
        b"hello\nTraceback (most recent call last):\nno timestamp here\n\n"
    )


def test_console_key_round_trips_and_rejects_other_keys() -> None:
    assert run_files.console_file_run_id("runs/42/console/output.log") == 42
    assert run_files.console_file_run_id("runs/42/files/output.log") is None
    assert run_files.console_file_run_id("runs/x/console/output.log") is None
    assert run_files.console_file_run_id("artifacts/42/console/output.log") is None
