"""Reading a run's files as the W&B public API does: pages by name, signed URLs, `output.log`.

A run's files are what the client uploaded through `createRunFiles` URLs (media, config,
metadata, requirements, summary, and `run.upload_file`). The console arrives as lines over
file_stream; until (or unless) the client uploads `output.log` itself, the run serves those
lines as a virtual `output.log` whose bytes are built on download.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.clock import utcnow
from runyard.server.db.models import ConsoleLine, Run, RunFile
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import direct_uploads
from runyard.server.tracking.files import RUN_FILE_PREFIX, run_file_key
from runyard.server.tracking.ids import decode_key
from runyard.server.tracking.regex import MAX_PATTERN_LENGTH, compile_linear
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

CONSOLE_FILE = "output.log"
# Object-store-like key of the virtual console file; no object is stored under it.
CONSOLE_KEY_SUFFIX = "/console/" + CONSOLE_FILE
MAX_FILES_PAGE = 1000
DEFAULT_FILES_PAGE = 50

# Types the stdlib table lacks or guesses differently from what W&B answers.
_EXTRA_TYPES = {
    ".log": "text/plain",
    ".yaml": "application/x-yaml",
    ".yml": "application/x-yaml",
    ".patch": "text/x-diff",
    ".diff": "text/x-diff",
    ".md": "text/markdown",
    ".wav": "audio/x-wav",
    ".gif": "image/gif",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class RunFileView:
    """A stored run file as readers see it; `url` is a signed download URL."""

    id: str
    name: str
    size: int
    md5_b64: str
    mimetype: str
    updated_at: datetime
    url: str


@dataclass(frozen=True)
class RunFilePage:
    """One page of a run's files, ordered by name; the cursor is the last name."""

    files: list[RunFileView]
    has_next: bool
    # Files matching the names/pattern, all pages together.
    total: int


def mimetype_for(name: str) -> str:
    """The MIME type W&B reports for a file name (`application/octet-stream` when unknown)."""
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > name.rfind("/") else ""
    if ext in _EXTRA_TYPES:
        return _EXTRA_TYPES[ext]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def like_to_regex(pattern: str) -> str:
    """A MySQL LIKE pattern (`%` any run, `_` one char, `\\` escapes) as an anchored regex."""
    parts: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            parts.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return "(?s)^" + "".join(parts) + "$"


def like_matches(pattern: str, name: str) -> bool:
    """Whether `name` matches the LIKE `pattern`, on the linear-time engine (no ReDoS)."""
    return compile_linear(like_to_regex(pattern)).search(name) is not None


def check_pattern(pattern: str | None) -> None:
    """Refuse a files pattern longer than the limit, naming the field and the limit."""
    if pattern is not None and len(pattern) > MAX_PATTERN_LENGTH:
        raise ServiceError(
            ErrorCode.INVALID,
            f"pattern: {len(pattern)} characters is over the limit of {MAX_PATTERN_LENGTH}; "
            "give a shorter LIKE pattern such as '%.json'",
        )


def console_key(run: Run) -> str:
    """The signed-URL key that serves a run's console lines as `output.log`."""
    return f"{RUN_FILE_PREFIX}{run.id}{CONSOLE_KEY_SUFFIX}"


# file_stream console lines carry the client's timestamp (`ERROR ` first for stderr); the
# client's own output.log holds the bare text.
_CONSOLE_PREFIX = re.compile(r"^(?:ERROR )?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z? ")


def console_text(line: str) -> str:
    """A stored console line without the timestamp (and stderr marker) file_stream adds."""
    return _CONSOLE_PREFIX.sub("", line, count=1)


def console_bytes(lines: list[str]) -> bytes:
    """`output.log` as the client writes it: each line's text ended by a newline."""
    return "".join(f"{console_text(line)}\n" for line in lines).encode()


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _hex_to_b64(md5_hex: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(md5_hex)).decode()
    except ValueError:
        return ""


def _console_lines(session: Session, run_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ConsoleLine.text)
            .where(ConsoleLine.run_id == run_id)
            .order_by(ConsoleLine.line_no)
        )
    )


def _stored(uow: UnitOfWork, run: Run) -> list[RunFile]:
    # Files PUT straight to a bucket are recorded when first listed (a HEAD each).
    direct_uploads.reconcile_run_files(uow, run)
    return list(
        uow.session.scalars(
            select(RunFile)
            .where(RunFile.run_id == run.id, RunFile.uploaded.is_(True))
            .order_by(RunFile.name)
        )
    )


def _has_virtual_console(uow: UnitOfWork, run: Run, stored_names: set[str]) -> bool:
    if CONSOLE_FILE in stored_names:
        return False
    found = uow.session.scalar(select(ConsoleLine.line_no).where(ConsoleLine.run_id == run.id))
    return found is not None


def file_count(uow: UnitOfWork, run: Run) -> int:
    """How many files the run has (uploaded files, plus `output.log` from console lines)."""
    direct_uploads.reconcile_run_files(uow, run)
    stored = set(
        uow.session.scalars(
            select(RunFile.name).where(RunFile.run_id == run.id, RunFile.uploaded.is_(True))
        )
    )
    return len(stored) + (1 if _has_virtual_console(uow, run, stored) else 0)


def _stored_view(uow: UnitOfWork, run: Run, row: RunFile, base_url: str) -> RunFileView:
    key = run_file_key(run, row.name)
    return RunFileView(
        id=f"{run.id}:{row.name}",
        name=row.name,
        size=row.size or 0,
        md5_b64=_hex_to_b64(row.md5 or ""),
        mimetype=mimetype_for(row.name),
        updated_at=row.updated_at,
        url=uow.signer.url(base_url, "GET", key),
    )


