"""Teams with the official client: members log, viewers are refused, service accounts attribute.

A team `t` with alice (admin), bob (member), carol (viewer) and a service account, on one
live server; every run goes through plain `wandb.init(entity="t")`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import WandbClient, unique_project
from support.server import LiveServer


@dataclass
class Team:
    """API keys of the team's people."""

    alice: str
    bob: str
    carol: str
    dave: str  # not in the team
    bot: str  # the team's service account
    bot_name: str


_TEAMS: dict[str, Team] = {}


@pytest.fixture
def team(server: LiveServer) -> Team:
    """Team `t`: alice admin, bob member, carol viewer, a service account; dave outside.

    Made once per live server (one per database backend).
    """
    if server.url not in _TEAMS:
        _TEAMS[server.url] = _make_team(server)
    return _TEAMS[server.url]


def _make_team(server: LiveServer) -> Team:
    """Create the team's people over REST."""
    with server.api() as admin:
        keys = {}
        for name in ("alice", "bob", "carol", "dave"):
            created = admin.post("/api/v1/users", json={"username": name})
            assert created.status_code == 201, created.text
            keys[name] = created.json()["api_key"]
    with server.api(keys["alice"]) as alice:
        assert alice.post("/api/v1/teams", json={"name": "t"}).status_code == 201
        for name, role in (("bob", "member"), ("carol", "viewer")):
            added = alice.post("/api/v1/teams/t/members", json={"username": name, "role": role})
            assert added.status_code == 201, added.text
        bot = alice.post("/api/v1/teams/t/service-accounts", json={"description": "ci"})
        assert bot.status_code == 201, bot.text
    return Team(
        alice=keys["alice"],
        bob=keys["bob"],
        carol=keys["carol"],
        dave=keys["dave"],
        bot=bot.json()["api_key"],
        bot_name=bot.json()["user"]["username"],
    )


@pytest.fixture
def client_as(tmp_path: Path, server: LiveServer) -> Iterator[object]:
    """Make an isolated official client with a given key (and optional WANDB_USERNAME)."""
    made: list[WandbClient] = []

    def make(key: str, username: str | None = None) -> WandbClient:
        client = WandbClient(tmp_path / f"c{len(made)}", server, api_key=key)
        if username is not None:
            client.env["WANDB_USERNAME"] = username
        made.append(client)
        return client

    yield make
    for client in made:
        client.kill_leftovers()


def _run_user(server: LiveServer, key: str, project: str, run_id: str) -> tuple[str, str]:
    """Who a run is attributed to, as REST and GraphQL (`Run.user`) tell it."""
    with server.api(key) as api:
        rest = api.get(f"/api/v1/runs/t/{project}/{run_id}")
        assert rest.status_code == 200, rest.text
        query = (
            "query($e: String, $p: String, $r: String!) "
            "{ project(name: $p, entityName: $e) { run(name: $r) { user { name username } } } }"
        )
        gql = api.post(
            "/graphql", json={"query": query, "variables": {"e": "t", "p": project, "r": run_id}}
        )
        assert gql.status_code == 200, gql.text
        user = gql.json()["data"]["project"]["run"]["user"]
        assert user["name"] == user["username"]
        return rest.json()["user"], user["username"]


