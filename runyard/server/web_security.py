"""Web hardening around the app: trusted-proxy headers, CSRF checks, and security headers."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from runyard.server.settings import ServerSettings
from runyard.server.signing import UrlSigner
from runyard.server.ui.csrf import CsrfMiddleware, CsrfTokens

# Pages load only the bundle and stylesheets from this server; the run data travels in a
# `<script type="application/json">` block (data, never executed) and fetch() to the same origin.
# uPlot styles its elements through the CSSOM, which style-src does not restrict.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(content_type: str, path: str, exempt: frozenset[str]) -> dict[str, str]:
    """Headers a response gets: nosniff always; CSP and framing rules on HTML pages."""
    headers = {"x-content-type-options": "nosniff"}
    if content_type.startswith("text/html") and path not in exempt:
        headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        headers["x-frame-options"] = "DENY"
        headers["referrer-policy"] = "same-origin"
    return headers


class SecurityHeaders:
    """ASGI middleware adding `security_headers` to every HTTP response (without overriding)."""

    def __init__(self, app: ASGIApp, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                extra = security_headers(
                    headers.get("content-type", ""), scope["path"], self.exempt
                )
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_web_security(app: FastAPI, settings: ServerSettings, signer: UrlSigner) -> None:
    """Add the middleware; call after the app's other middleware so these wrap them."""
    tokens = CsrfTokens(signer.derived_key("ui-csrf"), signer.ttl_s)
    app.state.csrf_tokens = tokens
    app.add_middleware(CsrfMiddleware, tokens=tokens)
    # FastAPI's own API explorer pages load their script from a CDN and inline: left as they are.
    docs = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(SecurityHeaders, exempt={p for p in docs if p})
    # Outermost: the scheme (https behind a TLS-terminating proxy) is settled before anything
    # reads it, e.g. the login's Secure cookie. Untrusted peers' X-Forwarded-* are ignored.
    if settings.proxy_list():
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_list())
