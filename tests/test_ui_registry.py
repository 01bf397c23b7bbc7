"""The Registry pages in headless Chromium: the organization's registries, a registry's
collections and a collection's linked versions (with the source version each links to), at
the URLs `artifact.url` builds; a restricted registry reads as missing without a role.

Screenshots (1440x900) go to build/screenshots/registry-*.png.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient
from support.browser import chromium, shot
from support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@contextmanager
def _signed_in(browser: Browser, server: LiveServer, key: str) -> Iterator[Page]:
    """A 1440x900 tab signed in with `key`; fails if a page ever opens a dialog."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.goto(f"{server.url}/login")
    tab.get_by_label("API key").fill(key)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name=re.compile("^Projects of "))).to_be_visible()
    yield tab
    context.close()
    assert dialogs == [], f"a page ran script from a name: {dialogs}"


@pytest.fixture
def admin_tab(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with _signed_in(browser, sqlite_server, sqlite_server.admin_key) as tab:
        yield tab


def test_registry_pages_show_registries_collections_and_linked_versions(
    admin_tab: Page, sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    tab, project = admin_tab, f"p-{uuid.uuid4().hex[:8]}"
    collection = f"classifier-{uuid.uuid4().hex[:6]}"
    src = tmp_path / "model"
    src.mkdir()
    (src / "weights.txt").write_text("0.1 0.2\n")
    linked = sqlite_client.run(
        "registry.py",
        "link",
        "--project",
        project,
        "--name",
        "resnet",
        "--src",
        str(src),
        "--target",
        f"wandb-registry-model/{collection}=production",
    )
    assert linked.returncode == 0 and "error" not in linked.results[0], linked.stdout
    org = "runyard"

    tab.goto(f"{sqlite_server.url}/admin/{project}")
    tab.get_by_role("navigation", name="Main").get_by_role("link", name="Registry").click()
    expect(tab).to_have_url(f"{sqlite_server.url}/orgs/{org}/registry")
    registries = tab.get_by_role("table", name="Registries")
    expect(registries.locator('tr[data-registry="model"]')).to_have_count(1)
    shot(tab, "registry-list")
    registries.get_by_role("link", name="model", exact=True).click()
    expect(tab.get_by_role("heading", name="Registry model")).to_be_visible()
    row = tab.get_by_role("table", name="Collections").locator(
        f'tr[data-collection="{collection}"]'
    )
    expect(row.locator("td").nth(3)).to_have_text("1")
    shot(tab, "registry-collections")
    row.get_by_role("link", name=collection).click()
    versions = tab.get_by_role("table", name="Linked versions").locator("tbody tr")
    expect(versions).to_have_count(1)
    expect(versions.nth(0).locator(".alias")).to_have_text(["latest", "production"])
    source = versions.nth(0).get_by_role("link", name=f"admin/{project}/resnet:v0")
    expect(source).to_have_attribute("href", f"/admin/{project}/artifacts/model/resnet/v0")

    # The URL `artifact.url` gives a registry version opens that version.
    selection = f"{org}%2Fwandb-registry-model%2F{collection}"
    tab.goto(
        f"{sqlite_server.url}/orgs/{org}/registry/model?selectionPath={selection}"
        "&view=membership&version=v0"
    )
    expect(tab.locator('tr[aria-current="true"]')).to_have_attribute("data-version", "v0")
    expect(tab.get_by_role("table", name="Metadata")).to_contain_text("0.93")
    shot(tab, "registry-version")

    tab.goto(f"{sqlite_server.url}/orgs/{org}/registry/nope")
    expect(tab.get_by_role("alert")).to_contain_text("registry 'nope' does not exist")


def test_a_restricted_registry_reads_as_missing_to_a_user_without_a_role(
    browser: Browser, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    name = f"secret-{uuid.uuid4().hex[:6]}"
    made = sqlite_client.run(
        "registry.py",
        "create",
        "--name",
        name,
        "--visibility",
        "restricted",
        "--description",
        "<b>only</b> for admins",
    )
    assert made.returncode == 0 and "error" not in made.results[0], made.stdout
    with _signed_in(browser, sqlite_server, sqlite_server.admin_key) as tab:
        tab.goto(f"{sqlite_server.url}/orgs/runyard/registry/{name}")
        expect(tab.locator("#registry-description")).to_have_text("<b>only</b> for admins")
    stranger = f"stranger-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": stranger})
        assert created.status_code == 201, created.text
    with _signed_in(browser, sqlite_server, created.json()["api_key"]) as tab:
        tab.goto(f"{sqlite_server.url}/orgs/runyard/registry")
        registries = tab.get_by_role("table", name="Registries")
        expect(registries.locator('tr[data-registry="model"]')).to_have_count(1)
        expect(registries.locator(f'tr[data-registry="{name}"]')).to_have_count(0)
        answer = tab.goto(f"{sqlite_server.url}/orgs/runyard/registry/{name}")
        assert answer is not None and answer.status == 404
        expect(tab.get_by_role("alert")).to_contain_text(f"registry {name!r} does not exist")