def _console_view(uow: UnitOfWork, run: Run, base_url: str) -> RunFileView:
    data = console_bytes(_console_lines(uow.session, run.id))
    return RunFileView(
        id=f"{run.id}:{CONSOLE_FILE}",
        name=CONSOLE_FILE,
        size=len(data),
        md5_b64=_md5_b64(data),
        mimetype=mimetype_for(CONSOLE_FILE),
        updated_at=run.heartbeat_at or run.updated_at or utcnow(),
        url=uow.signer.url(base_url, "GET", console_key(run)),
    )


def files_page(
    uow: UnitOfWork,
    run: Run,
    base_url: str,
    *,
    names: list[str] | None = None,
    pattern: str | None = None,
    after: str | None = None,
    first: int | None = None,
) -> RunFilePage:
    """A page of the run's files by name, after the name `after`, filtered by names or pattern.

    Unknown names are left out (W&B's answer; `wandb restore` asks for files that may not
    exist); `run_file` is the lookup that refuses an unknown name.
    """
    check_pattern(pattern)
    size = max(1, min(first or DEFAULT_FILES_PAGE, MAX_FILES_PAGE))
    rows = _stored(uow, run)
    stored_names = {r.name for r in rows}
    listed: list[tuple[str, RunFile | None]] = [(r.name, r) for r in rows]
    if _has_virtual_console(uow, run, stored_names):
        listed.append((CONSOLE_FILE, None))
        listed.sort(key=lambda item: item[0])
    # A name as the client's working directory spells it (`./notes.txt`, what `wandb verify`
    # asks for) names the file saved as `notes.txt`.
    wanted = {_relative_name(n) for n in names} if names else None
    matching = [
        (name, row)
        for name, row in listed
        if (wanted is None or name in wanted) and (not pattern or like_matches(pattern, name))
    ]
    selected = [(name, row) for name, row in matching if not after or name > after]
    page = selected[:size]
    views = [
        _stored_view(uow, run, row, base_url)
        if row is not None
        else _console_view(uow, run, base_url)
        for _, row in page
    ]
    return RunFilePage(files=views, has_next=len(selected) > size, total=len(matching))


def _relative_name(name: str) -> str:
    """A requested file name without leading `./` segments."""
    while name.startswith("./"):
        name = name[2:].lstrip("/")
    return name


def run_file(uow: UnitOfWork, run: Run, name: str, base_url: str) -> RunFileView:
    """One file of the run by name; not found names the file and the run."""
    page = files_page(uow, run, base_url, names=[name], first=1)
    if not page.files:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"file {name!r} not found in run {run.name}: list the run's files to see their names",
        )
    return page.files[0]


def read_run_file(
    uow: UnitOfWork, principal: Principal, path: RunPath, name: str, base_url: str
) -> RunFileView:
    """The file `name` of the run at `path`, after the read check; not found names the file."""
    return run_file(uow, read_run(uow, principal, path), name, base_url)


def upload_url(uow: UnitOfWork, principal: Principal, run: Run, name: str, base_url: str) -> str:
    """A signed PUT URL for the run file `name`; only writers of the run's entity get one."""
    require(principal, run.project.entity.name, Action.WRITE)
    # The PUT records the file (tracking/files.record_upload); a query writes nothing.
    return uow.signer.url(base_url, "PUT", run_file_key(run, name))


def _parse_file_id(node_id: str) -> tuple[int, str]:
    try:
        run_part, _, name = decode_key("File", node_id).partition(":")
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"files: {exc}") from exc
    if not run_part.isdigit() or not name:
        raise ServiceError(
            ErrorCode.INVALID, f"files: {node_id!r} is not a run file id (artifact files stay)"
        )
    return int(run_part), name


def delete_files(uow: UnitOfWork, principal: Principal, node_ids: list[str]) -> int:
    """Delete run files by node id (the client's `File.delete()`); all or nothing.

    Each id is checked (it exists, the caller may write its run) before any is deleted.
    The bytes stay in the object store, as a deleted run's do; a later upload replaces them.
    """
    rows: list[RunFile] = []
    for node_id in node_ids:
        run_id, name = _parse_file_id(node_id)
        run = uow.session.get(Run, run_id)
        if run is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"files: file {name!r} not found: no run")
        require(principal, run.project.entity.name, Action.WRITE)
        row = uow.session.scalars(
            select(RunFile).where(
                RunFile.run_id == run_id, RunFile.name == name, RunFile.uploaded.is_(True)
            )
        ).first()
        if row is None:
            hint = " (the live console is deleted with its run)" if name == CONSOLE_FILE else ""
            raise ServiceError(
                ErrorCode.NOT_FOUND, f"files: file {name!r} not found in run {run.name}{hint}"
            )
        rows.append(row)
    for row in rows:
        uow.session.delete(row)
    uow.session.flush()
    logger.info("run files deleted", extra={"count": len(rows)})
    return len(rows)


def console_file_run_id(key: str) -> int | None:
    """The run id when `key` is a run's virtual console key, else None."""
    if not key.startswith(RUN_FILE_PREFIX) or not key.endswith(CONSOLE_KEY_SUFFIX):
        return None
    middle = key[len(RUN_FILE_PREFIX) : -len(CONSOLE_KEY_SUFFIX)]
    return int(middle) if middle.isdigit() else None


def console_download(uow: UnitOfWork, run_id: int) -> bytes:
    """The bytes of a run's virtual `output.log` (its console lines)."""
    # The download route holds no request session: read in a short session of its own.
    with uow.read_session() as session:
        if session.get(Run, run_id) is None:
            raise ServiceError(ErrorCode.NOT_FOUND, "file 'output.log' not found: its run is gone")
        return console_bytes(_console_lines(session, run_id))
