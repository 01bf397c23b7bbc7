"""The authorization matrix: who may use each REST route, UI page and GraphQL root field.

Every route of the app and every root Query/Mutation field of the schema has one entry here,
naming its kind; `test_authz_matrix` fails for a route or field without one. An entry says
how to call it against the fixture world (`support/authz_world.py`) and, for calls that use
an object up (cancel, delete, claim), how to make a fresh one first.

The kind decides the expected outcome per role (`EXPECTED`), after the one access rule in
`runyard/server/access.py`: readers see, members write, admins manage, strangers learn
nothing (not found), and callers without credentials are asked for them.

Adding a route is one line, e.g.
    rest("GET", "/api/v1/teams/{team}/members", READ),
    rest("DELETE", "/api/v1/keys/{key_id}", PERSONAL, setup=owners_key),
and a GraphQL field, e.g.
    gql("mutation", "createTeam", SIGNED_IN, "mutation($i: ...) { createTeam(...) }", ...).
Path placeholders take the world's objects (`fill`: {team} is `t`, {name} the queue `q`); a
request that uses its object up names a `setup` that makes a fresh one and returns its
placeholders (a new user to disable, a new member to remove, a new key to revoke).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from runyard.server.tracking.ids import encode_id
from support.authz_world import DATASET_FILE, ENTRY_POINT, QUEUE_CONFIG, ROLES, World

Fresh = dict[str, str]
Maker = Callable[[World, Fresh], Any]


class Outcome(StrEnum):
    """What a caller gets."""

    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not found"
    UNAUTHENTICATED = "unauthenticated"


class Kind(StrEnum):
    """What an entry needs from its caller."""

    PUBLIC = "public"  # anyone, without credentials
    CAPABILITY = "capability"  # the signed URL is the credential: anyone holding it
    SIGNED_IN = "signed in"  # any valid key; answers about the caller only
    READ = "read"  # a role on the entity: viewer, member or admin
    WRITE = "write"  # member or admin of the entity
    MANAGE = "manage"  # admin of the entity
    AGENT = "agent"  # the user who registered the agent, or an admin of its entity
    PERSONAL = "personal"  # the owner's own (an API key): the owner or an instance admin
    INSTANCE_ADMIN = "instance admin"  # the instance admin only
    NOT_YET = "not yet"  # a W&B page Runyard lacks: a 404 page for anyone signed in


A, F, N, U = Outcome.ALLOWED, Outcome.FORBIDDEN, Outcome.NOT_FOUND, Outcome.UNAUTHENTICATED
_ROLE_ORDER = ("owner", "member", "viewer", "other", "anonymous", "admin")
assert _ROLE_ORDER == ROLES


def _row(*outcomes: Outcome) -> dict[str, Outcome]:
    return dict(zip(_ROLE_ORDER, outcomes, strict=True))


# Roles:                              owner member viewer other anonymous admin
EXPECTED: dict[Kind, dict[str, Outcome]] = {
    Kind.PUBLIC: _row(A, A, A, A, A, A),
    Kind.CAPABILITY: _row(A, A, A, A, A, A),
    Kind.SIGNED_IN: _row(A, A, A, A, U, A),
    Kind.READ: _row(A, A, A, N, U, A),
    Kind.WRITE: _row(A, A, F, N, U, A),
    Kind.MANAGE: _row(A, F, F, N, U, A),
    Kind.AGENT: _row(A, F, F, N, U, A),
    Kind.PERSONAL: _row(A, N, N, N, U, A),
    Kind.INSTANCE_ADMIN: _row(F, F, F, F, U, A),
    Kind.NOT_YET: _row(N, N, N, N, U, N),
}
PUBLIC, CAPABILITY, SIGNED_IN = Kind.PUBLIC, Kind.CAPABILITY, Kind.SIGNED_IN
READ, WRITE, MANAGE, AGENT = Kind.READ, Kind.WRITE, Kind.MANAGE, Kind.AGENT
PERSONAL = Kind.PERSONAL
INSTANCE_ADMIN = Kind.INSTANCE_ADMIN


class Auth(StrEnum):
    """How a request carries the role's credentials."""

    KEY = "key"  # Authorization: Bearer <key> (REST, GraphQL, file_stream)
    COOKIE = "cookie"  # the UI session cookie of the role's signed-in browser
    FRESH_COOKIE = "fresh cookie"  # a browser signed in just for this request (logout)
    FORM = "form"  # no credentials sent; the key goes in the form (sign-in)


@dataclass(frozen=True)
class Route:
    """One route of the app (method and path as declared) and how to call it."""

    method: str
    path: str
    kind: Kind
    auth: Auth = Auth.KEY
    url: Maker | None = None
    params: Maker | None = None
    json: Maker | None = None
    form: Maker | None = None
    content: bytes | None = None
    setup: Callable[[World], Fresh] | None = None
    # A redirect to /login means "sign in first", except where it is the point (logout).
    login_redirect_allowed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """How the app names the route."""
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Field:
    """One root field of the GraphQL schema and a minimal valid operation using it."""

    operation: str  # "query" or "mutation"
    name: str
    kind: Kind
    document: str
    variables: Maker = field(default=lambda w, f: {})
    setup: Callable[[World], Fresh] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """How the schema names the field."""
        return (self.operation, self.name)

    def __str__(self) -> str:
        return f"graphql {self.operation} {self.name}"


def rest(method: str, path: str, kind: Kind, **options: Any) -> Route:
    """A REST route entry."""
    return Route(method, path, kind, **options)


def page(method: str, path: str, kind: Kind, **options: Any) -> Route:
    """A UI route entry: the role signs in through /login and sends its cookie."""
    return Route(method, path, kind, auth=options.pop("auth", Auth.COOKIE), **options)


def gql(operation: str, name: str, kind: Kind, document: str, **options: Any) -> Field:
    """A GraphQL root field entry."""
    return Field(operation, name, kind, document, **options)


# --- fresh objects ---------------------------------------------------------------------------


def _new(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_item(w: World) -> Fresh:
    """A pending item on the main queue (for cancel)."""
    return {"item_id": w.enqueue(w.queue)}


def claimable(w: World) -> Fresh:
    """A pending item on the queue that claims and pops read."""
    return {"item_id": w.enqueue(w.claim_queue)}


def claimed(w: World) -> Fresh:
    """An item alice's agent holds (for reports, acks, adoption)."""
    return {"item_id": w.claimed_item()}


def fresh_queue(w: World) -> Fresh:
    """A queue of `t` to update or delete."""
    name, node = w.fresh_queue()
    return {"name": name, "queue_node": node}


def _dataset_md5() -> str:
    return hashlib.md5(DATASET_FILE[1].encode()).hexdigest()


def fresh_run(w: World) -> Fresh:
    """A running run of `t/proj` to stop, stream to or delete."""
    name, node = w.fresh_run()
    return {"run": name, "run_name": name, "run_node": node}


def fresh_run_image(w: World) -> Fresh:
    """A PNG file uploaded to the logged run (the run page shows it inline)."""
    name = _new("shown") + ".png"
    created = w.gql(
        "owner",
        "mutation($i: CreateRunFilesInput!) { createRunFiles(input: $i) { files { uploadUrl } } }",
        {"i": {"entityName": w.team, "projectName": w.project, "runName": w.run, "files": [name]}},
    )
    url = created.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    assert httpx.put(url, content=b"\x89PNG\r\n\x1a\n").status_code == 200
    return {"image": name}


def fresh_run_file(w: World) -> Fresh:
    """A file uploaded to the logged run (to delete), by its node id."""
    name = _new("delete-me") + ".txt"
    created = w.gql(
        "owner",
        "mutation($i: CreateRunFilesInput!) { createRunFiles(input: $i) { files { uploadUrl } } }",
        {"i": {"entityName": w.team, "projectName": w.project, "runName": w.run, "files": [name]}},
    )
    url = created.json()["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    assert httpx.put(url, content=b"bye").status_code == 200
    found = w.gql(
        "owner",
        "query($e: String, $p: String, $r: String!, $n: [String]) { project(name: $p,"
        " entityName: $e) { run(name: $r) { files(names: $n) { edges { node { id } } } } } }",
        {"e": w.team, "p": w.project, "r": w.run, "n": [name]},
    )
    edges = found.json()["data"]["project"]["run"]["files"]["edges"]
    return {"file_node": edges[0]["node"]["id"]}


def logged_run(w: World) -> Fresh:
    """A run of `t/proj` with history at steps 0 and 1 (to rewind)."""
    name, node = w.fresh_run()
    lines = ['{"loss": 1.0, "_step": 0}', '{"loss": 0.5, "_step": 1}']
    body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}}
    w.as_owner("POST", f"/files/{w.team}/{w.project}/{name}/file_stream", json=body)
    return {"run": name, "run_name": name, "run_node": node}


