"""ASGI middleware that refuses request bodies over the configured size with a clear 413."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Reject bodies over `max_bytes`, by Content-Length up front or while streaming.

    A streamed (chunked) body is cut off where it passes the limit: the 413 is sent from
    here at once, and the app is told the client went away. Raising from `receive` instead
    does not work: `BaseHTTPMiddleware` wraps the error in an exception group and FastAPI
    turns body-read errors into a 400, so the error never came back here as itself (a 500).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_puts: tuple[str, ...] = ()) -> None:
        """`exempt_puts`: path prefixes whose PUT bodies the route limits itself (the signed
        upload URLs, which carry whole files)."""
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_puts = exempt_puts

    def message(self) -> str:
        """The reason given to the client: the limit, its setting, and what to do instead."""
        mb = self.max_bytes / 1_000_000
        return (
            f"request body is over the {mb:g} MB limit (RUNYARD_MAX_REQUEST_BYTES); "
            "send large files through upload URLs or split the request"
        )

    async def _reject(self, send: Send) -> None:
        text = self.message()
        body = json.dumps({"error": text, "detail": text, "errors": [{"message": text}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope.get("method") == "PUT" and str(scope.get("path", "")).startswith(self.exempt_puts)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        started = False
        cut_off = False

        async def limited_receive() -> Message:
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut_off = True
                    if not started:
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut_off:
                return  # the 413 went out already; the app's own answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # The app failed because its body was cut off (a client disconnect to it);
            # the client has its 413. Any other failure is not ours to hide.
            if not cut_off:
                raise
