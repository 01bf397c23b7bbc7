"""Reports saved and loaded back with wandb-workspaces, the spec checks, and the report pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pypdfium2
import pytest
from playwright.sync_api import Browser, expect

from conftest import WandbClient, unique_project
from runyard.server.errors import ServiceError
from runyard.server.reports.editing import new_spec, with_markdown
from runyard.server.reports.render import markdown_html
from runyard.server.reports.runsets import matches
from runyard.server.reports.spec import parse_spec
from support.browser import SHOTS, chromium, shot, signed_in
from support.server import LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright."""
    with chromium() as launched:
        yield launched


def test_spec_refuses_unknown_panel_type_naming_it() -> None:
    spec = (
        '{"blocks": [{"type": "panel-grid", "metadata": {"panelBankSectionConfig":'
        ' {"panels": [{"viewType": "Hologram Plot"}]}}}]}'
    )
    with pytest.raises(ServiceError) as err:
        parse_spec(spec)
    assert "unknown panel type 'Hologram Plot'" in err.value.message
    assert "panels[0].viewType" in err.value.message


def test_spec_refuses_unknown_block_type_and_bad_json() -> None:
    with pytest.raises(ServiceError, match="unknown block type 'sparkle'"):
        parse_spec('{"blocks": [{"type": "paragraph"}, {"type": "sparkle"}]}')
    with pytest.raises(ServiceError, match="spec: not JSON"):
        parse_spec("{")
    with pytest.raises(ServiceError, match=r"spec\.blocks\[0\]\.type"):
        parse_spec('{"blocks": [{"text": "no type"}]}')


UPSERT = """mutation($i: UpsertViewInput!) { upsertView(input: $i) { view { id } inserted } }"""
VIEWS = """query($p: String!) { project(name: $p, entityName: "admin") {
  allViews { edges { node { id revision } } } } }"""


def _gql(server: LiveServer, query: str, **variables: Any) -> dict[str, Any]:
    with server.api(server.admin_key) as http:
        response = http.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


def test_bad_views_are_refused_naming_the_field_and_nothing_is_written(
    sqlite_server: LiveServer,
) -> None:
    project = unique_project()
    created = _gql(
        sqlite_server,
        "mutation($n: String) { upsertModel(input: {name: $n}) { inserted } }",
        n=project,
    )
    assert "errors" not in created, created
    ok_spec = '{"blocks": []}'
    cases = [
        (
            {"projectName": project, "spec": '{"blocks": [{"type": "sparkle"}]}'},
            "unknown block type 'sparkle'",
        ),
        ({"projectName": project, "spec": "[1]"}, "must be a JSON object"),
        ({"projectName": project}, "spec: required"),
        (
            {"projectName": project, "spec": ok_spec, "displayName": "x" * 300},
            "displayName: at most 256",
        ),
        ({"id": "UnVuOjE=", "spec": ok_spec}, "is not a View id"),
        ({"spec": ok_spec}, "projectName: required"),
        ({"projectName": "no-such-project", "spec": ok_spec}, "does not exist"),
    ]
    for given, message in cases:
        answer = _gql(sqlite_server, UPSERT, i=given)
        assert answer["data"]["upsertView"] is None, given
        assert message in answer["errors"][0]["message"], (given, answer)
    listed = _gql(sqlite_server, VIEWS, p=project)
    assert listed["data"]["project"]["allViews"]["edges"] == []
    # A good save, then a bad revision of it: the view keeps its first revision.
    saved = _gql(sqlite_server, UPSERT, i={"projectName": project, "spec": ok_spec})
    view_id = saved["data"]["upsertView"]["view"]["id"]
    bad = _gql(sqlite_server, UPSERT, i={"id": view_id, "spec": '{"blocks": [{"type": "x"}]}'})
    assert "unknown block type 'x'" in bad["errors"][0]["message"]
    listed = _gql(sqlite_server, VIEWS, p=project)
    assert listed["data"]["project"]["allViews"]["edges"] == [
        {"node": {"id": view_id, "revision": 1}}
    ]


