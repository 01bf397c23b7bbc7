"""The queue page's priority form: a pending item moves up without leaving the page's flow.

Driven with plain HTTP (the form posts and redirects; no script involved): log in with the
API key for a session cookie, post the form, and read the re-rendered queue page.
"""

from __future__ import annotations

import re
import uuid

import httpx

from support.server import LiveServer


def test_queue_page_reprioritises_a_pending_item(sqlite_server: LiveServer) -> None:
    queue = f"ui-prio-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        body = {"name": queue, "entity": "admin", "resource": "kubernetes"}
        assert api.post("/api/v1/queues", json=body).status_code == 201
        path = f"/api/v1/queues/admin/{queue}/items"
        item = api.post(path, json={"run_spec": {"n": 1}, "priority": "low"}).json()
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as browser:
        login = browser.post("/login", data={"api_key": sqlite_server.admin_key, "next": "/"})
        assert login.status_code == 303
        page = browser.get(f"/launch/admin/{queue}").text
        assert f'action="/launch/items/{item["id"]}/priority"' in page
        # The form carries the page's CSRF token, as a browser submitting it would.
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = {"csrf_token": token.group(1)}
        target = f"/launch/items/{item['id']}/priority"
        moved = browser.post(target, data={**form, "priority": "high"})
        assert moved.status_code == 303 and moved.headers["location"] == f"/launch/admin/{queue}"
        refused = browser.post(target, data={**form, "priority": "asap"})
        assert refused.status_code == 422 and "critical, high, medium, low" in refused.text
    with sqlite_server.api() as api:
        assert api.get(f"/api/v1/items/{item['id']}").json()["priority"] == 1  # high
