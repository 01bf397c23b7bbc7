"""A project's description (issue 19): set by W&B's `upsertModel(description:)` mutation or on
the project's Overview page by its writers, read back as GraphQL `project { description }`,
shown as text, and refused with a clear message past its length limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import unique_project
from runyard.server.errors import ServiceError
from runyard.server.tracking.project_description import MAX_DESCRIPTION, clean_description
from support.browser import chromium, shot, signed_in, stream_run
from support.server import LiveServer

# The document W&B's clients send to create a project with a description (the SDK's
# `InternalApi.upsert_project` and Weave's `weave.init`), variables and all.
UPSERT_MODEL = """
mutation UpsertModel($name: String!, $id: String, $entity: String!, $description: String,
                     $repo: String)  {
    upsertModel(input: { id: $id, name: $name, entityName: $entity, description: $description,
                         repo: $repo }) {
        model {
            name
            description
        }
    }
}
"""
READ = """
query Project($name: String!, $entity: String!) {
  project(name: $name, entityName: $entity) { name description }
}
"""


def _gql(api: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    answer = api.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, sqlite_server: LiveServer) -> Iterator[Page]:
    with signed_in(browser, sqlite_server) as tab:
        yield tab


def test_descriptions_are_trimmed_blank_clears_and_too_long_names_the_limit() -> None:
    assert clean_description("  Baselines for the\nQ3 models.  ") == "Baselines for the\nQ3 models."
    assert clean_description("one\r\ntwo") == "one\ntwo"
    assert clean_description("   ") is None
    assert clean_description(None) is None
    assert clean_description("x" * MAX_DESCRIPTION) == "x" * MAX_DESCRIPTION
    with pytest.raises(ServiceError) as refused:
        clean_description("x" * (MAX_DESCRIPTION + 1))
    message = str(refused.value)
    assert "description" in message
    assert f"at most {MAX_DESCRIPTION} characters, got {MAX_DESCRIPTION + 1}" in message


def test_upsert_model_sets_the_description_and_graphql_reads_it(sqlite_server: LiveServer) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        made = _gql(api, UPSERT_MODEL, name=project, entity="admin", description="First notes")
        model = made["data"]["upsertModel"]["model"]
        assert model == {"name": project, "description": "First notes"}
        assert _gql(api, READ, name=project, entity="admin")["data"]["project"]["description"] == (
            "First notes"
        )
        # Upserting again without a description keeps it; with one, replaces it.
        _gql(api, UPSERT_MODEL, name=project, entity="admin")
        read = _gql(api, READ, name=project, entity="admin")
        assert read["data"]["project"]["description"] == "First notes"
        _gql(api, UPSERT_MODEL, name=project, entity="admin", description="Second notes")
        read = _gql(api, READ, name=project, entity="admin")
        assert read["data"]["project"]["description"] == "Second notes"

        too_long = "x" * (MAX_DESCRIPTION + 1)
        refused = _gql(api, UPSERT_MODEL, name=project, entity="admin", description=too_long)
        assert refused["errors"][0]["message"].startswith(
            f"description: at most {MAX_DESCRIPTION} characters"
        )
        read = _gql(api, READ, name=project, entity="admin")
        assert read["data"]["project"]["description"] == "Second notes"


def test_a_writer_edits_the_description_on_the_overview(
    page: Page, sqlite_server: LiveServer
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        stream_run(api, project, "desc1", history=[{"_step": 0, "loss": 1.0}])
    page.goto(f"{sqlite_server.url}/admin/{project}/overview")
    shown = page.locator("#project-description")
    expect(shown).to_have_text("none")

    # Markup in a description is text; line breaks are kept.
    page.get_by_text("Edit description").click()
    text = "<i>Baselines</i> for Q3\nsecond line"
    page.get_by_label("Description").fill(text)
    page.get_by_role("button", name="Save description").click()
    expect(page).to_have_url(f"{sqlite_server.url}/admin/{project}/overview")
    expect(shown).to_have_text(text)
    expect(shown.locator("i")).to_have_count(0)
    with sqlite_server.api() as api:
        read = _gql(api, READ, name=project, entity="admin")
    assert read["data"]["project"]["description"] == text
    # The entity's projects list shows it under the project's name.
    page.goto(f"{sqlite_server.url}/admin")
    about = page.locator(f'tr[data-project="{project}"] .project-about')
    expect(about).to_contain_text("<i>Baselines</i> for Q3")
    page.goto(f"{sqlite_server.url}/admin/{project}/overview")

    # Too long: the page says why and how to fix it, and keeps what was typed.
    page.get_by_text("Edit description").click()
    page.get_by_label("Description").fill("y" * (MAX_DESCRIPTION + 5))
    page.get_by_role("button", name="Save description").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(
        f"description: at most {MAX_DESCRIPTION} characters, got {MAX_DESCRIPTION + 5}"
    )
    expect(page.get_by_label("Description")).to_have_value("y" * (MAX_DESCRIPTION + 5))
    expect(shown).to_have_text(text)  # unchanged
    shot(page, "overview-description-too-long")

    # Blank clears it.
    page.get_by_label("Description").fill("  ")
    page.get_by_role("button", name="Save description").click()
    expect(shown).to_have_text("none")


def test_a_viewer_sees_the_description_but_no_form_and_cannot_post_it(
    sqlite_server: LiveServer,
) -> None:
    team, mate = f"team-{uuid.uuid4().hex[:6]}", f"mate-{uuid.uuid4().hex[:6]}"
    project = unique_project()
    with sqlite_server.api() as api:
        key = api.post("/api/v1/users", json={"username": mate}).json()["api_key"]
        assert api.post("/api/v1/teams", json={"name": team}).status_code == 201
        added = api.post(f"/api/v1/teams/{team}/members", json={"username": mate, "role": "viewer"})
        assert added.status_code == 201, added.text
        _gql(api, UPSERT_MODEL, name=project, entity=team, description="Team notes")
    with httpx.Client(base_url=sqlite_server.url, follow_redirects=False) as viewer:
        assert viewer.post("/login", data={"api_key": key, "next": "/"}).status_code == 303
        seen = viewer.get(f"/{team}/{project}/overview")
        assert seen.status_code == 200
        assert "Team notes" in seen.text
        assert "/overview/description" not in seen.text
        token = seen.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        refused = viewer.post(
            f"/{team}/{project}/overview/description",
            data={"csrf_token": token, "description": "mine now"},
        )
        assert refused.status_code == 403
    with sqlite_server.api() as api:
        read = _gql(api, READ, name=project, entity=team)
    assert read["data"]["project"]["description"] == "Team notes"


def test_the_description_column_migration_goes_up_and_down(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from runyard.server.db import migrate
    from runyard.server.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'description.db'}")

    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("projects")}

    migrate.upgrade(engine)
    assert "description" in columns()
    command.downgrade(migrate.alembic_config(engine), "0018-1")
    assert "description" not in columns()
    migrate.upgrade(engine)
    assert "description" in columns()
    engine.dispose()


def test_descriptions_are_kept_on_postgresql(postgres_server_live: LiveServer) -> None:
    project = unique_project()
    with postgres_server_live.api() as api:
        _gql(api, UPSERT_MODEL, name=project, entity="admin", description="On PostgreSQL")
        read = _gql(api, READ, name=project, entity="admin")
    assert read["data"]["project"]["description"] == "On PostgreSQL"
