"""Media the official client logs over steps (images, histograms, tables, HTML, audio, video).

The client writes each media value into its history row as a small JSON document, e.g.
`{"_type": "image-file", "path": "media/images/x_3_ab12.png", "caption": "..."}`, and uploads
the file itself as one of the run's files; a histogram travels inline (`bins`, `values`).
`media_entry` turns one such value into what a panel draws; `media_of_runs` reads a run set
through the media index (tracking/media_index.py) filled at ingest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import Run
from runyard.server.tracking import run_files
from runyard.server.tracking.access import accessible_project
from runyard.server.tracking.files import run_file_key
from runyard.server.tracking.media_index import MEDIA_KINDS, thinned_media_lines
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.unit_of_work import UnitOfWork

# `_type` of a logged value -> the panel kind that draws it.
KINDS = MEDIA_KINDS
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


def media_of_lines(
    lines: Iterable[tuple[str, str, int, str]],
) -> dict[str, dict[str, Any]]:
    """Panels' media from `(run, key, x, history line text)` in line order per run:
    `{key: {kind, runs: {run: [{step, ...}]}}}`, keys sorted; values that are not media
    the panels can draw (a broken histogram) are left out."""
    keys: dict[str, dict[str, Any]] = {}
    parsed: tuple[str, dict[str, Any]] | None = None
    for run, key, step, text in lines:
        # A line holding several media keys comes once per key: parse it once.
        if parsed is None or parsed[0] != text:
            row = json.loads(text)
            parsed = (text, row if isinstance(row, dict) else {})
        found = media_entry(parsed[1].get(key))
        if found is None:
            continue
        kind, entry = found
        slot = keys.setdefault(key, {"kind": kind, "runs": {}})
        slot["runs"].setdefault(run, []).append({"step": step, **entry})
    return dict(sorted(keys.items()))


def media_of_runs(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, run_names: list[str]
) -> dict[str, Any]:
    """The media keys logged by a project's runs: `{key: {kind, runs: {run: [steps]}}}`,
    at most MAX_STEPS steps per run and key, evenly spread and always with the newest."""
    proj = accessible_project(uow.session, principal, entity, project)
    ids = dict(
        uow.session.execute(
            select(Run.id, Run.name).where(
                Run.project_id == proj.id, Run.name.in_(run_names[:MAX_RUNS])
            )
        ).all()
    )
    picked = thinned_media_lines(uow.session, list(ids), MAX_STEPS)
    return media_of_lines((ids[rid], key, step, text) for rid, key, step, text in picked)


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