def test_member_logs_viewer_is_refused_with_the_clients_permission_message(
    team: Team, client_as, server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    project = unique_project()
    bob = client_as(team.bob).run("team_run.py", "--entity", "t", "--project", project)
    assert bob.returncode == 0, bob.stdout + bob.stderr
    (done,) = bob.results
    assert done["entity"] == "t"
    # The run is in t: alice (admin) and carol (viewer) both see it, attributed to bob.
    assert _run_user(server, team.carol, project, str(done["id"])) == ("bob", "bob")
    with server.api(team.alice) as alice:
        listed = alice.get("/api/v1/runs", params={"project": f"t/{project}"}).json()
        assert [r["id"] for r in listed["runs"]] == [done["id"]]
        assert listed["runs"][0]["state"] == "finished"

    carol = client_as(team.carol).run("team_run.py", "--entity", "t", "--project", project)
    assert carol.returncode == 3, carol.stdout + carol.stderr
    (refused,) = carol.results
    # wandb.init raises the client's error carrying the server's reason, naming the role.
    assert "permission denied" in str(refused["message"])
    assert "viewer of 't'" in str(refused["message"])
    with server.api(team.alice) as alice:
        listed = alice.get("/api/v1/runs", params={"project": f"t/{project}"}).json()
        assert len(listed["runs"]) == 1  # the refused run left nothing behind


def test_outsider_cannot_log_into_the_team(team: Team, client_as) -> None:  # type: ignore[no-untyped-def]
    dave = client_as(team.dave).run("team_run.py", "--entity", "t", "--project", unique_project())
    assert dave.returncode == 3, dave.stdout + dave.stderr
    (refused,) = dave.results
    assert "does not exist or you are not a member" in str(refused["message"])


def test_service_account_runs_are_attributed_to_wandb_username(
    team: Team, client_as, server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    project = unique_project()
    as_bob = client_as(team.bot, username="bob").run(
        "team_run.py", "--entity", "t", "--project", project
    )
    assert as_bob.returncode == 0, as_bob.stdout + as_bob.stderr
    run_id = str(as_bob.results[0]["id"])
    assert _run_user(server, team.alice, project, run_id) == ("bob", "bob")
    # The public API shows it too: `wandb.Api().run(path).user`.
    read = client_as(team.carol).run("run_user.py", f"t/{project}/{run_id}")
    assert read.returncode == 0, read.stdout + read.stderr
    assert read.results == [{"username": "bob", "name": "bob"}]

    # dave is not in t: the run stays the service account's own.
    as_dave = client_as(team.bot, username="dave").run(
        "team_run.py", "--entity", "t", "--project", project
    )
    assert as_dave.returncode == 0, as_dave.stdout + as_dave.stderr
    run_id = str(as_dave.results[0]["id"])
    assert _run_user(server, team.alice, project, run_id) == (team.bot_name,) * 2


def test_a_disabled_users_key_stops_working_at_once(team: Team, server: LiveServer) -> None:
    with server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": "erin"})
        key = created.json()["api_key"]
        with server.api(key) as erin:
            assert erin.get("/api/v1/viewer").status_code == 200
            assert admin.post("/api/v1/users/erin/disable").json()["disabled"] is True
            refused = erin.get("/api/v1/viewer")
            assert refused.status_code == 401
            assert "user 'erin' is disabled" in refused.json()["detail"]
            # The W&B wire protocol refuses it too.
            gql = erin.post("/graphql", json={"query": "{ viewer { username } }"})
            assert gql.status_code == 401
            assert "disabled" in gql.text
            assert admin.post("/api/v1/users/erin/enable").json()["disabled"] is False
            assert erin.get("/api/v1/viewer").status_code == 200


def test_the_wandb_client_with_a_disabled_key_is_told_why(
    team: Team, client_as, server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    with server.api() as admin:
        key = admin.post("/api/v1/users", json={"username": "frank"}).json()["api_key"]
        admin.post("/api/v1/users/frank/disable").raise_for_status()
    result = client_as(key).run("team_run.py", "--entity", "frank", "--project", "p")
    assert result.returncode != 0
    assert "disabled" in result.stdout + result.stderr


def test_runs_keep_their_user_over_rest(team: Team, server: LiveServer) -> None:
    """A user's own run (upserted over GraphQL) says who started it."""
    mutation = (
        "mutation($p: String, $n: String) { upsertBucket(input: {modelName: $p, name: $n, "
        'entityName: "t"}) { bucket { id user { username } } } }'
    )
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {team.bob}"}) as bob:
        done = bob.post(
            "/graphql",
            json={"query": mutation, "variables": {"p": "direct", "n": "r1"}},
            headers={"X-Wandb-Username": "alice"},  # only service accounts delegate
        )
        assert done.status_code == 200, done.text
        assert done.json()["data"]["upsertBucket"]["bucket"]["user"]["username"] == "bob"
        assert bob.get("/api/v1/runs/t/direct/r1").json()["user"] == "bob"
