"""`runyard user|team|key ...` against a live server, as an admin and a team admin type them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from runyard import people_cli, queue_cli
from runyard.cli import main
from support.server import LiveServer

Invoke = Callable[..., Result]


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def _cells(output: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def _key(output: str) -> str:
    match = re.search(r"^export WANDB_API_KEY=(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture
def runyard(sqlite_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Invoke the CLI pointed at the server; `key=` picks whose API key is exported."""
    monkeypatch.setenv("RUNYARD_URL", sqlite_server.url)
    # A wide terminal: the module's console may have fixed its size at import (xdist workers).
    monkeypatch.setenv("COLUMNS", "200")
    for module in (queue_cli, people_cli):
        monkeypatch.setattr(module, "console", Console(width=200))
    runner = CliRunner()

    def invoke(*args: str, key: str | None = None) -> Result:
        env = {"RUNYARD_API_KEY": key or sqlite_server.admin_key}
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_user_create_prints_a_working_key(runyard: Invoke, sqlite_server: LiveServer) -> None:
    name = _name("ann")
    created = runyard("user", "create", name, "--email", "ann@example.com")
    assert created.exit_code == 0, created.output
    key = _key(created.output)
    with sqlite_server.api(key) as ann:
        assert ann.get("/api/v1/viewer").json()["username"] == name
    listed = runyard("user", "list")
    assert name in listed.output
    assert "ann@example.com" in listed.output

    disabled = runyard("user", "disable", name)
    assert disabled.exit_code == 0, disabled.output
    with sqlite_server.api(key) as ann:
        assert ann.get("/api/v1/viewer").status_code == 401
    assert any(
        name in line and "disabled" in line for line in runyard("user", "list").output.splitlines()
    )
    assert runyard("user", "enable", name).exit_code == 0
    with sqlite_server.api(key) as ann:
        assert ann.get("/api/v1/viewer").status_code == 200


def test_admin_flag_and_errors(runyard: Invoke) -> None:
    name = _name("root")
    created = runyard("user", "create", name, "--admin")
    assert created.exit_code == 0, created.output
    assert "instance admin" in created.output
    assert "admin" in runyard("user", "list", key=_key(created.output)).output

    duplicate = runyard("user", "create", name)
    assert duplicate.exit_code == 1
    assert f"'{name}' is already taken by a user" in duplicate.output
    bad = runyard("user", "create", "Not Valid")
    assert bad.exit_code == 1
    assert "is not a valid name" in bad.output
    unknown = runyard("user", "disable", "no-such-user")
    assert unknown.exit_code == 1
    assert "no user named 'no-such-user'" in unknown.output


def test_team_lifecycle(runyard: Invoke, sqlite_server: LiveServer) -> None:
    owner, member, team = _name("own"), _name("mem"), _name("team")
    owner_key = _key(runyard("user", "create", owner).output)
    runyard("user", "create", member)

    created = runyard("team", "create", team, "--admin", owner)
    assert created.exit_code == 0, created.output
    # From here on the team admin works with their own key.
    added = runyard("team", "add-member", team, member, "--role", "viewer", key=owner_key)
    assert added.exit_code == 0, added.output
    members = runyard("team", "members", team, key=owner_key)
    assert members.exit_code == 0, members.output
    assert sorted((row[0], row[1]) for row in _cells(members.output)) == sorted(
        [(owner, "admin"), (member, "viewer")]
    )

    promoted = runyard("team", "set-role", team, member, "--role", "admin", key=owner_key)
    assert promoted.exit_code == 0, promoted.output
    assert team in runyard("team", "list", key=owner_key).output

    bot = runyard("team", "create-service-account", team, "--description", "ci", key=owner_key)
    assert bot.exit_code == 0, bot.output
    with sqlite_server.api(_key(bot.output)) as as_bot:
        assert as_bot.get("/api/v1/viewer").json()["entity"] == team

    removed = runyard("team", "remove-member", team, member, key=owner_key)
    assert removed.exit_code == 0, removed.output
    assert member not in runyard("team", "members", team, key=owner_key).output


def test_team_errors_are_clear(runyard: Invoke) -> None:
    owner, team = _name("own"), _name("team")
    owner_key = _key(runyard("user", "create", owner).output)
    assert runyard("team", "create", team, key=owner_key).exit_code == 0
    bad_role = runyard("team", "add-member", team, owner, "--role", "owner", key=owner_key)
    assert bad_role.exit_code == 2
    assert "'owner' is not one of 'admin', 'member', 'viewer'" in bad_role.output
    unknown = runyard("team", "add-member", team, "ghost-user", key=owner_key)
    assert unknown.exit_code == 1
    assert "no user named 'ghost-user'" in unknown.output
    last = runyard("team", "remove-member", team, owner, key=owner_key)
    assert last.exit_code == 1
    assert "is the last admin of team" in last.output
    taken = runyard("team", "create", team)
    assert taken.exit_code == 1
    assert "already taken" in taken.output


def test_keys_create_list_revoke(runyard: Invoke, sqlite_server: LiveServer) -> None:
    name = _name("kay")
    first = _key(runyard("user", "create", name).output)
    made = runyard("key", "create", "--description", "laptop", key=first)
    assert made.exit_code == 0, made.output
    laptop = _key(made.output)
    listed = runyard("key", "list", key=first)
    assert "laptop" in listed.output
    assert laptop[-4:] in listed.output
    assert laptop not in listed.output
    (laptop_id,) = [row[0] for row in _cells(listed.output) if row[3] == "laptop"]
    revoked = runyard("key", "revoke", laptop_id, key=first)
    assert revoked.exit_code == 0, revoked.output
    with sqlite_server.api(laptop) as client:
        assert client.get("/api/v1/viewer").status_code == 401
    again = runyard("key", "revoke", laptop_id, key=first)
    assert again.exit_code == 1
    assert f"no API key {laptop_id}" in again.output

    # The admin makes keys for others, and `server create-key --user` works once the user exists.
    for_user = runyard("key", "create", "--user", name)
    assert for_user.exit_code == 0, for_user.output
    owned = _cells(runyard("key", "list", "--user", name).output)
    assert [(row[1], row[3]) for row in owned] == [(name, "first key"), (name, "")]
    offline = CliRunner().invoke(
        main,
        [
            "server",
            "--data-dir",
            str(sqlite_server.settings.data_dir),
            "create-key",
            "--user",
            name,
        ],
        catch_exceptions=False,
    )
    assert offline.exit_code == 0, offline.output
    with sqlite_server.api(_key(offline.output)) as client:
        assert client.get("/api/v1/viewer").json()["username"] == name
