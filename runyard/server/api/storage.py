"""Capability URLs: `PUT`/`GET /storage/{key}` authorised by an HMAC signature, not a header."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from runyard.server.deps import get_state, public_base_url
from runyard.server.history_export import downloads
from runyard.server.tracking import uploads
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter()


def _cors(request: Request) -> dict[str, str]:
    return uploads.cors_headers(request.headers.get("origin"), public_base_url(request))


@router.options("/storage/{key:path}")
def preflight(request: Request, key: str) -> Response:
    """CORS preflight: the server's own web origin may GET and PUT capability URLs."""
    return Response(status_code=204, headers=_cors(request))


@router.put("/storage/{key:path}")
async def upload(
    request: Request,
    response: Response,
    key: str,
    expires: str | None = None,
    sig: str | None = None,
) -> dict[str, object]:
    """Store the body under `key` if the URL's signature allows it."""
    uow = UnitOfWork(get_state(request), write=True)
    stored = await uploads.store_upload(uow, key, request.stream(), expires, sig)
    response.headers.update(_cors(request))
    return {"size": stored.size, "md5": stored.md5_hex}


@router.get("/storage/{key:path}")
def download(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> StreamingResponse:
    """Stream the object under `key` (or the one `Range` asked for) if the URL's signature
    allows it."""
    if (asked := request.headers.get("range")) is not None:
        # The unit only looks up the size; the part streams from the store after it closes.
        with UnitOfWork(get_state(request)) as sized:
            wanted, part = downloads.open_range(sized, key, expires, sig, asked)
        headers = {
            **_cors(request),
            "content-range": wanted.content_range,
            "content-length": str(wanted.length),
            "accept-ranges": "bytes",
        }
        return StreamingResponse(
            part, status_code=206, media_type="application/octet-stream", headers=headers
        )
    chunks = uploads.open_download(UnitOfWork(get_state(request)), key, expires, sig)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=_cors(request))


@router.head("/storage/{key:path}")
def download_size(
    request: Request, key: str, expires: str | None = None, sig: str | None = None
) -> Response:
    """The size of the object a signed GET URL names (Parquet readers ask before ranges)."""
    with UnitOfWork(get_state(request)) as uow:
        size = uploads.download_size(uow, key, expires, sig)
    headers = {**_cors(request), "content-length": str(size), "accept-ranges": "bytes"}
    return Response(media_type="application/octet-stream", headers=headers)
