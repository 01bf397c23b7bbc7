"""Saved workspace views over REST: each user's own, validated, and private to them."""

from __future__ import annotations

import uuid

import httpx

from support.server import LiveServer

LAYOUT = {
    "sections": [
        {"name": "Training", "collapsed": True, "panels": [{"kind": "line", "key": "train/loss"}]},
        {"name": "media", "collapsed": False, "panels": [{"kind": "image", "key": "samples"}]},
    ],
    "hidden_runs": ["abc"],
    "panel_search": "loss",
}
UPSERT = """
mutation($entity: String, $project: String, $name: String) {
  upsertBucket(input: {entityName: $entity, modelName: $project, name: $name}) { inserted }
}
"""


def _message(answer: httpx.Response) -> str:
    """The refusal's message (a plain detail, or a detail with problems listed)."""
    detail = answer.json()["detail"]
    return str(detail["message"]) if isinstance(detail, dict) else str(detail)


def _client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})


def _team_with_member(server: LiveServer) -> tuple[str, str, str]:
    """A team with a project (one run) and a second member; (team, project, member's key)."""
    team, project = f"t{uuid.uuid4().hex[:8]}", f"p{uuid.uuid4().hex[:8]}"
    with _client(server, server.admin_key) as admin:
        admin.post("/api/v1/teams", json={"name": team}).raise_for_status()
        made = admin.post("/api/v1/users", json={"username": f"u{uuid.uuid4().hex[:8]}"})
        made.raise_for_status()
        user = made.json()
        admin.post(
            f"/api/v1/teams/{team}/members",
            json={"username": user["user"]["username"], "role": "member"},
        ).raise_for_status()
        created = admin.post(
            "/graphql",
            json={"query": UPSERT, "variables": {"entity": team, "project": project, "name": "r1"}},
        )
        created.raise_for_status()
        assert "errors" not in created.json(), created.text
    return team, project, str(user["api_key"])


def test_a_saved_view_round_trips_and_other_members_never_see_it(server: LiveServer) -> None:
    team, project, member_key = _team_with_member(server)
    views = f"/api/v1/projects/{team}/{project}/workspace-views"
    with _client(server, server.admin_key) as admin, _client(server, member_key) as member:
        saved = admin.put(f"{views}/My view", json={"layout": LAYOUT})
        assert saved.status_code == 200, saved.text
        listed = admin.get(views).json()
        assert [v["name"] for v in listed] == ["My view"]
        assert listed[0]["layout"] == LAYOUT
        # The member reads the same project, yet sees none of the admin's views...
        assert member.get(views).status_code == 200
        assert member.get(views).json() == []
        # ...and saving the same name makes the member's own view, leaving the admin's alone.
        other = {**LAYOUT, "panel_search": "acc"}
        assert member.put(f"{views}/My view", json={"layout": other}).status_code == 200
        assert admin.get(views).json()[0]["layout"]["panel_search"] == "loss"
        assert member.get(views).json()[0]["layout"]["panel_search"] == "acc"
        # Deleting is per user too.
        assert member.delete(f"{views}/My view").status_code == 204
        assert member.get(views).json() == []
        assert [v["name"] for v in admin.get(views).json()] == ["My view"]


def test_a_bad_view_body_is_refused_naming_the_field(sqlite_server: LiveServer) -> None:
    team, project, _ = _team_with_member(sqlite_server)
    views = f"/api/v1/projects/{team}/{project}/workspace-views"
    bad = {"sections": [{"name": "", "panels": [{"kind": "pie", "key": "x"}]}]}
    with _client(sqlite_server, sqlite_server.admin_key) as admin:
        answer = admin.put(f"{views}/v", json={"layout": bad})
        assert answer.status_code == 400, answer.text
        detail = _message(answer)
        assert "layout.sections.0.name" in detail
        assert "layout.sections.0.panels.0.kind" in detail
        missing = admin.put(f"{views}/v", json={"sections": []})
        assert missing.status_code == 400
        assert "layout: Input should be a valid dictionary" in _message(missing)
        nameless = admin.put(f"{views}/%20", json={"layout": LAYOUT})
        assert nameless.status_code == 400
        assert "name: a view name is 1 to 128" in _message(nameless)
        assert admin.get(views).json() == []
