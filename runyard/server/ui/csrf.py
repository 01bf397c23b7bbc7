"""CSRF protection for the cookie-authenticated UI (forms such as cancel, priority, logout).

Two checks on every state-changing request (any method but GET, HEAD, OPTIONS, TRACE):

1. Browsers say where a request comes from (`Sec-Fetch-Site`). Anything but `same-origin` (or
   `none`, a URL the user typed) is refused on every path: no other site has business posting
   here, and this also stops a browser from replaying Basic credentials it cached for the API.
2. A request that carries the session cookie to a UI path must carry a token: an itsdangerous
   signature over a hash of that very cookie, put into every form as `csrf_token` (scripts send
   it as `X-CSRF-Token`). Another origin can neither read it from our pages nor forge it, and it
   is worthless with any other session.

API paths (GraphQL, `/api/v1`, file_stream, signed-URL storage) authenticate with Authorization
headers or URL signatures, never with the cookie, so they need no token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.server.ui.session import COOKIE

FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Paths whose handlers authenticate with Authorization headers or signed URLs, never the cookie.
API_PREFIXES = ("/graphql", "/api/", "/files/", "/storage/")
# UI forms are a few fields; a larger body is not a form of ours.
MAX_FORM_BYTES = 1_000_000
_SALT = "runyard.ui.csrf"
_ANONYMOUS = "anonymous"


class CsrfTokens:
    """Issues and checks the tokens that bind a form to the session cookie it was rendered for."""

    def __init__(self, key: bytes, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)
        self.max_age_s = max_age_s

    def issue(self, session_cookie: str | None) -> str:
        """A token for forms rendered to the holder of `session_cookie` (None: not signed in)."""
        return str(self._serializer.dumps(_binding(session_cookie)))

    def problem(self, token: str | None, session_cookie: str) -> str | None:
        """Why `token` does not authorise a request with `session_cookie`; None when it does."""
        if not token:
            return f"the request has no {FORM_FIELD} form field or X-CSRF-Token header"
        try:
            bound = self._serializer.loads(token, max_age=self.max_age_s)
        except BadSignature:
            return "the CSRF token is forged, altered or expired"
        if not isinstance(bound, str) or not hmac.compare_digest(bound, _binding(session_cookie)):
            return "the CSRF token belongs to another session"
        return None


def _binding(session_cookie: str | None) -> str:
    # A hash, so a page that leaks (a cache, a screenshot) never leaks the cookie itself.
    if not session_cookie:
        return _ANONYMOUS
    return hashlib.sha256(session_cookie.encode()).hexdigest()[:32]


def cross_site_problem(method: str, headers: Mapping[str, str]) -> str | None:
    """Why a browser's state-changing request from another origin is refused; None if allowed."""
    if method in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is None or site in ("same-origin", "none"):
        return None
    return f"the request came from another site (Sec-Fetch-Site: {site})"


def needs_token(method: str, path: str, session_cookie: str | None) -> bool:
    """Whether a request must carry a CSRF token: unsafe, to a UI path, with the session cookie."""
    if method in SAFE_METHODS or not session_cookie:
        return False
    return not path.startswith(API_PREFIXES)


def session_cookie_of(scope: Scope) -> str | None:
    """The UI session cookie of a request, parsed exactly as the handlers will parse it."""
    # The same parser as `request.cookies`: a differing one could miss a cookie the handler sees.
    return Request(scope).cookies.get(COOKIE) or None


def token_for(request: Request) -> str:
    """The CSRF token for forms on the page answering `request` (a Jinja global)."""
    tokens: CsrfTokens = request.app.state.csrf_tokens
    return tokens.issue(request.cookies.get(COOKIE))


def _refuse(reason: str, status: int = 403) -> PlainTextResponse:
    return PlainTextResponse(
        f"CSRF check failed: {reason}. Reload the Runyard page and submit the form again; "
        "scripts send the page's csrf_token as the X-CSRF-Token header.",
        status_code=status,
    )


class CsrfMiddleware:
    """ASGI middleware applying both checks; it buffers (at most MAX_FORM_BYTES of) UI forms."""

    def __init__(self, app: ASGIApp, tokens: CsrfTokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = Headers(scope=scope)
        reason = cross_site_problem(method, headers)
        if reason is not None:
            await _refuse(reason)(scope, receive, send)
            return
        cookie = session_cookie_of(scope)
        if not needs_token(method, scope["path"], cookie):
            await self.app(scope, receive, send)
            return
        assert cookie is not None
        token = headers.get(HEADER)
        replay: Receive = receive
        if token is None:
            buffered = await _read_body(receive)
            if buffered is None:
                await _refuse(f"the form is larger than {MAX_FORM_BYTES} bytes", 413)(
                    scope, receive, send
                )
                return
            token = await _form_token(scope, buffered)
            replay = _replayer(buffered, receive)
        reason = self.tokens.problem(token, cookie)
        if reason is not None:
            await _refuse(reason)(scope, replay, send)
            return
        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> list[Message] | None:
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away; let the app see that
        size += len(message.get("body", b""))
        if size > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            return messages


def _replayer(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _form_token(scope: Scope, messages: list[Message]) -> str | None:
    """The `csrf_token` field of a buffered urlencoded or multipart form (None if absent)."""
    content_type = Headers(scope=scope).get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, _replayer(messages, _no_more_body))
    try:
        form = await request.form()
    except Exception:  # a malformed form carries no usable token; the check refuses it
        return None
    try:
        value: Any = form.get(FORM_FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


async def _no_more_body() -> Message:
    return {"type": "http.disconnect"}