def fresh_user(w: World) -> Fresh:
    """A new user, in no team (to add, disable)."""
    return {"username": w.fresh_user()}


def disabled_user(w: World) -> Fresh:
    """A new user, disabled (to enable)."""
    name = w.fresh_user()
    w.as_admin("POST", f"/api/v1/users/{name}/disable")
    return {"username": name}


def fresh_member(w: World) -> Fresh:
    """A new member of `t` (to re-role, remove)."""
    name = w.fresh_user()
    w.as_owner("POST", f"/api/v1/teams/{w.team}/members", json={"username": name})
    return {"username": name}


def owners_key(w: World) -> Fresh:
    """A new API key of alice's (to revoke)."""
    return {"key_id": w.owners_new_key()}


SWEEP_YAML = "method: grid\nparameters:\n  lr:\n    values: [0.1, 0.2]\n"


def fresh_sweep(w: World) -> Fresh:
    """A running sweep of `t/proj` (to read, join or pause)."""
    answer = w.api("owner").post(
        "/api/v1/sweeps", json={"entity": w.team, "project": w.project, "config": SWEEP_YAML}
    )
    assert answer.status_code == 201, answer.text
    return {"sweep": answer.json()["id"]}


def fresh_sweep_agent(w: World) -> Fresh:
    """An agent alice registered for a fresh sweep (to heartbeat)."""
    sweep = fresh_sweep(w)["sweep"]
    answer = w.gql(
        "owner",
        "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }",
        {"i": {"host": "h", "entityName": w.team, "projectName": w.project, "sweep": sweep}},
    )
    return {"sweep": sweep, "agent_node": answer.json()["data"]["createAgent"]["agent"]["id"]}


def pending_artifact(w: World) -> Fresh:
    """A pending artifact version of `t/proj`."""
    return {"artifact_node": w.pending_artifact()}


def committed_artifact(w: World) -> Fresh:
    """A committed version `v0` of a new collection in `t/proj` (to delete)."""
    return {"collection": w.committed_artifact()}


_LINK = (
    "mutation($i: LinkArtifactInput!) { linkArtifact(input: $i) {"
    " versionIndex artifactMembership { artifactCollection { id } } } }"
)


def linked_portfolio(w: World) -> Fresh:
    """The world's artifact linked into a fresh registered model of `t/model-registry`."""
    linked = w.gql(
        "owner",
        _LINK,
        {
            "i": {
                "artifactID": w.artifact_node,
                "artifactPortfolioName": _new("registered"),
                "entityName": w.team,
                "projectName": "model-registry",
            }
        },
    )
    membership = _ok_data(linked)["linkArtifact"]["artifactMembership"]
    return {"portfolio_node": membership["artifactCollection"]["id"]}


def owners_registry(w: World) -> Fresh:
    """A restricted registry alice made (she is its admin), by its project id."""
    made = w.gql(
        "owner",
        "mutation($i: UpsertModelInput!) { upsertModel(input: $i) { project { id } } }",
        {
            "i": {
                "name": "wandb-registry-" + _new("matrix"),
                "entityName": "runyard",
                "access": "RESTRICTED",
            }
        },
    )
    return {"registry_node": _ok_data(made)["upsertModel"]["project"]["id"]}


def registry_and_user(w: World) -> Fresh:
    """A restricted registry alice made, and a new user to give a role there."""
    name = w.fresh_user()
    return {**owners_registry(w), "user_node": w.user_node(name)}


def registry_and_team(w: World) -> Fresh:
    """A restricted registry alice made, and the team `t`'s entity id."""
    found = w.gql("owner", "query($n: String) { entity(name: $n) { id } }", {"n": w.team})
    node = _ok_data(found)["entity"]["id"]
    return {**owners_registry(w), "team_node": node}


def _ok_data(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), response.text
    return body["data"]


def patch_manifest(w: World) -> Fresh:
    """A distributed run's manifest part of a pending version (createArtifactManifest)."""
    node = w.pending_artifact()
    response = w.gql(
        "owner",
        "mutation($i: CreateArtifactManifestInput!) {"
        " createArtifactManifest(input: $i) { artifactManifest { id } } }",
        {
            "i": {
                "artifactID": node,
                "name": "wandb_manifest.patch.json",
                "digest": "d",
                "entityName": w.team,
                "projectName": w.project,
                "runName": w.run,
                "type": "PATCH",
            }
        },
    )
    body = response.json()
    assert not body.get("errors"), body
    return {"manifest_node": str(body["data"]["createArtifactManifest"]["artifactManifest"]["id"])}


def artifact_collection(w: World) -> Fresh:
    """The node id of the collection of `t/proj`'s logged artifact."""
    found = w.gql(
        "owner",
        "query($e: String, $p: String, $n: String!) {"
        " project(entityName: $e, name: $p) { artifactCollection(name: $n) { id } } }",
        {"e": w.team, "p": w.project, "n": w.artifact},
    ).json()
    return {"collection_node": found["data"]["project"]["artifactCollection"]["id"]}


def fresh_collection(w: World) -> Fresh:
    """A new collection of `t/proj` holding one pending version (to delete)."""
    response = w.gql(
        "owner",
        "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) "
        "{ artifact { artifactSequence { id } } } }",
        {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "artifactTypeName": "dataset",
                "artifactCollectionName": _new("matrix-coll"),
                "digest": uuid.uuid4().hex,
            }
        },
    )
    body = response.json()
    assert not body.get("errors"), body
    return {"collection_node": body["data"]["createArtifact"]["artifact"]["artifactSequence"]["id"]}


def _alias_target(w: World, alias: str) -> dict[str, str]:
    return {
        "entityName": w.team,
        "projectName": w.project,
        "artifactCollectionName": w.artifact,
        "alias": alias,
    }


def fresh_view(w: World) -> Fresh:
    """A new report of `t/proj` saved by its owner (to read, delete)."""
    found = w.gql(
        "owner",
        "mutation($i: UpsertViewInput!) { upsertView(input: $i) { view { id name } } }",
        {"i": {"entityName": w.team, "projectName": w.project, "spec": '{"blocks": []}'}},
    ).json()
    view = found["data"]["upsertView"]["view"]
    return {"view_node": view["id"], "view_name": view["name"]}


def fresh_link(w: World) -> Fresh:
    """A share link of a new report of `t/proj` (to re-scope, revoke, read through)."""
    view = fresh_view(w)
    found = w.gql(
        "owner",
        "mutation($i: CreateAccessTokenInput!) { createAccessToken(input: $i) {"
        " accessToken { token } } }",
        {"i": {"viewId": view["view_node"], "projects": []}},
    ).json()
    return {**view, "token": found["data"]["createAccessToken"]["accessToken"]["token"]}


