"""People and teams through the official client's public API: users, teams, members, keys.

The client scripts (tests/scripts/people.py) use `wandb.Api` as a team admin would; the raw
GraphQL posts cover what the client has no public call for (`updateUser`) and the answers a
caller without access gets.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from conftest import WandbClient, unique_project
from runyard.server.graphql.people import matching_users, username_from_email
from runyard.server.graphql.schema import build_schema
from support.server import LiveServer

# What wandb 0.22.3 sends for users and teams (from its source, wandb/apis/public/*.py).
DOCUMENTS_0_22 = Path(__file__).parent / "fixtures" / "wandb_people_documents.json"


def graphql(server: LiveServer, key: str, query: str, **variables: Any) -> dict[str, Any]:
    """POST one operation with `key` the way the client does (Basic api:<key>)."""
    with server.api(key) as http:
        response = http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create_user(server: LiveServer, email: str) -> tuple[str, str]:
    """Create a user as the admin; return its username and first key."""
    body = graphql(
        server,
        server.admin_key,
        "mutation($e: String!) { createUser(input: {email: $e}) { user { username } apiKey } }",
        e=email,
    )
    assert "errors" not in body, body
    made = body["data"]["createUser"]
    return made["user"]["username"], made["apiKey"]


def create_team(server: LiveServer, name: str, *members: str) -> None:
    """Create a team as the admin and add `members` to it."""
    create = "mutation($t: String!) { createTeam(input: {teamName: $t}) { entity { name } } }"
    body = graphql(server, server.admin_key, create, t=name)
    assert "errors" not in body, body
    for username in members:
        body = graphql(
            server,
            server.admin_key,
            "mutation($t: String!, $u: String) { createInvite(input: {entityName: $t, "
            "username: $u}) { invite { name } } }",
            t=name,
            u=username,
        )
        assert "errors" not in body, body


def by_phase(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """RESULT lines keyed by their phase."""
    return {str(r["phase"]): r for r in results}


def test_admin_onboards_a_user_into_a_team(server: LiveServer, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    team = f"t-{tag}"
    client = WandbClient(tmp_path / "admin", server)
    try:
        result = client.run("people.py", "admin-flow", f"Bob.{tag}@example.com", team)
    finally:
        client.kill_leftovers()
    assert result.returncode == 0, result.stderr
    seen = by_phase(result.results)
    bob = f"bob-{tag}"
    client_version = tuple(int(p) for p in str(seen["client"]["version"]).split(".")[:2])

    assert seen["create_user"] == {
        "phase": "create_user",
        "username": bob,
        "email": f"Bob.{tag}@example.com",
        "admin": False,
    }
    assert seen["create_team"]["name"] == team
    assert seen["create_team"]["is_team"] is True
    assert seen["create_team"]["members"] == [
        {"username": "admin", "admin": True, "account_type": "USER"}
    ]
    assert seen["invite"]["ok"] is True
    service = seen["service_account"]["username"]
    assert service.startswith(f"{team}-sa-")
    assert seen["team"]["members"] == [
        {"username": "admin", "admin": True, "account_type": "USER"},
        {"username": bob, "admin": False, "account_type": "USER"},
        {"username": service, "admin": False, "account_type": "SERVICE"},
    ]

    viewer = seen["viewer"]
    assert viewer["username"] == "admin"
    assert viewer["admin"] is True
    if client_version >= (0, 26):  # older clients' viewer query does not ask for deletedAt
        assert viewer["deleted_at"] is None  # answered, and null while the user is active
    assert viewer["entity"] == "admin"
    assert {"admin", team} <= set(viewer["teams"])
    assert viewer["api_keys"], "the admin's bootstrap key is listed by its last characters"
    assert all(len(name) == 4 for name in viewer["api_keys"])

    assert seen["user"]["username"] == bob
    assert seen["user"]["deleted_at"] is None
    assert seen["user"]["teams"] == [bob, team]
    assert len(seen["user"]["api_keys"]) == 1  # the first key createUser made
    assert bob in seen["users"]["usernames"]

    # generate_api_key returns the new key itself; it works until delete_api_key revokes it.
    if client_version >= (0, 26):  # older clients cannot (see scripts/people.py)
        assert seen["generated"]["key_ok"] is True
        assert seen["fresh_key"]["username"] == "admin"
        assert seen["deleted_key"]["ok"] is True
        assert seen["keys_after"]["api_keys"] == viewer["api_keys"]

    assert seen["member_delete"]["ok"] is True
    assert [m["username"] for m in seen["team_after"]["members"]] == ["admin", service]


def test_service_account_key_logs_into_its_team(server: LiveServer, tmp_path: Path) -> None:
    team = f"t-{uuid.uuid4().hex[:6]}"
    create_team(server, team)
    body = graphql(
        server,
        server.admin_key,
        "mutation($t: String!) { createServiceAccount(input: {entityName: $t, "
        'description: "ci"}) { user { username entity accountType } apiKey } }',
        t=team,
    )
    assert "errors" not in body, body
    made = body["data"]["createServiceAccount"]
    assert made["user"]["entity"] == team
    assert made["user"]["accountType"] == "SERVICE"

    project = unique_project()
    robot = WandbClient(tmp_path / "ci", server, api_key=made["apiKey"])
    try:
        run = robot.run("train.py", "--project", project, "--steps", "2")
    finally:
        robot.kill_leftovers()
    assert run.returncode == 0, run.stderr
    assert run.results[0]["entity"] == team  # a service account's runs go to its team
    found = graphql(
        server,
        server.admin_key,
        "query($p: String!, $e: String!, $r: String!) { project(name: $p, entityName: $e) "
        "{ run(name: $r) { state } } }",
        p=project,
        e=team,
        r=run.results[0]["id"],
    )
    assert found["data"]["project"]["run"]["state"] == "finished"


def test_admin_makes_keys_for_a_teams_service_account(sqlite_server: LiveServer) -> None:
    team = f"t-{uuid.uuid4().hex[:6]}"
    create_team(sqlite_server, team)
    made = graphql(
        sqlite_server,
        sqlite_server.admin_key,
        "mutation($t: String!) { createServiceAccount(input: {entityName: $t, "
        'description: "ci"}) { user { username } } }',
        t=team,
    )["data"]["createServiceAccount"]["user"]["username"]
    body = graphql(
        sqlite_server,
        sqlite_server.admin_key,
        'mutation($u: String) { generateApiKey(input: {userName: $u, description: "ci 2"}) '
        "{ apiKey { id name description } } }",
        u=made,
    )
    key = body["data"]["generateApiKey"]["apiKey"]
    assert key["description"] == "ci 2"
    viewer = graphql(sqlite_server, key["name"], "{ viewer { username entity } }")
    assert viewer["data"]["viewer"] == {"username": made, "entity": team}


def test_non_admin_cannot_create_users(sqlite_server: LiveServer, tmp_path: Path) -> None:
    alice, key = create_user(sqlite_server, f"alice.{uuid.uuid4().hex[:6]}@example.com")
    client = WandbClient(tmp_path / "alice", sqlite_server, api_key=key)
    try:
        result = client.run("people.py", "create-user", "mallory@example.com")
    finally:
        client.kill_leftovers()
    assert result.returncode == 1, result.stdout + result.stderr
    error = by_phase(result.results)["create_user_refused"]["error"]
    assert "creating users needs an instance admin" in error
    assert alice in error


def test_entity_gives_a_non_member_no_existence_signal(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    team = f"secret-{tag}"
    create_team(sqlite_server, team)
    _, key = create_user(sqlite_server, f"eve.{tag}@example.com")
    query = "query($n: String) { entity(name: $n) { id name isTeam members { username } } }"
    existing = graphql(sqlite_server, key, query, n=team)
    missing = graphql(sqlite_server, key, query, n=f"nothing-{tag}")
    assert existing == missing == {"data": {"entity": None}}
    # The admin (a member of every entity) sees it.
    admin = graphql(sqlite_server, sqlite_server.admin_key, query, n=team)
    assert admin["data"]["entity"]["name"] == team

    # The client's `api.team` fails alike for a hidden team and for no team at all.
    client = WandbClient(tmp_path / "eve", sqlite_server, api_key=key)
    try:
        hidden = client.run("people.py", "team", team)
        absent = client.run("people.py", "team", f"nothing-{tag}")
    finally:
        client.kill_leftovers()
    assert hidden.returncode == absent.returncode == 1
    assert by_phase(hidden.results)["team_refused"] == by_phase(absent.results)["team_refused"]


def test_member_sees_their_team_and_sets_it_as_default_entity(
    sqlite_server: LiveServer,
) -> None:
    tag = uuid.uuid4().hex[:6]
    team, other = f"t-{tag}", f"o-{tag}"
    carol, key = create_user(sqlite_server, f"carol.{tag}@example.com")
    create_team(sqlite_server, team, carol)
    create_team(sqlite_server, other)

    seen = graphql(
        sqlite_server,
        key,
        "query($n: String) { entity(name: $n) { name readOnly readOnlyAdmin entityType "
        "organization { name } members { username role admin } } }",
        n=team,
    )["data"]["entity"]
    assert seen["readOnly"] is False and seen["readOnlyAdmin"] is True
    assert seen["entityType"] == "team"
    assert seen["organization"] == {"name": "runyard"}
    assert {"username": carol, "role": "member", "admin": False} in seen["members"]

    update = "mutation($e: String) { updateUser(input: {defaultEntity: $e}) { user { entity } } }"
    moved = graphql(sqlite_server, key, update, e=team)
    assert moved["data"]["updateUser"]["user"]["entity"] == team
    viewer = graphql(sqlite_server, key, "{ viewer { entity teams { edges { node { name } } } } }")
    assert viewer["data"]["viewer"]["entity"] == team
    names = [e["node"]["name"] for e in viewer["data"]["viewer"]["teams"]["edges"]]
    assert names == [carol, team]  # the personal entity stays hers

    refused = graphql(sqlite_server, key, update, e=other)
    assert refused["data"]["updateUser"] is None
    message = refused["errors"][0]["message"]
    assert "defaultEntity" in message and other in message


def test_organization_is_the_servers_one_implicit_org(sqlite_server: LiveServer) -> None:
    _, key = create_user(sqlite_server, f"dan.{uuid.uuid4().hex[:6]}@example.com")
    query = (
        "query($o: String!) { organization(name: $o) { id name orgEntity { name entityType } } }"
    )
    body = graphql(sqlite_server, key, query, o="runyard")
    org = body["data"]["organization"]
    assert org["name"] == "runyard"
    assert org["orgEntity"] == {"name": "runyard", "entityType": "organization"}
    assert graphql(sqlite_server, key, query, o="other")["data"]["organization"] is None
    me = graphql(sqlite_server, key, "{ viewer { organizations { name } } }")
    assert me["data"]["viewer"]["organizations"] == [{"name": "runyard"}]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('mutation { createUser(input: {email: "no-at-sign"}) { user { id } } }', "email"),
        ('mutation { createInvite(input: {entityName: "admin"}) { invite { id } } }', "username"),
        ('mutation { deleteInvite(input: {id: "bm9wZQ==", entityName: "x"}) { success } }', "id"),
        ('mutation { deleteApiKey(input: {id: "not-an-id"}) { success } }', "id"),
        ('mutation { createTeam(input: {teamName: "Bad Name!"}) { entity { id } } }', "name"),
        ('{ user(id: "VXNlcjo5OTk5OTk=") { id } }', "user"),
        ("{ models(first: 0) { edges { cursor } } }", "first"),
        ('{ models(after: "nope") { edges { cursor } } }', "after"),
    ],
)
def test_bad_people_input_gets_a_clear_error(
    sqlite_server: LiveServer, document: str, field: str
) -> None:
    body = graphql(sqlite_server, sqlite_server.admin_key, document)
    assert body["errors"], body
    error = body["errors"][0]
    assert field in error["message"]
    assert error["extensions"]["status"] in (400, 404)


def test_every_people_document_validates() -> None:
    import wandb.apis._generated.operations as ops
    import wandb.sdk.artifacts._generated.operations as artifact_ops

    schema = build_schema()
    documents = [
        (name, str(getattr(ops, name)))
        for name in (
            "CREATE_USER_FROM_ADMIN_GQL",
            "CREATE_TEAM_GQL",
            "CREATE_INVITE_GQL",
            "DELETE_INVITE_GQL",
            "CREATE_SERVICE_ACCOUNT_GQL",
            "GET_TEAM_ENTITY_GQL",
            "GET_VIEWER_GQL",
            "SEARCH_USERS_GQL",
            "GENERATE_API_KEY_GQL",
            "DELETE_API_KEY_GQL",
        )
    ]
    documents += [
        (name, str(getattr(artifact_ops, name)))
        for name in ("FETCH_ORGANIZATION_GQL", "FETCH_ORG_INFO_FROM_ENTITY_GQL")
    ]
    documents += [(e["op"], e["query"]) for e in json.loads(DOCUMENTS_0_22.read_text())]
    failures = [
        f"{name}: {[e.message for e in errors]}"
        for name, text in documents
        if (errors := validate(schema, parse(text)))
    ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("email", "attempt", "username"),
    [
        ("bob@example.com", 0, "bob"),
        ("Bob.Smith+ml@example.com", 0, "bob-smith-ml"),
        ("bob@example.com", 2, "bob-2"),
        ("...@example.com", 0, "user"),
        (("x" * 100) + "@example.com", 0, "x" * 60),
    ],
)
def test_username_from_email(email: str, attempt: int, username: str) -> None:
    assert username_from_email(email, attempt) == username


def test_matching_users_puts_exact_matches_first() -> None:
    from runyard.server.db.models import User

    users = [
        User(id=1, username="bobby", email="bobby@x.org"),
        User(id=2, username="bob", email="b@x.org"),
        User(id=3, username="alice", email="alice@x.org"),
    ]
    assert [u.username for u in matching_users(users, "BOB")] == ["bob", "bobby"]
    assert [u.username for u in matching_users(users, "alice@x.org")] == ["alice"]
    assert [u.username for u in matching_users(users, None)] == ["bobby", "bob", "alice"]


def test_people_operations_refuse_callers_without_the_role(sqlite_server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:6]
    team = f"t-{tag}"
    frank, frank_key = create_user(sqlite_server, f"frank.{tag}@example.com")
    grace, grace_key = create_user(sqlite_server, f"grace.{tag}@example.com")
    create_team(sqlite_server, team, frank)
    grace_keys = graphql(
        sqlite_server, grace_key, "{ viewer { apiKeys { edges { node { id } } } } }"
    )
    grace_key_id = grace_keys["data"]["viewer"]["apiKeys"]["edges"][0]["node"]["id"]

    def refused(key: str, document: str) -> str:
        body = graphql(sqlite_server, key, document)
        assert body.get("errors"), body
        return str(body["errors"][0]["message"])

    # A plain member of the team: reads it, but manages neither it nor other people.
    assert "listing users needs an instance admin" in refused(
        frank_key, "{ users { edges { node { id } } } }"
    )
    assert "does not exist or you may not see it" in refused(
        frank_key, f'{{ user(userName: "{grace}") {{ id }} }}'
    )
    member_manage = refused(
        frank_key,
        f'mutation {{ createInvite(input: {{entityName: "{team}", username: "{grace}"}}) '
        "{ invite { id } } }",
    )
    assert "you are a member" in member_manage and "admin" in member_manage
    assert "you are a member" in refused(
        frank_key,
        f'mutation {{ createServiceAccount(input: {{entityName: "{team}", description: "x"}}) '
        "{ user { id } } }",
    )
    # Someone else's key neither shows nor can be revoked; another user's key cannot be made.
    assert "no API key" in refused(
        frank_key, f'mutation {{ deleteApiKey(input: {{id: "{grace_key_id}"}}) {{ success }} }}'
    )
    assert "permission denied" in refused(
        frank_key,
        f'mutation {{ generateApiKey(input: {{userName: "{grace}"}}) {{ apiKey {{ id }} }} }}',
    )
    # An outsider gets the same answer for the team as for no team at all.
    outsider = refused(
        grace_key,
        f'mutation {{ createInvite(input: {{entityName: "{team}", username: "{grace}"}}) '
        "{ invite { id } } }",
    )
    assert "does not exist or you are not a member" in outsider
    # Looking up yourself works for everyone.
    me = graphql(sqlite_server, frank_key, f'{{ user(userName: "{frank}") {{ username }} }}')
    assert me["data"]["user"] == {"username": frank}


def test_projects_pages_through_an_entitys_projects(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    henry, key = create_user(sqlite_server, f"henry.{tag}@example.com")
    names = [f"p{i}-{tag}" for i in range(3)]
    for name in names:
        made = graphql(
            sqlite_server,
            key,
            "mutation($n: String) { upsertModel(input: {name: $n}) { project { name } } }",
            n=name,
        )
        assert "errors" not in made, made

    client = WandbClient(tmp_path / "henry", sqlite_server, api_key=key)
    try:
        listed = client.run("people.py", "projects", henry)
    finally:
        client.kill_leftovers()
    assert listed.returncode == 0, listed.stderr
    seen = by_phase(listed.results)["projects"]
    projects = seen["projects"]
    assert [p["name"] for p in projects] == names  # three projects over two pages
    assert {p["entity"] for p in projects} == {henry}
    assert all(p["created_at"] for p in projects)
    # Newer clients read each project's user (older ones do not ask for it).
    version = tuple(int(p) for p in str(seen["version"]).split(".")[:2])
    assert {p["user"] for p in projects} == ({henry} if version >= (0, 26) else {"absent"})

    _, outsider_key = create_user(sqlite_server, f"ivy.{tag}@example.com")
    outsider = WandbClient(tmp_path / "ivy", sqlite_server, api_key=outsider_key)
    try:
        refused = outsider.run("people.py", "projects", henry)
    finally:
        outsider.kill_leftovers()
    assert refused.returncode == 1
    assert "does not exist or you are not a member" in refused.stdout


def test_org_entity_never_takes_over_a_users_entity(tmp_path: Path) -> None:
    from runyard.server import auth
    from runyard.server.db import migrate
    from runyard.server.db.engine import make_engine, make_session_factory
    from runyard.server.people import directory

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine)
    with make_session_factory(engine).begin() as session:
        # A database from before organizations, with a user named like the org.
        auth.create_user(session, directory.ORGANIZATION)
        assert directory.ensure_org_entity(session) is None
        assert directory.org_entity(session) is None
    fresh = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate.upgrade(fresh)
    with make_session_factory(fresh).begin() as session:
        made = directory.ensure_org_entity(session)
        assert made is not None and made.is_team
        assert directory.ensure_org_entity(session) is made  # idempotent
    engine.dispose()
    fresh.dispose()
