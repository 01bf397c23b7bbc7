"""Where the login page sends a visitor afterwards: back to the link they opened, and only
ever to a path on this server (an open redirect would let a link bounce users elsewhere)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

HOME = "/"


def safe_next(target: str | None) -> str:
    """`target` if it is a local path (with its query), else `/`.

    Refused: absolute URLs (`https://x`), scheme-relative ones (`//x`), and the forms browsers
    turn into those: backslashes (`/\\x` reads as `//x`), and tabs, newlines or other control
    characters, which browsers drop from URLs before reading them.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME
    return target


def login_url(path: str, query: str = "") -> str:
    """The login page with `next` set to `path?query`, so signing in returns there."""
    target = f"{path}?{query}" if query else path
    return f"/login?next={quote(safe_next(target), safe='/')}"
