"""Capability URLs: `PUT`/`GET /storage/{key}` authorised by an HMAC signature, not a header."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from runyard.server.deps import get_state
from runyard.server.tracking import uploads
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter()


@router.put("/storage/{key:path}")
async def upload(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> dict[str, object]:
    """Store the body under `key` if the URL's signature allows it."""
    uow = UnitOfWork(get_state(request), write=True)
    stored = await uploads.store_upload(uow, key, request.stream(), expires, sig)
    return {"size": stored.size, "md5": stored.md5_hex}


@router.get("/storage/{key:path}")
def download(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> StreamingResponse:
    """Stream the object under `key` if the URL's signature allows it."""
    chunks = uploads.open_download(UnitOfWork(get_state(request)), key, expires, sig)
    return StreamingResponse(chunks, media_type="application/octet-stream")
