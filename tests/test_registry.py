"""The Registry with the official client: registries, links, search, use_model and roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ScriptResult, WandbClient, unique_project
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e

MODEL = {"weights.txt": "0.1 0.2 0.3\n", "config.json": '{"layers": 3}\n'}


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert len(result.results) == 1, result.stdout + result.stderr
    return result.results[0]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _src(tmp: Path, files: dict[str, str]) -> Path:
    root = tmp / _name("src")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _new_user(server: LiveServer, name: str) -> str:
    with server.api() as admin:
        made = admin.post("/api/v1/users", json={"username": name})
        assert made.status_code == 201, made.text
        return str(made.json()["api_key"])


def test_model_linked_into_two_collections_is_searched_and_used(
    server: LiveServer, wandb_client: WandbClient, tmp_path: Path
) -> None:
    reg_a, reg_b = _name("prod"), _name("eval")
    for reg in (reg_a, reg_b):
        made = _result(
            wandb_client.run(
                "registry.py", "create", "--name", reg, "--description", f"{reg} models"
            )
        )
        assert made["full_name"] == f"wandb-registry-{reg}"
        assert made["visibility"] == "organization"
        assert made["description"] == f"{reg} models"

    linked = _result(
        wandb_client.run(
            "registry.py",
            "link",
            "--project",
            unique_project(),
            "--name",
            "resnet",
            "--src",
            str(_src(tmp_path, MODEL)),
            "--target",
            f"wandb-registry-{reg_a}/classifier=production,best",
            "--target",
            f"wandb-registry-{reg_b}/candidates=staging",
        )
    )
    assert "error" not in linked, linked
    first, second = linked["links"]
    assert first["is_link"] and second["is_link"]
    assert first["name"] == "classifier:v0"
    assert first["aliases"] == ["best", "latest", "production"]
    assert second["name"] == "candidates:v0"
    # Aliases are per collection: the second collection knows only its own.
    assert second["aliases"] == ["latest", "staging"]
    assert first["source_name"] == second["source_name"] == linked["logged"]["name"]
    assert linked["logged"]["aliases"] == ["latest"]

    # Search: versions by alias, by metadata; collections by name.
    by_alias = _result(
        wandb_client.run("registry.py", "search", "--version-filter", '{"alias": "production"}')
    )
    assert [(f["collection"], f["project"]) for f in by_alias["found"]] == [
        ("classifier", f"wandb-registry-{reg_a}")
    ]
    by_meta = _result(
        wandb_client.run(
            "registry.py",
            "search",
            "--registry-filter",
            f'{{"name": {{"$in": ["{reg_a}", "{reg_b}"]}}}}',
            "--version-filter",
            '{"metadata.accuracy": {"$gt": 0.9}}',
        )
    )
    assert sorted(f["collection"] for f in by_meta["found"]) == ["candidates", "classifier"]
    by_name = _result(
        wandb_client.run(
            "registry.py",
            "search",
            "--registry-filter",
            f'{{"name": "{reg_b}"}}',
            "--collection-filter",
            '{"name": {"$regex": "^cand"}}',
        )
    )
    assert [(f["collection"], f["type"]) for f in by_name["found"]] == [("candidates", "model")]

    # Collection descriptions and tags, then search by tag.
    edited = _result(
        wandb_client.run(
            "registry.py",
            "edit_collections",
            "--name",
            reg_a,
            "--description",
            "The production classifier",
            "--tags",
            "vision,prod-ready",
        )
    )
    assert edited.get("now") == [
        ["classifier", "The production classifier", ["prod-ready", "vision"]]
    ], edited
    collection = _result(
        wandb_client.run(
            "registry.py", "collection", "--name", f"runyard/wandb-registry-{reg_a}/classifier"
        )
    )
    assert collection == {
        "name": "classifier",
        "description": "The production classifier",
        "tags": ["prod-ready", "vision"],
        "aliases": ["best", "latest", "production"],
        "versions": [["classifier:v0", "resnet:v0", ["best", "latest", "production"]]],
    }, collection
    by_tag = _result(
        wandb_client.run(
            "registry.py",
            "search",
            "--collection-filter",
            '{"tag": "prod-ready"}',
        )
    )
    assert [(f["collection"], f["project"]) for f in by_tag["found"]] == [
        ("classifier", f"wandb-registry-{reg_a}")
    ]

    used = _result(
        wandb_client.run(
            "registry.py",
            "use_model",
            "--name",
            f"wandb-registry-{reg_a}/classifier:production",
            "--project",
            unique_project(),
        )
    )
    assert used["files"] == MODEL
    assert used["artifact"]["version"] == "v0"
    assert used["artifact"]["aliases"] == ["best", "latest", "production"]


@pytest.fixture
def client_as(tmp_path: Path, server: LiveServer) -> Iterator[Callable[[str], WandbClient]]:
    """Isolated official clients, one per API key."""
    made: list[WandbClient] = []

    def make(key: str) -> WandbClient:
        client = WandbClient(tmp_path / f"c{len(made)}", server, api_key=key)
        made.append(client)
        return client

    yield make
    for client in made:
        client.kill_leftovers()


def test_restricted_registry_reads_as_missing_to_users_without_a_role(
    server: LiveServer, client_as: Callable[[str], WandbClient], tmp_path: Path
) -> None:
    owner_name, outsider_name = _name("owner"), _name("outsider")
    owner = client_as(_new_user(server, owner_name))
    outsider = client_as(_new_user(server, outsider_name))
    reg = _name("secret")
    made = _result(owner.run("registry.py", "create", "--name", reg, "--visibility", "restricted"))
    assert made["visibility"] == "restricted"
    linked = _result(
        owner.run(
            "registry.py",
            "link",
            "--project",
            unique_project(),
            "--name",
            "hidden-model",
            "--src",
            str(_src(tmp_path, MODEL)),
            "--target",
            f"wandb-registry-{reg}/hidden=prod",
        )
    )
    assert linked["links"][0]["aliases"] == ["latest", "prod"]
    # The owner (its creator, so its admin) reads it; the outsider cannot, in any way.
    mine = _result(owner.run("registry.py", "get", "--name", reg))
    assert mine.get("name") == reg, mine
    got = _result(outsider.run("registry.py", "get", "--name", reg))
    assert "error" in got
    read = _result(
        outsider.run("registry.py", "artifact", "--name", f"wandb-registry-{reg}/hidden:prod")
    )
    assert f"registry {reg!r} does not exist" in read["error"]
    listed = _result(outsider.run("registry.py", "list"))
    assert reg not in listed["registries"] and "model" in listed["registries"]
    searched = _result(
        outsider.run("registry.py", "search", "--version-filter", '{"alias": "prod"}')
    )
    assert all(f["project"] != f"wandb-registry-{reg}" for f in searched["found"])
    # Nor can it link into it: the registry reads as missing there too.
    refused = _result(
        outsider.run(
            "registry.py",
            "link",
            "--project",
            unique_project(),
            "--name",
            "intruder",
            "--src",
            str(_src(tmp_path, MODEL)),
            "--target",
            f"wandb-registry-{reg}/hidden",
        )
    )
    assert f"registry {reg!r} does not exist" in refused["error"]
    # Over GraphQL the same read answers not found, naming the registry.
    query = 'query { project(entityName: "runyard", name: "wandb-registry-REG") { name } }'
    query = query.replace("REG", reg)
    with server.api(_new_user(server, _name("probe"))) as probe:
        answer = probe.post("/graphql", json={"query": query}).json()
        assert answer["data"]["project"] is None
        assert "does not exist" in answer["errors"][0]["message"]
    with server.api() as admin:
        assert admin.post("/graphql", json={"query": query}).json()["data"]["project"] == {
            "name": f"wandb-registry-{reg}"
        }


def test_legacy_model_registry_link(wandb_client: WandbClient, tmp_path: Path) -> None:
    project = unique_project()
    registered = _name("classifier")
    first = _result(
        wandb_client.run(
            "registry.py",
            "link_model",
            "--project",
            project,
            "--name",
            registered,
            "--src",
            str(_src(tmp_path, MODEL)),
            "--aliases",
            "staging",
        )
    )["linked"]
    assert first["is_link"]
    assert first["qualified_name"].endswith(f"/model-registry/{registered}:v0")
    assert first["aliases"] == ["latest", "staging"]
    changed = {**MODEL, "weights.txt": "0.4 0.5 0.6\n"}
    second = _result(
        wandb_client.run(
            "registry.py",
            "link_model",
            "--project",
            project,
            "--name",
            registered,
            "--src",
            str(_src(tmp_path, changed)),
        )
    )["linked"]
    assert second["name"] == f"{registered}:v1"
    assert second["aliases"] == ["latest"]
    assert second["source_name"] == "legacy-model:v1"
    # `latest` moved to the new link; `staging` stayed on the first version.
    staging = _result(
        wandb_client.run(
            "registry.py", "artifact", "--name", f"model-registry/{registered}:staging"
        )
    )
    assert staging["version"] == "v0" and staging["source_name"] == "legacy-model:v0"
    second_run = _result(
        wandb_client.run(
            "registry.py",
            "link_model",
            "--project",
            project,
            "--name",
            registered,
            "--src",
            str(_src(tmp_path, {**MODEL, "weights.txt": "0.7 0.8 0.9\n"})),
        )
    )
    assert second_run["linked"]["name"] == f"{registered}:v2"
    # Deleting the run with its artifacts removes its version's link: `latest` of the
    # registered model falls back to the version linked before it.
    deleted = _result(wandb_client.run("registry.py", "delete_run", "--name", second_run["run"]))
    assert "error" not in deleted, deleted
    latest = _result(
        wandb_client.run("registry.py", "artifact", "--name", f"model-registry/{registered}:latest")
    )
    assert (latest["version"], latest["source_name"]) == ("v1", "legacy-model:v1"), latest


def test_bad_registry_input_gets_clear_errors(
    server: LiveServer, wandb_client: WandbClient, tmp_path: Path
) -> None:
    missing = _name("nosuch")
    refused = _result(
        wandb_client.run(
            "registry.py",
            "link",
            "--project",
            unique_project(),
            "--name",
            "orphan",
            "--src",
            str(_src(tmp_path, MODEL)),
            "--target",
            f"wandb-registry-{missing}/coll",
        )
    )
    assert f"registry {missing!r} does not exist" in refused["error"]
    with server.api() as admin:
        # Nothing was made on the way: no registry, no project of that name.
        probe = 'query { project(entityName: "runyard", name: "wandb-registry-REG") { name } }'
        answer = admin.post("/graphql", json={"query": probe.replace("REG", missing)}).json()
        assert answer["data"]["project"] is None, answer

    typed = _name("typed")
    made = _result(
        wandb_client.run("registry.py", "create", "--name", typed, "--types", "model,checkpoint")
    )
    assert made["allow_all_artifact_types"] is False
    assert made["artifact_types"] == ["checkpoint", "model"]

    bad = _result(wandb_client.run("registry.py", "create", "--name", "bad name!"))
    assert "'bad name!' is not a valid registry name" in bad["error"]
    assert "bad name!" not in _result(wandb_client.run("registry.py", "list"))["registries"]

    reg = _name("twice")
    _result(wandb_client.run("registry.py", "create", "--name", reg))
    again = _result(wandb_client.run("registry.py", "create", "--name", reg))
    assert f"Registry {reg!r} already exists" in again["error"]


def test_registry_roles_viewer_reads_member_links_team_role_is_inherited(
    server: LiveServer,
    wandb_client: WandbClient,
    client_as: Callable[[str], WandbClient],
    tmp_path: Path,
) -> None:
    reg = _name("roles")
    _result(wandb_client.run("registry.py", "create", "--name", reg, "--visibility", "restricted"))
    target = f"wandb-registry-{reg}/detector"
    src = str(_src(tmp_path, MODEL))
    _result(
        wandb_client.run(
            "registry.py", "link", "--name", "det", "--src", src, "--target", f"{target}=prod"
        )
    )
    viewer_name = _name("viewer")
    viewer = client_as(_new_user(server, viewer_name))
    added = _members(server, wandb_client, reg, "--user", viewer_name)
    assert [viewer_name, "viewer"] in added["users"]

    # A viewer reads and uses the registry's versions...
    used = _result(viewer.run("registry.py", "use_model", "--name", f"{target}:prod"))
    assert used["files"] == MODEL
    # ...but may not link into it.
    refused = _result(
        viewer.run("registry.py", "link", "--name", "mine", "--src", src, "--target", target)
    )
    if "error" in refused:
        assert f"you are a viewer of registry {reg!r}" in refused["error"]
    else:  # clients before 0.20 link in the background and report no error: nothing linked
        assert refused["links"][0]["source_name"] == "det:v0", refused

    # A team the viewer belongs to gets the member role: the viewer now links (the highest
    # of its own and its teams' roles counts).
    team = _name("team")
    with server.api(_key_of(viewer)) as me:
        assert me.post("/api/v1/teams", json={"name": team}).status_code == 201
    roles = _members(server, wandb_client, reg, "--team", f"{team}=member")
    assert roles["teams"] == [[team, "member"]]
    linked = _result(
        viewer.run("registry.py", "link", "--name", "mine", "--src", src, "--target", target)
    )
    assert linked["links"][0]["name"] == "detector:v1", linked
    assert linked["links"][0]["aliases"] == ["latest"]


def _key_of(client: WandbClient) -> str:
    return client.env["WANDB_API_KEY"]


def _members(server: LiveServer, client: WandbClient, reg: str, flag: str, spec: str) -> Any:
    """Give a user or team a registry role with the client (Registry.add_members and
    update_member), or, for clients before 0.23 that lack them, with the same mutations over
    GraphQL; the registry's users and teams with their roles."""
    done = _result(client.run("registry.py", "members", "--name", reg, flag, spec))
    if "unsupported" not in done:
        return {
            kind: [[name, role.rsplit(".", 1)[-1].lower()] for name, role in done[kind]]
            for kind in ("users", "teams")
        }
    name, _, role = spec.partition("=")
    registry = f"wandb-registry-{reg}"
    with server.api() as admin:

        def gql(query: str, **variables: Any) -> Any:
            body = admin.post("/graphql", json={"query": query, "variables": variables}).json()
            assert not body.get("errors"), body
            return body["data"]

        in_org = 'project(entityName: "runyard", name: $n)'
        project = gql(f"query($n: String) {{ {in_org} {{ id }} }}", n=registry)["project"]["id"]
        if flag == "--user":
            who = gql("query($u: String) { user(userName: $u) { id } }", u=name)["user"]["id"]
            members = {"projectId": project, "userIds": [who]}
            update = {"projectId": project, "userId": who, "userProjectRole": role}
            mutation, kind = "updateProjectMember", "UpdateProjectMemberInput"
        else:
            who = gql("query($t: String) { entity(name: $t) { id } }", t=name)["entity"]["id"]
            members = {"projectId": project, "teamIds": [who]}
            update = {"projectId": project, "teamId": who, "teamProjectRole": role}
            mutation, kind = "updateProjectTeamMember", "UpdateProjectTeamMemberInput"
        add = "createProjectMembers(input: $i) { success }"
        gql(f"mutation($i: CreateProjectMembersInput!) {{ {add} }}", i=members)
        if role:
            gql(f"mutation($i: {kind}!) {{ {mutation}(input: $i) {{ success }} }}", i=update)
        roles = "members { username role { name } } teamMembers { team { name } role { name } }"
        listed = gql(f"query($n: String) {{ {in_org} {{ {roles} }} }}", n=registry)["project"]
    return {
        "users": sorted([m["username"], m["role"]["name"]] for m in listed["members"]),
        "teams": sorted([m["team"]["name"], m["role"]["name"]] for m in listed["teamMembers"]),
    }


