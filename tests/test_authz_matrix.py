"""The authorization matrix, generated from the app itself.

Every REST route and UI page (from the app's routes) and every GraphQL root Query and
Mutation field (from the live schema) has an entry in `support/authz_expectations.py`; each
is tried as the owner, a team member, a team viewer, another user, an anonymous caller and
the instance admin, against the outcome its kind expects. A route or field without an entry fails
`test_every_route_has_an_entry` / `test_every_graphql_root_field_has_an_entry`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from ariadne import load_schema_from_path, make_executable_schema
from fastapi import FastAPI
from graphql import GraphQLSchema

from conftest import WandbClient
from runyard.server.app import create_app
from runyard.server.graphql.schema import SDL_PATH, build_schema
from runyard.server.tracking.ids import encode_id
from support.authz_expectations import EXPECTED, FIELDS, ROUTES, Auth, Field, Outcome, Route, fill
from support.authz_world import ENTRY_POINT, ROLES, World, add_people, logged_runs
from support.server import LiveServer

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
EXPECTATIONS = "tests/support/authz_expectations.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server with the team, its people and objects, shared by the whole module."""
    tmp = tmp_path_factory.mktemp("authz")
    server = LiveServer(tmp_path_factory.mktemp("authz-server")).start()
    built = World(server, add_people(server))
    try:
        logged_runs(tmp, built, WandbClient)
        built.build_launch()
        built.find_run_objects()
        yield built
    finally:
        built.close()
        server.stop()


# --- what the app declares -------------------------------------------------------------------


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the app; ("MOUNT", path) for mounted apps."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept nested
        routes: Iterable[Any] = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    declared: set[tuple[str, str]] = set()
    for route in routes:
        methods = getattr(route, "methods", None)
        if not methods:
            declared.add(("MOUNT", route.path))
            continue
        declared |= {(method, route.path) for method in methods if method != "HEAD"}
    return declared


def schema_fields(schema: GraphQLSchema) -> set[tuple[str, str]]:
    """("query" | "mutation", name) of every root field of the schema."""
    fields = {("query", name) for name in schema.query_type.fields}
    if schema.mutation_type is not None:
        fields |= {("mutation", name) for name in schema.mutation_type.fields}
    return fields


def unlisted(declared: set[tuple[str, str]], entries: Iterable[Route | Field]) -> list[str]:
    """What the app declares but the matrix has no entry for."""
    listed = {entry.key for entry in entries}
    return sorted(" ".join(key) for key in declared - listed)


def test_every_route_has_an_entry(world: World) -> None:
    declared = app_routes(create_app(world.server.state))
    missing = unlisted(declared, ROUTES)
    assert not missing, (
        f"add these routes to ROUTES in tests/support/authz_expectations.py: {missing}"
    )
    stale = sorted(str(r) for r in ROUTES if r.key not in declared)
    assert not stale, f"ROUTES lists routes the app does not have: {stale}"
    twice = [key for key, n in Counter(r.key for r in ROUTES).items() if n > 1]
    assert not twice, f"ROUTES lists these twice: {twice}"


def test_every_graphql_root_field_has_an_entry() -> None:
    declared = schema_fields(build_schema())
    missing = unlisted(declared, FIELDS)
    assert not missing, (
        f"add these fields to FIELDS in tests/support/authz_expectations.py: {missing}"
    )
    stale = sorted(str(f) for f in FIELDS if f.key not in declared)
    assert not stale, f"FIELDS lists fields the schema does not have: {stale}"
    twice = [key for key, n in Counter(f.key for f in FIELDS).items() if n > 1]
    assert not twice, f"FIELDS lists these twice: {twice}"


def test_an_unlisted_route_or_field_is_reported(world: World) -> None:
    app = create_app(world.server.state)

    @app.post("/api/v1/unlisted")
    def unlisted_route() -> dict[str, str]:
        return {}

    before = set(unlisted(app_routes(create_app(world.server.state)), ROUTES))
    assert set(unlisted(app_routes(app), ROUTES)) - before == {"POST /api/v1/unlisted"}
    sdl = load_schema_from_path(str(SDL_PATH))
    before = set(unlisted(schema_fields(make_executable_schema(sdl)), FIELDS))
    extended = make_executable_schema(sdl + "\nextend type Mutation { unlisted: Boolean }")
    assert set(unlisted(schema_fields(extended), FIELDS)) - before == {"mutation unlisted"}


