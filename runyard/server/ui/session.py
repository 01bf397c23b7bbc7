"""The UI's cookie session: the API key is exchanged once for a signed, expiring user token.

The cookie never holds the key itself; it holds `user id.expiry.signature`, signed with the
server's URL-signing secret (kept in the database, so replicas agree).
"""

from __future__ import annotations

from fastapi import HTTPException, Request, Response

from runyard.server.auth import Principal
from runyard.server.sign_in import principal_for_api_key, principal_for_user_id
from runyard.server.signing import SignatureError, UrlSigner
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork

COOKIE = "runyard_session"
_ACTION = "UI-SESSION"


def session_token(signer: UrlSigner, user_id: int) -> str:
    """A cookie value naming `user_id`, valid for the signer's TTL."""
    query = dict(part.split("=", 1) for part in signer.sign(_ACTION, f"user:{user_id}").split("&"))
    return f"{user_id}.{query['expires']}.{query['sig']}"


def user_id_from_token(signer: UrlSigner, token: str | None) -> int | None:
    """The user a cookie value names, or None when it is missing, altered or expired."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    try:
        signer.verify(_ACTION, f"user:{parts[0]}", parts[1], parts[2])
    except SignatureError:
        return None
    return int(parts[0])


def login_principal(state: ServerState, api_key: str) -> Principal:
    """The owner of an API key pasted into the login form; AuthError if none."""
    return principal_for_api_key(UnitOfWork(state), api_key)


def set_session_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, and Secure when served over https.

    The scheme is https for TLS to this server and behind a proxy listed in
    RUNYARD_TRUSTED_PROXIES that sends `X-Forwarded-Proto: https`.
    """
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Expire the session cookie (with the attributes it was set with, so browsers match it)."""
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


class LoginRequired(Exception):
    """Raised by page handlers when no valid session cookie came with the request."""


def ui_principal(request: Request) -> Principal:
    """The signed-in user of a UI request; LoginRequired (pages) sends them to /login."""
    state = request.app.state.runyard
    user_id = user_id_from_token(state.signer, request.cookies.get(COOKIE))
    if user_id is not None:
        principal = principal_for_user_id(UnitOfWork(state), user_id)
        if principal is not None:
            return principal
    if request.url.path.startswith("/ui/api/"):
        raise HTTPException(401, "not signed in: open /login and sign in with your API key")
    raise LoginRequired()
