"""The people pages: your API keys (created, shown once, revoked) and a team's members.

Driven with plain HTTP like a browser without scripts: sign in with an API key for a session
cookie, submit the pages' forms with the CSRF token they carry, read the re-rendered pages.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from support.server import LiveServer


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def _user(server: LiveServer, name: str) -> str:
    with server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": name})
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


class Browser:
    """A signed-in cookie session that submits forms the way the pages render them."""

    def __init__(self, server: LiveServer, key: str) -> None:
        self.http = httpx.Client(base_url=server.url, follow_redirects=False)
        login = self.http.post("/login", data={"api_key": key, "next": "/"})
        assert login.status_code == 303, login.text
        self.form: dict[str, str] = {}

    def get(self, path: str) -> httpx.Response:
        """Open a page, keeping the CSRF token its forms carry."""
        page = self.http.get(path)
        if page.status_code == 200:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None, "every page with forms carries the CSRF token"
            self.form = {"csrf_token": token.group(1)}
        return page

    def submit(self, path: str, **fields: str) -> httpx.Response:
        """Post a form as the page would."""
        return self.http.post(path, data={**self.form, **fields})


@pytest.fixture
def browser_for(sqlite_server: LiveServer) -> Iterator[object]:
    """Sign in as the owner of an API key."""
    opened: list[Browser] = []

    def make(key: str) -> Browser:
        opened.append(Browser(sqlite_server, key))
        return opened[-1]

    yield make
    for browser in opened:
        browser.http.close()


def test_keys_page_creates_a_key_shown_once_and_revokes_it(
    sqlite_server: LiveServer, browser_for
) -> None:  # type: ignore[no-untyped-def]
    name = _name("kim")
    me = browser_for(_user(sqlite_server, name))
    page = me.get("/settings/keys")
    assert page.status_code == 200
    assert "first key" in page.text
    assert 'action="/settings/keys"' in page.text

    created = me.submit("/settings/keys", description="laptop <script>alert(1)</script>")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    match = re.search(r'<code id="new-key">([^<]+)</code>', created.text)
    assert match is not None
    new_key = match.group(1)
    # Descriptions are text, never markup.
    assert "<script>alert(1)</script>" not in created.text
    assert html.escape("<script>alert(1)</script>") in created.text
    with sqlite_server.api(new_key) as laptop:
        assert laptop.get("/api/v1/viewer").json()["username"] == name

    again = me.get("/settings/keys")
    assert new_key not in again.text  # shown only once
    assert new_key[-4:] in again.text
    (key_id,) = re.findall(
        r'<tr data-key="(\d+)"><td>\d+</td><td><code>…' + new_key[-4:], again.text
    )
    revoked = me.submit(f"/settings/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/settings/keys"
    with sqlite_server.api(new_key) as laptop:
        assert laptop.get("/api/v1/viewer").status_code == 401

    # Someone else's key (the admin's first) cannot be revoked from here.
    refused = me.submit("/settings/keys/1/revoke")
    assert refused.status_code == 404
    assert "no API key 1 among the keys you manage" in refused.text
    with sqlite_server.api() as admin:
        assert admin.get("/api/v1/viewer").status_code == 200


def test_team_admin_manages_members_on_the_team_page(
    sqlite_server: LiveServer, browser_for
) -> None:  # type: ignore[no-untyped-def]
    owner, mate, team = _name("own"), _name("mate"), _name("team")
    owner_key, mate_key = _user(sqlite_server, owner), _user(sqlite_server, mate)
    admin_view = browser_for(owner_key)
    admin_view.get("/teams")
    created = admin_view.submit("/teams", name=team)
    assert created.status_code == 303
    assert created.headers["location"] == f"/teams/{team}"
    assert team in admin_view.get("/teams").text

    page = admin_view.get(f"/teams/{team}")
    assert f'action="/teams/{team}/members"' in page.text
    added = admin_view.submit(f"/teams/{team}/members", username=mate, role="member")
    assert added.status_code == 303
    assert f'data-member="{mate}"' in admin_view.get(f"/teams/{team}").text
    assert admin_view.submit(f"/teams/{team}/members/{mate}/role", role="viewer").status_code == 303
    with sqlite_server.api(owner_key) as api:
        roles = {m["username"]: m["role"] for m in api.get(f"/api/v1/teams/{team}/members").json()}
    assert roles == {owner: "admin", mate: "viewer"}

    # Refusals are shown on the page, with the members still listed.
    unknown = admin_view.submit(f"/teams/{team}/members", username="ghost-user", role="member")
    assert unknown.status_code == 404
    assert "no user named &#39;ghost-user&#39;" in unknown.text
    assert f'data-member="{mate}"' in unknown.text
    bad_role = admin_view.submit(f"/teams/{team}/members/{mate}/role", role="owner")
    assert bad_role.status_code == 400
    assert "use one of admin, member, viewer" in bad_role.text
    last = admin_view.submit(f"/teams/{team}/members/{owner}/remove")
    assert last.status_code == 409
    assert "is the last admin of team" in last.text

    # A viewer sees the members but no forms, and cannot post them either.
    viewer = browser_for(mate_key)
    seen = viewer.get(f"/teams/{team}")
    assert seen.status_code == 200
    assert f'data-member="{owner}"' in seen.text
    assert f'action="/teams/{team}/members"' not in seen.text
    refused = viewer.submit(f"/teams/{team}/members", username=mate, role="admin")
    assert refused.status_code == 403
    assert "you are a viewer of" in refused.text

    bot = admin_view.submit(f"/teams/{team}/service-accounts", description="ci")
    assert bot.status_code == 200
    bot_key = re.search(r'<code id="new-key">([^<]+)</code>', bot.text)
    assert bot_key is not None
    with sqlite_server.api(bot_key.group(1)) as as_bot:
        assert as_bot.get("/api/v1/viewer").json()["entity"] == team

    removed = admin_view.submit(f"/teams/{team}/members/{mate}/remove")
    assert removed.status_code == 303
    assert f'data-member="{mate}"' not in admin_view.get(f"/teams/{team}").text
    # Now outside the team, the former member learns nothing about it.
    hidden = viewer.get(f"/teams/{team}")
    assert hidden.status_code == 404
    assert f'data-member="{owner}"' not in hidden.text


def test_people_pages_need_a_session(sqlite_server: LiveServer) -> None:
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as anonymous:
        for path in ("/settings/keys", "/teams", "/teams/anything"):
            response = anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/login?next={path}"
        for path in ("/settings/keys", "/settings/keys/1/revoke", "/teams", "/teams/t/members"):
            posted = anonymous.post(path, data={"description": "x", "name": "x", "username": "x"})
            assert posted.status_code == 303, (path, posted.text)
            assert posted.headers["location"].startswith("/login")


def test_people_forms_without_the_csrf_token_are_refused(
    sqlite_server: LiveServer, browser_for
) -> None:  # type: ignore[no-untyped-def]
    me = browser_for(_user(sqlite_server, _name("nia")))
    me.get("/settings/keys")
    forged = me.http.post("/settings/keys", data={"description": "forged"})
    assert forged.status_code == 403
    cross_site = me.http.post(
        "/teams", data={**me.form, "name": _name("evil")}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    keys = me.get("/settings/keys").text
    assert "forged" not in keys