def test_markdown_is_rendered_and_sanitised() -> None:
    html = markdown_html("**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html
    linked = markdown_html(
        '<a href="javascript:alert(1)" onclick="x()">y</a> <a href="https://e.x/">e</a>'
    )
    assert "javascript" not in linked and "onclick" not in linked
    assert 'href="https://e.x/"' in linked


def test_run_set_filters_in_both_formats() -> None:
    adam = {
        "config": {"optimizer": "adam", "lr": 0.01},
        "summary": {"acc": 0.9},
        "state": "finished",
    }
    sgd = {"config": {"optimizer": "sgd", "lr": 0.1}, "summary": {"acc": 0.5}, "state": "running"}
    leaf = {"key": {"section": "config", "name": "optimizer"}, "op": "=", "value": "adam"}
    tree = {"op": "OR", "filters": [{"op": "AND", "filters": [leaf]}]}
    assert matches(adam, tree) and not matches(sgd, tree)
    state = {"key": {"section": "run", "name": "state"}, "op": "=", "value": "running"}
    acc = {"key": {"section": "summary", "name": "acc"}, "op": ">=", "value": 0.8}
    # adam AND acc>=0.8 OR state=running: both pass; AND binds tighter than OR.
    v2 = {
        "filterFormat": "filterV2",
        "filters": [leaf, {**acc, "connector": "AND"}, {**state, "connector": "OR"}],
    }
    assert matches(adam, v2) and matches(sgd, v2)
    only_and = {"filterFormat": "filterV2", "filters": [leaf, {**state, "connector": "AND"}]}
    assert not matches(adam, only_and) and not matches(sgd, only_and)
    assert matches(sgd, {"op": "AND", "filters": []})


def test_report_saved_loaded_listed_and_edited(wandb_client: WandbClient) -> None:
    project = unique_project()
    assert wandb_client.run("reports.py", "seed", "--project", project).returncode == 0
    result = wandb_client.run("reports.py", "save", "--project", project)
    assert result.returncode == 0, result.stderr
    (out,) = result.results
    assert out["equal"] is True
    assert out["listed"] == ["Loss study"]
    assert out["edited_id"] == out["id"]
    assert out["edited_title"] == "Loss study, revised"
    assert out["deleted"] is True
    assert out["after_delete"] == ["Loss study, revised"]
    assert out["kinds"] == ["H1", "MarkdownBlock", "CodeBlock", "LatexBlock", "PanelGrid"]
    assert out["panels"] == ["LinePlot", "ScalarChart"]
    assert f"/{project}/reports/Loss-study--" in out["url"]


def test_report_with_unknown_panel_type_is_refused(sqlite_client: WandbClient) -> None:
    project = unique_project()
    assert (
        sqlite_client.run("reports.py", "seed", "--project", project, "--runs", "1").returncode == 0
    )
    result = sqlite_client.run("reports.py", "bad", "--project", project)
    (out,) = result.results
    assert "unknown panel type 'Hologram Plot'" in out["error"]


def test_saved_workspace_loads_back_and_is_edited(
    sqlite_server: LiveServer, sqlite_client: WandbClient, browser: Browser
) -> None:
    project = unique_project()
    assert (
        sqlite_client.run("reports.py", "seed", "--project", project, "--runs", "1").returncode == 0
    )
    result = sqlite_client.run("reports.py", "workspace", "--project", project)
    assert result.returncode == 0, result.stderr
    (out,) = result.results
    assert "?nw=" in out["url"]
    assert out["name"] == "Loss view"
    assert out["renamed"] == "Loss view, renamed"
    assert out["sections"] == ["Training"]
    assert out["panels"] == ["LinePlot"]
    assert out["metrics"] == ["loss"]
    # The view's URL opens the workspace laid out as the view: its section, its panels.
    with signed_in(browser, sqlite_server) as page:
        page.goto(out["url"])
        expect(page.locator(".saved-view")).to_contain_text("Saved view: Loss view, renamed")
        section = page.locator('section[data-section="Training"]')
        expect(section.locator('figure[data-metric="loss"]')).to_have_count(1)
        assert page.locator("figure.panel").count() == 1
        answer = page.goto(out["url"].split("?")[0] + "?nw=missing")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("saved view nw=missing does not exist")


def _ink(png_page: pypdfium2.PdfPage) -> float:
    """The share of a rendered page's pixels that are not white."""
    image = png_page.render(scale=1).to_pil().convert("L")
    histogram = image.histogram()
    return sum(histogram[:240]) / sum(histogram)


def test_report_page_draws_live_charts_and_prints_to_pdf(
    sqlite_server: LiveServer, sqlite_client: WandbClient, browser: Browser
) -> None:
    project = unique_project()
    assert sqlite_client.run("reports.py", "seed", "--project", project).returncode == 0
    result = sqlite_client.run("reports.py", "save", "--project", project)
    assert result.returncode == 0, result.stderr
    (out,) = result.results
    with signed_in(browser, sqlite_server) as page:
        page.goto(f"{sqlite_server.url}/admin/{project}/reports")
        page.get_by_role("link", name="Loss study, revised").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Loss study, revised")
        expect(page.locator("body")).to_have_attribute("data-report-ready", "1")
        markdown = page.locator(".report-markdown")
        expect(markdown.locator("strong")).to_have_text("converges")
        assert markdown.locator("script").count() == 0
        expect(page.locator(".report-latex .katex")).to_have_count(1)
        expect(page.locator(".report-code")).to_contain_text("print('hello')")
        # The run set keeps the two adam runs of four; the line plot draws one line each.
        expect(page.locator(".report-runset")).to_contain_text("2 runs")
        line = page.locator("figure.report-line")
        expect(line).to_have_attribute("data-drawn", "1")
        expect(line).to_have_attribute("data-lines", "2")
        assert line.locator("canvas").count() == 1
        expect(page.locator(".report-scalar .scalar-value")).to_have_text("0.95")
        shot(page, "report")
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "report.pdf").write_bytes(pdf)
    document = pypdfium2.PdfDocument(pdf)
    first = document[0]
    first.render(scale=1).to_pil().save(SHOTS / "report-pdf-page1.png")
    assert len(document) >= 1
    assert _ink(first) > 0.01
    assert out["url"].endswith(out["id"])