# --- trying each entry as each role ----------------------------------------------------------


def judge_http(response: httpx.Response, route: Route) -> str:
    """The outcome an HTTP answer stands for."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        to_login = response.headers.get("location", "").startswith("/login")
        return (
            Outcome.UNAUTHENTICATED if to_login and not route.login_redirect_allowed else "allowed"
        )
    outcomes = {401: Outcome.UNAUTHENTICATED, 403: Outcome.FORBIDDEN, 404: Outcome.NOT_FOUND}
    if status in outcomes:
        return outcomes[status]
    if 200 <= status < 300:
        return Outcome.ALLOWED
    return f"unexpected HTTP {status}: {response.text[:400]}"


def judge_graphql(response: httpx.Response, entry: Field) -> str:
    """The outcome a GraphQL answer stands for: its error codes, else null or data."""
    if response.status_code == 401:
        return Outcome.UNAUTHENTICATED
    if response.status_code != 200:
        return f"unexpected HTTP {response.status_code}: {response.text[:400]}"
    body = response.json()
    errors = body.get("errors")
    if errors:
        codes = {(error.get("extensions") or {}).get("code") for error in errors}
        by_code = {
            "forbidden": Outcome.FORBIDDEN,
            "not_found": Outcome.NOT_FOUND,
            "unauthenticated": Outcome.UNAUTHENTICATED,
        }
        if len(codes) == 1 and next(iter(codes)) in by_code:
            return by_code[next(iter(codes))]
        return f"unexpected errors: {errors}"
    value = (body.get("data") or {}).get(entry.name)
    return Outcome.NOT_FOUND if value is None else Outcome.ALLOWED


def _signed_in(world: World, role: str) -> httpx.Client:
    client = httpx.Client(base_url=world.server.url, timeout=60)
    key = world.keys[role]
    if key:
        assert client.post("/login", data={"api_key": key}).status_code == 303
    return client


def call_route(world: World, route: Route, role: str) -> httpx.Response:
    """Make the route's request as `role`."""
    fresh = route.setup(world) if route.setup else {}
    if route.auth is Auth.FORM:
        # Anonymous has no key: it signs in with one that is no key at all.
        fresh = {**fresh, "key": world.keys[role] or "not-a-key"}
    url = route.url(world, fresh) if route.url else fill(route.path, world, fresh)
    method = "GET" if route.method == "MOUNT" else route.method
    kwargs: dict[str, Any] = {
        "params": route.params(world, fresh) if route.params else None,
        "json": route.json(world, fresh) if route.json else None,
        "content": route.content,
    }
    form = route.form(world, fresh) if route.form else None
    if route.auth is Auth.KEY:
        return world.api(role).request(method, url, data=form, **kwargs)
    own_browser = route.auth is not Auth.COOKIE
    if own_browser:  # a sign-in form, or a sign-out that ends the browser's session
        client = _signed_in(world, role if route.auth is Auth.FRESH_COOKIE else "anonymous")
    else:
        client = world.ui(role)
    headers = {}
    if method not in SAFE_METHODS and client.cookies:
        # Forms carry the page's CSRF token when the server issues one (web hardening).
        token = world.csrf_token(client)
        if token:
            if route.json is None:  # a JSON body (script fetch) carries the header only
                form = {**(form or {}), "csrf_token": token}
            headers["X-CSRF-Token"] = token
    try:
        return client.request(method, url, data=form, headers=headers, **kwargs)
    finally:
        if own_browser:
            client.close()


def _cases(entries: Iterable[Route | Field]) -> list[Any]:
    return [
        pytest.param(entry, role, id=f"{entry} as {role}") for entry in entries for role in ROLES
    ]


@pytest.mark.parametrize(("route", "role"), _cases(ROUTES))
def test_route(world: World, route: Route, role: str) -> None:
    got = judge_http(call_route(world, route, role), route)
    expected = EXPECTED[route.kind][role]
    assert got == expected, f"{route} ({route.kind}) as {role}: expected {expected}, got {got}"


