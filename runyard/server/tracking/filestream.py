"""The W&B `file_stream` endpoint's semantics: history, events, console, summary and run state.

Offsets make every post idempotent: history and event lines are keyed by
`(run, line number)` and a repeated line is ignored; console lines are keyed the
same way but a repeat overwrites (the client rewrites a line as `\\r` progress
bars advance). Everything of one post is validated before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from runyard.server.automations import firing
from runyard.server.clock import utcnow
from runyard.server.db.dialect import insert_for
from runyard.server.db.models import ConsoleLine, EventLine, Run
from runyard.server.input_limits import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    check_file_name,
    check_int_range,
    loads_limited,
    unprocessable,
)
from runyard.server.tracking.media_index import index_media
from runyard.server.tracking.metric_chunks import chunk_rows, gaps, store_chunks
from runyard.server.tracking.metric_points import columns_and_ranges, insert_history_lines
from runyard.server.tracking.rollup_writes import store_ranges
from runyard.server.tracking.runs import TrackingError

HISTORY_FILE = "wandb-history.jsonl"
EVENTS_FILE = "wandb-events.jsonl"
SUMMARY_FILE = "wandb-summary.json"
CONSOLE_FILE = "output.log"


class FileChunk(BaseModel):
    """Lines of one file, starting at line `offset`."""

    # Line numbers are 32-bit columns: an offset past them is refused with a 422 (see below).
    offset: int = Field(0, ge=0, le=INT32_MAX)
    content: list[str] = Field(default_factory=list)


class FileStreamRequest(BaseModel):
    """Body of `POST /files/{entity}/{project}/{run}/file_stream`."""

    model_config = ConfigDict(extra="ignore")

    files: dict[str, FileChunk] = Field(default_factory=dict)
    complete: bool | None = None
    exitcode: int | None = Field(None, ge=INT32_MIN, le=INT32_MAX)
    preempting: bool | None = None
    uploaded: list[str] | None = None


@dataclass
class ParsedPost:
    """A validated post, ready to write."""

    history: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    console: list[tuple[int, str]] = field(default_factory=list)
    console_offset: int | None = None
    summary: dict[str, Any] | None = None


def _parse_line(name: str, line_no: int, text: str, max_bytes: int) -> dict[str, Any]:
    if len(text) > max_bytes:
        raise TrackingError(
            f"{name} line {line_no} is {len(text)} bytes, over the {max_bytes}-byte limit: "
            "log large values as files or artifacts",
            status=413,
        )
    try:
        value = loads_limited(text, f"{name} line {line_no}")
    except json.JSONDecodeError as exc:
        raise TrackingError(f"{name} line {line_no} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TrackingError(f"{name} line {line_no} must be a JSON object")
    step = value.get("_step")
    if isinstance(step, int) and not isinstance(step, bool):
        check_int_range(step, f"{name} line {line_no}: _step", INT64_MIN, INT64_MAX)
    # Metric names become text columns, and PostgreSQL text cannot hold NUL: refuse such a
    # key by name (on both databases alike) instead of failing in the driver. A cheap scan
    # of the raw text first; the keys are looked at only when it names the character.
    if "\\u0000" in text:
        bad = _nul_key(value)
        if bad is not None:
            raise unprocessable(
                f"{name} line {line_no}: the key {bad!r} holds a NUL character (\\u0000), "
                "which metric names cannot: rename it"
            )
    return value


def _nul_key(row: dict[str, Any]) -> str | None:
    """The first key (nested ones too) holding a NUL character, or None."""
    for key, value in row.items():
        if "\x00" in key:
            return key
        if isinstance(value, dict):
            inner = _nul_key(value)
            if inner is not None:
                return inner
    return None


def _check_line_numbers(name: str, offset: int, count: int, shift: int = 0) -> None:
    """Refuse a chunk whose line numbers (and so the line count) pass the 32-bit columns."""
    last = offset + shift + count  # the file's line count after this chunk
    if count and last > INT32_MAX:
        raise unprocessable(
            f"files.{name}.offset: offset {offset} with {count} lines ends at line {last - 1}; "
            f"line numbers must stay within 0..{INT32_MAX - 1}: start a new run or file"
        )


def parse_post(body: FileStreamRequest, max_value_bytes: int) -> ParsedPost:
    """Validate every line of a post; raise TrackingError naming the first bad one."""
    parsed = ParsedPost()
    for name in [*body.files, *(body.uploaded or [])]:
        check_file_name(name, "files")
    for name, chunk in body.files.items():
        _check_line_numbers(name, chunk.offset, len(chunk.content))
        lines = list(enumerate(chunk.content, start=chunk.offset))
        if name == HISTORY_FILE:
            parsed.history = [(n, _parse_line(name, n, t, max_value_bytes), t) for n, t in lines]
        elif name == EVENTS_FILE:
            parsed.events = [(n, t) for n, t in lines if _parse_line(name, n, t, max_value_bytes)]
        elif name == SUMMARY_FILE and chunk.content:
            # The summary file is rewritten whole; its last line is the current summary.
            parsed.summary = _parse_line(
                name, chunk.offset, chunk.content[-1], 10 * max_value_bytes
            )
        elif name == CONSOLE_FILE:
            for n, text in lines:
                if len(text) > max_value_bytes:
                    raise TrackingError(
                        f"{name} line {n} is over the {max_value_bytes}-byte limit", status=413
                    )
            parsed.console = lines
            parsed.console_offset = chunk.offset
    return parsed


def _insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(_insert_ignore_stmt(session, model), rows)


def _insert_ignore_stmt(session: Session, model: Any) -> Any:
    return insert_for(session, model).on_conflict_do_nothing()


def _upsert_console(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert_for(session, ConsoleLine)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "line_no"], set_={"text": stmt.excluded.text}
    )
    session.execute(stmt, rows)


def console_shift(run: Run, first_offset: int) -> int:
    """Return how far to shift console offsets of the current attempt.

    After a resume, wandb 0.19 and 0.31 continue at the stored line count, but
    0.22 restarts at 0, which would overwrite the first lines. The first console
    chunk of a resumed attempt tells which kind of client this is.
    """
    if run.console_base is None:
        resume_at = run.console_resume_at or 0
        run.console_base = resume_at if first_offset < resume_at else 0
    return run.console_base


def history_shift(copied_lines: int, first_offset: int) -> int:
    """How far to shift the history offsets of a fresh fork holding `copied_lines` lines.

    Newer clients continue at the `historyLineCount` that upsertBucket answered (after the
    parent's lines); older ones count their own lines from 0 and need the shift.
    """
    return copied_lines if first_offset < copied_lines else 0


def apply_post(session: Session, run: Run, body: FileStreamRequest, max_value_bytes: int) -> None:
    """Validate and store one file_stream post for `run`, in the caller's transaction."""
    parsed = parse_post(body, max_value_bytes)
    now = utcnow()
    if parsed.history and run.history_base is None:
        run.history_base = history_shift(run.history_line_count, parsed.history[0][0])
    if parsed.history and run.history_base:
        base = run.history_base
        _check_line_numbers(HISTORY_FILE, parsed.history[0][0], len(parsed.history), base)
        parsed.history = [(n + base, row, text) for n, row, text in parsed.history]
    if parsed.history:
        steps = [_step_of(row) for _, row, _ in parsed.history]
        new_lines = insert_history_lines(
            session,
            run.id,
            [(n, step, text) for (n, _, text), step in zip(parsed.history, steps, strict=True)],
        )
        # A retried post re-sends lines already stored: their values are not counted again.
        fresh = [
            (n, step, row)
            for (n, row, _), step in zip(parsed.history, steps, strict=True)
            if n in new_lines
        ]
        columns, ranges = columns_and_ranges(fresh)
        # A chunk holds consecutive lines: a retry that overlaps stored lines leaves holes.
        chunks = chunk_rows(columns, gaps([n for n, _, _ in fresh]))
        store_chunks(session, run.id, chunks)
        index_media(session, run.id, parsed.history, new_lines)
        store_ranges(session, run.id, ranges)
        firing.on_metrics(session, run, columns)
        run.history_line_count = max(run.history_line_count, parsed.history[-1][0] + 1)
    if parsed.events:
        _insert_ignore(
            session,
            EventLine,
            [{"run_id": run.id, "line_no": n, "data": text} for n, text in parsed.events],
        )
        run.events_line_count = max(run.events_line_count, parsed.events[-1][0] + 1)
    if parsed.console and parsed.console_offset is not None:
        shift = console_shift(run, parsed.console_offset)
        _check_line_numbers(CONSOLE_FILE, parsed.console_offset, len(parsed.console), shift)
        _upsert_console(
            session,
            [{"run_id": run.id, "line_no": n + shift, "text": text} for n, text in parsed.console],
        )
        run.log_line_count = max(run.log_line_count, parsed.console[-1][0] + shift + 1)
    if parsed.summary is not None:
        before_summary = run.summary or {}
        run.summary = parsed.summary
        # `run.summary[k] = v` without a history line: metric automations see it too.
        logged = {key for _, row, _ in parsed.history for key in row}
        firing.on_summary(session, run, before_summary, parsed.summary, skip=logged)
    before = run.state
    _apply_state(run, body)
    firing.on_run_state(session, run, before)
    run.heartbeat_at = now
    run.updated_at = now


def _step_of(row: dict[str, Any]) -> int | None:
    step = row.get("_step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _apply_state(run: Run, body: FileStreamRequest) -> None:
    if body.preempting:
        run.state = "preempted"
    if body.complete:
        exit_code = body.exitcode if body.exitcode is not None else 0
        run.exit_code = exit_code
        run.finished_at = utcnow()
        if exit_code == 0:
            run.state = "finished"
        elif run.state != "preempted":
            run.state = "failed"
    elif run.state == "crashed":
        # The client was only silent, not dead: it is posting again.
        run.state = "running"
