"""The page shell's decisions as pure functions: breadcrumbs, the main navigation, the project
tabs, and which runs-table columns stay hidden until picked."""

from __future__ import annotations

from runyard.server.tracking.project_overview import ordered_states
from runyard.server.ui.nav import breadcrumbs, main_nav, project_tabs
from runyard.server.ui.table import hidden_by_default, truncated


def crumbs(path: str) -> list[tuple[str, str | None]]:
    return [(c.label, c.href) for c in breadcrumbs(path)]


def test_project_pages_get_entity_project_page_crumbs() -> None:
    assert crumbs("/acme/vision/table") == [
        ("acme", "/acme"),
        ("vision", "/acme/vision"),
        ("Runs", "/acme/vision/table"),
    ]
    assert crumbs("/acme/vision/runs/abc123") == [
        ("acme", "/acme"),
        ("vision", "/acme/vision"),
        ("Runs", "/acme/vision/table"),
        ("abc123", "/acme/vision/runs/abc123"),
    ]
    assert [c for c, _ in crumbs("/acme/vision")] == ["acme", "vision", "Workspace"]
    assert [c for c, _ in crumbs("/acme/vision/artifacts/dataset/raw/v1")] == [
        "acme", "vision", "Artifacts", "dataset", "raw", "v1",
    ]  # fmt: skip


def test_crumbs_quote_what_they_link_to() -> None:
    assert crumbs("/acme/vision/artifacts/my type")[-1] == (
        "my type",
        "/acme/vision/artifacts/my%20type",
    )


def test_server_pages_get_their_section_and_the_root_gets_none() -> None:
    assert crumbs("/") == []
    assert crumbs("/login") == []
    # `/launch/acme` is no page: that step is text, not a link.
    assert crumbs("/launch/acme/gpu") == [
        ("Launch", "/launch"),
        ("acme", None),
        ("gpu", "/launch/acme/gpu"),
    ]
    assert [c for c, _ in crumbs("/teams/ml")] == ["Teams", "ml"]
    assert crumbs("/settings/keys") == [("Settings", None), ("API keys", "/settings/keys")]
    assert crumbs("/orgs/acme/registry/model") == [
        ("Registry", "/orgs/acme/registry"),
        ("model", "/orgs/acme/registry/model"),
    ]


def test_main_nav_marks_the_current_section() -> None:
    current = [label for label, _, on in main_nav("/launch/acme/gpu") if on]
    assert current == ["Launch"]
    assert [label for label, _, on in main_nav("/acme/vision/table") if on] == ["Projects"]
    assert [label for label, _, on in main_nav("/orgs/o/registry/model") if on] == ["Registry"]


def test_project_tabs_follow_wandb_order_and_urls() -> None:
    tabs = project_tabs("acme", "vision")
    assert [t.label for t in tabs] == [
        "Overview", "Workspace", "Runs", "Jobs", "Artifacts", "Sweeps", "Reports",
        "Automations", "Launch",
    ]  # fmt: skip
    assert tabs[0].href == "/acme/vision/overview"
    assert tabs[1].href == "/acme/vision"
    assert tabs[2].href == "/acme/vision/table"


def test_internal_keys_and_media_internals_are_hidden_by_default() -> None:
    summary = {
        "train": {"loss": 0.1, "acc": 0.9},
        "_step": 10,
        "_runtime": 12.5,
        "_wandb": {"runtime": 12},
        "samples": {"_type": "image-file", "sha256": "ab", "path": "media/x.png", "size": 9},
        "final_table": {
            "_type": "table-file",
            "_latest_artifact_path": "wandb-client-artifact://x",
        },
        "eval": {"grid": {"_type": "images/separated", "count": 2}, "f1": 0.5},
    }
    assert hidden_by_default(summary) == {
        "_step",
        "_runtime",
        "_wandb.runtime",
        "samples._type",
        "samples.sha256",
        "samples.path",
        "samples.size",
        "final_table._type",
        "final_table._latest_artifact_path",
        "eval.grid._type",
        "eval.grid.count",
    }
    assert hidden_by_default({"lr": 0.1, "optimizer": {"name": "adam"}}) == set()


def test_long_cells_are_cut() -> None:
    assert not truncated("0.001")
    assert truncated("x" * 41)


def test_overview_lists_live_states_first() -> None:
    counts = {"finished": 3, "zombie": 1, "running": 2, "failed": 0}
    assert ordered_states(counts) == [("running", 2), ("finished", 3), ("zombie", 1)]
