"""The artifact browser in headless Chromium, over artifacts the official client logged:
types → collections → versions → files, metadata and aliases, the lineage page, alias
editing and deletion seen by the client, and a viewer who can change nothing.

Screenshots of each page (1440x900) go to build/screenshots/artifact-*.png.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import WandbClient
from support.browser import chromium, shot
from support.server import LiveServer

MARKUP_ALIAS = "<img src=x onerror=alert(1)>"
RAW_V1 = {"a.txt": "second\n", "sub/b.csv": "x,y\n1,2\n3,4\n"}


@dataclass
class Logged:
    """What the client logged, where, and a viewer's key."""

    team: str
    project: str
    producer: str
    consumer: str
    versions: dict[str, Any]
    viewer_key: str
    client: WandbClient

    def url(self, server: LiveServer, path: str = "") -> str:
        """A page of the project's artifacts."""
        return f"{server.url}/{self.team}/{self.project}/artifacts{path}"


@pytest.fixture(scope="module")
def logged(sqlite_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    tmp = tmp_path_factory.mktemp("artifact-ui")
    team, viewer = f"lab-{uuid.uuid4().hex[:6]}", f"viewer-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": viewer})
        assert created.status_code == 201, created.text
        assert admin.post("/api/v1/teams", json={"name": team}).status_code == 201
        added = admin.post(
            f"/api/v1/teams/{team}/members", json={"username": viewer, "role": "viewer"}
        )
        assert added.status_code == 201, added.text
    client = WandbClient(tmp, sqlite_server)
    client.env["WANDB_ENTITY"] = team
    project = f"p-{uuid.uuid4().hex[:8]}"
    producer, consumer = f"prod{uuid.uuid4().hex[:6]}", f"cons{uuid.uuid4().hex[:6]}"
    result = client.run(
        "artifact_ui.py",
        "--project",
        project,
        "--root",
        str(tmp / "files"),
        "--producer",
        producer,
        "--consumer",
        consumer,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    try:
        yield Logged(
            team,
            project,
            producer,
            consumer,
            result.results[0],
            created.json()["api_key"],
            client,
        )
    finally:
        client.kill_leftovers()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@contextmanager
def _signed_in(browser: Browser, server: LiveServer, key: str) -> Iterator[Page]:
    """A 1440x900 tab signed in with `key`; fails the test if a page ever opens a dialog
    (markup in names must render as text, never run)."""
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


def _md5_b64(text: str) -> str:
    return base64.b64encode(hashlib.md5(text.encode()).digest()).decode()


def test_browser_lists_types_collections_versions_and_files_the_client_logged(
    admin_tab: Page, sqlite_server: LiveServer, logged: Logged
) -> None:
    tab = admin_tab
    tab.goto(f"{sqlite_server.url}/{logged.team}/{logged.project}")
    tab.get_by_role("navigation", name="Project").get_by_role("link", name="Artifacts").click()
    expect(
        tab.get_by_role("heading", name=f"Artifacts of {logged.team}/{logged.project}")
    ).to_be_visible()
    types = tab.locator("section.artifact-type")
    expect(types).to_have_count(2)
    assert [t.get_attribute("data-type") for t in types.all()] == ["dataset", "model"]
    datasets = tab.get_by_role("table", name="Collections of type dataset")
    assert [r.get_attribute("data-collection") for r in datasets.locator("tbody tr").all()] == [
        "clean",
        "raw",
    ]
    expect(datasets.locator('tr[data-collection="raw"] td').nth(1)).to_have_text("2")
    models = tab.get_by_role("table", name="Collections of type model")
    assert [r.get_attribute("data-collection") for r in models.locator("tbody tr").all()] == ["net"]
    shot(tab, "artifact-types")

    datasets.get_by_role("link", name="raw", exact=True).click()
    expect(tab.get_by_role("heading", name="raw dataset")).to_be_visible()
    rows = tab.get_by_role("table", name="Versions").locator("tbody tr")
    assert [r.get_attribute("data-version") for r in rows.all()] == ["v1", "v0"]
    v1 = rows.nth(0)
    expect(v1.locator(".alias")).to_have_text(["latest", MARKUP_ALIAS, "best"])
    expect(v1.get_by_role("link", name="<b>producer</b>")).to_have_attribute(
        "href", f"/{logged.team}/{logged.project}/runs/{logged.producer}"
    )
    expect(v1.locator("td").nth(4)).to_have_text("2")  # files
    expect(rows.nth(1).locator(".alias")).to_have_count(0)
    shot(tab, "artifact-collection")

    v1.get_by_role("link", name="v1").click()
    expect(tab.get_by_role("heading", name="raw:v1 dataset")).to_be_visible()
    expect(tab.locator("#digest")).to_have_text(logged.versions["raw:v1"]["digest"])
    expect(tab.locator("#aliases .alias .name")).to_have_text(["latest", MARKUP_ALIAS, "best"])
    expect(tab.locator("#description")).to_have_text("<i>cleaned</i> rows")
    expect(tab.locator("#expires")).to_have_text("never")
    metadata = tab.get_by_role("table", name="Metadata")
    expect(metadata.locator("tr", has_text="rows")).to_contain_text("3")
    expect(metadata.locator("tr", has_text="source.url")).to_contain_text(
        "https://example.com/<script>x</script>"
    )
    expect(tab.locator("#logged-by").get_by_role("link")).to_have_text("<b>producer</b>")
    expect(tab.locator("#used-by").get_by_role("link")).to_have_text("consumer")
    shot(tab, "artifact-version")

    tab.get_by_role("navigation", name="Version").get_by_role("link", name="Files").click()
    files = tab.get_by_role("table", name="Files").locator("tbody tr")
    assert [f.get_attribute("data-file") for f in files.all()] == ["a.txt", "sub/b.csv"]
    for row, (name, text) in zip(files.all(), RAW_V1.items(), strict=True):
        expect(row.locator("td").nth(2)).to_have_text(_md5_b64(text))
        href = row.get_by_role("link", name=name).get_attribute("href")
        assert href is not None
        assert httpx.get(href).text == text  # the download link serves the logged bytes
    shot(tab, "artifact-files")

    # Versions are also reached by alias, as W&B's URLs allow.
    tab.goto(logged.url(sqlite_server, "/model/net/candidate"))
    expect(tab.get_by_role("heading", name="net:v0 model")).to_be_visible()
    tab.goto(logged.url(sqlite_server, "/model/raw/v1"))
    expect(tab.get_by_role("alert")).to_contain_text("has type 'dataset', not 'model'")


def test_lineage_page_links_the_producing_run_the_artifact_and_the_consuming_run(
    admin_tab: Page, sqlite_server: LiveServer, logged: Logged
) -> None:
    tab = admin_tab
    tab.goto(logged.url(sqlite_server, "/dataset/raw/v1/lineage"))
    graph = tab.locator("svg.lineage")
    producer = graph.locator('a[data-kind="run"]', has_text="<b>producer</b>")
    consumer = graph.locator('a[data-kind="run"]', has_text="consumer")
    current = graph.locator("a.current")
    expect(current).to_contain_text("raw:v1")
    expect(producer).to_have_attribute(
        "href", f"/{logged.team}/{logged.project}/runs/{logged.producer}"
    )
    expect(consumer).to_have_attribute(
        "href", f"/{logged.team}/{logged.project}/runs/{logged.consumer}"
    )
    # Siblings the producer logged, and what the consumer logged, one step further.
    expect(graph.locator('a[data-kind="artifact"]', has_text="clean:v0")).to_have_count(1)
    net = graph.locator('a[data-kind="artifact"]', has_text="net:v0")
    expect(net).to_have_attribute(
        "href", f"/{logged.team}/{logged.project}/artifacts/model/net/v0/lineage"
    )
    # Arrows: producer → raw:v1 → consumer → net:v0.
    keys = {
        name: loc.get_attribute("data-node")
        for name, loc in (("p", producer), ("a", current), ("c", consumer), ("n", net))
    }
    for source, target in (("p", "a"), ("a", "c"), ("c", "n")):
        edge = f'path.edge[data-from="{keys[source]}"][data-to="{keys[target]}"]'
        expect(graph.locator(edge)).to_have_count(1)
    # The producer sits left of the artifact, the consumer right of it.
    xs = {
        k: (loc.bounding_box() or {"x": 0})["x"]
        for k, loc in (("p", producer), ("a", current), ("c", consumer))
    }
    assert xs["p"] < xs["a"] < xs["c"]
    shot(tab, "artifact-lineage")

    tab.locator("#lineage-producer").get_by_role("link", name="<b>producer</b>").click()
    expect(tab).to_have_url(
        f"{sqlite_server.url}/{logged.team}/{logged.project}/runs/{logged.producer}"
    )
    # The run page's Artifacts tab lists what the run logged, linking back to the versions.
    tab.get_by_role("navigation", name="Run").get_by_role("link", name="Artifacts").click()
    logged_table = tab.get_by_role("table", name="Logged artifacts")
    expect(logged_table.get_by_role("link")).to_have_text(["raw:v0", "raw:v1", "clean:v0"])
    expect(tab.get_by_role("table", name="Used artifacts").get_by_role("link")).to_have_count(0)
    shot(tab, "artifact-run-page")
    logged_table.get_by_role("link", name="raw:v1").click()
    expect(tab.get_by_role("heading", name="raw:v1 dataset")).to_be_visible()
    tab.goto(logged.url(sqlite_server, "/dataset/raw/v1/lineage"))
    net.click()
    expect(tab.get_by_role("heading", name="net:v0 model")).to_be_visible()
    producer_of_net = tab.locator("svg.lineage a.node-run", has_text="consumer")
    expect(producer_of_net).to_have_count(1)


def test_a_viewer_sees_no_edit_controls(
    browser: Browser, sqlite_server: LiveServer, logged: Logged
) -> None:
    with _signed_in(browser, sqlite_server, logged.viewer_key) as tab:
        tab.goto(logged.url(sqlite_server, "/dataset/raw/v1"))
        expect(tab.get_by_role("heading", name="raw:v1 dataset")).to_be_visible()
        expect(tab.locator("#aliases .alias .name")).to_have_text(["latest", MARKUP_ALIAS, "best"])
        for control in ("Add alias", "Add tag", "Delete version", "Remove alias best"):
            expect(tab.get_by_role("button", name=control)).to_have_count(0)
        expect(tab.locator("main form")).to_have_count(0)
        shot(tab, "artifact-version-viewer")


FILES_A = {"a.txt": "hello artifact world\n"}
FILES_B = {"a.txt": "hello artifact world, take two\n"}


def _client_use(client: WandbClient, tmp: Path, project: str, name: str) -> dict[str, Any]:
    """`run.use_artifact(name)` with the official client: its version, or its error."""
    result = client.run(
        "artifacts.py", "use", "--project", project, "--name", name, "--dest", str(tmp / "dl")
    )
    assert result.returncode == 0, result.stderr
    return result.results[0]


def _client_log(client: WandbClient, tmp: Path, project: str, files: dict[str, str]) -> None:
    src = tmp / f"src-{len(list(tmp.glob('src-*')))}"
    for name, text in files.items():
        src.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    result = client.run(
        "artifacts.py", "log", "--project", project, "--name", "ds", "--src", str(src)
    )
    assert result.returncode == 0 and "error" not in result.results[0], result.stdout


def test_alias_and_tag_edits_and_a_confirmed_delete_are_seen_by_the_client(
    admin_tab: Page, sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    tab, project = admin_tab, f"p-{uuid.uuid4().hex[:8]}"
    _client_log(sqlite_client, tmp_path, project, FILES_A)
    _client_log(sqlite_client, tmp_path, project, FILES_B)
    collection = f"{sqlite_server.url}/admin/{project}/artifacts/dataset/ds"

    tab.goto(f"{collection}/v0")
    tab.get_by_label("New alias").fill("production")
    tab.get_by_role("button", name="Add alias").click()
    expect(tab.locator("#aliases .alias .name")).to_have_text(["production"])
    assert _client_use(sqlite_client, tmp_path, project, "ds:production")["version"] == "v0"
    tab.get_by_label("New tag").fill("reviewed")
    tab.get_by_role("button", name="Add tag").click()
    expect(tab.locator("#tags .tag .name")).to_have_text(["reviewed"])
    tab.get_by_text("Edit description").click()
    tab.get_by_label("Description", exact=True).fill("<b>kept</b> for the paper")
    tab.get_by_role("button", name="Save description").click()
    expect(tab.locator("#description")).to_have_text("<b>kept</b> for the paper")
    shot(tab, "artifact-version-edited")

    # A bad alias is refused on the page, naming the rule; nothing changes.
    tab.get_by_label("New alias").fill("v7")
    tab.get_by_role("button", name="Add alias").click()
    expect(tab.get_by_role("alert")).to_contain_text("v<N> is reserved")
    expect(tab.locator("#aliases .alias .name")).to_have_text(["production"])

    tab.goto(f"{collection}/v0")
    tab.get_by_role("button", name="Remove alias production").click()
    expect(tab.locator("#aliases .alias")).to_have_count(0)
    assert "ds:production" in str(
        _client_use(sqlite_client, tmp_path, project, "ds:production")["error"]
    )
    tab.get_by_role("button", name="Remove tag reviewed").click()
    expect(tab.locator("#tags .tag")).to_have_count(0)

    # Deleting v1, which `latest` points at: not without confirming, not without its aliases.
    tab.goto(f"{collection}/v1")
    tab.locator('input[name="confirm"]').evaluate("box => { box.required = false; }")
    tab.get_by_role("button", name="Delete version").click()
    expect(tab.get_by_role("alert")).to_contain_text("to confirm the deletion; nothing was deleted")
    tab.get_by_label("Yes, delete ds:v1").check()
    tab.get_by_role("button", name="Delete version").click()
    expect(tab.get_by_role("alert")).to_contain_text("still has the aliases latest")
    shot(tab, "artifact-delete-refused")
    assert _client_use(sqlite_client, tmp_path, project, "ds:v1")["version"] == "v1"

    tab.get_by_label("Also delete its aliases (latest)").check()
    tab.get_by_label("Yes, delete ds:v1").check()
    tab.get_by_role("button", name="Delete version").click()
    expect(tab.get_by_role("status")).to_have_text("Deleted ds:v1.")
    rows = tab.get_by_role("table", name="Versions").locator("tbody tr")
    assert [r.get_attribute("data-version") for r in rows.all()] == ["v0"]
    expect(rows.nth(0).locator(".alias")).to_have_text(["latest"])  # `latest` moved back
    shot(tab, "artifact-collection-after-delete")
    assert "error" in _client_use(sqlite_client, tmp_path, project, "ds:v1")
    latest = _client_use(sqlite_client, tmp_path, project, "ds:latest")
    assert (latest["version"], latest["files"]) == ("v0", FILES_A)

    # The collection: its description, then deleting it with all its versions (confirmed).
    tab.get_by_text("Edit the collection's description").click()
    tab.get_by_label("Collection description").fill("rows for <em>tests</em>")
    tab.get_by_role("button", name="Save collection description").click()
    expect(tab.locator("#collection-description")).to_have_text("rows for <em>tests</em>")
    tab.locator('input[name="confirm"]').evaluate("box => { box.required = false; }")
    tab.get_by_role("button", name="Delete collection").click()
    expect(tab.get_by_role("alert")).to_contain_text("nothing was deleted")
    tab.get_by_label("Yes, delete ds and all its versions").check()
    tab.get_by_role("button", name="Delete collection").click()
    expect(tab.get_by_role("status")).to_have_text("Deleted ds and its versions.")
    expect(tab.locator("section.artifact-type")).to_have_count(0)
    assert "error" in _client_use(sqlite_client, tmp_path, project, "ds:latest")


POST_FORM = """async ([url, fields]) => {
  const token = document.querySelector('input[name="csrf_token"]').value;
  const body = new URLSearchParams({csrf_token: token, ...fields});
  const answer = await fetch(url, {method: "POST", body});
  return [answer.status, await answer.text()];
}"""


def test_a_viewer_who_posts_an_edit_anyway_is_refused(
    browser: Browser, sqlite_server: LiveServer, logged: Logged
) -> None:
    version = logged.url(sqlite_server, "/dataset/clean/v0")
    with _signed_in(browser, sqlite_server, logged.viewer_key) as tab:
        tab.goto(version)
        for action, fields in (
            ("aliases/add", {"alias": "hacked"}),
            ("aliases/remove", {"alias": "latest"}),
            ("tags/add", {"tag": "hacked"}),
            ("delete", {"confirm": "yes", "delete_aliases": "yes"}),
        ):
            status, text = tab.evaluate(POST_FORM, [f"{version}/{action}", fields])
            assert status == 403, (action, status)
            assert "you are a viewer of" in text, action
    with _signed_in(browser, sqlite_server, sqlite_server.admin_key) as tab:
        tab.goto(version)
        expect(tab.locator("#aliases .alias .name")).to_have_text(["latest"])
        expect(tab.locator("#tags .tag")).to_have_count(0)


def test_missing_things_get_a_page_saying_where_to_look(
    sqlite_server: LiveServer, logged: Logged
) -> None:
    with httpx.Client(base_url=sqlite_server.url) as http:
        login = http.post("/login", data={"api_key": sqlite_server.admin_key, "next": "/"})
        assert login.status_code == 303
        base = f"/{logged.team}/{logged.project}/artifacts"
        for path, status, says in (
            (f"{base}/dataset/nope", 404, f"the project's artifacts are listed at {base}"),
            (f"{base}/dataset/raw/v9", 404, f"its versions are listed at {base}/dataset/raw"),
            (f"{base}/dataset/raw/nope", 404, "raw:nope does not exist"),
            (f"{base}/dataset/raw/v1/history", 404, "use overview, files or lineage"),
            (f"{base}/report", 404, "has no artifacts of type 'report'"),
            (f"{base}/dataset/raw?after=bogus", 400, "after: "),
            (f"/{logged.team}/no-such-project/artifacts", 404, "does not exist"),
        ):
            answer = http.get(path)
            assert answer.status_code == status, (path, answer.status_code)
            assert says in html.unescape(answer.text), (path, answer.text[-600:])
        # Another entity's artifacts read as missing, not as forbidden.
        stranger = f"stranger-{uuid.uuid4().hex[:6]}"
        with sqlite_server.api() as admin:
            key = admin.post("/api/v1/users", json={"username": stranger}).json()["api_key"]
    with httpx.Client(base_url=sqlite_server.url) as http:
        http.post("/login", data={"api_key": key, "next": "/"})
        answer = http.get(f"{base}/dataset/raw/v1")
        assert answer.status_code == 404
        assert "raw" not in answer.text.split("<main", 1)[1].replace(logged.team, "")


# --- the pure parts ----------------------------------------------------------------------------


def _run(name: str) -> Any:
    from runyard.server.artifacts.lineage_view import LineageNode

    return LineageNode(
        key=f"run:{name}", kind="run", entity="e", project="p", name=name, label=name
    )


def _version(name: str, current: bool = False) -> Any:
    from runyard.server.artifacts.lineage_view import LineageNode

    return LineageNode(
        key=f"artifact:{name}",
        kind="artifact",
        entity="e",
        project="p",
        name=name,
        label=name,
        type="data set",
        start=current,
    )


def test_lineage_layout_puts_layers_in_columns_and_skips_empty_ones() -> None:
    from runyard.server.artifacts.pages import LineageGraph
    from runyard.server.ui import lineage_layout as ll

    me, producer = _version("ds:v1", current=True), _run("p1")
    consumers = [_run("c1"), _run("c2"), _run("c3")]
    graph = LineageGraph(
        layers=[[], [producer], [me], consumers, []],
        edges=[(producer.key, me.key)] + [(me.key, c.key) for c in consumers] + [("gone", me.key)],
        more=[0, 0, 0, 2, 0],
    )
    drawn = ll.layout(graph)
    where = {n.key: n for n in drawn.nodes}
    # Three columns (the empty first and last layers take none), left to right.
    assert where[producer.key].x < where[me.key].x < where[consumers[0].key].x
    assert drawn.width == 2 * ll.PAD + 3 * ll.NODE_W + 2 * ll.COLUMN_GAP
    # The tallest column (3 runs and a "2 more" note) sets the height; shorter ones are centred.
    assert drawn.height == 2 * ll.PAD + 4 * ll.NODE_H + 3 * ll.ROW_GAP
    ys = [where[c.key].y for c in consumers]
    assert ys == sorted(ys) and ys[0] == ll.PAD
    assert where[producer.key].y > ll.PAD
    assert [text for _, _, text in drawn.notes] == ["and 2 more"]
    # One arrow per edge between placed nodes; an edge to a node not drawn is dropped.
    assert [(a.source, a.target) for a in drawn.arrows] == graph.edges[:4]
    assert drawn.arrows[0].path.startswith(f"M{where[producer.key].x + ll.NODE_W},")
    # Links: run pages and the version's lineage tab, names quoted for the URL.
    assert where[producer.key].href == "/e/p/runs/p1"
    assert where[me.key].href == "/e/p/artifacts/data%20set/ds/v1/lineage"
    assert where[me.key].current and not where[producer.key].current


def test_lineage_layout_shortens_long_labels_and_keeps_the_full_title() -> None:
    from runyard.server.artifacts.pages import LineageGraph
    from runyard.server.ui import lineage_layout as ll

    long = _run("r" * 60)
    drawn = ll.layout(LineageGraph(layers=[[long]], edges=[], more=[0]))
    (node,) = drawn.nodes
    assert len(node.label) == ll.LABEL_CHARS and node.label.endswith("…")
    assert "r" * 60 in node.title
    empty = ll.layout(LineageGraph(layers=[[], []], edges=[], more=[0, 0]))
    assert empty.nodes == [] and empty.width == 2 * ll.PAD


def test_human_size() -> None:
    from runyard.server.ui.views import human_size

    assert [human_size(n) for n in (None, 0, 1023, 1536, 5 * 1024**2, 3 * 1024**4)] == [
        "",
        "0 B",
        "1023 B",
        "1.5 KB",
        "5.0 MB",
        "3.0 TB",
    ]


def test_lineage_columns_follow_the_arrows_from_the_version() -> None:
    from runyard.server.artifacts.pages import layers_of

    # producer p logs ds and other; c uses ds and logs model; x (an input of p) feeds p;
    # a cycle back from c to p must not move p.
    edges = [("p", "ds"), ("p", "other"), ("x", "p"), ("ds", "c"), ("c", "model"), ("c", "p")]
    assert layers_of("ds", edges) == {
        "ds": 0,
        "p": -1,
        "c": 1,
        "other": 0,
        "x": -2,
        "model": 2,
    }
    assert layers_of("alone", []) == {"alone": 0}
