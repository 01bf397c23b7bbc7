"""The people pages in headless Chromium: a team admin builds a team and manages keys."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect

from support.browser import chromium, shot, signed_in
from support.server import LiveServer


def test_team_and_keys_pages_in_chromium(sqlite_server: LiveServer) -> None:
    team, mate = f"crew-{uuid.uuid4().hex[:6]}", f"mate-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as admin:
        assert admin.post("/api/v1/users", json={"username": mate}).status_code == 201
    with chromium() as browser, signed_in(browser, sqlite_server) as tab:
        tab.get_by_role("link", name="Teams").click()
        tab.get_by_label("Name").fill(team)
        tab.get_by_role("button", name="Create team").click()
        expect(tab.get_by_role("heading", name=f"Team {team}")).to_be_visible()

        tab.get_by_label("Username").fill(mate)
        tab.get_by_label("Role", exact=True).select_option("viewer")
        tab.get_by_role("button", name="Add member").click()
        expect(tab.locator(f'tr[data-member="{mate}"]')).to_be_visible()
        tab.get_by_label(f"Role of {mate}", exact=True).select_option("member")
        tab.get_by_role("button", name=f"Set the role of {mate}").click()
        expect(tab.get_by_label(f"Role of {mate}", exact=True)).to_have_value("member")
        shot(tab, "team-members")

        tab.get_by_role("link", name="API keys").click()
        tab.get_by_label("Description").fill("from the browser")
        tab.get_by_role("button", name="Create API key").click()
        new_key = tab.locator("#new-key").inner_text()
        shot(tab, "api-keys")
        with httpx.Client(
            base_url=sqlite_server.url, headers={"Authorization": f"Bearer {new_key}"}
        ) as client:
            assert client.get("/api/v1/viewer").json()["username"] == "admin"
            row = tab.locator("tr", has_text="from the browser")
            key_id = row.get_attribute("data-key")
            tab.get_by_role("button", name=f"Revoke API key {key_id}").click()
            expect(tab.locator("tr", has_text="from the browser")).to_have_count(0)
            assert client.get("/api/v1/viewer").status_code == 401
    with sqlite_server.api() as admin:
        members = admin.get(f"/api/v1/teams/{team}/members").json()
    assert {(m["username"], m["role"]) for m in members} == {("admin", "admin"), (mate, "member")}
