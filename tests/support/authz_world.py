"""The world the authorization matrix runs in: one live server, a team `t` and its objects.

People: alice (admin of team `t`, the owner of everything in it), bob (member), carol
(viewer), dave (no role in `t`), the instance admin, and an anonymous caller. Users and the
team are written straight into the server's database: the people-management API is built
elsewhere, and the matrix must not depend on it to set itself up.

Objects in `t/proj`: a run logged by the official wandb client (history, files, config), an
artifact logged by the client, launch queues with items, and an agent alice registered.
Alice also has a run and a queue in her personal entity (for the takeover and template
leaks, where bob is a stranger).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from runyard.server.auth import add_api_key, create_user, generate_api_key
from runyard.server.db.models import Entity, TeamMember, User
from runyard.server.tracking.ids import encode_id
from support.server import LiveServer

# Who tries each request; `owner` is the admin of the team (or personal entity) owning it.
ROLES = ("owner", "member", "viewer", "other", "anonymous", "admin")
USERS = {"owner": "alice", "member": "bob", "viewer": "carol", "other": "dave"}
TEAM_ROLES = {"owner": "admin", "member": "member", "viewer": "viewer"}
TEAM = "t"
PROJECT = "proj"
QUEUE_CONFIG = {"env": {"MATRIX": "1"}}
DATASET_FILE = ("rows.csv", "a,b\n1,2\n")  # the file of the logged artifact `ds`
# What an item on a local-process queue runs (such items must say).
ENTRY_POINT = ["python", "train.py"]
CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def add_people(server: LiveServer) -> dict[str, str | None]:
    """Create alice, bob, carol and dave, team `t` with their roles; return each role's key."""
    keys: dict[str, str | None] = {"anonymous": None, "admin": server.admin_key}
    with server.state.write_sessions.begin() as session:
        team = Entity(name=TEAM, is_team=True)
        session.add(team)
        session.flush()
        for role, name in USERS.items():
            user = create_user(session, name, email=f"{name}@example.com")
            key = generate_api_key()
            add_api_key(session, user, key, description="authz matrix")
            keys[role] = key
            if role in TEAM_ROLES:
                session.add(TeamMember(team_id=team.id, user_id=user.id, role=TEAM_ROLES[role]))
    return keys


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json()


