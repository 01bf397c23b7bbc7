"""`POST /files/{entity}/{project}/{run}/file_stream`: the W&B client's streaming endpoint."""

from __future__ import annotations

import gzip
import zlib

import anyio
import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError

from runyard.server.deps import authenticate_request, get_state
from runyard.server.input_limits import depth_error
from runyard.server.state import ServerState
from runyard.server.tracking import filestream, run_writes
from runyard.server.tracking.run_reads import RunPath
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter()
# Pydantic error types of a well-formed value outside its allowed range.
_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}


def _decode_body(raw: bytes, encoding: str | None, max_bytes: int) -> filestream.FileStreamRequest:
    if encoding and encoding.lower() == "gzip":
        try:
            # Bounded decompression: a tiny gzip bomb must not exhaust memory.
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, max_bytes + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise HTTPException(400, f"body is not valid gzip: {exc}") from exc
        if len(raw) > max_bytes:
            raise HTTPException(413, f"decompressed body is over the {max_bytes}-byte limit")
    try:
        return filestream.FileStreamRequest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        if "recursion limit" in first["msg"]:
            raise depth_error("file_stream body") from exc
        # A well-formed value out of its allowed range (an offset or exit code past the
        # 32-bit columns) is unprocessable; a malformed body is a bad request.
        status = 422 if first["type"] in _RANGE_ERRORS else 400
        raise HTTPException(status, f"invalid file_stream body at {where}: {first['msg']}") from exc


def _apply(
    state: ServerState,
    authorization: str | None,
    entity: str,
    project: str,
    run_name: str,
    body: filestream.FileStreamRequest,
) -> dict[str, object]:
    with UnitOfWork(state, write=True) as uow:
        principal = authenticate_request(uow, authorization)
        path = RunPath(entity, project, run_name)
        stopped = run_writes.apply_file_stream(uow, principal, path, body)
    return {"exitcode": None, "limits": {}, "stopped": stopped}


@router.post("/files/{entity}/{project}/{run_name}/file_stream")
async def file_stream(
    request: Request, entity: str, project: str, run_name: str
) -> dict[str, object]:
    """Store history, events, console and summary; answer whether the run should stop."""
    state = get_state(request)
    raw = await request.body()
    encoding = request.headers.get("content-encoding")
    authorization = request.headers.get("authorization")

    metrics = request.app.state.metrics

    def decode_and_apply() -> dict[str, object]:
        body = _decode_body(raw, encoding, state.settings.max_request_bytes)
        answer = _apply(state, authorization, entity, project, run_name, body)
        # Counted once stored: a refused post adds nothing, a retried one counts again.
        metrics.file_stream_posts.inc()
        history = body.files.get(filestream.HISTORY_FILE)
        if history is not None and history.content:
            metrics.history_lines.inc(len(history.content))
        return answer

    # A post expands to many rows in memory; a bounded number are worked on at once, so
    # a burst of clients queues up instead of growing the server by gigabytes.
    return await anyio.to_thread.run_sync(decode_and_apply, limiter=_ingest_limiter(request))


def _ingest_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "ingest_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(get_state(request).settings.ingest_concurrency)
        request.app.state.ingest_limiter = limiter
    return limiter
