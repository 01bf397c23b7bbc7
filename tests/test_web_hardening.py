"""Web hardening: stored XSS, CSRF, the Content-Security-Policy, Secure cookies, /metrics token.

The attacks are real: payloads logged with the official wandb client and rendered in headless
Chromium; a forged form served from another origin (another port of 127.0.0.1) while the
browser holds a session cookie.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import ValidationError

from conftest import WandbClient, unique_project
from runyard.server.auth import add_api_key, create_user, generate_api_key
from runyard.server.settings import ServerSettings
from runyard.server.ui.csrf import MAX_FORM_BYTES
from runyard.server.ui.session import COOKIE
from runyard.server.web_security import CONTENT_SECURITY_POLICY
from support.browser import chromium, signed_in
from support.server import LiveServer, free_port

SCRIPT = '</script><script>window["__pwned"]=1;alert("xss")</script>'
IMG = '<img src=x onerror=window["__pwned"]=2;alert("xss")>'
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server behind a declared proxy (127.0.0.1, where tests connect from), /metrics locked."""
    server = LiveServer(
        tmp_path_factory.mktemp("proxied-server"),
        None,
        trusted_proxies="127.0.0.1",
        metrics_token=METRICS_TOKEN,
    ).start()
    yield server
    server.stop()


class Watch:
    """What a page did that it must not: dialogs, page errors, CSP violations."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def assert_inert(self, page: Page) -> None:
        """No payload ran, none became an element, and the page's own script ran cleanly."""
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator("img").count() == 0
        assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
        assert self.dialogs == [] and self.errors == [] and self.csp == []


def session_token_of(page: str) -> str:
    """The CSRF token a rendered page puts into its forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page has no form with a csrf_token"
    return found.group(1)


@contextmanager
def logged_in(server: LiveServer, key: str | None = None) -> Iterator[httpx.Client]:
    """A cookie session, as the login form makes one (no token needed before a session exists)."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as client:
        login = client.post("/login", data={"api_key": key or server.admin_key, "next": "/"})
        assert login.status_code == 303, login.text
        yield client


def another_user(server: LiveServer) -> str:
    """A new user's API key (its session differs from the admin's)."""
    key = generate_api_key()
    with server.state.write_sessions.begin() as session:
        add_api_key(session, create_user(session, f"u{uuid.uuid4().hex[:8]}"), key)
    return key


def pending_items(server: LiveServer, count: int) -> tuple[str, list[str]]:
    """A new queue with `count` pending items; returns the queue name and the item ids."""
    queue = f"harden-{uuid.uuid4().hex[:6]}"
    with server.api() as api:
        body = {"name": queue, "entity": "admin", "resource": "kubernetes"}
        assert api.post("/api/v1/queues", json=body).status_code == 201
        path = f"/api/v1/queues/admin/{queue}/items"
        ids = [api.post(path, json={"run_spec": {"n": i}}).json()["id"] for i in range(count)]
    return queue, ids


def item_state(server: LiveServer, item_id: str) -> str:
    """An item's state, read through the API."""
    with server.api() as api:
        return str(api.get(f"/api/v1/items/{item_id}").json()["state"])


def set_cookies(response: httpx.Response) -> list[str]:
    """The Set-Cookie headers of a response for the session cookie."""
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]


# --- stored XSS -------------------------------------------------------------------------------