def test_share_link_opens_the_report_read_only_until_revoked(
    sqlite_server: LiveServer, sqlite_client: WandbClient, browser: Browser
) -> None:
    project = unique_project()
    assert sqlite_client.run("reports.py", "seed", "--project", project).returncode == 0
    result = sqlite_client.run("reports.py", "share", "--project", project)
    assert result.returncode == 0, result.stderr
    (out,) = result.results
    assert "?accessToken=" in out["share_url"]
    assert out["again"] == out["got"] == out["share_url"]
    # Signed out, the link shows the report with its charts drawn.
    context = browser.new_context()
    page = context.new_page()
    page.goto(out["share_url"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Loss study")
    expect(page.locator("figure.report-line")).to_have_attribute("data-lines", "2")
    expect(page.locator(".report-scalar .scalar-value")).to_have_text("0.95")
    # Without the link the same page asks to sign in; a forged token opens nothing.
    page.goto(out["url"])
    expect(page).to_have_url(re.compile(r"/login\?next="))
    forged = page.request.get(out["share_url"].split("?")[0] + "?accessToken=forged")
    assert forged.status == 404
    revoked = sqlite_client.run("reports.py", "unshare", "--project", project, "--url", out["url"])
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.results == [{"revoked": True, "after": None}]
    answer = page.goto(out["share_url"])
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("share link does not exist or was revoked")
    context.close()


def test_markdown_block_is_added_before_the_closing_paragraph() -> None:
    spec = new_spec("# one")
    assert [b["type"] for b in spec["blocks"]] == ["paragraph", "markdown-block", "paragraph"]
    grown = with_markdown(spec, "two")
    kinds = [b["type"] for b in grown["blocks"]]
    assert kinds == ["paragraph", "markdown-block", "markdown-block", "paragraph"]
    assert grown["blocks"][2]["content"] == "two"
    parse_spec(json.dumps(grown))


def test_report_written_and_edited_in_the_ui(
    sqlite_server: LiveServer, sqlite_client: WandbClient, browser: Browser
) -> None:
    project = unique_project()
    assert (
        sqlite_client.run("reports.py", "seed", "--project", project, "--runs", "1").returncode == 0
    )
    with signed_in(browser, sqlite_server) as page:
        page.goto(f"{sqlite_server.url}/admin/{project}/reports")
        expect(page.get_by_text("No reports in this project yet")).to_be_visible()
        page.get_by_label("Title").fill("Written here")
        page.get_by_label("Description").fill("From the form")
        page.get_by_label("Markdown").fill("Some *notes* <img src=x onerror=alert(1)>")
        page.get_by_role("button", name="Create report").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Written here")
        expect(page.locator(".report-markdown em")).to_have_text("notes")
        assert page.locator(".report-markdown img[onerror]").count() == 0
        page.get_by_text("Edit report").click()
        page.get_by_label("Title").fill("Written here, edited")
        page.get_by_label("Add a markdown block").fill("## More")
        page.get_by_role("button", name="Save revision").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Written here, edited")
        expect(page.locator(".report-markdown h2")).to_have_text("More")
        expect(page.locator(".report-meta")).to_contain_text("revision 2")
        # An empty title is refused with its field named; the report keeps revision 2.
        page.get_by_text("Edit report").click()
        page.get_by_label("Title").fill(" ")
        page.get_by_role("button", name="Save revision").click()
        expect(page.get_by_role("alert")).to_contain_text("title: required")
        page.go_back()
        page.reload()
        expect(page.locator(".report-meta")).to_contain_text("revision 2")


def test_grid_over_an_unreadable_project_draws_no_runs(
    sqlite_server: LiveServer, browser: Browser
) -> None:
    project = unique_project()
    _gql(
        sqlite_server,
        "mutation($n: String) { upsertModel(input: {name: $n}) { inserted } }",
        n=project,
    )
    grid = {
        "type": "panel-grid",
        "metadata": {
            "runSets": [{"name": "Elsewhere", "project": {"entityName": "admin", "name": "gone"}}],
            "panelBankSectionConfig": {
                "panels": [{"viewType": "Scalar Chart", "config": {"metrics": ["acc"]}}]
            },
        },
    }
    spec = json.dumps(
        {"blocks": [{"type": "heading", "level": 1, "children": [{"text": "Hi"}]}, grid]}
    )
    saved = _gql(
        sqlite_server, UPSERT, i={"projectName": project, "displayName": "Mixed", "spec": spec}
    )
    view_id = saved["data"]["upsertView"]["view"]["id"]
    with signed_in(browser, sqlite_server) as page:
        answer = page.goto(f"{sqlite_server.url}/admin/{project}/reports/Mixed--{view_id}")
        assert answer is not None and answer.status == 200
        expect(page.locator(".report-runset")).to_contain_text("0 runs of admin/gone")
        expect(page.locator(".report-scalar .scalar-value")).to_have_text("no data")