def fill(path: str, w: World, f: Fresh) -> str:
    """The route's path with the world's objects (fresh ones first) in its placeholders."""
    values = {
        "entity": w.team,
        "team": w.team,
        "project": w.project,
        "run": w.run,
        "run_name": w.run,
        "name": w.queue,
        "item_id": w.item,
        **f,
    }
    return path.format(**values)


# --- automations (tests/test_automations.py) ---------------------------------------------


def fresh_secret(w: World) -> Fresh:
    """A team secret of `t` (to delete)."""
    name = "S_" + uuid.uuid4().hex[:8]
    w.as_owner("POST", f"/api/v1/entities/{w.team}/secrets", json={"name": name, "value": "v"})
    return {"name": name}


def _project_node(w: World) -> str:
    found = w.gql(
        "owner",
        "query($e: String, $p: String) { project(entityName: $e, name: $p) { id } }",
        {"e": w.team, "p": w.project},
    )
    return str(found.json()["data"]["project"]["id"])


def _trigger_input(w: World) -> dict[str, Any]:
    return {
        "name": _new("auto"),
        "enabled": True,
        "scopeType": "PROJECT",
        "scopeID": _project_node(w),
        "triggeringEventType": "RUN_STATE",
        "eventFilter": json.dumps(
            {"run_filter": '{"$and": []}', "run_state_filter": {"states": ["FAILED"]}}
        ),
        "triggeredActionType": "NO_OP",
        "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
    }


def fresh_trigger(w: World) -> Fresh:
    """An automation of `t/proj` (to update, delete)."""
    created = w.gql(
        "owner",
        "mutation($i: CreateFilterTriggerInput!) { createFilterTrigger(input: $i) "
        "{ trigger { id } } }",
        {"i": _trigger_input(w)},
    )
    return {"trigger": str(created.json()["data"]["createFilterTrigger"]["trigger"]["id"])}


# --- REST and UI routes ----------------------------------------------------------------------


def _artifact_url(w: World, rest: str = "/ds") -> str:
    """A page of the logged artifact `ds` (type `dataset`) in the artifact browser."""
    return f"/{w.team}/{w.project}/artifacts/dataset{rest}"


def _not_yet_url(w: World, path: str) -> str:
    """A concrete URL for a page route that may end in `{rest:path}`."""
    return fill(path.replace("{rest:path}", "some/thing"), w, {})


RUN = "/api/v1/runs/{entity}/{project}/{run}"
ARTIFACTS = "/{entity}/{project}/artifacts"
VERSION = ARTIFACTS + "/{type_name}/{collection}/{version}"
UI_RUN = "/ui/api/runs/{entity}/{project}/{run}"
UI_PROJECT = "/ui/api/projects/{entity}/{project}"
WS_VIEWS = "/api/v1/projects/{entity}/{project}/workspace-views"
VIEW_BODY = {"layout": {"sections": [{"name": "s", "panels": [{"kind": "line", "key": "loss"}]}]}}


def _media_url(w: World) -> str:
    """The UI URL of one of the world run's uploaded files."""
    return fill(UI_RUN, w, {}) + "/media/" + w.run_file


REGISTRATION = {"name": "matrix-agent", "queues": ["t/q"], "capacity": {"gpus": 1}}
A_TXT_MD5 = "XrY7u+Ae7tCTyyK7j1rNww=="  # base64 MD5 of "hello world"
HISTORY_POST = {
    "files": {"wandb-history.jsonl": {"offset": 0, "content": ['{"loss": 1.0, "_step": 0}']}}
}

