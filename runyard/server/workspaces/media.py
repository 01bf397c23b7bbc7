"""Media the official client logs over steps (images, histograms, tables, HTML, audio, video).

The client writes each media value into its history row as a small JSON document, e.g.
`{"_type": "image-file", "path": "media/images/x_3_ab12.png", "caption": "..."}`, and uploads
the file itself as one of the run's files; a histogram travels inline (`bins`, `values`).
`media_entry` turns one such value into what a panel draws; `media_of_runs` reads a run set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import HistoryLine, Run
from runyard.server.tracking import run_files
from runyard.server.tracking.access import accessible_project
from runyard.server.tracking.files import run_file_key
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.unit_of_work import UnitOfWork

# `_type` of a logged value -> the panel kind that draws it.
KINDS = {
    "image-file": "image",
    "images/separated": "image",
    "histogram": "histogram",
    "table-file": "table",
    "html-file": "html",
    "audio-file": "audio",
    "audio": "audio",
    "video-file": "video",
}
MAX_RUNS = 100
# Steps kept per run and key: a slider over more is no easier to use, and pages stay small.
MAX_STEPS = 500


@dataclass(frozen=True)
class MediaFile:
    """A run file's bytes with the content type a browser needs to play or show it."""

    name: str
    content_type: str
    data: bytes


def _captions(value: dict[str, Any], count: int) -> list[str]:
    raw = value.get("captions")
    if isinstance(raw, list):
        return [str(c) if c is not None else "" for c in raw][:count] + [""] * (count - len(raw))
    caption = value.get("caption")
    return [str(caption) if caption is not None else ""] * count


def _histogram(value: dict[str, Any]) -> dict[str, Any] | None:
    values = value.get("values")
    if not isinstance(values, list):
        return None
    bins = value.get("bins")
    packed = value.get("packedBins")
    if not isinstance(bins, list) and isinstance(packed, dict):
        start, size = float(packed.get("min", 0)), float(packed.get("size", 1))
        bins = [start + i * size for i in range(int(packed.get("count", len(values))) + 1)]
    if not isinstance(bins, list) or len(bins) != len(values) + 1:
        return None
    return {"bins": bins, "values": values}


def media_entry(value: object) -> tuple[str, dict[str, Any]] | None:
    """`(kind, what the panel needs)` for one logged history value, None if it is not media."""
    if not isinstance(value, dict):
        return None
    kind = KINDS.get(str(value.get("_type")))
    if kind is None:
        return None
    if kind == "histogram":
        hist = _histogram(value)
        return None if hist is None else (kind, hist)
    if value.get("_type") == "images/separated":
        files = [f"media/images/{n}" for n in value.get("filenames") or [] if isinstance(n, str)]
        return kind, {"files": files, "captions": _captions(value, len(files))}
    if value.get("_type") == "audio":
        items = [a for a in value.get("audio") or [] if isinstance(a, dict) and a.get("path")]
        files = [str(a["path"]) for a in items]
        return kind, {"files": files, "captions": _captions(value, len(files))}
    path = value.get("path")
    if not isinstance(path, str):
        return None
    return kind, {"files": [path], "captions": _captions(value, 1)}


def thin(entries: list[dict[str, Any]], limit: int = MAX_STEPS) -> list[dict[str, Any]]:
    """At most `limit` entries evenly spread over the steps, always keeping the last one."""
    if len(entries) <= limit:
        return entries
    stride = len(entries) / limit
    picked = [entries[int(i * stride)] for i in range(limit - 1)]
    return [*picked, entries[-1]]


def media_of_rows(rows: list[tuple[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One run's media by key from its `(step, history row)` pairs: kind and steps in order."""
    out: dict[str, dict[str, Any]] = {}
    for step, row in rows:
        for key, value in row.items():
            found = media_entry(value)
            if found is None:
                continue
            kind, entry = found
            slot = out.setdefault(key, {"kind": kind, "steps": []})
            slot["steps"].append({"step": step, **entry})
    for slot in out.values():
        slot["steps"] = thin(slot["steps"])
    return out


def media_of_runs(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, run_names: list[str]
) -> dict[str, Any]:
    """The media keys logged by a project's runs: `{key: {kind, runs: {run: [steps]}}}`."""
    proj = accessible_project(uow.session, principal, entity, project)
    ids = dict(
        uow.session.execute(
            select(Run.id, Run.name).where(
                Run.project_id == proj.id, Run.name.in_(run_names[:MAX_RUNS])
            )
        ).all()
    )
    per_run: dict[int, list[tuple[int, dict[str, Any]]]] = {rid: [] for rid in ids}
    if ids:
        # Only lines that carry a typed value: scalar-only lines never hold media.
        lines = uow.session.execute(
            select(HistoryLine.run_id, HistoryLine.line_no, HistoryLine.step, HistoryLine.data)
            .where(HistoryLine.run_id.in_(ids), HistoryLine.data.like('%"_type"%'))
            .order_by(HistoryLine.run_id, HistoryLine.line_no)
        )
        for run_id, line_no, step, data in lines:
            row = json.loads(data)
            if isinstance(row, dict):
                per_run[run_id].append((step if step is not None else line_no, row))
    keys: dict[str, dict[str, Any]] = {}
    for rid, rows in per_run.items():
        for key, slot in media_of_rows(rows).items():
            entry = keys.setdefault(key, {"kind": slot["kind"], "runs": {}})
            entry["runs"][ids[rid]] = slot["steps"]
    return dict(sorted(keys.items()))


def media_keys_of_summaries(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """Media keys named in runs' summaries, with their panel kind (the client keeps each
    key's last value in the summary, so no history is read to lay the panels out)."""
    found: dict[str, str] = {}
    for summary in summaries:
        for key, value in (summary or {}).items():
            if isinstance(value, dict) and str(value.get("_type")) in KINDS:
                found.setdefault(key, KINDS[str(value.get("_type"))])
    return dict(sorted(found.items()))


def media_file(uow: UnitOfWork, principal: Principal, path: RunPath, name: str) -> MediaFile:
    """A readable run's file's bytes and content type (NOT_FOUND naming the file if absent)."""
    run = read_run(uow, principal, path)
    found = run_files.run_file(uow, run, name, "")
    data = b"".join(uow.objects.open_chunks(run_file_key(run, found.name)))
    return MediaFile(name=found.name, content_type=found.mimetype, data=data)