def test_registry_update_unlink_and_delete(wandb_client: WandbClient, tmp_path: Path) -> None:
    reg = _name("shortlived")
    _result(wandb_client.run("registry.py", "create", "--name", reg, "--description", "v1"))
    updated = _result(
        wandb_client.run(
            "registry.py",
            "update",
            "--name",
            reg,
            "--description",
            "second thoughts",
            "--visibility",
            "restricted",
        )
    )
    assert (updated["description"], updated["visibility"]) == ("second thoughts", "restricted")
    # A restricted registry stays restricted (the seeds: only organization -> restricted).
    back = _result(
        wandb_client.run(
            "registry.py",
            "update",
            "--name",
            reg,
            "--description",
            "x",
            "--visibility",
            "organization",
        )
    )
    assert "error" in back
    target = f"wandb-registry-{reg}/blobs"
    src = str(_src(tmp_path, MODEL))
    for name in ("first", "second"):
        linked = _result(
            wandb_client.run(
                "registry.py", "link", "--name", name, "--src", src, "--target", target
            )
        )
        assert "error" not in linked, linked
    unlinked = _result(wandb_client.run("registry.py", "unlink", "--name", f"{target}:v1"))
    if "error" not in unlinked:  # clients before 0.20 cannot unlink
        gone = _result(wandb_client.run("registry.py", "artifact", "--name", f"{target}:v1"))
        assert "not found" in gone["error"], gone
        kept = _result(wandb_client.run("registry.py", "artifact", "--name", f"{target}:v0"))
        assert kept["source_name"] == "first:v0"
    deleted = _result(wandb_client.run("registry.py", "delete", "--name", reg))
    assert deleted.get("deleted") is True, deleted
    listed = _result(wandb_client.run("registry.py", "list"))["registries"]
    assert reg not in listed and "model" in listed


def test_linking_a_type_the_registry_does_not_accept_is_refused(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    src = str(_src(tmp_path, MODEL))
    refused = _result(
        wandb_client.run(
            "registry.py",
            "link",
            "--name",
            _name("table"),
            "--type",
            "dataset",
            "--src",
            src,
            "--target",
            "wandb-registry-model/tables",
        )
    )
    error = refused["error"]
    # Clients before 0.20 link in the background and report nothing: nothing was linked.
    assert (
        "registry 'model' accepts artifact types ['model'], not 'dataset'" in error
        or "'tables:latest' not found" in error
    ), error
