"""Capability URLs: `PUT`/`GET /storage/{key}` authorised by an HMAC signature, not a header."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from runyard.server.deps import get_state
from runyard.server.signing import SignatureError
from runyard.server.storage import TooLarge
from runyard.server.tracking.uploads import record_stored_object
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter()


@router.put("/storage/{key:path}")
async def upload(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> dict[str, object]:
    """Store the body under `key` if the URL's signature allows it."""
    state = get_state(request)
    try:
        state.signer.verify("PUT", key, expires, sig)
    except SignatureError as exc:
        raise HTTPException(403, str(exc)) from exc
    try:
        stored = await state.store.put_stream(
            key, request.stream(), state.settings.max_request_bytes
        )
    except TooLarge as exc:
        raise HTTPException(413, f"{exc}: RUNYARD_MAX_REQUEST_BYTES limits uploads") from exc
    uow = UnitOfWork(state, write=True)
    await run_in_threadpool(record_stored_object, uow, key, stored.size, stored.md5_hex)
    return {"size": stored.size, "md5": stored.md5_hex}


@router.get("/storage/{key:path}")
def download(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> StreamingResponse:
    """Stream the object under `key` if the URL's signature allows it."""
    state = get_state(request)
    try:
        state.signer.verify("GET", key, expires, sig)
    except SignatureError as exc:
        raise HTTPException(403, str(exc)) from exc
    if not state.store.exists(key):
        raise HTTPException(404, f"no object stored at {key!r}")
    return StreamingResponse(state.store.open_chunks(key), media_type="application/octet-stream")
