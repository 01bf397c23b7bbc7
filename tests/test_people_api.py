"""`/api/v1/users`, `/teams`, `/keys`: who may manage people, and a clear error for bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runyard.server.auth import Principal, Role
from runyard.server.people.attribution import attributed_user_id
from runyard.server.unit_of_work import UnitOfWork
from support.server import LiveServer


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def _user(server: LiveServer, name: str, **extra: object) -> str:
    with server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": name, **extra})
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


@pytest.fixture
def people(server: LiveServer) -> Iterator[dict[str, object]]:
    """A fresh team with an admin and a member, and a user outside it."""
    names = {"team": _name("team"), "owner": _name("owner"), "member": _name("mem")}
    names["outsider"] = _name("out")
    keys = {role: _user(server, names[role]) for role in ("owner", "member", "outsider")}
    with server.api(keys["owner"]) as owner:
        assert owner.post("/api/v1/teams", json={"name": names["team"]}).status_code == 201
        added = owner.post(
            f"/api/v1/teams/{names['team']}/members", json={"username": names["member"]}
        )
        assert added.status_code == 201, added.text
    yield {"names": names, "keys": keys}


def _as(server: LiveServer, people: dict[str, object], who: str) -> httpx.Client:
    keys = people["keys"]
    assert isinstance(keys, dict)
    return server.api(keys[who])


def test_admin_creates_lists_and_disables_users(server: LiveServer) -> None:
    name = _name("ann")
    key = _user(server, name, email="ann@example.com")
    with server.api(key) as ann:
        viewer = ann.get("/api/v1/viewer").json()
        assert (viewer["username"], viewer["entity"], viewer["is_admin"]) == (name, name, False)
    with server.api() as admin:
        listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
        assert listed[name]["email"] == "ann@example.com"
        assert listed[name]["disabled"] is False
        assert admin.post(f"/api/v1/users/{name}/disable").json()["disabled"] is True
        listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
        assert listed[name]["disabled"] is True


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"username": "admin"}, 409, "'admin' is already taken by a user"),
        ({"username": "Bad Name"}, 400, "username: 'Bad Name' is not a valid name"),
        ({"username": "x" * 65}, 400, "1 to 64 lowercase letters"),
        ({"username": "ok-name", "email": "not-an-email"}, 400, "email: 'not-an-email'"),
    ],
)
def test_bad_users_are_refused_clearly(
    server: LiveServer, body: dict[str, str], status: int, message: str
) -> None:
    with server.api() as admin:
        response = admin.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_a_user_name_clashing_with_a_team_is_a_conflict(
    server: LiveServer, people: dict[str, object]
) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    with server.api() as admin:
        response = admin.post("/api/v1/users", json={"username": names["team"]})
        assert response.status_code == 409
        assert "already taken by a team" in response.json()["detail"]
        ghost = admin.post("/api/v1/teams", json={"name": _name("t"), "admin": "ghost-user"})
        assert ghost.status_code == 404
        assert ghost.json()["detail"].startswith("admin: no user named 'ghost-user'")
        again = admin.post("/api/v1/teams", json={"name": names["owner"]})
        assert again.status_code == 409
        assert "already taken by a user" in again.json()["detail"]


def test_only_instance_admins_manage_users(server: LiveServer, people: dict[str, object]) -> None:
    with _as(server, people, "owner") as owner:
        for method, path, body in (
            ("POST", "/api/v1/users", {"username": _name("x")}),
            ("GET", "/api/v1/users", None),
            ("POST", "/api/v1/users/admin/disable", None),
        ):
            response = owner.request(method, path, json=body)
            assert response.status_code == 403, (path, response.text)
            assert "needs an instance admin" in response.json()["detail"]


def test_unknown_users_and_self_disable_are_clear(server: LiveServer) -> None:
    with server.api() as admin:
        missing = admin.post("/api/v1/users/nobody-here/disable")
        assert missing.status_code == 404
        assert "no user named 'nobody-here'" in missing.json()["detail"]
        itself = admin.post("/api/v1/users/admin/disable")
        assert itself.status_code == 400
        assert "cannot disable yourself" in itself.json()["detail"]


def test_team_admin_manages_members_and_roles(
    server: LiveServer, people: dict[str, object]
) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    team, member, outsider = names["team"], names["member"], names["outsider"]
    with _as(server, people, "owner") as owner:
        added = owner.post(
            f"/api/v1/teams/{team}/members", json={"username": outsider, "role": "viewer"}
        )
        assert added.json() == {
            "username": outsider,
            "role": "viewer",
            "service_account": False,
            "disabled": False,
        }
        changed = owner.patch(f"/api/v1/teams/{team}/members/{outsider}", json={"role": "admin"})
        assert changed.json()["role"] == "admin"
        roles = {
            m["username"]: m["role"] for m in owner.get(f"/api/v1/teams/{team}/members").json()
        }
        assert roles == {names["owner"]: "admin", member: "member", outsider: "admin"}
        assert owner.delete(f"/api/v1/teams/{team}/members/{outsider}").status_code == 204
        assert team in [t["name"] for t in owner.get("/api/v1/teams").json()]
    # A member sees the members, cannot change them, and may leave.
    with _as(server, people, "member") as mem:
        assert mem.get(f"/api/v1/teams/{team}/members").status_code == 200
        refused = mem.post(f"/api/v1/teams/{team}/members", json={"username": outsider})
        assert refused.status_code == 403
        assert "you are a member of" in refused.json()["detail"]
        assert mem.delete(f"/api/v1/teams/{team}/members/{member}").status_code == 204
        # Having left, the team is invisible to them.
        gone = mem.get(f"/api/v1/teams/{team}/members")
        assert gone.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/members", {"username": "nobody-x"}, 404, "no user named 'nobody-x'"),
        ("POST", "/members", {"username": "{member}"}, 409, "is already a member of team"),
        ("POST", "/members", {"username": "{outsider}", "role": "owner"}, 400, "role: 'owner'"),
        ("PATCH", "/members/{owner}", {"role": "member"}, 409, "is the last admin of team"),
        ("DELETE", "/members/{owner}", None, 409, "is the last admin of team"),
        ("DELETE", "/members/{outsider}", None, 404, "is not a member of team"),
    ],
)
def test_bad_member_changes_are_refused_clearly(
    server: LiveServer,
    people: dict[str, object],
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    message: str,
) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    if body is not None:
        body = {k: v.format(**names) for k, v in body.items()}
    with _as(server, people, "owner") as owner:
        url = f"/api/v1/teams/{names['team']}" + path.format(**names)
        response = owner.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    with _as(server, people, "owner") as owner:
        roles = {
            m["username"]: m["role"]
            for m in owner.get(url.split("/members")[0] + "/members").json()
        }
    assert roles == {names["owner"]: "admin", names["member"]: "member"}  # nothing changed


def test_outsiders_learn_nothing_about_a_team(
    server: LiveServer, people: dict[str, object]
) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    with _as(server, people, "outsider") as out:
        for method, suffix in (("GET", "/members"), ("POST", "/service-accounts")):
            response = out.request(method, f"/api/v1/teams/{names['team']}{suffix}", json={})
            assert response.status_code == 404
            assert "does not exist or you are not a member" in response.json()["detail"]
        personal = out.get(f"/api/v1/teams/{names['outsider']}/members")
        assert personal.status_code == 400
        assert "personal entity, not a team" in personal.json()["detail"]


def test_team_creation_setting(tmp_path: Path, server: LiveServer) -> None:
    key = _user(server, _name("maker"))
    with server.api(key) as maker:
        assert maker.post("/api/v1/teams", json={"name": _name("own")}).status_code == 201
    locked = LiveServer(tmp_path, users_can_create_teams=False).start()
    try:
        with locked.api() as admin:
            bob_key = admin.post("/api/v1/users", json={"username": "bob"}).json()["api_key"]
            assert (
                admin.post("/api/v1/teams", json={"name": "t", "admin": "bob"}).status_code == 201
            )
            members = admin.get("/api/v1/teams/t/members").json()
            assert [(m["username"], m["role"]) for m in members] == [("bob", "admin")]
        with locked.api(bob_key) as bob:
            refused = bob.post("/api/v1/teams", json={"name": "t2"})
            assert refused.status_code == 403
            assert "RUNYARD_USERS_CAN_CREATE_TEAMS" in refused.json()["detail"]
    finally:
        locked.stop()


def test_service_accounts_and_keys(server: LiveServer, people: dict[str, object]) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    team = names["team"]
    with _as(server, people, "owner") as owner:
        created = owner.post(f"/api/v1/teams/{team}/service-accounts", json={"description": "ci"})
        assert created.status_code == 201, created.text
        bot = created.json()["user"]
        assert bot["service_account"] is True
        assert bot["default_entity"] == team
        bot_key = created.json()["api_key"]
        with server.api(bot_key) as as_bot:
            assert as_bot.get("/api/v1/viewer").json()["entity"] == team
            # A service account has no personal entity and cannot start teams.
            refused = as_bot.post("/api/v1/teams", json={"name": _name("botteam")})
            assert refused.status_code == 403
        # The team admin rotates the bot's keys.
        second = owner.post("/api/v1/keys", json={"username": bot["username"]})
        assert second.status_code == 201, second.text
        listed = owner.get("/api/v1/keys", params={"user": bot["username"]}).json()
        assert [k["description"] for k in listed] == ["ci", ""]
        assert owner.delete(f"/api/v1/keys/{listed[0]['id']}").status_code == 204
        with server.api(bot_key) as as_bot:
            assert as_bot.get("/api/v1/viewer").status_code == 401


def test_own_keys_create_list_revoke(server: LiveServer, people: dict[str, object]) -> None:
    names = people["names"]
    assert isinstance(names, dict)
    with _as(server, people, "member") as mem:
        created = mem.post("/api/v1/keys", json={"description": "laptop"})
        assert created.status_code == 201
        new_key = created.json()["api_key"]
        listed = mem.get("/api/v1/keys").json()
        assert [k["description"] for k in listed] == ["first key", "laptop"]
        assert listed[1]["hint"] == new_key[-4:]
        assert new_key not in str(listed)
        with server.api(new_key) as laptop:
            assert laptop.get("/api/v1/viewer").status_code == 200
            assert mem.delete(f"/api/v1/keys/{listed[1]['id']}").status_code == 204
            assert laptop.get("/api/v1/viewer").status_code == 401
        # Someone else's keys: neither listed, made, nor revoked.
        other = mem.get("/api/v1/keys", params={"user": names["owner"]})
        assert other.status_code == 403
        made = mem.post("/api/v1/keys", json={"username": names["owner"]})
        assert made.status_code == 403
    with _as(server, people, "owner") as owner:
        owner_key_id = owner.get("/api/v1/keys").json()[0]["id"]
    with _as(server, people, "member") as mem:
        revoke = mem.delete(f"/api/v1/keys/{owner_key_id}")
        assert revoke.status_code == 404
        assert f"no API key {owner_key_id}" in revoke.json()["detail"]
        for huge in (2**31, 10**30, -1):
            beyond = mem.delete(f"/api/v1/keys/{huge}")
            assert beyond.status_code == 404, beyond.text
            assert f"no API key {huge}" in beyond.json()["detail"]
        too_long = mem.post("/api/v1/keys", json={"description": "x" * 300})
        assert too_long.status_code == 400
        assert "description: 300 characters" in too_long.json()["detail"]
    with server.api() as admin:
        # The instance admin manages anyone's keys.
        assert admin.post("/api/v1/keys", json={"username": names["owner"]}).status_code == 201


def _principal(
    user_id: int, *, sa: bool = False, roles: dict[str, Role] | None = None
) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"u{user_id}",
        email="",
        is_admin=False,
        entity_id=user_id,
        entity_name=f"u{user_id}",
        roles=roles or {},
        is_service_account=sa,
    )


def test_attribution_rule() -> None:
    bot = _principal(1, sa=True, roles={"t": Role.MEMBER})
    bob = _principal(2, roles={"t": Role.VIEWER, "u2": Role.ADMIN})
    dave = _principal(3, roles={"u3": Role.ADMIN})
    assert attributed_user_id(bot, "t", bob) == 2  # any member of the run's entity
    assert attributed_user_id(bot, "t", dave) == 1  # not a member: the bot's own run
    assert attributed_user_id(bot, "t", None) == 1  # no such (enabled) user
    assert attributed_user_id(bob, "t", dave) == 2  # only service accounts delegate
    other_bot = _principal(4, sa=True, roles={"t": Role.MEMBER})
    assert attributed_user_id(bot, "t", other_bot) == 1  # never to another bot


def test_default_entity_moves_to_a_team_and_the_personal_entity_stays_yours(
    server: LiveServer, people: dict[str, object]
) -> None:
    from runyard.server.auth import principal_for_key
    from runyard.server.errors import ServiceError
    from runyard.server.people import users

    names, keys = people["names"], people["keys"]
    assert isinstance(names, dict) and isinstance(keys, dict)
    member = names["member"]
    with UnitOfWork(server.state, write=True) as uow:
        me = principal_for_key(uow.session, keys["member"])
        with pytest.raises(ServiceError, match="is not a member of an entity named"):
            users.set_default_entity(uow, me, member, names["owner"])
        moved = users.set_default_entity(uow, me, member, names["team"])
        assert moved.default_entity.name == names["team"]
    with server.api(keys["member"]) as api:
        assert api.get("/api/v1/viewer").json()["entity"] == names["team"]
    with server.state.sessions() as session:
        roles = principal_for_key(session, keys["member"]).roles
    assert roles == {member: Role.ADMIN, names["team"]: Role.MEMBER}


def test_losing_a_race_for_a_name_is_a_conflict(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests creating the same name at once: the second insert is refused as a 409."""
    from runyard.server.auth import principal_for_key
    from runyard.server.errors import ServiceError
    from runyard.server.people import teams, users

    name = _name("race")
    _user(server, name)
    # The loser passed the name check before the winner committed: skip the check here.
    monkeypatch.setattr(users, "ensure_name_free", lambda *_: None)
    monkeypatch.setattr(teams, "ensure_name_free", lambda *_: None)
    with UnitOfWork(server.state, write=True) as uow:
        admin = principal_for_key(uow.session, server.admin_key)
        with pytest.raises(ServiceError, match="taken by another request") as raced:
            users.create_user(uow, admin, name)
        assert raced.value.status == 409
        with pytest.raises(ServiceError, match="taken by another request"):
            teams.create_team(uow, admin, name)
        # The transaction is still usable after the refused inserts.
        assert users.get_user(uow.session, admin, name).username == name