ROUTES: list[Route] = [
    # Health, metrics (web-hardening may put /metrics behind an optional token) and docs.
    rest("GET", "/healthz", PUBLIC),
    rest("GET", "/readyz", PUBLIC),
    rest("GET", "/metrics", PUBLIC),
    rest("GET", "/openapi.json", PUBLIC),
    rest("GET", "/docs", PUBLIC),
    rest("GET", "/docs/oauth2-redirect", PUBLIC),
    rest("GET", "/redoc", PUBLIC),
    # The W&B wire protocol (GraphQL's fields have their own table below).
    rest("POST", "/graphql", SIGNED_IN, json=lambda w, f: {"query": "{ viewer { id } }"}),
    rest(
        "POST",
        "/files/{entity}/{project}/{run_name}/file_stream",
        WRITE,
        json=lambda w, f: HISTORY_POST,
        setup=fresh_run,
    ),
    rest("PUT", "/storage/{key:path}", CAPABILITY, url=lambda w, f: w.upload_url, content=b"x"),
    rest("GET", "/storage/{key:path}", CAPABILITY, url=lambda w, f: w.run_file_url),
    # The CORS preflight of a capability URL carries no credentials and grants nothing.
    rest("OPTIONS", "/storage/{key:path}", PUBLIC, url=lambda w, f: w.upload_url),
    # Runs.
    rest("GET", "/api/v1/viewer", SIGNED_IN),
    rest("GET", "/api/v1/runs", READ, params=lambda w, f: {"project": f"{w.team}/{w.project}"}),
    # Sweeps.
    rest(
        "POST",
        "/api/v1/sweeps",
        WRITE,
        json=lambda w, f: {"entity": w.team, "project": w.project, "config": SWEEP_YAML},
    ),
    rest("GET", "/api/v1/sweeps", READ, params=lambda w, f: {"project": f"{w.team}/{w.project}"}),
    rest("GET", "/api/v1/sweeps/{entity}/{project}/{sweep}", READ, setup=fresh_sweep),
    rest(
        "POST",
        "/api/v1/sweeps/{entity}/{project}/{sweep}/state",
        WRITE,
        json=lambda w, f: {"state": "PAUSED"},
        setup=fresh_sweep,
    ),
    rest("GET", RUN, READ),
    rest("POST", RUN + "/stop", WRITE, setup=fresh_run),
    rest("GET", RUN + "/history", READ),
    rest("GET", RUN + "/history/sampled", READ),
    rest("GET", RUN + "/system", READ),
    rest("GET", RUN + "/launch-item", READ),
    rest("GET", RUN + "/console", READ),
    rest("GET", RUN + "/files", READ),
    # Saved workspace views (the caller's own) and the media a run set logged.
    rest("GET", WS_VIEWS, READ),
    rest("PUT", WS_VIEWS + "/{name}", READ, json=lambda w, f: VIEW_BODY),
    rest("DELETE", WS_VIEWS + "/{name}", READ),
    rest(
        "GET",
        "/api/v1/projects/{entity}/{project}/media",
        READ,
        params=lambda w, f: {"runs": w.run},
    ),
    rest(
        "GET",
        RUN + "/files/{name:path}",
        READ,
        url=lambda w, f: fill(RUN, w, f) + "/files/" + w.run_file,
    ),
    rest("GET", RUN + "/lineage", READ),
    rest("GET", RUN + "/alerts", READ),
    # Automations: team secrets, integrations, the delivery log.
    rest("GET", "/api/v1/entities/{entity}/secrets", WRITE),
    rest(
        "POST",
        "/api/v1/entities/{entity}/secrets",
        MANAGE,
        json=lambda w, f: {"name": "S_" + uuid.uuid4().hex[:8], "value": "matrix"},
    ),
    rest("DELETE", "/api/v1/entities/{entity}/secrets/{name}", MANAGE, setup=fresh_secret),
    rest("GET", "/api/v1/entities/{entity}/integrations", READ),
    rest(
        "POST",
        "/api/v1/entities/{entity}/integrations",
        MANAGE,
        json=lambda w, f: {"kind": "webhook", "name": _new("hook"), "url": "http://127.0.0.1:9/"},
    ),
    rest("GET", "/api/v1/projects/{entity}/{project}/automations", READ),
    # Launch queues and items.
    rest(
        "POST",
        "/api/v1/queues",
        MANAGE,
        json=lambda w, f: {"name": _new("new"), "entity": w.team, "config": QUEUE_CONFIG},
    ),
    rest("GET", "/api/v1/queues", READ, params=lambda w, f: {"entity": w.team}),
    rest("GET", "/api/v1/queues/{entity}/{name}", READ),
    rest(
        "PUT",
        "/api/v1/queues/{entity}/{name}",
        MANAGE,
        json=lambda w, f: {"name": f["name"], "entity": w.team, "config": {"env": {"V": "2"}}},
        setup=fresh_queue,
    ),
    rest("DELETE", "/api/v1/queues/{entity}/{name}", MANAGE, setup=fresh_queue),
    rest(
        "POST",
        "/api/v1/queues/{entity}/{name}/items",
        WRITE,
        json=lambda w, f: {"run_spec": {"project": w.project, "entry_point": ENTRY_POINT}},
    ),
    rest("GET", "/api/v1/queues/{entity}/{name}/items", READ),
    rest("GET", "/api/v1/items/{item_id}", READ),
    rest("PATCH", "/api/v1/items/{item_id}", WRITE, json=lambda w, f: {"priority": "high"}),
    rest("POST", "/api/v1/items/{item_id}/cancel", WRITE, setup=fresh_item),
    # Agents: registering is a write; speaking as an agent is for whoever registered it.
    rest(
        "POST",
        "/api/v1/agents",
        WRITE,
        params=lambda w, f: {"entity": w.team},
        json=lambda w, f: REGISTRATION,
    ),
    rest("GET", "/api/v1/agents", READ, params=lambda w, f: {"entity": w.team}),
    rest(
        "GET",
        "/api/v1/usage/gpu-hours",
        READ,
        params=lambda w, f: {"entity": w.team, "by": "user", "since": "7d"},
    ),
    rest(
        "POST",
        "/api/v1/items/{item_id}/report",
        AGENT,
        json=lambda w, f: {"agent_id": w.agent, "state": "launching"},
        setup=claimed,
    ),
    rest(
        "POST",
        "/api/v1/agents/claim",
        AGENT,
        json=lambda w, f: {"agent_id": w.agent, "queues": [f"{w.team}/{w.claim_queue}"]},
        setup=claimable,
    ),
    rest(
        "POST",
        "/api/v1/agents/heartbeat",
        AGENT,
        json=lambda w, f: {"agent_id": w.agent, "status": "polling", "capacity": {"gpus": 8}},
    ),
    rest(
        "POST",
        "/api/v1/agents/adopt",
        AGENT,
        json=lambda w, f: {"agent_id": w.agent, "item_ids": [f["item_id"]]},
        setup=claimed,
    ),
    # Artifacts: committed versions, and W&B's own file download URLs.
    rest(
        "GET",
        "/api/v1/artifacts/id/{node_id}",
        READ,
        url=lambda w, f: f"/api/v1/artifacts/id/{w.artifact_node}",
    ),
    rest(
        "GET",
        "/api/v1/artifacts/{entity}/{project}/{name}",
        READ,
        url=lambda w, f: f"/api/v1/artifacts/{w.team}/{w.project}/{w.artifact}:v0",
    ),
    rest(
        "GET",
        "/artifacts/{entity}/{hexhash}",
        READ,
        url=lambda w, f: f"/artifacts/{w.team}/{_dataset_md5()}",
    ),
    rest(
        "GET",
        "/artifactsV2/{region}/{entity}/{project}/{collection}/{birth_id}/{hexhash}/{name}",
        READ,
        url=lambda w, f: (
            f"/artifactsV2/default/{w.team}/{w.project}/{w.artifact}/{w.artifact_node}/"
            f"{_dataset_md5()}/{DATASET_FILE[0]}"
        ),
    ),
    rest(
        "GET",
        "/artifactsV2/{region}/{entity}/{birth_id}/{hexhash}",
        READ,
        url=lambda w, f: f"/artifactsV2/default/{w.team}/{w.artifact_node}/{_dataset_md5()}",
    ),
    rest(
        "GET",
        "/artifactsV2/{region}/{entity}/{project}/{collection}/{artifact_id}/{birth_id}/"
        "{hexhash}/{name}",
        READ,
        url=lambda w, f: (
            f"/artifactsV2/default/{w.team}/{w.project}/{w.artifact}/{w.artifact_node}/"
            f"{w.artifact_node}/{_dataset_md5()}/{DATASET_FILE[0]}"
        ),
    ),
    # People: users (instance admins), teams (their admins), API keys (their owners).
    rest("POST", "/api/v1/users", INSTANCE_ADMIN, json=lambda w, f: {"username": _new("u")}),
    rest("GET", "/api/v1/users", INSTANCE_ADMIN),
    rest("POST", "/api/v1/users/{username}/disable", INSTANCE_ADMIN, setup=fresh_user),
    rest("POST", "/api/v1/users/{username}/enable", INSTANCE_ADMIN, setup=disabled_user),
    rest("POST", "/api/v1/teams", SIGNED_IN, json=lambda w, f: {"name": _new("team")}),
    rest("GET", "/api/v1/teams", SIGNED_IN),
    rest("GET", "/api/v1/teams/{team}/members", READ),
    rest(
        "POST",
        "/api/v1/teams/{team}/members",
        MANAGE,
        json=lambda w, f: {"username": f["username"], "role": "viewer"},
        setup=fresh_user,
    ),
    rest(
        "PATCH",
        "/api/v1/teams/{team}/members/{username}",
        MANAGE,
        json=lambda w, f: {"role": "viewer"},
        setup=fresh_member,
    ),
    rest("DELETE", "/api/v1/teams/{team}/members/{username}", MANAGE, setup=fresh_member),
    rest(
        "POST",
        "/api/v1/teams/{team}/service-accounts",
        MANAGE,
        json=lambda w, f: {"description": "matrix"},
    ),
    rest("POST", "/api/v1/keys", SIGNED_IN, json=lambda w, f: {"description": "matrix"}),
    rest("GET", "/api/v1/keys", SIGNED_IN),
    rest("DELETE", "/api/v1/keys/{key_id}", PERSONAL, setup=owners_key),
    # UI pages and the data their scripts load.
    page("GET", "/login", PUBLIC),
    page(
        "POST",
        "/login",
        SIGNED_IN,
        auth=Auth.FORM,
        form=lambda w, f: {"api_key": f["key"], "next": "/"},
    ),
    page("POST", "/logout", PUBLIC, auth=Auth.FRESH_COOKIE, login_redirect_allowed=True),
    page("GET", "/favicon.ico", PUBLIC),
    page("MOUNT", "/static/ui", PUBLIC, url=lambda w, f: "/static/ui/build/app.css"),
    page("GET", "/", SIGNED_IN),
    page("GET", "/launch", SIGNED_IN),
    page("GET", "/launch/usage", SIGNED_IN),
    # W&B's URLs (`/<entity>/<project>/...`).
    page("GET", "/{entity}/{project}", READ),
    page("GET", "/{entity}/{project}/workspace", READ),
    page("GET", "/{entity}/{project}/overview", READ),
    page(
        "POST",
        "/{entity}/{project}/overview/description",
        WRITE,
        form=lambda w, f: {"description": "Set by the authz matrix."},
    ),
    page("GET", "/{entity}", READ),
    page("GET", "/{entity}/{project}/table", READ),
    page("GET", "/{entity}/{project}/table.csv", READ),
    page("GET", "/{entity}/{project}/runs/{run}", READ),
    page(
        "GET",
        "/{entity}/{project}/runs/{run}/{tab}",
        READ,
        url=lambda w, f: f"/{w.team}/{w.project}/runs/{w.run}/files",
    ),
    page(
        "GET",
        "/{entity}/{project}/runs/{run}/files/{name:path}",
        READ,
        url=lambda w, f: f"/{w.team}/{w.project}/runs/{w.run}/files/{w.run_file}",
    ),
    page("GET", "/{entity}/{project}/jobs", READ),
    page("GET", ARTIFACTS, READ),
    page("GET", ARTIFACTS + "/{type_name}", READ, url=lambda w, f: _artifact_url(w, "")),
    page("GET", ARTIFACTS + "/{type_name}/{collection}", READ, url=lambda w, f: _artifact_url(w)),
    page("GET", VERSION, READ, url=lambda w, f: _artifact_url(w, "/ds/v0")),
    page("GET", VERSION + "/{tab}", READ, url=lambda w, f: _artifact_url(w, "/ds/v0/lineage")),
    *(
        page(
            "POST",
            VERSION + edit,
            WRITE,
            url=lambda w, f, e=edit: _artifact_url(w, "/ds/v0" + e),
            form=form,
        )
        for edit, form in (
            ("/aliases/add", lambda w, f: {"alias": "matrix"}),
            ("/aliases/remove", lambda w, f: {"alias": "matrix-none"}),
            ("/tags/add", lambda w, f: {"tag": "matrix"}),
            ("/tags/remove", lambda w, f: {"tag": "matrix-none"}),
            ("/description", lambda w, f: {"description": "matrix"}),
        )
    ),
    page(
        "POST",
        ARTIFACTS + "/{type_name}/{collection}/description",
        WRITE,
        url=lambda w, f: _artifact_url(w, "/ds/description"),
        form=lambda w, f: {"description": "matrix"},
    ),
    page(
        "POST",
        ARTIFACTS + "/{type_name}/{collection}/delete",
        WRITE,
        url=lambda w, f: _artifact_url(w, f"/{f['collection']}/delete"),
        form=lambda w, f: {"confirm": "yes"},
        setup=committed_artifact,
    ),
    page(
        "POST",
        VERSION + "/delete",
        WRITE,
        url=lambda w, f: _artifact_url(w, f"/{f['collection']}/v0/delete"),
        form=lambda w, f: {"confirm": "yes", "delete_aliases": "yes"},
        setup=committed_artifact,
    ),
    # The Registry's pages: the core registry `model` is open to everyone in the organization.
    page("GET", "/registry", PUBLIC),
    page("GET", "/registry/{name}", PUBLIC, url=lambda w, f: "/registry/model"),
    page("GET", "/orgs/{org}/registry", SIGNED_IN, url=lambda w, f: "/orgs/runyard/registry"),
    page(
        "GET",
        "/orgs/{org}/registry/{name}",
        SIGNED_IN,
        url=lambda w, f: "/orgs/runyard/registry/model",
    ),
    page("GET", "/{entity}/{project}/sweeps", READ),
    page("GET", "/{entity}/{project}/sweeps/{sweep}", READ, setup=fresh_sweep),
    page(
        "POST",
        "/{entity}/{project}/sweeps/{sweep}/state",
        WRITE,
        form=lambda w, f: {"state": "PAUSED"},
        setup=fresh_sweep,
    ),
    page("GET", "/{entity}/{project}/reports", READ),
    page("POST", "/{entity}/{project}/reports", WRITE, form=lambda w, f: {"title": "Matrix"}),
    page(
        "POST",
        "/{entity}/{project}/reports/{slug}/edit",
        WRITE,
        url=lambda w, f: f"/{w.team}/{w.project}/reports/Matrix--{f['view_node']}/edit",
        form=lambda w, f: {"title": "Matrix, edited"},
        setup=fresh_view,
    ),
    page(
        "GET",
        "/{entity}/{project}/reports/{slug}",
        READ,
        url=lambda w, f: f"/{w.team}/{w.project}/reports/Matrix--{f['view_node']}",
        setup=fresh_view,
    ),
    page("GET", "/{entity}/{project}/automations", READ),
    # Earlier UI URLs and W&B's runs list redirect without looking anything up.
    page("GET", "/{entity}/{project}/runs", PUBLIC),
    page("GET", "/projects/{entity}/{project}", PUBLIC),
    page("GET", "/projects/{entity}/{project}/runs", PUBLIC),
    page("GET", "/projects/{entity}/{project}/runs.csv", PUBLIC),
    page("GET", "/runs/{entity}/{project}/{run}", PUBLIC),
    page("GET", "/launch/{entity}/{name}", READ),
    page(
        "GET",
        "/launch/items/{item_id}/run",
        READ,
        url=lambda w, f: f"/launch/items/{w.launched_item}/run",
    ),
    page(
        "GET", "/launch/items/{item_id}", READ, url=lambda w, f: f"/launch/items/{w.launched_item}"
    ),
    page("GET", "/launch/agents/{agent_id}", READ, url=lambda w, f: f"/launch/agents/{w.agent}"),
    page("POST", "/launch/items/{item_id}/priority", WRITE, form=lambda w, f: {"priority": "high"}),
    page("POST", "/launch/items/{item_id}/cancel", WRITE, setup=fresh_item),
    page("GET", "/settings/keys", SIGNED_IN),
    page("POST", "/settings/keys", SIGNED_IN, form=lambda w, f: {"description": "matrix"}),
    page("POST", "/settings/keys/{key_id}/revoke", PERSONAL, setup=owners_key),
    page("GET", "/teams", SIGNED_IN),
    page("POST", "/teams", SIGNED_IN, form=lambda w, f: {"name": _new("team")}),
    page("GET", "/teams/{team}", READ),
    page(
        "POST",
        "/teams/{team}/members",
        MANAGE,
        form=lambda w, f: {"username": f["username"], "role": "viewer"},
        setup=fresh_user,
    ),
    page(
        "POST",
        "/teams/{team}/members/{username}/role",
        MANAGE,
        form=lambda w, f: {"role": "viewer"},
        setup=fresh_member,
    ),
    page("POST", "/teams/{team}/members/{username}/remove", MANAGE, setup=fresh_member),
    page(
        "POST",
        "/teams/{team}/service-accounts",
        MANAGE,
        form=lambda w, f: {"description": "matrix"},
    ),
    page("GET", UI_RUN + "/sampled", READ),
    page("GET", UI_RUN + "/system", READ),
    page("GET", UI_RUN + "/console", READ),
    page(
        "GET",
        UI_RUN + "/image/{name:path}",
        READ,
        url=lambda w, f: f"/ui/api/runs/{w.team}/{w.project}/{w.run}/image/{f['image']}",
        setup=fresh_run_image,
    ),
    page("GET", UI_PROJECT + "/metric", READ, params=lambda w, f: {"key": "loss", "runs": w.run}),
    # A share link is the credential of the report it opens: anyone holding it reads.
    page(
        "GET",
        "/ui/api/shared-reports/metric",
        CAPABILITY,
        params=lambda w, f: {
            "accessToken": f["token"],
            "entity": w.team,
            "project": w.project,
            "key": "loss",
            "runs": w.run,
        },
        setup=fresh_link,
    ),
    page(
        "GET",
        UI_PROJECT + "/changes",
        READ,
        params=lambda w, f: {"since": "2000-01-01T00:00:00Z", "wait": 0},
    ),  # Saved workspace views are the caller's own: any reader of the project keeps some.
    page("GET", UI_PROJECT + "/workspace-views", READ),
    page("PUT", UI_PROJECT + "/workspace-views/{name}", READ, json=lambda w, f: VIEW_BODY),
    page("DELETE", UI_PROJECT + "/workspace-views/{name}", READ),
    page("GET", UI_PROJECT + "/media", READ, params=lambda w, f: {"runs": w.run}),
    page("GET", UI_RUN + "/media/{name:path}", READ, url=lambda w, f: _media_url(w)),
]


