"""Artifact listings and lineage with the official client: 3 types x 3 collections x 4 versions
listed page by page (`api.artifact_types`, `api.artifact_collections`, `api.artifacts`,
`api.artifact_collection(...).artifacts()`, `wandb artifact ls`), logged_by / used_by and a run's
logged and used artifacts, the lineage graph, and clear errors for bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import CLIENT_PYTHON, ScriptResult, WandbClient, unique_project
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e

TYPES = ["dataset", "model", "eval"]
COLLECTIONS = {kind: [f"{kind}-c{c}" for c in range(3)] for kind in TYPES}
USED = ["dataset-c0:v1", "model-c1:v0", "eval-c2:v1"]
WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")
# Seeded projects by server URL: logging 36 versions once per server is enough.
_SEEDED: dict[str, dict[str, Any]] = {}


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.results) == 1, result.stdout
    return result.results[0]


def _seeded(client: WandbClient, server: LiveServer) -> dict[str, Any]:
    """The project the seed logged into, what it logged, and its two runs."""
    if server.url not in _SEEDED:
        project = unique_project()
        seed = _result(client.run("artifact_listing.py", "seed", "--project", project))
        _SEEDED[server.url] = {"project": project, **seed}
    return _SEEDED[server.url]


def _gql(server: LiveServer, query: str, **variables: Any) -> dict[str, Any]:
    with server.api() as api:
        response = api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_each_listing_returns_exactly_what_was_logged_page_by_page(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    seeded = _seeded(wandb_client, server)
    listed = _result(
        wandb_client.run(
            "artifact_listing.py", "list", "--project", seeded["project"], "--per-page", "2"
        )
    )
    logged = {row["name"]: row for row in seeded["logged"]}
    assert len(logged) == 36

    assert listed["types"] == sorted(TYPES)
    assert listed["type"] == "model"
    assert listed["type_collections"] == COLLECTIONS["model"]
    # Collections newest first, as W&B lists them.
    assert listed["collections"] == {kind: names[::-1] for kind, names in COLLECTIONS.items()}
    seen = {}
    for collection, versions in listed["artifacts"].items():
        # Versions newest first; `latest` on v3, `best` on v1 (logged with that alias).
        assert [v["version"] for v in versions] == ["v3", "v2", "v1", "v0"], collection
        for version in versions:
            seen[version["name"]] = version
            expected = logged[version["name"]]
            assert version["type"] == expected["type"]
            assert version["digest"] == expected["digest"]
            number = version["version"]
            assert version["aliases"] == {"v3": ["latest"], "v1": ["best"]}.get(number, [])
            assert version["description"] == f"{collection} {number}"
            assert version["metadata"] == {"index": int(number[1:])}
            assert version["ttl"] is None  # Runyard keeps versions until deleted
            assert version["size"] > 0 and version["created_at"] and version["updated_at"]
    assert sorted(seen) == sorted(logged)

    collection = listed["collection"]
    assert collection["name"] == "eval-c1" and collection["type"] == "eval"
    assert collection["versions"] == [f"eval-c1:v{n}" for n in (3, 2, 1, 0)]
    assert collection["aliases"] == ["best", "latest"]
    assert (collection["exists"], collection["missing_exists"]) == (True, False)
    assert (collection["artifact_exists"], collection["artifact_missing"]) == (True, False)
    assert listed["files"] == ["data.txt"]
    if listed.get("filtered") is not None:  # clients that pass filters and order
        assert listed["filtered"] == ["model-c0", "model-c1"]
        assert listed["oldest_first"] == ["v0", "v1", "v2", "v3"]

    def artifact_ls(*args: str) -> list[str]:
        """The `name:version` column of `wandb artifact ls` (one line per collection)."""
        done = subprocess.run(
            [WANDB_CLI, "artifact", "ls", *args, f"admin/{seeded['project']}"],
            env=wandb_client.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        rows = [line.split() for line in (done.stdout + done.stderr).splitlines()]
        found = [row for row in rows if row and ":v" in row[-1]]
        for row in found:
            assert row[-1].split("-c")[0] in row  # the type column names the collection's type
        return sorted(row[-1] for row in found)

    every = sorted(f"{name}:v3" for names in COLLECTIONS.values() for name in names)
    assert artifact_ls() == every
    assert artifact_ls("--type", "model") == [f"{name}:v3" for name in COLLECTIONS["model"]]


def test_pages_follow_cursors_and_count_everything(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = _seeded(sqlite_client, sqlite_server)["project"]
    query = """query($p: String!, $after: String) { project(name: $p, entityName: "admin") {
      artifactTypes(first: 2, after: $after) {
        totalCount pageInfo { endCursor hasNextPage } edges { node { name } } }
      artifactType(name: "model") {
        artifactCollections(first: 2, after: $after) {
          totalCount pageInfo { endCursor hasNextPage } edges { node { name } } }
        artifactCollection(name: "model-c0") {
          aliases(first: 2, after: $after) {
            pageInfo { endCursor hasNextPage } edges { node { alias } } }
          artifacts(first: 3, after: $after) {
            totalCount pageInfo { endCursor hasNextPage } edges { version } } } } } }"""
    first = _gql(sqlite_server, query, p=project)["data"]["project"]
    kind = first["artifactType"]
    assert [e["node"]["name"] for e in first["artifactTypes"]["edges"]] == ["dataset", "eval"]
    assert first["artifactTypes"]["totalCount"] == 3
    assert first["artifactTypes"]["pageInfo"]["hasNextPage"] is True
    page = kind["artifactCollections"]
    assert [e["node"]["name"] for e in page["edges"]] == ["model-c2", "model-c1"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (3, True)
    versions = kind["artifactCollection"]["artifacts"]
    assert [e["version"] for e in versions["edges"]] == ["v3", "v2", "v1"]
    assert versions["totalCount"] == 4
    aliases = kind["artifactCollection"]["aliases"]
    assert [e["node"]["alias"] for e in aliases["edges"]] == ["best", "latest"]

    # Each connection's endCursor leads to the rest of it.
    types_end = first["artifactTypes"]["pageInfo"]["endCursor"]
    rest = _gql(sqlite_server, query, p=project, after=types_end)["data"]["project"]
    assert [e["node"]["name"] for e in rest["artifactTypes"]["edges"]] == ["model"]
    assert rest["artifactTypes"]["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["name"] for e in rest["artifactType"]["artifactCollections"]["edges"]] == [
        "model-c0"
    ]
    tail = rest["artifactType"]["artifactCollection"]
    assert [e["version"] for e in tail["artifacts"]["edges"]] == ["v1", "v0"]
    assert tail["aliases"] == {"pageInfo": {"endCursor": None, "hasNextPage": False}, "edges": []}


def test_logged_by_used_by_and_run_artifacts_name_the_right_runs(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    seeded = _seeded(wandb_client, server)
    producer, consumer = seeded["producer"], seeded["consumer"]
    found = _result(
        wandb_client.run(
            "artifact_listing.py", "lineage", "--project", seeded["project"], "--per-page", "4"
        )
    )
    names = [row["name"] for row in seeded["logged"]]
    by_producer = [n for n in names if n.endswith((":v0", ":v1"))]
    by_consumer = [n for n in names if n.endswith((":v2", ":v3"))]
    assert found["logged_by"] == {
        **dict.fromkeys(by_producer, producer),
        **dict.fromkeys(by_consumer, consumer),
    }
    assert found["used_by"] == {name: [consumer] if name in USED else [] for name in names}
    assert found["runs"] == {
        producer: {"logged": by_producer, "used": []},
        consumer: {"logged": by_consumer, "used": USED},
    }


def test_lineage_graph_walks_runs_to_artifacts_to_runs_within_its_bounds(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    from runyard.server.artifacts.lineage import NodeKey, lineage_graph, runs_and_artifacts
    from runyard.server.artifacts.lineage_view import artifact_lineage, run_lineage
    from runyard.server.auth import principal_for_key
    from runyard.server.errors import ServiceError
    from runyard.server.tracking.runs import find_project, find_run
    from runyard.server.unit_of_work import UnitOfWork

    seeded = _seeded(sqlite_client, sqlite_server)
    with UnitOfWork(sqlite_server.state) as uow:
        admin = principal_for_key(uow.session, sqlite_server.admin_key)
        project = find_project(uow.session, "admin", seeded["project"])
        assert project is not None
        consumer = find_run(uow.session, project, seeded["consumer"])
        producer = find_run(uow.session, project, seeded["producer"])
        assert consumer is not None and producer is not None
        start = NodeKey("run", consumer.id)

        near = lineage_graph(uow, admin, start, hops=2)
        runs, artifacts = runs_and_artifacts(uow, near)
        # The consumer, its 3 inputs and 18 outputs, and the producer of those inputs.
        assert sorted(r.name for r in runs.values()) == sorted([consumer.name, producer.name])
        assert len(artifacts) == 21 and len(near.nodes) == 23
        kinds = sorted(e.kind for e in near.edges)
        assert kinds == ["logged"] * 21 + ["used"] * 3
        assert not near.truncated

        far = lineage_graph(uow, admin, start, hops=3)
        # One hop more reaches everything the producer logged.
        assert len(far.nodes) == 38 and len(far.edges) == 39

        one = lineage_graph(uow, admin, NodeKey("artifact", next(iter(artifacts))), hops=0)
        assert one.nodes == [one.start] and one.edges == []

        # The view a lineage page draws: named nodes, edges by node key.
        view = artifact_lineage(uow, admin, "admin", seeded["project"], "dataset-c0:v1", hops=1)
        named = {n.key: (n.kind, n.name, n.type, n.start) for n in view.nodes}
        start = f"artifact:{view.nodes[0].key.split(':')[1]}"
        assert named == {
            start: ("artifact", "dataset-c0:v1", "dataset", True),
            f"run:{producer.id}": ("run", producer.name, None, False),
            f"run:{consumer.id}": ("run", consumer.name, None, False),
        }
        assert {(e.source, e.kind, e.target) for e in view.edges} == {
            (f"run:{producer.id}", "logged", start),
            (start, "used", f"run:{consumer.id}"),
        }
        around_run = run_lineage(uow, admin, "admin", seeded["project"], producer.name, hops=1)
        assert len(around_run.nodes) == 19 and {e.kind for e in around_run.edges} == {"logged"}
        with pytest.raises(ServiceError, match="dataset-c0:v9 does not exist"):
            artifact_lineage(uow, admin, "admin", seeded["project"], "dataset-c0:v9")
        with pytest.raises(ServiceError, match="hops: 9 is out of range"):
            run_lineage(uow, admin, "admin", seeded["project"], producer.name, hops=9)


def test_listings_of_missing_projects_types_and_collections_are_client_errors_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = _seeded(sqlite_client, sqlite_server)["project"]
    found = _result(sqlite_client.run("artifact_listing.py", "missing", "--project", project))
    # The server answers null (as W&B does); the client raises its own error for each.
    for key, outcome in found.items():
        assert "error" in outcome, key
        assert "500" not in outcome["error"] and "Internal" not in outcome["error"], outcome
    assert "Could not find artifact type" in found["missing_type"]["error"]
    assert "nope" in found["missing_type"]["error"]
    assert "Could not find artifact type" in found["missing_collection"]["error"]
    answer = _gql(
        sqlite_server,
        """query($p: String!) { project(name: $p, entityName: "admin") {
          artifactType(name: "nope") { name } artifactCollection(name: "nope") { name } } }""",
        p=project,
    )
    assert answer == {"data": {"project": {"artifactType": None, "artifactCollection": None}}}


BAD_ARGUMENTS = [
    ({"filters": "{not json"}, "filters is not valid JSON"),
    ({"filters": '{"colour": "red"}'}, "unknown field 'colour'; versions can be filtered on"),
    ({"filters": '{"version": 3}'}, 'version is a version number like "v3"'),
    ({"filters": '{"alias": {"$regex": "(a"}}'}, "invalid regular expression"),
    ({"order": "-colour"}, "order: unknown field 'colour'; order by one of"),
    ({"first": 0}, "first: 0 is out of range: ask for 1 to 1000"),
    ({"after": "bm9wZQ=="}, "after: 'bm9wZQ==' is not a cursor of this listing"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_ARGUMENTS)
def test_bad_filters_orders_and_cursors_are_refused_clearly(
    sqlite_server: LiveServer, sqlite_client: WandbClient, arguments: dict[str, Any], message: str
) -> None:
    project = _seeded(sqlite_client, sqlite_server)["project"]
    query = """query($p: String!, $f: JSONString, $o: String, $n: Int, $a: String) {
      project(name: $p, entityName: "admin") { artifactType(name: "model") {
        artifactCollection(name: "model-c0") {
          artifacts(filters: $f, order: $o, first: $n, after: $a) { edges { version } } } } } }"""
    names = {"filters": "f", "order": "o", "first": "n", "after": "a"}
    variables = {names[k]: v for k, v in arguments.items()}
    answer = _gql(sqlite_server, query, p=project, **variables)
    # The connection is non-null: the error nulls the collection holding it.
    assert answer["data"]["project"]["artifactType"]["artifactCollection"] is None
    assert message in answer["errors"][0]["message"]


def test_collection_and_version_filters_and_orders(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project = _seeded(wandb_client, server)["project"]
    query = """query($p: String!, $f: JSONString, $o: String, $vf: JSONString) {
      project(name: $p, entityName: "admin") {
        artifactCollections(filters: $f, order: $o) { totalCount edges { node { name
          artifacts(filters: $vf) { edges { version } } } } } } }"""

    def listed(**variables: Any) -> list[tuple[str, list[str]]]:
        answer = _gql(server, query, p=project, **variables)
        edges = answer["data"]["project"]["artifactCollections"]["edges"]
        return [
            (e["node"]["name"], [v["version"] for v in e["node"]["artifacts"]["edges"]])
            for e in edges
        ]

    everything = listed(o="+name")
    assert [name for name, _ in everything] == sorted(n for ns in COLLECTIONS.values() for n in ns)
    regex = listed(f='{"name": {"$regex": "-c1$"}}', o="-name", vf='{"alias": "best"}')
    assert regex == [("model-c1", ["v1"]), ("eval-c1", ["v1"]), ("dataset-c1", ["v1"])]
    typed = listed(f='{"type": "eval"}', o="+name", vf='{"metadata.index": {"$gte": 2}}')
    assert typed == [(f"eval-c{c}", ["v3", "v2"]) for c in range(3)]
    either = listed(
        f='{"$or": [{"name": "model-c0"}, {"name": "dataset-c2"}]}',
        o="+name",
        vf='{"$or": [{"version": "v0"}, {"alias": "latest"}]}',
    )
    assert either == [("dataset-c2", ["v3", "v0"]), ("model-c0", ["v3", "v0"])]
    unknown = _gql(server, query, p=project, f='{"size": 1}')
    assert "collections can be filtered on" in unknown["errors"][0]["message"]


def test_walk_stops_at_its_hops_and_node_bound() -> None:
    from runyard.server.artifacts.lineage import Edge, NodeKey, walk

    # A chain run0 -> a1 -> run2 -> a3 -> ... ; each node knows its two neighbours.
    def key(i: int) -> NodeKey:
        return NodeKey("run" if i % 2 == 0 else "artifact", i)

    def neighbours(node: NodeKey) -> list[Edge]:
        i = node.id
        edges = []
        if i > 0:
            edges.append(Edge(key(i - 1), node, "logged" if i % 2 else "used"))
        edges.append(Edge(node, key(i + 1), "used" if i % 2 else "logged"))
        return edges

    two = walk(key(5), neighbours, hops=2)
    assert sorted(n.id for n in two.nodes) == [3, 4, 5, 6, 7]
    assert len(two.edges) == 4 and not two.truncated
    bounded = walk(key(5), neighbours, hops=10, max_nodes=4)
    assert len(bounded.nodes) == 4 and bounded.truncated
    assert all(e.source in bounded.nodes and e.target in bounded.nodes for e in bounded.edges)
    assert walk(key(0), neighbours, hops=0).nodes == [key(0)]


LINEAGE = """query($e: String, $p: String!, $r: String!, $a: String!) {
  project(entityName: $e, name: $p) {
    run(name: $r) {
      inputArtifacts { totalCount edges { node { artifactSequence { name } } } }
      outputArtifacts { totalCount edges { node { artifactSequence { name } } } } }
    artifact(name: $a) {
      createdBy { __typename ... on Run { name } }
      usedBy { edges { node { name } } } } } }"""


def test_lineage_leaves_out_runs_and_versions_of_entities_the_caller_cannot_read(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    suffix = unique_project()[2:]
    owner, viewer, team = f"own-{suffix}", f"view-{suffix}", f"team-{suffix}"
    with sqlite_server.api() as admin:
        keys = {}
        for name in (owner, viewer):
            created = admin.post("/api/v1/users", json={"username": name})
            assert created.status_code == 201, created.text
            keys[name] = created.json()["api_key"]
    with sqlite_server.api(keys[owner]) as api:
        assert api.post("/api/v1/teams", json={"name": team}).status_code == 201
        added = api.post(
            f"/api/v1/teams/{team}/members", json={"username": viewer, "role": "viewer"}
        )
        assert added.status_code == 201, added.text
    client = WandbClient(tmp_path / "owner", sqlite_server, api_key=keys[owner])
    try:

        def run(entity: str, project: str, *extra: str) -> str:
            args = ("run", "--entity", entity, "--project", project, *extra)
            return str(_result(client.run("artifact_listing.py", *args))["id"])

        # The owner's private data feeds a team run; a private run uses the team's output.
        run(owner, "private", "--log", "secret")
        team_run = run(team, "shared", "--use", f"{owner}/private/secret:v0", "--log", "out")
        private_run = run(owner, "private", "--use", f"{team}/shared/out:v0")
    finally:
        client.kill_leftovers()

    def lineage(key: str) -> dict[str, Any]:
        with sqlite_server.api(key) as api:
            variables = {"e": team, "p": "shared", "r": team_run, "a": "out:v0"}
            answer = api.post("/graphql", json={"query": LINEAGE, "variables": variables})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["data"]["project"])

    mine = lineage(keys[owner])
    assert mine["run"]["inputArtifacts"]["totalCount"] == 1
    assert mine["run"]["inputArtifacts"]["edges"][0]["node"]["artifactSequence"]["name"] == "secret"
    assert [e["node"]["name"] for e in mine["artifact"]["usedBy"]["edges"]] == [private_run]
    assert mine["artifact"]["createdBy"] == {"__typename": "Run", "name": team_run}

    theirs = lineage(keys[viewer])
    assert theirs["run"]["inputArtifacts"] == {"totalCount": 0, "edges": []}
    assert theirs["run"]["outputArtifacts"]["totalCount"] == 1
    assert theirs["artifact"]["usedBy"]["edges"] == []
    assert theirs["artifact"]["createdBy"] == {"__typename": "Run", "name": team_run}


def test_lineage_index_migration_goes_up_and_down(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from runyard.server.db import migrate
    from runyard.server.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'lineage.db'}")

    def indexes() -> set[str]:
        inspector = inspect(engine)
        names = {i["name"] for i in inspector.get_indexes("artifacts")}
        return names | {i["name"] for i in inspector.get_indexes("artifact_uses")}

    wanted = {"ix_artifacts_created_by_run", "ix_artifact_uses_artifact"}
    migrate.upgrade(engine)
    assert wanted <= indexes()
    command.downgrade(migrate.alembic_config(engine), "0014-1")
    assert not wanted & indexes()
    migrate.upgrade(engine)
    assert wanted <= indexes()
    engine.dispose()


def test_used_by_without_first_lists_past_one_default_page(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    from sqlalchemy import select

    from runyard.server.db.models import ArtifactUse, Run
    from runyard.server.tracking.ids import decode_id
    from runyard.server.unit_of_work import UnitOfWork

    project = unique_project()  # its own project: the seeded one's lineage stays as logged
    args = ("run", "--entity", "admin", "--project", project, "--log", "shared")
    logger = _result(sqlite_client.run("artifact_listing.py", *args))["id"]
    query = """query($p: String!) { project(name: $p, entityName: "admin") {
      artifact(name: "shared:v0") { id usedBy { edges { node { name } } } } } }"""
    node = _gql(sqlite_server, query, p=project)["data"]["project"]["artifact"]["id"]
    # 60 runs used the version (more than the 50 a page holds when `first` is not given).
    with UnitOfWork(sqlite_server.state, write=True) as uow, uow.write_transaction() as session:
        owner = session.scalars(select(Run).where(Run.name == logger)).one()
        names = [f"reader-{i:02d}" for i in range(60)]
        runs = [Run(project_id=owner.project_id, name=name) for name in names]
        session.add_all(runs)
        session.flush()
        artifact_id = decode_id("Artifact", node)
        session.add_all(ArtifactUse(run_id=run.id, artifact_id=artifact_id) for run in runs)
    answer = _gql(sqlite_server, query, p=project)["data"]["project"]["artifact"]
    assert [e["node"]["name"] for e in answer["usedBy"]["edges"]] == names