def test_script_payloads_in_names_keys_and_metrics_render_as_text(
    browser: Browser, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    name = f"{SCRIPT} {IMG}"
    payloads = json.dumps({"name": name, "keys": [SCRIPT, IMG]})
    result = sqlite_client.run("hostile_names.py", "--project", project, "--payloads", payloads)
    assert result.returncode == 0, result.stderr
    run_id = str(result.results[0]["id"])

    with signed_in(browser, sqlite_server) as page:
        watch = Watch(page)

        page.goto(f"{sqlite_server.url}/admin/{project}")
        expect(page.locator("#run-list")).to_contain_text(name)
        expect(page.locator("figure.panel canvas")).to_have_count(2)  # one chart per payload
        titles = page.locator("figure.panel .u-title").all_text_contents()
        assert sorted(titles) == sorted([SCRIPT, IMG])
        watch.assert_inert(page)

        page.goto(f"{sqlite_server.url}/runs/admin/{project}/{run_id}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)
        for key in (SCRIPT, IMG):
            expect(page.get_by_role("table", name="Config")).to_contain_text(key)
            expect(page.get_by_role("table", name="Config")).to_contain_text(f"value of {key}")
            expect(page.get_by_role("table", name="Summary")).to_contain_text(key)
        watch.assert_inert(page)
        page.goto(f"{sqlite_server.url}/admin/{project}/runs/{run_id}/workspace")
        expect(page.locator("#panels figure.panel canvas")).to_have_count(2)
        watch.assert_inert(page)

        page.goto(f"{sqlite_server.url}/admin/{project}/table")
        table = page.locator("#runs-table")
        expect(table.get_by_role("link", name=name)).to_be_visible()
        header = table.locator("thead")
        for key in (SCRIPT, IMG):
            expect(header).to_contain_text(f"config.{key}")
            expect(header).to_contain_text(key)
            expect(table.locator("tbody")).to_contain_text(f"value of {key}")
        watch.assert_inert(page)


def test_json_in_pages_cannot_close_its_script_block(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    """The pages' JSON block escapes `<`, so `</script>` in data never ends the block."""
    project = unique_project()
    payloads = json.dumps({"name": SCRIPT, "keys": [SCRIPT]})
    result = sqlite_client.run("hostile_names.py", "--project", project, "--payloads", payloads)
    assert result.returncode == 0, result.stderr
    run_id = result.results[0]["id"]
    with logged_in(sqlite_server) as client:
        for path in (f"/admin/{project}", f"/admin/{project}/runs/{run_id}/workspace"):
            page = client.get(path).text
            block = page.split('<script id="ws-data" type="application/json">', 1)[1]
            data, _ = block.split("</script>", 1)
            assert "<" not in data and SCRIPT not in page.split("<main", 1)[0]
            assert json.loads(data)["runs"][0]["name"] == SCRIPT


# --- CSRF -------------------------------------------------------------------------------------


class _AttackerPages(BaseHTTPRequestHandler):
    """Serves the one page set as `page` on the class: a form that submits itself."""

    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the outcome from the server, not this log."""


@pytest.fixture
def attacker_site() -> Iterator[tuple[str, type[_AttackerPages]]]:
    """Another origin on 127.0.0.1 (another port), serving a hostile page."""
    handler = type("Attacker", (_AttackerPages,), {})
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/", handler
    httpd.shutdown()
    httpd.server_close()


def test_cross_origin_form_cannot_cancel_but_the_ui_can(
    browser: Browser,
    sqlite_server: LiveServer,
    attacker_site: tuple[str, type[_AttackerPages]],
) -> None:
    queue, (item,) = pending_items(sqlite_server, 1)
    url, handler = attacker_site
    target = f"{sqlite_server.url}/launch/items/{item}/cancel"
    handler.page = (
        f'<!doctype html><form id="f" method="post" action="{target}">'
        '<input type="hidden" name="csrf_token" value="guessed"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    with signed_in(browser, sqlite_server) as page:
        page.goto(url)
        page.wait_for_url(f"{sqlite_server.url}/**")  # the form submitted itself
        assert item_state(sqlite_server, item) == "pending"
        expect(page).to_have_url(target)
        expect(page.locator("body")).to_contain_text("CSRF check failed")

        page.goto(f"{sqlite_server.url}/launch/admin/{queue}")
        page.get_by_role("button", name=f"Cancel item {item[:12]}").click()
        expect(page).to_have_url(f"{sqlite_server.url}/launch/admin/{queue}")
        expect(page.locator(f'tr[data-item="{item}"]')).to_have_attribute("data-state", "canceled")
    assert item_state(sqlite_server, item) == "canceled"


def test_csrf_token_is_bound_to_its_session(sqlite_server: LiveServer) -> None:
    queue, (first, second, third) = pending_items(sqlite_server, 3)
    bob_key = another_user(sqlite_server)
    with logged_in(sqlite_server) as alice, logged_in(sqlite_server, bob_key) as bob:
        alice_token = session_token_of(alice.get(f"/launch/admin/{queue}").text)
        bob_token = session_token_of(bob.get("/").text)
        cancel = f"/launch/items/{first}/cancel"

        missing = alice.post(cancel)
        assert missing.status_code == 403
        assert "CSRF check failed" in missing.text and "csrf_token" in missing.text
        other = alice.post(cancel, data={"csrf_token": bob_token})
        assert other.status_code == 403 and "another session" in other.text
        forged = alice.post(cancel, data={"csrf_token": alice_token[:-4] + "AAAA"})
        assert forged.status_code == 403 and "forged" in forged.text
        assert item_state(sqlite_server, first) == "pending"

        by_form = alice.post(cancel, data={"csrf_token": alice_token})
        assert by_form.status_code == 303
        assert item_state(sqlite_server, first) == "canceled"
        priority = f"/launch/items/{second}/priority"
        by_header = alice.post(
            priority, data={"priority": "high"}, headers={"X-CSRF-Token": alice_token}
        )
        assert by_header.status_code == 303

        # The API authenticates by header and never reads the cookie: no token, even with one.
        bearer = {"Authorization": f"Bearer {sqlite_server.admin_key}"}
        api = alice.post(f"/api/v1/items/{third}/cancel", headers=bearer)
        assert api.status_code == 200 and api.json()["state"] == "canceled"

        viewer = {"query": "{ viewer { username } }"}
        graphql = alice.post("/graphql", json=viewer, auth=("api", sqlite_server.admin_key))
        assert graphql.status_code == 200 and graphql.json()["data"]["viewer"]["username"]

        # Logging out is a state change too.
        assert alice.post("/logout").status_code == 403
        assert alice.post("/logout", data={"csrf_token": alice_token}).status_code == 303


def test_unusable_ui_posts_get_a_clear_refusal(sqlite_server: LiveServer) -> None:
    _, (item,) = pending_items(sqlite_server, 1)
    with logged_in(sqlite_server) as client:
        cancel = f"/launch/items/{item}/cancel"
        huge = client.post(cancel, data={"note": "x" * (MAX_FORM_BYTES + 1)})
        assert huge.status_code == 413 and f"larger than {MAX_FORM_BYTES} bytes" in huge.text
        as_json = client.post(cancel, json={"csrf_token": "not read from JSON"})
        assert as_json.status_code == 403 and "X-CSRF-Token header" in as_json.text
    assert item_state(sqlite_server, item) == "pending"


def test_browsers_cross_site_posts_are_refused_everywhere(sqlite_server: LiveServer) -> None:
    """Sec-Fetch-Site from another site is refused on UI and API paths alike (login CSRF too)."""
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as client:
        cross = {"Sec-Fetch-Site": "same-site"}
        login = client.post("/login", data={"api_key": sqlite_server.admin_key}, headers=cross)
        assert login.status_code == 403 and "Sec-Fetch-Site: same-site" in login.text
        assert not set_cookies(login)
        headers = {"Sec-Fetch-Site": "cross-site", "Authorization": "Bearer x"}
        assert client.post("/api/v1/items/nope/cancel", headers=headers).status_code == 403
        own = {"Sec-Fetch-Site": "same-origin"}
        ok = client.post("/login", data={"api_key": sqlite_server.admin_key}, headers=own)
        assert ok.status_code == 303


# --- Content-Security-Policy ------------------------------------------------------------------


def test_ui_pages_carry_a_content_security_policy(sqlite_server: LiveServer) -> None:
    queue, _ = pending_items(sqlite_server, 1)
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    with logged_in(sqlite_server) as client:
        for path in ("/login", "/", "/launch", f"/launch/admin/{queue}", "/admin/nope"):
            page = client.get(path)
            assert page.headers["content-type"].startswith("text/html"), path
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
        health = client.get("/healthz")
        assert "content-security-policy" not in health.headers
        assert health.headers["x-content-type-options"] == "nosniff"
        # FastAPI's API explorer loads its own inline script: it keeps working.
        assert "content-security-policy" not in client.get("/docs").headers


# --- Secure cookies behind a trusted proxy ----------------------------------------------------


def test_session_cookie_is_secure_behind_a_trusted_proxy(proxied_server: LiveServer) -> None:
    form = {"api_key": proxied_server.admin_key, "next": "/"}
    with httpx.Client(base_url=proxied_server.url, follow_redirects=False) as client:
        https = client.post("/login", data=form, headers={"X-Forwarded-Proto": "https"})
        (cookie,) = set_cookies(https)
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert {"secure", "httponly", "samesite=lax"} <= set(attributes)

        plain = client.post("/login", data=form)
        (cookie,) = set_cookies(plain)
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()

    value = cookie.split(";")[0].split("=", 1)[1]
    with httpx.Client(
        base_url=proxied_server.url, cookies={COOKIE: value}, follow_redirects=False
    ) as client:
        token = session_token_of(client.get("/").text)
        https = {"X-Forwarded-Proto": "https"}
        out = client.post("/logout", data={"csrf_token": token}, headers=https)
        (cleared,) = set_cookies(out)
        assert "max-age=0" in cleared.lower() and "secure" in cleared.lower()


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(sqlite_server: LiveServer) -> None:
    form = {"api_key": sqlite_server.admin_key, "next": "/"}
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as client:
        forged = client.post("/login", data=form, headers={"X-Forwarded-Proto": "https"})
        (cookie,) = set_cookies(forged)
        assert "secure" not in cookie.lower()
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"trusted_proxies: 'proxy\.local' is not an IP"):
        ServerSettings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, proxy.local")
    settings = ServerSettings(data_dir=tmp_path, trusted_proxies=" 10.0.0.0/8 ,::1,")
    assert settings.proxy_list() == ["10.0.0.0/8", "::1"]


# --- /metrics token ---------------------------------------------------------------------------


def test_metrics_token_is_required_when_set(proxied_server: LiveServer) -> None:
    with httpx.Client(base_url=proxied_server.url) as client:
        anonymous = client.get("/metrics")
        assert anonymous.status_code == 401
        assert "RUNYARD_METRICS_TOKEN" in anonymous.json()["detail"]
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        basic = client.get("/metrics", auth=("api", METRICS_TOKEN))
        assert basic.status_code == 401
        scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scrape.status_code == 200 and "runyard_" in scrape.text


def test_metrics_are_open_without_a_token(sqlite_server: LiveServer) -> None:
    with httpx.Client(base_url=sqlite_server.url) as client:
        scrape = client.get("/metrics")
        assert scrape.status_code == 200 and "runyard_" in scrape.text