# --- GraphQL root fields ---------------------------------------------------------------------


def _queue_node(w: World) -> str:
    return encode_id("RunQueue", w.queue_id)


def _agent_node(w: World) -> str:
    return encode_id("LaunchAgent", w.agent)


def _item_node(f: Fresh) -> str:
    return encode_id("RunQueueItem", f["item_id"])


PROJECT_READ = """query($e: String, $p: String, $r: String!) {
  %s(entityName: $e, name: $p) { id name run(name: $r) { id config } } }"""

FIELDS: list[Field] = [
    gql("query", "viewer", SIGNED_IN, "{ viewer { id username } }"),
    gql("query", "serverInfo", SIGNED_IN, "{ serverInfo { features { name } } }"),
    gql(
        "query",
        "project",
        READ,
        PROJECT_READ % "project",
        variables=lambda w, f: {"e": w.team, "p": w.project, "r": w.run},
    ),
    gql(
        "query",
        "model",
        READ,
        PROJECT_READ % "model",
        variables=lambda w, f: {"e": w.team, "p": w.project, "r": w.run},
    ),
    gql(
        "query",
        "entity",
        READ,
        "query($e: String) { entity(name: $e) { id name } }",
        variables=lambda w, f: {"e": w.team},
    ),
    gql(
        "query",
        "launchAgent",
        AGENT,
        "query($id: ID!) { launchAgent(id: $id) { id agentStatus } }",
        variables=lambda w, f: {"id": _agent_node(w)},
    ),
    gql(
        "query",
        "artifact",
        READ,
        "query($id: ID!) { artifact(id: $id) { id state } }",
        variables=lambda w, f: {"id": w.artifact_node},
    ),
    gql(
        "query",
        "artifactCollection",
        READ,
        "query($id: ID!) { artifactCollection(id: $id) { id name } }",
        variables=lambda w, f: {"id": f["collection_node"]},
        setup=artifact_collection,
    ),
    gql(
        "mutation",
        "upsertBucket",
        WRITE,
        "mutation($i: UpsertBucketInput!) { upsertBucket(input: $i) { bucket { id } } }",
        variables=lambda w, f: {
            "i": {"name": _new("m"), "modelName": w.project, "entityName": w.team}
        },
    ),
    gql(
        "mutation",
        "createRunFiles",
        WRITE,
        "mutation($i: CreateRunFilesInput!) { createRunFiles(input: $i) { runID } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "runName": w.run,
                "files": ["matrix.txt"],
            }
        },
    ),
    gql(
        "mutation",
        "pushToRunQueueByName",
        WRITE,
        "mutation($i: PushToRunQueueByNameInput!) {"
        " pushToRunQueueByName(input: $i) { runQueueItemId } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "queueName": w.queue,
                "runSpec": json.dumps({"project": w.project, "entry_point": ENTRY_POINT}),
            }
        },
    ),
    gql(
        "mutation",
        "pushToRunQueue",
        WRITE,
        "mutation($i: PushToRunQueueInput!) { pushToRunQueue(input: $i) { runQueueItemId } }",
        variables=lambda w, f: {
            "i": {"queueID": _queue_node(w), "runSpec": json.dumps({"entry_point": ENTRY_POINT})}
        },
    ),
    gql(
        "mutation",
        "createLaunchAgent",
        WRITE,
        "mutation($i: CreateLaunchAgentInput!) { createLaunchAgent(input: $i) { launchAgentId } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "runQueues": [_queue_node(w)],
                "hostname": "matrix-host",
            }
        },
    ),
    gql(
        "mutation",
        "updateLaunchAgent",
        AGENT,
        "mutation($i: UpdateLaunchAgentInput!) { updateLaunchAgent(input: $i) { success } }",
        variables=lambda w, f: {"i": {"launchAgentId": _agent_node(w), "agentStatus": "POLLING"}},
    ),
    gql(
        "mutation",
        "popFromRunQueue",
        AGENT,
        "mutation($i: PopFromRunQueueInput!) { popFromRunQueue(input: $i) { runQueueItemId } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "queueName": w.claim_queue,
                "launchAgentId": _agent_node(w),
            }
        },
        setup=claimable,
    ),
    gql(
        "mutation",
        "ackRunQueueItem",
        AGENT,
        "mutation($i: AckRunQueueItemInput!) { ackRunQueueItem(input: $i) { success } }",
        variables=lambda w, f: {"i": {"runQueueItemId": _item_node(f), "runName": "acked"}},
        setup=claimed,
    ),
    gql(
        "mutation",
        "failRunQueueItem",
        AGENT,
        "mutation($i: RunQueueItemProblemInput!) { failRunQueueItem(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"runQueueItemId": _item_node(f), "message": "no", "stage": "agent"}
        },
        setup=claimed,
    ),
    gql(
        "mutation",
        "updateRunQueueItemWarning",
        AGENT,
        "mutation($i: RunQueueItemProblemInput!) {"
        " updateRunQueueItemWarning(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"runQueueItemId": _item_node(f), "message": "slow", "stage": "build"}
        },
        setup=claimed,
    ),
    gql(
        "mutation",
        "upsertRunQueue",
        MANAGE,
        "mutation($i: UpsertRunQueueInput!) { upsertRunQueue(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "queueName": _new("upserted"),
                "resourceType": "local-process",
                "resourceConfig": json.dumps({"resource_args": {"local-process": {}}}),
            }
        },
    ),
    gql(
        "mutation",
        "deleteRunQueues",
        MANAGE,
        "mutation($i: DeleteRunQueuesInput!) { deleteRunQueues(input: $i) { success } }",
        variables=lambda w, f: {"i": {"queueIDs": [f["queue_node"]]}},
        setup=fresh_queue,
    ),
    gql(
        "mutation",
        "updateArtifact",
        WRITE,
        "mutation($i: UpdateArtifactInput!) { updateArtifact(input: $i) { artifact { id } } }",
        variables=lambda w, f: {"i": {"artifactID": w.artifact_node, "description": "matrix"}},
    ),
    gql(
        "query",
        "view",
        READ,
        "query($id: ID!) { view(id: $id) { id spec } }",
        variables=lambda w, f: {"id": f["view_node"]},
        setup=fresh_view,
    ),
    gql(
        "mutation",
        "upsertView",
        WRITE,
        "mutation($i: UpsertViewInput!) { upsertView(input: $i) { view { id } } }",
        variables=lambda w, f: {
            "i": {"entityName": w.team, "projectName": w.project, "spec": '{"blocks": []}'}
        },
    ),
    gql(
        "mutation",
        "createAccessToken",
        WRITE,
        "mutation($i: CreateAccessTokenInput!) { createAccessToken(input: $i) {"
        " accessToken { token } } }",
        variables=lambda w, f: {"i": {"viewId": f["view_node"], "projects": []}},
        setup=fresh_view,
    ),
    gql(
        "mutation",
        "updateAccessTokenProjects",
        WRITE,
        "mutation($i: UpdateAccessTokenProjectsInput!) {"
        " updateAccessTokenProjects(input: $i) { success } }",
        variables=lambda w, f: {"i": {"token": f["token"], "projects": []}},
        setup=fresh_link,
    ),
    gql(
        "mutation",
        "revokeAccessToken",
        WRITE,
        "mutation($i: RevokeAccessTokenInput!) { revokeAccessToken(input: $i) { success } }",
        variables=lambda w, f: {"i": {"token": f["token"]}},
        setup=fresh_link,
    ),
    gql(
        "mutation",
        "deleteView",
        WRITE,
        "mutation($i: DeleteViewInput!) { deleteView(input: $i) { success } }",
        variables=lambda w, f: {"i": {"id": f["view_node"]}},
        setup=fresh_view,
    ),
    gql(
        "mutation",
        "addAliases",
        WRITE,
        "mutation($i: AddAliasesInput!) { addAliases(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"artifactID": w.artifact_node, "aliases": [_alias_target(w, "matrix")]}
        },
    ),
    gql(
        "mutation",
        "deleteAliases",
        WRITE,
        "mutation($i: DeleteAliasesInput!) { deleteAliases(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"artifactID": w.artifact_node, "aliases": [_alias_target(w, "matrix")]}
        },
    ),
    gql(
        "mutation",
        "deleteArtifact",
        WRITE,
        "mutation($i: DeleteArtifactInput!) { deleteArtifact(input: $i) { artifact { id } } }",
        variables=lambda w, f: {"i": {"artifactID": f["artifact_node"]}},
        setup=pending_artifact,
    ),
    gql(
        "mutation",
        "updateArtifactSequence",
        WRITE,
        "mutation($i: UpdateArtifactSequenceInput!) {"
        " updateArtifactSequence(input: $i) { artifactCollection { id } } }",
        variables=lambda w, f: {
            "i": {"artifactSequenceID": f["collection_node"], "description": "matrix"}
        },
        setup=fresh_collection,
    ),
    gql(
        "mutation",
        "moveArtifactSequence",
        WRITE,
        "mutation($i: MoveArtifactSequenceInput!) {"
        " moveArtifactSequence(input: $i) { artifactCollection { id } } }",
        variables=lambda w, f: {
            "i": {
                "artifactSequenceID": f["collection_node"],
                "destinationArtifactTypeName": "model",
            }
        },
        setup=fresh_collection,
    ),
    gql(
        "mutation",
        "deleteArtifactSequence",
        WRITE,
        "mutation($i: DeleteArtifactSequenceInput!) {"
        " deleteArtifactSequence(input: $i) { artifactCollection { state } } }",
        variables=lambda w, f: {"i": {"artifactSequenceID": f["collection_node"]}},
        setup=fresh_collection,
    ),
    gql(
        "mutation",
        "createArtifactCollectionTagAssignments",
        WRITE,
        "mutation($i: CreateArtifactCollectionTagAssignmentsInput!) {"
        " createArtifactCollectionTagAssignments(input: $i) { tags { name } } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "artifactCollectionName": w.artifact,
                "tags": [{"tagName": "matrix"}],
            }
        },
    ),
    gql(
        "mutation",
        "deleteArtifactCollectionTagAssignments",
        WRITE,
        "mutation($i: DeleteArtifactCollectionTagAssignmentsInput!) {"
        " deleteArtifactCollectionTagAssignments(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "artifactCollectionName": w.artifact,
                "tags": [{"tagName": "matrix"}],
            }
        },
    ),
    gql(
        "mutation",
        "upsertModel",
        WRITE,
        "mutation($i: UpsertModelInput!) { upsertModel(input: $i) { project { id } } }",
        variables=lambda w, f: {"i": {"name": w.project, "entityName": w.team}},
    ),
    gql(
        "mutation",
        "createDefaultResourceConfig",
        MANAGE,
        "mutation($i: CreateDefaultResourceConfigInput!) {"
        " createDefaultResourceConfig(input: $i) { defaultResourceConfigID } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "resource": "local-process",
                "config": json.dumps({"resource_args": {"local-process": {}}}),
            }
        },
    ),
    gql(
        "mutation",
        "createRunQueue",
        MANAGE,
        "mutation($i: CreateRunQueueInput!) { createRunQueue(input: $i) { queueID } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "queueName": _new("created"),
                "access": "PROJECT",
                "defaultResourceConfigID": w.draft_config,
            }
        },
    ),
    gql(
        "mutation",
        "createArtifact",
        WRITE,
        "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "artifactTypeName": "dataset",
                "artifactCollectionName": "matrix-ds",
                "digest": uuid.uuid4().hex,
                "clientID": uuid.uuid4().hex,
            }
        },
    ),
    gql(
        "mutation",
        "createArtifactManifest",
        WRITE,
        "mutation($i: CreateArtifactManifestInput!) {"
        " createArtifactManifest(input: $i) { artifactManifest { id } } }",
        variables=lambda w, f: {
            "i": {
                "artifactID": f["artifact_node"],
                "name": "wandb_manifest.json",
                "digest": "d",
                "entityName": w.team,
                "projectName": w.project,
                "runName": w.run,
            }
        },
        setup=pending_artifact,
    ),
    gql(
        "mutation",
        "updateArtifactManifest",
        WRITE,
        "mutation($i: UpdateArtifactManifestInput!) {"
        " updateArtifactManifest(input: $i) { artifactManifest { id } } }",
        variables=lambda w, f: {"i": {"artifactManifestID": f["manifest_node"]}},
        setup=patch_manifest,
    ),
    gql(
        "mutation",
        "createArtifactFiles",
        WRITE,
        "mutation($i: CreateArtifactFilesInput!) {"
        " createArtifactFiles(input: $i) { files { edges { node { id } } } } }",
        variables=lambda w, f: {
            "i": {
                "artifactFiles": [
                    {
                        "artifactID": f["artifact_node"],
                        "name": "a.txt",
                        "md5": "XrY7u+Ae7tCTyyK7j1rNww==",
                    }
                ]
            }
        },
        setup=pending_artifact,
    ),
    gql(
        "mutation",
        "commitArtifact",
        WRITE,
        "mutation($i: CommitArtifactInput!) { commitArtifact(input: $i) { artifact { id } } }",
        variables=lambda w, f: {"i": {"artifactID": w.artifact_node}},
    ),
    gql(
        "mutation",
        "completeMultipartUploadArtifact",
        WRITE,
        "mutation($i: CompleteMultipartUploadArtifactInput!) {"
        " completeMultipartUploadArtifact(input: $i) { digest } }",
        variables=lambda w, f: {
            "i": {
                "completeMultipartAction": "Abort",
                "completedParts": [],
                "artifactID": f["artifact_node"],
                "storagePath": "artifacts/0/files/none.bin",
                "uploadID": "none",
            }
        },
        setup=pending_artifact,
    ),
    gql(
        "mutation",
        "useArtifact",
        WRITE,
        "mutation($i: UseArtifactInput!) { useArtifact(input: $i) { artifact { id } } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "runName": w.run,
                "artifactID": w.artifact_node,
            }
        },
    ),
    gql(
        "mutation",
        "deleteRun",
        WRITE,
        "mutation($i: DeleteRunInput!) { deleteRun(input: $i) { clientMutationId } }",
        variables=lambda w, f: {"i": {"id": f["run_node"], "clientMutationId": "x"}},
        setup=fresh_run,
    ),
    gql(
        "mutation",
        "upsertSweep",
        WRITE,
        "mutation($i: UpsertSweepInput!) { upsertSweep(input: $i) { sweep { id } } }",
        variables=lambda w, f: {
            "i": {"entityName": w.team, "projectName": w.project, "config": SWEEP_YAML}
        },
    ),
    gql(
        "mutation",
        "createAgent",
        WRITE,
        "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }",
        variables=lambda w, f: {
            "i": {"host": "h", "entityName": w.team, "projectName": w.project, "sweep": f["sweep"]}
        },
        setup=fresh_sweep,
    ),
    gql(
        "mutation",
        "agentHeartbeat",
        WRITE,
        "mutation($i: AgentHeartbeatInput!) { agentHeartbeat(input: $i) { commands } }",
        variables=lambda w, f: {"i": {"id": f["agent_node"], "runState": "{}"}},
        setup=fresh_sweep_agent,
    ),
    gql(
        "mutation",
        "updateRunState",
        WRITE,
        "mutation($i: UpdateRunStateInput!) { updateRunState(input: $i) { success } }",
        variables=lambda w, f: {"i": {"id": f["run_node"], "state": "failed"}},
        setup=fresh_run,
    ),
    gql(
        "mutation",
        "deleteFiles",
        WRITE,
        "mutation($f: [ID!]!) { deleteFiles(input: {files: $f}) { success } }",
        variables=lambda w, f: {"f": [f["file_node"]]},
        setup=fresh_run_file,
    ),
    gql(
        "mutation",
        "rewindRun",
        WRITE,
        "mutation($i: RewindRunInput!) { rewindRun(input: $i) { rewoundRun { id } } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "runName": f["run"],
                "metricName": "_step",
                "metricValue": 0,
            }
        },
        setup=logged_run,
    ),
    gql(
        "mutation",
        "notifyScriptableRunAlert",
        WRITE,
        "mutation($i: NotifyScriptableRunAlertInput!) {"
        " notifyScriptableRunAlert(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "projectName": w.project,
                "runName": w.run,
                "title": _new("alert"),
                "text": "matrix",
                "waitDuration": 0,
            }
        },
    ),
    # Automations, integrations and team secrets.
    gql(
        "mutation",
        "createFilterTrigger",
        WRITE,
        "mutation($i: CreateFilterTriggerInput!) { createFilterTrigger(input: $i) "
        "{ trigger { id } } }",
        variables=lambda w, f: {"i": _trigger_input(w)},
    ),
    gql(
        "mutation",
        "updateFilterTrigger",
        WRITE,
        "mutation($i: UpdateFilterTriggerInput!) { updateFilterTrigger(input: $i) "
        "{ trigger { id } } }",
        variables=lambda w, f: {"i": {"id": f["trigger"], "description": "changed"}},
        setup=fresh_trigger,
    ),
    gql(
        "mutation",
        "deleteTrigger",
        WRITE,
        "mutation($i: DeleteTriggerInput!) { deleteTrigger(input: $i) { success } }",
        variables=lambda w, f: {"i": {"triggerID": f["trigger"]}},
        setup=fresh_trigger,
    ),
    gql(
        "mutation",
        "createGenericWebhookIntegration",
        MANAGE,
        "mutation($i: CreateGenericWebhookIntegrationInput!) {"
        " createGenericWebhookIntegration(input: $i) { integration { id } } }",
        variables=lambda w, f: {
            "i": {"entityName": w.team, "name": _new("hook"), "urlEndpoint": "http://127.0.0.1:9/"}
        },
    ),
    gql(
        "mutation",
        "insertSecret",
        MANAGE,
        "mutation($i: InsertSecretInput!) { insertSecret(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "entityName": w.team,
                "secretName": "S_" + uuid.uuid4().hex[:8],
                "secretValue": "v",
            }
        },
    ),
    gql(
        "mutation",
        "deleteSecret",
        MANAGE,
        "mutation($i: DeleteSecretInput!) { deleteSecret(input: $i) { success } }",
        variables=lambda w, f: {"i": {"entityName": w.team, "secretName": f["name"]}},
        setup=fresh_secret,
    ),
    # People: users are the instance admins', keys their owners'.
    gql("query", "users", INSTANCE_ADMIN, "{ users { edges { node { id } } } }"),
    gql(
        "query",
        "user",
        PERSONAL,
        "query($u: String) { user(userName: $u) { id username } }",
        variables=lambda w, f: {"u": "alice"},
    ),
    gql("query", "organization", SIGNED_IN, "{ organization { id name } }"),
    gql(
        "query",
        "models",
        READ,
        "query($e: String) { models(entityName: $e) { edges { node { id } } } }",
        variables=lambda w, f: {"e": w.team},
    ),
    gql(
        "mutation",
        "createUser",
        INSTANCE_ADMIN,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
        variables=lambda w, f: {"i": {"email": f"{_new('u')}@example.com"}},
    ),
    gql(
        "mutation",
        "updateUser",
        PERSONAL,
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } } }",
        variables=lambda w, f: {"i": {"id": w.user_node("alice"), "defaultEntity": "alice"}},
    ),
    gql(
        "mutation",
        "createTeam",
        SIGNED_IN,
        "mutation($i: CreateTeamInput!) { createTeam(input: $i) { entity { id } } }",
        variables=lambda w, f: {"i": {"teamName": _new("team")}},
    ),
    gql(
        "mutation",
        "createInvite",
        MANAGE,
        "mutation($i: CreateInviteInput!) { createInvite(input: $i) { invite { id } } }",
        variables=lambda w, f: {
            "i": {"entityName": w.team, "username": f["username"], "role": "viewer"}
        },
        setup=fresh_user,
    ),
    gql(
        "mutation",
        "deleteInvite",
        MANAGE,
        "mutation($i: DeleteInviteInput!) { deleteInvite(input: $i) { success } }",
        variables=lambda w, f: {"i": {"id": w.user_node(f["username"]), "entityName": w.team}},
        setup=fresh_member,
    ),
    gql(
        "mutation",
        "createServiceAccount",
        MANAGE,
        "mutation($i: CreateServiceAccountInput!) {"
        " createServiceAccount(input: $i) { user { id } } }",
        variables=lambda w, f: {"i": {"entityName": w.team, "description": "matrix"}},
    ),
    gql(
        "mutation",
        "generateApiKey",
        SIGNED_IN,
        "mutation($i: GenerateApiKeyInput!) { generateApiKey(input: $i) { apiKey { id } } }",
        variables=lambda w, f: {"i": {"description": "matrix"}},
    ),
    gql(
        "mutation",
        "deleteApiKey",
        PERSONAL,
        "mutation($i: DeleteApiKeyInput!) { deleteApiKey(input: $i) { success } }",
        variables=lambda w, f: {"i": {"id": encode_id("ApiKey", f["key_id"])}},
        setup=owners_key,
    ),
    gql(
        "mutation",
        "linkArtifact",
        WRITE,
        _LINK,
        variables=lambda w, f: {
            "i": {
                "artifactID": w.artifact_node,
                "artifactPortfolioName": "matrix-model",
                "entityName": w.team,
                "projectName": "model-registry",
                "aliases": [{"alias": "matrix", "artifactCollectionName": "matrix-model"}],
            }
        },
    ),
    gql(
        "mutation",
        "unlinkArtifact",
        WRITE,
        "mutation($i: UnlinkArtifactInput!) { unlinkArtifact(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"artifactID": w.artifact_node, "artifactPortfolioID": f["portfolio_node"]}
        },
        setup=linked_portfolio,
    ),
    gql(
        "mutation",
        "updateArtifactPortfolio",
        WRITE,
        "mutation($i: UpdateArtifactPortfolioInput!) {"
        " updateArtifactPortfolio(input: $i) { artifactCollection { id } } }",
        variables=lambda w, f: {
            "i": {"artifactPortfolioID": f["portfolio_node"], "description": "matrix"}
        },
        setup=linked_portfolio,
    ),
    # A registry's own rule: its admin (here its creator, alice) or an instance admin.
    gql(
        "mutation",
        "deleteModel",
        PERSONAL,
        "mutation($i: DeleteModelInput!) { deleteModel(input: $i) { success } }",
        variables=lambda w, f: {"i": {"id": f["registry_node"]}},
        setup=owners_registry,
    ),
    gql(
        "mutation",
        "createProjectMembers",
        PERSONAL,
        "mutation($i: CreateProjectMembersInput!) { createProjectMembers(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"projectId": f["registry_node"], "userIds": [f["user_node"]]}
        },
        setup=registry_and_user,
    ),
    gql(
        "mutation",
        "deleteProjectMembers",
        PERSONAL,
        "mutation($i: DeleteProjectMembersInput!) { deleteProjectMembers(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {"projectId": f["registry_node"], "userIds": [f["user_node"]]}
        },
        setup=registry_and_user,
    ),
    gql(
        "mutation",
        "updateProjectMember",
        PERSONAL,
        "mutation($i: UpdateProjectMemberInput!) { updateProjectMember(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "projectId": f["registry_node"],
                "userId": f["user_node"],
                "userProjectRole": "member",
            }
        },
        setup=registry_and_user,
    ),
    gql(
        "mutation",
        "updateProjectTeamMember",
        PERSONAL,
        "mutation($i: UpdateProjectTeamMemberInput!) {"
        " updateProjectTeamMember(input: $i) { success } }",
        variables=lambda w, f: {
            "i": {
                "projectId": f["registry_node"],
                "teamId": f["team_node"],
                "teamProjectRole": "viewer",
            }
        },
        setup=registry_and_team,
    ),
]