@pytest.mark.parametrize(("entry", "role"), _cases(FIELDS))
def test_graphql_field(world: World, entry: Field, role: str) -> None:
    fresh = entry.setup(world) if entry.setup else {}
    response = world.gql(role, entry.document, entry.variables(world, fresh))
    got = judge_graphql(response, entry)
    expected = EXPECTED[entry.kind][role]
    assert got == expected, f"{entry} ({entry.kind}) as {role}: expected {expected}, got {got}"


# --- the attacks of issue 13, one by one -----------------------------------------------------

UPSERT = (
    "mutation($i: UpsertBucketInput!) { upsertBucket(input: $i) { bucket { id name config } } }"
)


def _as_wandb_client(world: World, role: str) -> httpx.Client:
    """What the official client sends: HTTP Basic `api:<key>`."""
    key = world.keys[role]
    assert key is not None
    return httpx.Client(base_url=world.server.url, auth=("api", key), timeout=60)


def _run_view(world: World, entity: str, run: str) -> dict[str, Any]:
    found = world.api("owner").get(f"/api/v1/runs/{entity}/{world.project}/{run}")
    assert found.status_code == 200, found.text
    return dict(found.json())


def test_run_takeover_by_id_renames_merges_and_reveals_nothing(world: World) -> None:
    # Alice's own run, logged by the official client; bob has no role in her entity.
    before = _run_view(world, "alice", world.personal_run)
    assert before["config"]["optimizer"] == {"name": "adam", "beta": 0.9}
    attack = {
        "id": world.personal_run_node,
        "displayName": "taken over",
        "config": json.dumps({"evil": {"value": 1}}),
        "state": "running",
    }
    with _as_wandb_client(world, "member") as bob:
        answer = bob.post("/graphql", json={"query": UPSERT, "variables": {"i": attack}})
    body = answer.json()
    assert body["data"]["upsertBucket"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["not_found"]
    assert "adam" not in answer.text and "alice" not in answer.text
    assert _run_view(world, "alice", world.personal_run) == before

    # A team viewer may read the team's run, but resuming it by id is a write.
    team_before = _run_view(world, world.team, world.run)
    with _as_wandb_client(world, "viewer") as carol:
        attack = {**attack, "id": world.run_node}
        refused = carol.post("/graphql", json={"query": UPSERT, "variables": {"i": attack}})
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["forbidden"]
    assert _run_view(world, world.team, world.run) == team_before


def test_run_ids_of_others_look_like_ids_of_no_run(world: World) -> None:
    nobody = encode_id("Run", 10**9)
    answers = {}
    for node in (world.personal_run_node, nobody):
        upsert = world.gql("member", UPSERT, {"i": {"id": node, "displayName": "x"}}).json()
        delete = world.gql(
            "member",
            "mutation($i: DeleteRunInput!) { deleteRun(input: $i) { clientMutationId } }",
            {"i": {"id": node}},
        ).json()
        answers[node] = json.dumps([upsert, delete]).replace(node, "ID")
    assert answers[world.personal_run_node] == answers[nobody]
    assert "does not exist" in answers[nobody]


ENTITY = "query($e: String) { entity(name: $e) { id name } }"
TEMPLATE = """query($e: String, $id: ID!) {
  entity(name: $e) { defaultResourceConfig(id: $id) { resource config } } }"""


def test_entity_query_does_not_confirm_that_an_entity_exists(world: World) -> None:
    nothing = world.gql("other", ENTITY, {"e": "no-such-entity"}).json()
    assert nothing == {"data": {"entity": None}}
    for name in ("alice", world.team):
        assert world.gql("other", ENTITY, {"e": name}).json() == nothing
    assert world.gql("viewer", ENTITY, {"e": world.team}).json()["data"]["entity"]["name"] == "t"
    assert world.gql("owner", ENTITY, {"e": "alice"}).json()["data"]["entity"]["name"] == "alice"


def test_queue_templates_are_not_handed_to_others(world: World) -> None:
    variables = {"e": "alice", "id": world.personal_queue_config_node}
    theirs = world.gql("owner", TEMPLATE, variables).json()
    assert theirs["data"]["entity"]["defaultResourceConfig"]["config"] == {
        "env": {"ALICE_ONLY": "template of alice"}
    }
    for role in ("member", "other"):  # bob is in team t with alice, dave in nothing
        leaked = world.gql(role, TEMPLATE, variables)
        assert leaked.json() == {"data": {"entity": None}}, leaked.text
        assert "template of alice" not in leaked.text


def _alice_agent(world: World) -> dict[str, Any]:
    listed = world.api("owner").get("/api/v1/agents", params={"entity": world.team}).json()
    return next(a for a in listed if a["id"] == world.agent)


def test_heartbeat_with_another_users_agent_id_changes_nothing(world: World) -> None:
    # A queue whose item needs 4 GPUs, and alice's agent waiting for work with none free.
    gpu_queue = {
        "name": "gpuq",
        "entity": world.team,
        "config": {"gpus": "{{gpus}}"},
        "variables": [{"name": "gpus", "type": "integer"}],
    }
    world.as_owner("POST", "/api/v1/queues", json=gpu_queue)
    item = world.as_owner(
        "POST",
        "/api/v1/queues/t/gpuq/items",
        json={"template_values": {"gpus": 4}, "run_spec": {"entry_point": ENTRY_POINT}},
    )
    before = _alice_agent(world)
    claim = {"agent_id": world.agent, "queues": ["t/gpuq"], "capacity": {"gpus": 0}, "wait": 2}
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(world.api("owner").post, "/api/v1/agents/claim", json=claim)
        # Bob and dave claim alice's agent has 8 GPUs free, and that it is "hijacked".
        forged = {"agent_id": world.agent, "status": "hijacked", "capacity": {"gpus": 8}}
        while not waiting.done():
            for role, status in (("member", 403), ("viewer", 403), ("other", 404)):
                answer = world.api(role).post("/api/v1/agents/heartbeat", json=forged)
                assert answer.status_code == status, answer.text
        claimed = waiting.result()
    assert claimed.status_code == 200 and claimed.json() is None, claimed.text
    assert world.as_owner("GET", f"/api/v1/items/{item['id']}")["state"] == "pending"
    after = _alice_agent(world)
    assert after["status"] == before["status"] != "hijacked"
    assert after["capacity"] == before["capacity"] == {"gpus": 8}


def test_an_item_is_not_found_through_another_entitys_queue_of_the_same_name(world: World) -> None:
    # Dave has a queue named like the team's; asking it for the team's item finds nothing.
    created = world.api("other").post(
        "/api/v1/queues", json={"name": world.queue, "entity": "dave"}
    )
    assert created.status_code == 201, created.text
    query = """query($e: String, $q: String!, $id: ID!) {
      project(entityName: $e, name: "model-registry") {
        runQueue(name: $q) { runQueueItem(id: $id) { id runSpec } } } }"""
    item = encode_id("RunQueueItem", world.item)
    own = world.gql("owner", query, {"e": world.team, "q": world.queue, "id": item}).json()
    assert own["data"]["project"]["runQueue"]["runQueueItem"]["id"] == item
    probe = world.gql("other", query, {"e": "dave", "q": world.queue, "id": item}).json()
    assert probe == {"data": {"project": {"runQueue": {"runQueueItem": None}}}}


def test_a_report_on_a_held_item_speaks_for_its_holder(world: World) -> None:
    item = world.claimed_item()  # held by alice's agent
    forged = {"agent_id": "bobs-own-agent", "state": "claimed", "run_id": "bobs-run"}
    answer = world.api("member").post(f"/api/v1/items/{item}/report", json=forged)
    assert answer.status_code == 403, answer.text
    assert world.as_owner("GET", f"/api/v1/items/{item}")["run_id"] is None
    honest = {"agent_id": world.agent, "state": "launching"}
    assert world.api("owner").post(f"/api/v1/items/{item}/report", json=honest).status_code == 200


def test_artifact_ids_of_others_look_like_ids_of_no_artifact(world: World) -> None:
    nobody = encode_id("Artifact", 10**9)
    answers = {}
    for node in (world.artifact_node, nobody):
        answer = world.api("other").get(f"/api/v1/artifacts/id/{node}")
        assert answer.status_code == 404
        answers[node] = answer.text.replace(node, "ID")
    assert answers[world.artifact_node] == answers[nobody]
