"""Previewing a run's files in the browser: images inline, the start of text files.

Only raster image types are served inline (an SVG or HTML file could carry script); every
other file is shown as escaped text or offered as a download.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from runyard.server.auth import Principal
from runyard.server.db.models import Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import run_files
from runyard.server.tracking.files import run_file_key
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.unit_of_work import UnitOfWork

INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
TEXT_TYPES = frozenset(
    {"application/json", "application/x-yaml", "application/yaml", "application/x-sh"}
)
TEXT_SUFFIXES = (".txt", ".log", ".json", ".jsonl", ".yaml", ".yml", ".md", ".py", ".csv", ".toml")
PREVIEW_BYTES = 64 * 1024  # the start of a text file; the download has the rest


@dataclass(frozen=True)
class FilePreview:
    """How a run file is previewed: `kind` is image, text or none (download only)."""

    name: str
    kind: str
    size: int
    download_url: str
    text: str = ""
    truncated: bool = False


def preview_kind(name: str) -> str:
    """`image`, `text` or `none` for a file name (pure)."""
    mimetype = run_files.mimetype_for(name)
    if mimetype in INLINE_IMAGE_TYPES:
        return "image"
    if mimetype.startswith("text/") or mimetype in TEXT_TYPES or name.endswith(TEXT_SUFFIXES):
        return "text"
    return "none"


def _head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of a stream, and whether there was more."""
    data = bytearray()
    for chunk in chunks:
        data.extend(chunk)
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def _file_chunks(uow: UnitOfWork, run: Run, name: str) -> Iterator[bytes]:
    if name == run_files.CONSOLE_FILE and not uow.objects.exists(run_file_key(run, name)):
        return iter([run_files.console_download(uow, run.id)])
    return uow.objects.open_chunks(run_file_key(run, name))


def file_preview(
    uow: UnitOfWork, principal: Principal, path: RunPath, name: str, base_url: str
) -> FilePreview:
    """The file `name` of the run at `path` as the Files tab previews it."""
    run = read_run(uow, principal, path)
    view = run_files.run_file(uow, run, name, base_url)
    kind = preview_kind(name)
    if kind != "text":
        return FilePreview(name, kind, view.size, view.url)
    try:
        head, more = _head(_file_chunks(uow, run, name), PREVIEW_BYTES)
    except FileNotFoundError:
        return FilePreview(name, "none", view.size, view.url)
    return FilePreview(
        name, "text", view.size, view.url, head.decode("utf-8", errors="replace"), more
    )


def image_bytes(
    uow: UnitOfWork, principal: Principal, path: RunPath, name: str
) -> tuple[Iterator[bytes], str]:
    """The bytes and MIME type of an image file of the run, for an inline `<img>`."""
    run = read_run(uow, principal, path)
    mimetype = run_files.mimetype_for(name)
    if mimetype not in INLINE_IMAGE_TYPES:
        raise ServiceError(
            ErrorCode.INVALID,
            f"file {name!r} is not a PNG, JPEG, GIF, WebP or BMP image: download it instead",
        )
    run_files.run_file(uow, run, name, "")  # not found names the file
    key = run_file_key(run, name)
    if not uow.objects.exists(key):
        raise ServiceError(ErrorCode.NOT_FOUND, f"file {name!r} is not uploaded yet")
    return uow.objects.open_chunks(key), mimetype