@dataclass
class World:
    """The server, everyone's keys, and the ids of the objects the matrix points at."""

    server: LiveServer
    keys: dict[str, str | None]
    team: str = TEAM
    project: str = PROJECT
    run: str = ""
    run_node: str = ""
    run_file: str = ""
    run_file_url: str = ""
    upload_url: str = ""
    artifact: str = ""
    artifact_node: str = ""
    queue: str = "q"
    queue_id: str = ""
    claim_queue: str = "claimq"
    launch_queue: str = "lq"
    item: str = ""
    launched_item: str = ""
    agent: str = ""
    draft_config: str = ""
    personal_run: str = ""
    personal_run_node: str = ""
    personal_queue: str = "aq"
    personal_queue_config_node: str = ""
    _api: dict[str, httpx.Client] = field(default_factory=dict)
    _ui: dict[str, httpx.Client] = field(default_factory=dict)

    # --- clients -----------------------------------------------------------------------------

    def api(self, role: str) -> httpx.Client:
        """A client sending `role`'s key as a Bearer token (none for anonymous)."""
        if role not in self._api:
            key = self.keys[role]
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._api[role] = httpx.Client(base_url=self.server.url, headers=headers, timeout=60)
        return self._api[role]

    def gql(self, role: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        """One GraphQL operation as `role`."""
        body = {"query": query, "variables": variables or {}}
        return self.api(role).post("/graphql", json=body)

    def ui(self, role: str) -> httpx.Client:
        """A browser-like client signed in to the UI as `role` (anonymous: no cookie)."""
        if role not in self._ui:
            client = httpx.Client(base_url=self.server.url, timeout=60)
            key = self.keys[role]
            if key:
                signed_in = client.post("/login", data={"api_key": key, "next": "/"})
                assert signed_in.status_code == 303, signed_in.text
            self._ui[role] = client
        return self._ui[role]

    def csrf_token(self, client: httpx.Client) -> str | None:
        """The CSRF token the UI puts in its forms for this client, if the server issues one."""
        found = CSRF_FIELD.search(client.get("/login").text)
        return found.group(1) if found else None

    def close(self) -> None:
        """Close every client."""
        for client in [*self._api.values(), *self._ui.values()]:
            client.close()

    # --- fresh objects, made by alice for requests that use them up -------------------------

    def as_owner(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call as alice that must succeed; its JSON answer."""
        return _ok(self.api("owner").request(method, path, **kwargs))

    def as_admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call as the instance admin that must succeed; its JSON answer (if any)."""
        response = self.api("admin").request(method, path, **kwargs)
        assert response.status_code < 300, f"{response.request.url}: {response.text}"
        return response.json() if response.content else None

    def fresh_user(self) -> str:
        """A new user (made by the instance admin); its name."""
        name = f"u-{uuid.uuid4().hex[:8]}"
        self.as_admin("POST", "/api/v1/users", json={"username": name})
        return name

    def user_node(self, username: str) -> str:
        """The GraphQL node id of a user."""
        with self.server.state.sessions() as session:
            user_id = session.scalars(select(User.id).where(User.username == username)).one()
        return encode_id("User", user_id)

    def owners_new_key(self) -> str:
        """A new API key of alice's; its id."""
        description = f"key-{uuid.uuid4().hex[:8]}"
        self.as_owner("POST", "/api/v1/keys", json={"description": description})
        mine = self.as_owner("GET", "/api/v1/keys")
        return str(next(k["id"] for k in mine if k["description"] == description))

    def enqueue(self, queue: str, run_spec: dict[str, Any] | None = None) -> str:
        """A new pending item on `t/<queue>`; its id."""
        spec = {"project": self.project, **(run_spec or {}), "entry_point": ENTRY_POINT}
        body = {"run_spec": spec}
        return str(
            self.as_owner("POST", f"/api/v1/queues/{self.team}/{queue}/items", json=body)["id"]
        )

    def claimed_item(self) -> str:
        """A new item leased to alice's agent (state claimed); its id.

        Each on a queue of its own: on a shared one the claim takes the oldest pending item,
        which, once the suite has run past a 60 s lease, is an earlier test's item put back
        in line with what that test reported on it (a run id, a warning)."""
        queue, _ = self.fresh_queue()
        enqueued = self.enqueue(queue)
        body = {"agent_id": self.agent, "queues": [f"{self.team}/{queue}"], "wait": 0}
        item = self.as_owner("POST", "/api/v1/agents/claim", json=body)
        assert item is not None and item["state"] == "claimed", item
        assert item["id"] == enqueued, item
        return str(item["id"])

    def fresh_queue(self) -> tuple[str, str]:
        """A new queue in `t`; its name and node id."""
        name = f"fresh-{uuid.uuid4().hex[:8]}"
        spec = {"name": name, "entity": self.team, "config": QUEUE_CONFIG}
        queue = self.as_owner("POST", "/api/v1/queues", json=spec)
        return name, encode_id("RunQueue", queue["id"])

    def fresh_run(self) -> tuple[str, str]:
        """A new running run in `t/proj`; its name and node id."""
        name = f"r{uuid.uuid4().hex[:10]}"
        data = self.upsert_bucket("owner", name)
        return name, str(data["bucket"]["id"])

    def upsert_bucket(self, role: str, name: str) -> dict[str, Any]:
        """UpsertBucket as `role` for run `name` of `t/proj`; the data (asserts success)."""
        response = self.gql(
            role,
            "mutation($i: UpsertBucketInput!) { upsertBucket(input: $i) { bucket { id name } } }",
            {"i": {"name": name, "modelName": self.project, "entityName": self.team}},
        )
        body = _ok(response)
        assert not body.get("errors"), body
        return dict(body["data"]["upsertBucket"])

    def pending_artifact(self) -> str:
        """A new PENDING artifact version in `t/proj`; its node id."""
        response = self.gql(
            "owner",
            "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }",
            {
                "i": {
                    "entityName": self.team,
                    "projectName": self.project,
                    "artifactTypeName": "dataset",
                    "artifactCollectionName": "pending-ds",
                    "digest": uuid.uuid4().hex,
                    "clientID": uuid.uuid4().hex,
                }
            },
        )
        body = _ok(response)
        assert not body.get("errors"), body
        return str(body["data"]["createArtifact"]["artifact"]["id"])

    def committed_artifact(self) -> str:
        """A new committed version (v0, no files) of a new dataset collection in `t/proj`;
        the collection's name."""
        name = f"fresh-{uuid.uuid4().hex[:8]}"
        created = self.gql(
            "owner",
            "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }",
            {
                "i": {
                    "entityName": self.team,
                    "projectName": self.project,
                    "artifactTypeName": "dataset",
                    "artifactCollectionName": name,
                    "digest": uuid.uuid4().hex,
                    "clientID": uuid.uuid4().hex,
                }
            },
        )
        node = _ok(created)["data"]["createArtifact"]["artifact"]["id"]
        manifest = self.gql(
            "owner",
            "mutation($i: CreateArtifactManifestInput!) { createArtifactManifest(input: $i)"
            " { artifactManifest { file { uploadUrl } } } }",
            {
                "i": {
                    "artifactID": node,
                    "name": "wandb_manifest.json",
                    "digest": "d",
                    "entityName": self.team,
                    "projectName": self.project,
                    "runName": self.run,
                }
            },
        )
        url = _ok(manifest)["data"]["createArtifactManifest"]["artifactManifest"]["file"]
        _ok(httpx.put(url["uploadUrl"], content=b'{"version": 1, "contents": {}}'))
        committed = self.gql(
            "owner",
            "mutation($i: CommitArtifactInput!) { commitArtifact(input: $i) { artifact { id } } }",
            {"i": {"artifactID": node}},
        )
        assert not _ok(committed).get("errors"), committed.text
        return name

    # --- building the world ------------------------------------------------------------------

    def build_launch(self) -> None:
        """Alice's queues in `t` and her own entity, items on them, and her agent."""
        for name in (self.queue, self.claim_queue, self.launch_queue):
            spec = {"name": name, "entity": self.team, "config": QUEUE_CONFIG}
            created = self.as_owner("POST", "/api/v1/queues", json=spec)
            if name == self.queue:
                self.queue_id = str(created["id"])
        personal = {
            "name": self.personal_queue,
            "entity": "alice",
            "config": {"env": {"ALICE_ONLY": "template of alice"}},
        }
        queue = self.as_owner("POST", "/api/v1/queues", json=personal)
        self.personal_queue_config_node = encode_id("DefaultResourceConfig", queue["id"])
        registration = {
            "name": "alice-agent",
            "hostname": "alice-host",
            "queues": [
                f"{self.team}/{q}" for q in (self.queue, self.claim_queue, self.launch_queue)
            ],
            "capacity": {"gpus": 8},
        }
        agent = self.as_owner(
            "POST", "/api/v1/agents", params={"entity": self.team}, json=registration
        )
        self.agent = str(agent["id"])
        self.item = self.enqueue(self.queue)
        # An item that launched the main run: the run page and item page link to each other.
        self.enqueue(self.launch_queue, {"entity": self.team, "project": self.project})
        body = {"agent_id": self.agent, "queues": [f"{self.team}/{self.launch_queue}"]}
        launched = self.as_owner("POST", "/api/v1/agents/claim", json=body)
        self.launched_item = str(launched["id"])
        for state in ("launching", "running"):
            report = {"agent_id": self.agent, "state": state, "run_id": self.run}
            self.as_owner("POST", f"/api/v1/items/{self.launched_item}/report", json=report)
        draft = self.gql(
            "owner",
            """mutation($i: CreateDefaultResourceConfigInput!) {
                 createDefaultResourceConfig(input: $i) { defaultResourceConfigID } }""",
            {
                "i": {
                    "entityName": self.team,
                    "resource": "local-process",
                    "config": '{"resource_args": {"local-process": {}}}',
                }
            },
        )
        body = _ok(draft)
        assert not body.get("errors"), body
        self.draft_config = str(
            body["data"]["createDefaultResourceConfig"]["defaultResourceConfigID"]
        )

    def find_run_objects(self) -> None:
        """Node ids, a run file with its signed URL, an upload URL, the artifact's node id."""
        for run_name, attr in ((self.run, "run_node"), (self.personal_run, "personal_run_node")):
            entity = self.team if attr == "run_node" else "alice"
            found = self.gql(
                "owner",
                "query($e: String, $p: String, $r: String!) {"
                " project(entityName: $e, name: $p) { run(name: $r) { id } } }",
                {"e": entity, "p": self.project, "r": run_name},
            )
            setattr(self, attr, _ok(found)["data"]["project"]["run"]["id"])
        files = self.as_owner("GET", f"/api/v1/runs/{self.team}/{self.project}/{self.run}/files")
        uploaded = [f for f in files if f["uploaded"]]
        assert uploaded, f"the client uploaded no files: {files}"
        self.run_file, self.run_file_url = uploaded[0]["name"], uploaded[0]["url"]
        upload = self.gql(
            "owner",
            "mutation($i: CreateRunFilesInput!) { createRunFiles(input: $i) {"
            " files { name uploadUrl } } }",
            {
                "i": {
                    "entityName": self.team,
                    "projectName": self.project,
                    "runName": self.run,
                    "files": ["matrix.txt"],
                }
            },
        )
        self.upload_url = _ok(upload)["data"]["createRunFiles"]["files"][0]["uploadUrl"]
        artifact = self.gql(
            "owner",
            "query($e: String, $p: String, $a: String!) {"
            " project(entityName: $e, name: $p) { artifact(name: $a) { id } } }",
            {"e": self.team, "p": self.project, "a": f"{self.artifact}:v0"},
        )
        self.artifact_node = _ok(artifact)["data"]["project"]["artifact"]["id"]


def logged_runs(tmp: Path, world: World, client_factory: Any) -> None:
    """Log the team run, the artifact and alice's personal run with the official client."""
    src = tmp / "dataset"
    src.mkdir()
    (src / DATASET_FILE[0]).write_text(DATASET_FILE[1])
    world.artifact = "ds"
    team_client = client_factory(tmp / "team", world.server, world.keys["owner"])
    team_client.env["WANDB_ENTITY"] = world.team
    artifact_client = client_factory(tmp / "artifact", world.server, world.keys["owner"])
    artifact_client.env["WANDB_ENTITY"] = world.team
    personal_client = client_factory(tmp / "personal", world.server, world.keys["owner"])
    clients = [team_client, artifact_client, personal_client]
    try:
        procs = [
            team_client.popen("train.py", "--project", world.project, "--steps", "5"),
            artifact_client.popen(
                "artifacts.py",
                "log",
                "--project",
                world.project,
                "--name",
                world.artifact,
                "--src",
                str(src),
            ),
            personal_client.popen("train.py", "--project", world.project, "--steps", "2"),
        ]
        outputs = [proc.communicate(timeout=180) for proc in procs]
    finally:
        for client in clients:
            client.kill_leftovers()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"{out}\n{err}"
    results = [
        [line[len("RESULT ") :] for line in out.splitlines() if line.startswith("RESULT ")]
        for out, _ in outputs
    ]
    world.run = json.loads(results[0][0])["id"]
    assert "version" in json.loads(results[1][0]), results[1]
    world.personal_run = json.loads(results[2][0])["id"]
